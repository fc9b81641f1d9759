package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

const (
	testAddr  = "127.0.0.1:8080"
	testToken = "0123456789abcdef0123456789abcdef"
)

func newTestServer(f *fakeBackend) *Server {
	return New(Config{Cluster: "myeks", Backend: f, Addr: testAddr, Token: testToken})
}

// call sends one request as the page would: the token and the page's own
// Origin, unless changed by opts.
func call(s *Server, method, path, body string, opts ...func(*http.Request)) (int, map[string]any) {
	r := httptest.NewRequest(method, "http://"+testAddr+path, strings.NewReader(body))
	r.Header.Set(TokenHeader, testToken)
	r.Header.Set("Origin", "http://"+testAddr)
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

var changes = []struct{ path, body string }{
	{"/api/trace", `{"requests": 10}`},
	{"/api/traffic", `{"requests": 100, "concurrency": 4}`},
	{"/api/scale", `{"replicas": 4}`},
	{"/api/pod", `{"name": "pod-1", "action": "delete"}`},
	{"/api/node", `{"name": "node-1", "action": "stop"}`},
	{"/api/settings", `{"mode": "instance"}`},
}

// Every change needs the token and the page's own Origin: without either
// it is refused with 403 and nothing happens.
func TestUIChangesNeedTokenAndOrigin(t *testing.T) {
	f := newFake()
	s := newTestServer(f)
	refusals := map[string]func(*http.Request){
		"no token":       func(r *http.Request) { r.Header.Del(TokenHeader) },
		"wrong token":    func(r *http.Request) { r.Header.Set(TokenHeader, "f"+testToken[1:]) },
		"no Origin":      func(r *http.Request) { r.Header.Del("Origin") },
		"foreign Origin": func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") },
		"other port":     func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:9999") },
	}
	for _, c := range changes {
		for why, o := range refusals {
			code, out := call(s, "POST", c.path, c.body, o)
			assert.Equal(t, http.StatusForbidden, code, "%s with %s", c.path, why)
			assert.NotEmpty(t, out["error"], "%s with %s", c.path, why)
		}
	}
	assert.Zero(t, f.changes(), "a refused change changed something")

	// A server without a token is read-only.
	ro := New(Config{Cluster: "myeks", Backend: f, Addr: testAddr})
	code, _ := call(ro, "POST", "/api/scale", `{"replicas": 4}`, func(r *http.Request) { r.Header.Set(TokenHeader, "") })
	assert.Equal(t, http.StatusForbidden, code)
	assert.Zero(t, f.changes())
}

// With the token and Origin every change goes to the backend, as the CLI's
// command would send it.
func TestUIChangesReachTheCluster(t *testing.T) {
	f := newFake()
	s := newTestServer(f)
	for _, c := range changes {
		code, out := call(s, "POST", c.path, c.body)
		require.Equal(t, http.StatusOK, code, "%s: %v", c.path, out)
	}
	require.Len(t, f.traces, 1)
	assert.Equal(t, sim.TrafficOptions{Requests: 10, From: "bastion", To: sim.ToDNS}, f.traces[0])
	require.Len(t, f.traffic, 1)
	assert.Equal(t, 100, f.traffic[0].Requests)
	assert.Equal(t, 4, f.traffic[0].Concurrency)
	assert.Equal(t, []sim.Action{
		{Verb: sim.VerbScale, Namespace: "default", Name: "nginx-deployment", Replicas: 4},
		{Verb: sim.VerbDeletePod, Name: "pod-1"},
		{Verb: sim.VerbStopNode, Name: "node-1"},
	}, f.actions)
	require.Len(t, f.ups, 1)
	want := topology.DefaultSpec()
	want.Mode = topology.TargetInstance
	assert.Equal(t, want, f.ups[0], "the running spec with the mode changed, as up --mode does")
}

// Bad input is answered with a clear error and changes nothing.
func TestUIBadInputChangesNothing(t *testing.T) {
	f := newFake()
	s := newTestServer(f)
	for _, c := range []struct {
		path, body string
		status     int
		message    string
	}{
		{"/api/scale", `{"replicas": -1}`, 400, "replicas: -1 is out of range 0–51"},
		{"/api/scale", `{"replicas": 1000}`, 400, "replicas: 1000 is out of range 0–51 (3 nodes × 17 pods per t3.medium)"},
		{"/api/scale", `{}`, 400, "replicas: give a number"},
		{"/api/scale", `{"name": "nope", "replicas": 2}`, 404, `deployment "nope" not found`},
		{"/api/scale", `{"replicas": "three"}`, 400, "bad request body"},
		{"/api/scale", `{"replicas": 2, "command": "rm -rf /"}`, 400, "unknown field"},
		{"/api/pod", `{"name": "nope", "action": "delete"}`, 404, `pod "nope" not found in cluster "myeks"`},
		{"/api/pod", `{"name": "pod-1", "action": "explode"}`, 400, `action: "explode" is not delete, fail or recover`},
		{"/api/pod", `{"name": "pod-1", "action": "fail", "how": "slowly"}`, 400, `how: "slowly" is neither refuse nor hang`},
		{"/api/node", `{"name": "node-9", "action": "stop"}`, 404, `node "node-9" not found`},
		{"/api/node", `{"name": "node-1", "action": "reboot"}`, 400, `action: "reboot" is not stop or start`},
		{"/api/settings", `{}`, 400, "give mode, crossZone or preserveClientIP"},
		{"/api/settings", `{"mode": "alb"}`, 400, `mode: "alb" is neither ip nor instance`},
		{"/api/trace", `{"requests": 0}`, 400, "requests: 0 is out of range 1–100"},
		{"/api/trace", `{"requests": 101}`, 400, "requests: 101 is out of range 1–100"},
		{"/api/traffic", `{"requests": 20001}`, 400, "requests: 20001 is out of range 1–20000"},
		{"/api/traffic", `{"requests": 10, "concurrency": 0}`, 400, "concurrency: 0 is out of range 1–64"},
		{"/api/trace", strings.Repeat(" ", 5000) + "{}", 400, "bad request body"},
	} {
		code, out := call(s, "POST", c.path, c.body)
		assert.Equal(t, c.status, code, "%s %s: %v", c.path, c.body, out)
		assert.Contains(t, out["error"], c.message, "%s %s", c.path, c.body)
	}
	assert.Zero(t, f.changes(), "bad input changed something")
	assert.Equal(t, topology.DefaultSpec(), f.world.Spec)
}

// The library's kinds of error keep their meaning over HTTP.
func TestUIErrorsFromTheCluster(t *testing.T) {
	for err, status := range map[error]int{
		fmt.Errorf("pod x: %w", sim.ErrNotFound):               404,
		&topology.InvalidError{Field: "Replicas", Err: io.EOF}: 400,
		sim.ErrBusy:                           409,
		sim.ErrNotRunning:                     503,
		errors.New("iptables-restore failed"): 500,
		sim.ErrNeedsRoot:                      403,
	} {
		f := newFake()
		f.doErr = err
		code, out := call(newTestServer(f), "POST", "/api/pod", `{"name": "pod-2", "action": "recover"}`)
		assert.Equal(t, status, code, "%v", err)
		want := err.Error()
		if err == sim.ErrNeedsRoot {
			want += " (run nlbsim ui with sudo)"
		}
		assert.Equal(t, want, out["error"])
	}
}

// One change at a time: a second one while the first runs is refused.
func TestUIOneChangeAtATime(t *testing.T) {
	f := newFake()
	f.block, f.entered = make(chan struct{}), make(chan struct{})
	s := newTestServer(f)
	done := make(chan int)
	go func() {
		code, _ := call(s, "POST", "/api/node", `{"name": "node-2", "action": "stop"}`)
		done <- code
	}()
	<-f.entered
	code, out := call(s, "POST", "/api/node", `{"name": "node-3", "action": "stop"}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out["error"], "busy")
	close(f.block)
	assert.Equal(t, http.StatusOK, <-done)
	assert.Equal(t, []sim.Action{{Verb: sim.VerbStopNode, Name: "node-2"}}, f.actions)
}

// Reading needs no token; a Host that is not this server's loopback
// address (a rebound DNS name) is refused.
func TestUIReading(t *testing.T) {
	f := newFake()
	s := newTestServer(f)
	noToken := func(r *http.Request) { r.Header.Del(TokenHeader); r.Header.Del("Origin") }

	for path, want := range map[string]string{
		"/":                 "send 10 requests",
		"/assets/app.js":    "EventSource",
		"/assets/style.css": "trace-path",
	} {
		r := httptest.NewRequest("GET", "http://"+testAddr+path, nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		assert.Equal(t, 200, w.Code, path)
		assert.Contains(t, w.Body.String(), want, path)
		assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'self'")
	}
	code, _ := call(s, "GET", "/nothing", "", noToken)
	assert.Equal(t, 404, code)
	code, _ = call(s, "GET", "/api/scale", "", noToken)
	assert.Equal(t, 405, code, "changes are POSTs only")

	code, st := call(s, "GET", "/api/state", "", noToken)
	require.Equal(t, 200, code)
	for _, part := range []string{partSettings, partGraph, partObjects, partTargets, partRules, partEvents, partRuns} {
		assert.Contains(t, st, part)
	}
	settings := st[partSettings].(map[string]any)
	assert.Equal(t, "ip", settings["mode"])
	assert.EqualValues(t, 51, settings["maxReplicas"])
	assert.Contains(t, st[partGraph].(map[string]any)["title"], "ip targets")
	assert.Len(t, st[partTargets], 3)
	assert.Len(t, st[partEvents], 1)

	for _, host := range []string{"localhost:8080", "[::1]:8080", "127.0.0.1:9999", "localhost"} {
		code, _ = call(s, "GET", "/api/state", "", noToken, func(r *http.Request) { r.Host = host })
		assert.Equal(t, 200, code, host)
	}
	for _, host := range []string{"evil.example:8080", "127.0.0.1.evil.example:8080", "nlbsim.example", "192.168.1.5:8080"} {
		code, out := call(s, "GET", "/api/state", "", noToken, func(r *http.Request) { r.Host = host })
		assert.Equal(t, 403, code, host)
		assert.Contains(t, out["error"], "is not a loopback address")
	}
	// Listening beyond loopback (--address 0.0.0.0:8080) accepts any Host.
	wide := New(Config{Cluster: "myeks", Backend: f, Addr: "0.0.0.0:8080", Token: testToken})
	code, _ = call(wide, "GET", "/api/state", "", noToken, func(r *http.Request) { r.Host = "lab.example:8080" })
	assert.Equal(t, 200, code)
}

// Each node's Service rules: the KUBE-SVC chain's jumps with their
// probabilities, the shares they make, and their counters.
func TestUIRules(t *testing.T) {
	f := newFake()
	rules := readNodeRules(f, f.world)
	require.Len(t, rules, 3)
	n := rules[0]
	assert.Equal(t, "node-1", n.Node)
	assert.Equal(t, "iptables", n.ProxyMode)
	require.Len(t, n.Services, 1)
	svc := n.Services[0]
	assert.Equal(t, "default/nginx-nlb-service:7777", svc.Service)
	assert.Equal(t, "KUBE-SVC-VDXCGHLC7LJVQSZ7", svc.Chain)
	require.Len(t, svc.Endpoints, 3)
	assert.Equal(t, EndpointRule{Chain: "KUBE-SEP-LHC45K453FK42NFG", Endpoint: "192.168.1.248:7777", Probability: 0.3333333333, Share: 0.3333333333, Packets: 5}, svc.Endpoints[0])
	assert.InDelta(t, 0.5, svc.Endpoints[1].Probability, 1e-9)
	assert.Equal(t, 1.0, svc.Endpoints[2].Probability)
	for _, e := range svc.Endpoints {
		assert.InDelta(t, 1.0/3, e.Share, 1e-9, e.Chain)
	}

	// externalTrafficPolicy Local: the node's own endpoints too.
	spec := topology.DefaultSpec()
	spec.Mode, spec.ExternalTrafficPolicy = topology.TargetInstance, topology.PolicyLocal
	local, err := topology.Build(spec)
	require.NoError(t, err)
	rules = readNodeRules(f, local)
	require.Len(t, rules[1].Services, 2)
	svl := rules[1].Services[1]
	assert.Equal(t, "default/nginx-nlb-service:7777 (external, local endpoints)", svl.Service)
	assert.Equal(t, "KUBE-SVL-VDXCGHLC7LJVQSZ7", svl.Chain)
	assert.Equal(t, []EndpointRule{{Chain: "KUBE-SEP-KZTINFDZQREWAZ5M", Endpoint: "192.168.2.206:7777", Probability: 1, Share: 1, Packets: 5}}, svl.Endpoints)

	// A mode without a source says so per node.
	w := *f.world
	w.Cluster.KubeProxy.Mode = "nftables"
	rules = readNodeRules(f, &w)
	assert.Equal(t, "nftables", rules[0].ProxyMode)
	assert.Equal(t, "kube-proxy's nftables mode: its rules are not shown yet", rules[0].Error)
	assert.Empty(t, rules[0].Services)
}

// The stream sends the whole state first, then what changes: a target
// turning unhealthy, a new run.
func TestUIStream(t *testing.T) {
	f := newFake()
	s := New(Config{Cluster: "myeks", Backend: f, Addr: "127.0.0.1:0", Token: testToken, Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	hs := httptest.NewServer(s)
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	rd := bufio.NewReader(resp.Body)
	next := func() map[string]json.RawMessage {
		for {
			line, err := rd.ReadString('\n')
			require.NoError(t, err)
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var m map[string]json.RawMessage
				require.NoError(t, json.Unmarshal([]byte(data), &m))
				return m
			}
		}
	}
	first := next()
	assert.Contains(t, first, partGraph)
	assert.Contains(t, first, partRules)

	f.mu.Lock()
	f.targets[1].State, f.targets[1].Reason = topology.TargetUnhealthy, "Target.FailedHealthChecks"
	f.mu.Unlock()
	for {
		m := next()
		if ts, ok := m[partTargets]; ok && strings.Contains(string(ts), "Target.FailedHealthChecks") {
			assert.Contains(t, m, partGraph, "the topology shows the health")
			break
		}
	}
	f.Trace(ctx, f.world, sim.TrafficOptions{Requests: 2}) // a run from the CLI
	for {
		m := next()
		if runs, ok := m[partRuns]; ok {
			var r Runs
			require.NoError(t, json.Unmarshal(runs, &r))
			if len(r.Recent) == 0 {
				continue
			}
			require.Len(t, r.Recent, 1)
			assert.Len(t, r.Recent[0].Trace.Requests, 2)
			assert.Contains(t, r.LastByMode["ip"], sim.RunTrace)
			break
		}
	}
}

func TestUIIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true,
		"0.0.0.0:8080": false, ":8080": false, "192.168.1.5:8080": false, "nonsense": false} {
		assert.Equal(t, want, IsLoopback(addr), addr)
	}
	assert.Len(t, NewToken(), 32)
	assert.NotEqual(t, NewToken(), NewToken())
	assert.Equal(t, "http://127.0.0.1:8080/?token="+testToken, newTestServer(newFake()).URL(testAddr))
}

// A cluster built anew under the same name starts new logs: the page
// forgets the old events and runs.
func TestUINewClusterNewLogs(t *testing.T) {
	f := newFake()
	f.Trace(context.Background(), f.world, sim.TrafficOptions{Requests: 1})
	l := newLive(f)
	l.refresh(false)
	require.Len(t, l.events, 1)
	require.Len(t, l.runs.Recent, 1)

	f.mu.Lock()
	w := *f.world
	w.Created = w.Created.Add(time.Hour)
	f.world = &w
	f.events = []sim.Event{{Reason: "Started"}}
	f.runs = nil
	f.mu.Unlock()
	l.refresh(false)
	require.Len(t, l.events, 1)
	assert.Equal(t, "Started", l.events[0].Reason)
	assert.Empty(t, l.runs.Recent)
}
