package ui

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// handleState answers the whole state at once (the page's first load, and
// scripts).
func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.live.snapshot())
}

// handleStream sends the state, then every change, as server-sent events.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("streaming is not supported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := s.live.subscribe()
	defer s.live.unsubscribe(ch)
	send := func(b []byte) {
		fmt.Fprintf(w, "data: %s\n\n", b)
		flusher.Flush()
	}
	snap, _ := jsonBytes(s.live.snapshot())
	send(snap)
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok { // fell behind: the page reconnects and gets a snapshot
				return
			}
			send(b)
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}

// Request bodies of the changes.
type (
	runRequest struct {
		Requests    int `json:"requests"`
		Concurrency int `json:"concurrency"`
	}
	scaleRequest struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Replicas  *int   `json:"replicas"`
	}
	objectRequest struct {
		Name   string `json:"name"`
		Action string `json:"action"`
		How    string `json:"how"`
	}
	settingsRequest struct {
		Mode             *string `json:"mode"`
		CrossZone        *bool   `json:"crossZone"`
		PreserveClientIP *bool   `json:"preserveClientIP"`
	}
)

// Limits of the runs a page can start.
const (
	maxTraceRequests   = 100
	maxTrafficRequests = 20000
	maxConcurrency     = 64
)

// handleTrace sends N requests (the walkthrough's ten curls by default)
// and answers trace's report; the run is recorded and streamed too.
func (s *Server) handleTrace(r *http.Request) (any, error) {
	req := runRequest{Requests: 10}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Requests < 1 || req.Requests > maxTraceRequests {
		return nil, badRequest("requests: %d is out of range 1–%d", req.Requests, maxTraceRequests)
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	return s.cfg.Backend.Trace(r.Context(), w, sim.TrafficOptions{Requests: req.Requests, From: w.Bastion.Name, To: sim.ToDNS})
}

// handleTraffic runs traffic and answers its report.
func (s *Server) handleTraffic(r *http.Request) (any, error) {
	req := runRequest{Requests: 300, Concurrency: 8}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Requests < 1 || req.Requests > maxTrafficRequests {
		return nil, badRequest("requests: %d is out of range 1–%d", req.Requests, maxTrafficRequests)
	}
	if req.Concurrency < 1 || req.Concurrency > maxConcurrency {
		return nil, badRequest("concurrency: %d is out of range 1–%d", req.Concurrency, maxConcurrency)
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	opts := sim.TrafficOptions{Requests: req.Requests, Concurrency: req.Concurrency, From: w.Bastion.Name, To: sim.ToDNS}
	var mu sync.Mutex
	var last time.Time
	opts.Progress = func(done, total int) { // at most four updates a second
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= 250*time.Millisecond || done == total {
			last = time.Now()
			s.live.setBusy(fmt.Sprintf("sending traffic: %d of %d requests", done, total))
		}
	}
	return s.cfg.Backend.Traffic(r.Context(), w, opts)
}

// handleScale sets a Deployment's replicas (the first that is not an
// add-on when none is named), within what the nodes can hold.
func (s *Server) handleScale(r *http.Request) (any, error) {
	var req scaleRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	var d *topology.Deployment
	for i := range w.Deployments {
		x := &w.Deployments[i]
		if req.Name == "" && !x.Addon || x.Name == req.Name && (req.Namespace == "" || x.Namespace == req.Namespace) {
			d = x
			break
		}
	}
	if d == nil {
		return nil, notFound("deployment %q not found in cluster %q", req.Name, w.Cluster.Name)
	}
	if req.Replicas == nil {
		return nil, badRequest("replicas: give a number of replicas")
	}
	if n, max := *req.Replicas, maxReplicas(w); n < 0 || n > max {
		return nil, badRequest("replicas: %d is out of range 0–%d (%d nodes × %d pods per %s)", n, max, len(w.Nodes), max/max1(len(w.Nodes)), w.Spec.InstanceType)
	}
	a := sim.Action{Verb: sim.VerbScale, Namespace: d.Namespace, Name: d.Name, Replicas: *req.Replicas}
	if err := s.cfg.Backend.Do(r.Context(), a); err != nil {
		return nil, err
	}
	return map[string]string{"result": fmt.Sprintf("deployment.apps/%s scaled to %d", d.Name, *req.Replicas)}, nil
}

func max1(n int) int { return max(n, 1) }

// handlePod deletes, fails or recovers a pod.
func (s *Server) handlePod(r *http.Request) (any, error) {
	var req objectRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	verbs := map[string]sim.Verb{"delete": sim.VerbDeletePod, "fail": sim.VerbFailPod, "recover": sim.VerbRecoverPod}
	verb, ok := verbs[req.Action]
	if !ok {
		return nil, badRequest("action: %q is not delete, fail or recover", req.Action)
	}
	if req.Action == "fail" {
		if req.How == "" {
			req.How = "refuse"
		}
		if req.How != "refuse" && req.How != "hang" {
			return nil, badRequest("how: %q is neither refuse nor hang", req.How)
		}
	} else if req.How != "" {
		return nil, badRequest("how: only fail takes it")
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	if h, err := w.Lookup(req.Name); err != nil || h.Kind != topology.KindPod {
		return nil, notFound("pod %q not found in cluster %q", req.Name, w.Cluster.Name)
	}
	if err := s.cfg.Backend.Do(r.Context(), sim.Action{Verb: verb, Name: req.Name, How: req.How}); err != nil {
		return nil, err
	}
	return map[string]string{"result": "pod/" + req.Name + " " + req.Action}, nil
}

// handleNode stops or starts a node's instance.
func (s *Server) handleNode(r *http.Request) (any, error) {
	var req objectRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	verbs := map[string]sim.Verb{"stop": sim.VerbStopNode, "start": sim.VerbStartNode}
	verb, ok := verbs[req.Action]
	if !ok || req.How != "" {
		return nil, badRequest("action: %q is not stop or start", req.Action)
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	h, err := w.Lookup(req.Name)
	if err != nil || h.Kind != topology.KindNode {
		return nil, notFound("node %q not found in cluster %q", req.Name, w.Cluster.Name)
	}
	if err := s.cfg.Backend.Do(r.Context(), sim.Action{Verb: verb, Name: h.Name}); err != nil {
		return nil, err
	}
	return map[string]string{"result": "node/" + req.Name + " " + req.Action}, nil
}

// handleSettings changes the NLB's target mode, cross-zone load balancing
// or client IP preservation in place, as `nlbsim up --mode …` does on a
// running cluster: the running spec with the given settings changed.
func (s *Server) handleSettings(r *http.Request) (any, error) {
	var req settingsRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Mode == nil && req.CrossZone == nil && req.PreserveClientIP == nil {
		return nil, badRequest("give mode, crossZone or preserveClientIP")
	}
	w, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	spec := w.Spec
	if req.Mode != nil {
		m := topology.TargetType(*req.Mode)
		if m != topology.TargetIP && m != topology.TargetInstance {
			return nil, badRequest("mode: %q is neither ip nor instance", *req.Mode)
		}
		spec.Mode = m
	}
	if req.CrossZone != nil {
		spec.CrossZone = req.CrossZone
	}
	if req.PreserveClientIP != nil {
		spec.PreserveClientIP = req.PreserveClientIP
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := s.cfg.Backend.Up(r.Context(), spec); err != nil {
		return nil, err
	}
	after, err := s.cfg.Backend.World()
	if err != nil {
		return nil, err
	}
	return settingsOf(after), nil
}
