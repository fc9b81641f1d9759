package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/diagram"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// The parts of the page's state, as the stream sends them: each message is
// an object holding the parts that changed.
const (
	partSettings = "settings"
	partGraph    = "graph"
	partObjects  = "objects"
	partTargets  = "targets"
	partRules    = "rules"
	partEvents   = "events"
	partRuns     = "runs"
	partBusy     = "busy"
	partError    = "error"
)

// Limits of what the page is sent: the newest events and runs.
const (
	maxEvents = 300
	maxRuns   = 20
)

// Settings are the running cluster's settings that the page can change,
// as the first NLB has them.
type Settings struct {
	Cluster               string  `json:"cluster"`
	Mode                  string  `json:"mode"`
	CrossZone             bool    `json:"crossZone"`
	PreserveClientIP      bool    `json:"preserveClientIP"`
	ExternalTrafficPolicy string  `json:"externalTrafficPolicy"`
	TimeScale             float64 `json:"timeScale"`
	NLBDNSName            string  `json:"nlbDNSName"`
	// MaxReplicas is what the nodes can hold (VPC CNI's pod limit).
	MaxReplicas int `json:"maxReplicas"`
}

// Objects are the living cluster's objects the controls act on.
type Objects struct {
	Nodes       []NodeView       `json:"nodes"`
	Pods        []PodView        `json:"pods"`
	Deployments []DeploymentView `json:"deployments"`
}

// NodeView is a node as the page shows it.
type NodeView struct {
	Name     string `json:"name"`
	NodeName string `json:"nodeName"`
	IP       string `json:"ip"`
	AZ       string `json:"az"`
	Stopped  bool   `json:"stopped"`
	NotReady bool   `json:"notReady"`
}

// PodView is a pod as the page shows it.
type PodView struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	Node        string `json:"node"`
	IP          string `json:"ip"`
	Phase       string `json:"phase"`
	Ready       bool   `json:"ready"`
	Terminating bool   `json:"terminating"`
	Failing     string `json:"failing"`
	Owner       string `json:"owner"`
}

// DeploymentView is a Deployment as the page shows it.
type DeploymentView struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Replicas  int    `json:"replicas"`
	Addon     bool   `json:"addon"`
}

// Runs are the recorded traffic and trace runs: the newest, and the last
// of each kind per target mode (the split view).
type Runs struct {
	Recent     []sim.Run                     `json:"recent"`
	LastByMode map[string]map[string]sim.Run `json:"lastByMode"` // mode → kind → run
}

// live holds what the pages were last sent and the pages that listen.
type live struct {
	b Backend

	refreshing sync.Mutex // one refresh at a time, so the logs are read once

	mu         sync.Mutex
	parts      map[string]json.RawMessage
	events     []sim.Event
	runs       Runs
	created    time.Time // the world's, to notice a cluster built anew
	eventsOff  int64
	runsOff    int64
	worldJSON  []byte
	targetJSON []byte
	subs       map[chan []byte]bool
	pokes      chan struct{}
	polls      int
}

func newLive(b Backend) *live {
	return &live{b: b, parts: map[string]json.RawMessage{}, subs: map[chan []byte]bool{},
		pokes: make(chan struct{}, 1), runs: Runs{Recent: []sim.Run{}, LastByMode: map[string]map[string]sim.Run{}}}
}

// watch refreshes every poll (rules every fourth, while a page listens)
// and at once when poked, until ctx ends.
func (l *live) watch(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.mu.Lock()
			l.polls++
			rules := l.polls%4 == 0 && len(l.subs) > 0
			l.mu.Unlock()
			l.refresh(rules)
		case <-l.pokes:
			l.refresh(true)
		}
	}
}

// poke asks for a refresh now (after a change).
func (l *live) poke() {
	select {
	case l.pokes <- struct{}{}:
	default:
	}
}

// snapshot returns every part, refreshing first when the rules were not
// read yet (they are read only while a page listens).
func (l *live) snapshot() map[string]json.RawMessage {
	l.mu.Lock()
	_, read := l.parts[partRules]
	l.mu.Unlock()
	if !read {
		l.refresh(true)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]json.RawMessage, len(l.parts))
	for k, v := range l.parts {
		out[k] = v
	}
	return out
}

// refresh reads the cluster's state and sends what changed.
func (l *live) refresh(withRules bool) {
	l.refreshing.Lock()
	defer l.refreshing.Unlock()
	changed := map[string]any{}
	w, err := l.b.World()
	if err != nil {
		changed[partError] = err.Error()
		l.publish(changed)
		return
	}
	targets, err := l.b.Targets()
	if err != nil {
		targets = nil
	}
	wj, _ := json.Marshal(w)
	tj, _ := json.Marshal(targets)
	l.mu.Lock()
	worldChanged, targetsChanged := !bytes.Equal(wj, l.worldJSON), !bytes.Equal(tj, l.targetJSON)
	l.worldJSON, l.targetJSON = wj, tj
	if !w.Created.Equal(l.created) { // a new cluster of that name: new logs
		l.created, l.eventsOff, l.runsOff, l.events = w.Created, 0, 0, nil
		l.runs = Runs{Recent: []sim.Run{}, LastByMode: map[string]map[string]sim.Run{}}
	}
	eventsOff, runsOff := l.eventsOff, l.runsOff
	l.mu.Unlock()
	if worldChanged {
		changed[partSettings] = settingsOf(w)
		changed[partObjects] = objectsOf(w)
		changed[partError] = ""
	}
	if worldChanged || targetsChanged {
		changed[partGraph] = diagram.Model(w, targets)
		if targets == nil {
			targets = []topology.TargetHealth{}
		}
		changed[partTargets] = targets
	}
	if withRules {
		changed[partRules] = readNodeRules(l.b, w)
	}
	if events, off, err := l.b.Events(eventsOff); err == nil && (off != eventsOff || eventsOff == 0) {
		l.mu.Lock()
		l.events = append(l.events, events...)
		if len(l.events) > maxEvents {
			l.events = append([]sim.Event(nil), l.events[len(l.events)-maxEvents:]...)
		}
		if l.events == nil {
			l.events = []sim.Event{}
		}
		l.eventsOff = off
		changed[partEvents] = l.events
		l.mu.Unlock()
	}
	if runs, off, err := l.b.Runs(runsOff); err == nil && (off != runsOff || runsOff == 0) {
		l.mu.Lock()
		for _, r := range runs {
			l.runs.Recent = append(l.runs.Recent, r)
			if l.runs.LastByMode[r.Mode] == nil {
				l.runs.LastByMode[r.Mode] = map[string]sim.Run{}
			}
			l.runs.LastByMode[r.Mode][r.Kind] = r
		}
		if len(l.runs.Recent) > maxRuns {
			l.runs.Recent = append([]sim.Run(nil), l.runs.Recent[len(l.runs.Recent)-maxRuns:]...)
		}
		l.runsOff = off
		changed[partRuns] = l.runs
		l.mu.Unlock()
	}
	l.publish(changed)
}

// setBusy tells the pages what change or run is in progress ("" for none).
func (l *live) setBusy(what string) { l.publish(map[string]any{partBusy: what}) }

// publish records the changed parts and sends those that differ from what
// the pages have to every listening page.
func (l *live) publish(changed map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := map[string]json.RawMessage{}
	for k, v := range changed {
		b, err := json.Marshal(v)
		if err != nil || bytes.Equal(b, l.parts[k]) {
			continue
		}
		l.parts[k] = b
		msg[k] = b
	}
	if len(msg) == 0 {
		return
	}
	b, _ := json.Marshal(msg)
	for ch := range l.subs {
		select {
		case ch <- b:
		default: // a page that does not keep up gets a fresh snapshot
			delete(l.subs, ch)
			close(ch)
		}
	}
}

// subscribe adds a listening page; the channel closes when it falls behind.
func (l *live) subscribe() chan []byte {
	ch := make(chan []byte, 64)
	l.mu.Lock()
	l.subs[ch] = true
	l.mu.Unlock()
	return ch
}

func (l *live) unsubscribe(ch chan []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs[ch] {
		delete(l.subs, ch)
		close(ch)
	}
}

func settingsOf(w *topology.World) Settings {
	s := Settings{Cluster: w.Cluster.Name, TimeScale: w.Spec.TimeScale}
	if len(w.LoadBalancers) > 0 {
		lb := w.LoadBalancers[0]
		s.Mode, s.CrossZone, s.PreserveClientIP, s.NLBDNSName = string(lb.TargetType), lb.CrossZone, lb.PreserveClientIP, lb.DNSName
		for _, svc := range w.Services {
			if svc.Key() == lb.Service {
				s.ExternalTrafficPolicy = string(svc.ExternalTrafficPolicy)
			}
		}
	}
	s.MaxReplicas = maxReplicas(w)
	return s
}

// maxReplicas is what the nodes can hold: VPC CNI's pod limit per node.
func maxReplicas(w *topology.World) int {
	return len(w.Nodes) * topology.InstanceTypes[w.Spec.InstanceType].MaxPods()
}

func objectsOf(w *topology.World) Objects {
	o := Objects{Nodes: []NodeView{}, Pods: []PodView{}, Deployments: []DeploymentView{}}
	for _, n := range w.Nodes {
		o.Nodes = append(o.Nodes, NodeView{Name: n.Name, NodeName: n.NodeName, IP: n.IP.String(), AZ: n.AZ, Stopped: n.Stopped, NotReady: n.NotReady})
	}
	for _, p := range w.Pods {
		ip := ""
		if p.IP.IsValid() {
			ip = p.IP.String()
		}
		o.Pods = append(o.Pods, PodView{Name: p.Name, Namespace: p.Namespace, Node: p.Node, IP: ip, Phase: p.Phase,
			Ready: p.Running() && !p.NotReady && !p.Terminating, Terminating: p.Terminating, Failing: p.Failing, Owner: p.Owner})
	}
	for _, d := range w.Deployments {
		o.Deployments = append(o.Deployments, DeploymentView{Namespace: d.Namespace, Name: d.Name, Replicas: d.Replicas, Addon: d.Addon})
	}
	return o
}
