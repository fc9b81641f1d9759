package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/observe"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/ui"
)

// UpdateDocsEnv, set to 1, makes the browser test write the README's
// screenshot (docs/ui.png).
const UpdateDocsEnv = "NLBSIM_UPDATE_DOCS"

// chromium finds Debian's chromium; without it the test skips, or fails in
// CI (scripts/test.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on the PATH, and CI is set: scripts/test.sh installs it (apt-get install -y chromium)")
	}
	t.Skip("needs chromium (apt-get install -y chromium)")
	return ""
}

// serveUI serves a cluster's page on a free loopback port until the test
// ends, and returns its URL with the token.
func serveUI(t *testing.T, cluster string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := ui.New(ui.Config{Cluster: cluster, Backend: ui.SimBackend{Cluster: cluster}, Addr: ln.Addr().String(),
		Token: ui.NewToken(), Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { cancel(); hs.Close() })
	return srv.URL(ln.Addr().String())
}

// browser is one headless Chromium window of a given size.
type browser struct {
	t    *testing.T
	ctx  context.Context
	size string
}

// newBrowser starts Chromium as root allows it (no sandbox), offline, with a
// fresh profile. A failed test leaves a screenshot of the window beside its
// log (simtest.SaveDir).
func newBrowser(t *testing.T, path string, width, height int) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, size: fmt.Sprintf("%dx%d", width, height)}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))))
	t.Cleanup(func() {
		if t.Failed() {
			file := simtest.SaveDir(t) + "-" + b.size + ".png"
			if err := b.screenshot(file); err != nil {
				t.Logf("test failed; the screenshot failed too: %v", err)
			} else {
				t.Logf("test failed: screenshot of the %s window in %s", b.size, file)
			}
		}
		cancel()
		cancelAlloc()
	})
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

// eval runs a JavaScript expression that returns JSON text and decodes it.
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("JSON.stringify("+js+")"))
	require.NoError(b.t, err, js)
	require.NoError(b.t, json.Unmarshal([]byte(text), out), js)
}

// wait polls a JavaScript predicate until it holds. A predicate that
// throws (an element it reads is not drawn yet, or is being redrawn) does
// not hold yet.
func (b *browser) wait(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	guarded := "(() => { try { return !!(" + predicate + "); } catch (e) { return false; } })()"
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(b.t, err, "waiting for %s (%s)", what, predicate)
}

func (b *browser) screenshot(file string) error {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}

// drawnPath is what the page drew for one request.
type drawnPath struct {
	ID     int           `json:"id"`
	Pod    string        `json:"pod"`
	Hops   []observe.Hop `json:"hops"`
	Points int           `json:"points"`
	Row    []observe.Hop `json:"row"`
}

const readPaths = `[...document.querySelectorAll('#trace-layer .trace-path')].map(p => ({
	id: +p.dataset.id, pod: p.dataset.pod, hops: JSON.parse(p.dataset.hops),
	points: p.querySelector('polyline').points.numberOfItems,
	row: JSON.parse(document.querySelector('#paths .path-row[data-id="' + p.dataset.id + '"]').dataset.hops)}))`

// lastTrace is the newest trace run the cluster recorded: trace's JSON
// report of the requests the page sent.
func lastTrace(t *testing.T, cluster string) sim.Run {
	t.Helper()
	runs, _, err := sim.ReadRuns(cluster, 0)
	require.NoError(t, err)
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Kind == sim.RunTrace {
			return runs[i]
		}
	}
	t.Fatal("no trace run recorded")
	return sim.Run{}
}

// checkPaths asserts that the page drew one path per request of the last
// trace, through exactly the hops of trace's report, and returns them.
func checkPaths(t *testing.T, b *browser, cluster string) []observe.TracedRequest {
	t.Helper()
	run := lastTrace(t, cluster)
	var drawn []drawnPath
	b.eval(readPaths, &drawn)
	require.Len(t, drawn, len(run.Trace.Requests))
	for i, req := range run.Trace.Requests {
		require.Empty(t, req.Error, "request %d", req.ID)
		d := drawn[i]
		assert.Equal(t, req.ID, d.ID)
		assert.Equal(t, req.Pod, d.Pod)
		assert.Equal(t, req.Hops, d.Hops, "request %d: the drawn hops are trace's", req.ID)
		assert.Equal(t, req.Hops, d.Row, "request %d: the listed hops are trace's", req.ID)
		assert.Equal(t, len(req.Hops), d.Points, "request %d: every hop's host is on the picture", req.ID)
	}
	return run.Trace.Requests
}

// The page of a running cluster in a real browser: the topology, ten traced
// requests drawn hop by hop exactly as trace reports them, the switch to
// instance mode and its node hop, the split view, and 10,000 requests.
func TestUI_Browser(t *testing.T) {
	path := chromium(t)
	c := simtest.Up(t, simtest.TimeScale(10))
	cluster := c.World.Cluster.Name
	url := serveUI(t, cluster)
	b := newBrowser(t, path, 1280, 800)

	// Read-only without the token.
	b.do(chromedp.Navigate(strings.Split(url, "?")[0]))
	b.wait("the topology", `document.querySelector('#topology .vertex[data-host="nlb-a"]') !== null`, 30*time.Second)
	var disabled bool
	b.eval(`document.getElementById('send10').disabled && document.getElementById('mode-instance').disabled`, &disabled)
	assert.True(t, disabled, "without the token the controls are disabled")

	b.do(chromedp.Navigate(url))
	b.wait("the topology", `document.querySelector('#topology .vertex[data-host="nlb-a"]') !== null`, 30*time.Second)
	var hosts []string
	b.eval(`[...document.querySelectorAll('#topology .vertex')].map(v => v.dataset.host)`, &hosts)
	want := []string{"bastion", "vpc", "nlb-a", "nlb-b", "nlb-c", "node-1", "node-2", "node-3", "control-plane-1", "control-plane-2"}
	for _, p := range c.World.Pods {
		want = append(want, p.Name)
	}
	assert.ElementsMatch(t, want, hosts)
	b.wait("three healthy targets", `document.querySelectorAll('#targets tr[data-state="healthy"]').length === 3 &&
		document.querySelectorAll('#topology .edge.healthy').length === 3`, time.Minute)
	b.wait("the rules of three nodes", `document.querySelectorAll('#rules tr[data-chain]').length === 9`, 30*time.Second)
	b.wait("the events", `document.querySelectorAll('#events .ev').length > 0`, 10*time.Second)

	// Ten requests, ip mode: bastion → NLB node → (the pod's node) → pod.
	b.do(chromedp.Click(chromedp.CSS("#send10")))
	b.wait("ten paths", `document.querySelectorAll('#trace-layer .trace-path').length === 10`, time.Minute)
	b.wait("the packet moving", `Number(document.querySelector('#trace-layer .packet')?.getAttribute('cx')) > 0`, 10*time.Second)
	for _, req := range checkPaths(t, b, cluster) {
		assert.Equal(t, "bastion", req.Hops[0].Host)
		assert.True(t, strings.HasPrefix(req.Hops[1].Host, "nlb-"), "request %d: %v", req.ID, req.Hops)
		assert.Equal(t, req.Pod, req.Hops[len(req.Hops)-1].Host)
		for _, h := range req.Hops[2:] {
			assert.Nil(t, h.NAT, "ip mode: no NAT after the NLB (request %d at %s)", req.ID, h.Host)
		}
	}

	// Instance mode, in place: the NLB sends to the nodes' NodePort, and
	// the node's kube-proxy DNATs on.
	b.do(chromedp.Click(chromedp.CSS("#mode-instance")))
	b.wait("instance mode", `document.body.dataset.mode === 'instance' && !document.getElementById('status').classList.contains('busy')`, 2*time.Minute)
	b.wait("three healthy node targets", `[...document.querySelectorAll('#targets tr[data-state="healthy"]')].filter(r => r.dataset.target.endsWith(':32392')).length === 3`, time.Minute)
	b.do(chromedp.Click(chromedp.CSS("#send10")))
	b.wait("ten instance-mode paths", `document.getElementById('paths-title').textContent.includes('instance mode') &&
		document.querySelectorAll('#trace-layer .trace-path').length === 10`, time.Minute)
	for _, req := range checkPaths(t, b, cluster) {
		var nodeHop *observe.Hop
		for i, h := range req.Hops {
			if strings.HasPrefix(h.Host, "node-") && h.NAT != nil {
				nodeHop = &req.Hops[i]
			}
		}
		if assert.NotNil(t, nodeHop, "request %d: no node hop in %v", req.ID, req.Hops) {
			assert.Contains(t, nodeHop.NAT.Kind, "DNAT")
			assert.Contains(t, nodeHop.NAT.By, "KUBE-SEP-")
		}
	}
	b.wait("live counters", `[...document.querySelectorAll('#rules tr[data-chain] td:last-child')].reduce((s, td) => s + Number(td.textContent), 0) >= 10`, 30*time.Second)
	b.wait("the split view", `document.querySelectorAll('#split [data-mode="ip"] .path-row').length > 0 &&
		document.querySelectorAll('#split [data-mode="instance"] .path-row').length > 0`, 10*time.Second)
	checkLayout(t, b)

	// A projector: the same page at 1920×1080, the README's screenshot.
	big := newBrowser(t, path, 1920, 1080)
	big.do(chromedp.Navigate(url))
	big.wait("the last trace", `document.querySelectorAll('#trace-layer .trace-path').length === 10`, 30*time.Second)
	checkLayout(t, big)
	big.do(chromedp.Click(chromedp.CSS("#send10")))
	big.wait("the animation", `Number(document.querySelector('#trace-layer .packet')?.getAttribute('cx')) > 0`, time.Minute)
	time.Sleep(1500 * time.Millisecond)
	if os.Getenv(UpdateDocsEnv) == "1" {
		require.NoError(t, big.screenshot("../docs/ui.png"))
	}

	// 10,000 requests: aggregated on the picture and in bars, never drawn
	// one by one.
	big.do(chromedp.SetValue(chromedp.CSS("#traffic-n"), "10000"), chromedp.Click(chromedp.CSS("#run-traffic")))
	big.wait("10,000 requests", `document.getElementById('dist-title').textContent.startsWith('(10000 requests')`, 5*time.Minute)
	var counts struct {
		Pods, Paths, Elements int
		Frame                 float64
	}
	big.eval(`({pods: [...document.querySelectorAll('#distribution [data-section^="pod"] .bar-row')].reduce((s, r) => s + Number(r.dataset.count), 0),
		paths: document.querySelectorAll('#trace-layer .trace-path').length, elements: document.querySelectorAll('*').length})`, &counts)
	start := time.Now()
	big.do(chromedp.Click(chromedp.CSS("#mode-ip")))
	big.wait("the page answering", `document.getElementById('status').textContent !== ''`, 10*time.Second)
	t.Logf("10,000 requests: %d counted per pod, %d paths drawn, %d elements on the page; a click answered in %v",
		counts.Pods, counts.Paths, counts.Elements, time.Since(start).Round(time.Millisecond))
	assert.Greater(t, counts.Pods, 9900)
	assert.LessOrEqual(t, counts.Paths, 10)
	assert.Less(t, counts.Elements, 3000)
	big.wait("back in ip mode", `document.body.dataset.mode === 'ip' && !document.getElementById('status').classList.contains('busy')`, 2*time.Minute)

	// The controls: a failing pod's target turns unhealthy as the health
	// checks fail, and healthy again once it recovers; cross-zone; scaling
	// adds a pod.
	var pod string
	for _, p := range c.World.Pods {
		if p.Node == "node-2" && p.Owner == "nginx-deployment" {
			pod = p.Name
		}
	}
	require.NotEmpty(t, pod)
	target := `document.querySelector('#targets tr[data-target="192.168.2.206:7777"]')`
	big.wait("three healthy pod targets", `document.querySelectorAll('#targets tr[data-state="healthy"]').length === 3`, time.Minute)
	big.do(chromedp.Click(chromedp.CSS(`#pods button[data-action="fail"][data-pod="` + pod + `"]`)))
	big.wait("the failing pod's target unhealthy", target+`.dataset.state === 'unhealthy' &&
		document.querySelectorAll('#topology .edge.unhealthy').length === 1 &&
		document.querySelector('#topology .vertex[data-host="`+pod+`"]').classList.contains('down')`, time.Minute)
	var reason string
	big.eval(target+`.lastChild.textContent`, &reason)
	assert.Equal(t, "Target.FailedHealthChecks", reason)
	big.do(chromedp.Click(chromedp.CSS(`#pods button[data-action="recover"][data-pod="` + pod + `"]`)))
	big.wait("the recovered pod's target healthy", target+`.dataset.state === 'healthy'`, time.Minute)

	// Cross-zone load balancing on: every NLB node reaches every target.
	// (Before scaling: like up --cross-zone, an in-place change refuses a
	// Deployment scaled away from the spec.)
	big.do(chromedp.Click(chromedp.CSS("#cross-zone")))
	big.wait("cross-zone on", `document.getElementById('graph-title').textContent.includes('cross-zone on') &&
		document.getElementById('cross-zone').checked`, 2*time.Minute)
	big.wait("nine healthy edges", `document.querySelectorAll('#topology .edge.healthy').length === 9`, time.Minute)
	big.do(chromedp.SetValue(chromedp.CSS("#replicas"), "4"), chromedp.Click(chromedp.CSS("#scale")))
	big.wait("four pods", `document.querySelectorAll('#pods tr[data-pod]').length === 4 &&
		document.querySelectorAll('#topology .vertex.k8sPod').length === 6`, time.Minute)
}

// checkLayout asserts that the page fits the window's width and that the
// topology and the main button are on the first screen.
func checkLayout(t *testing.T, b *browser) {
	t.Helper()
	var l struct {
		ScrollWidth, InnerWidth, InnerHeight int
		TopoWidth, SendBottom                float64
	}
	b.eval(`({scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth, innerHeight: innerHeight,
		topoWidth: document.getElementById('topology').getBoundingClientRect().width,
		sendBottom: document.getElementById('send10').getBoundingClientRect().bottom})`, &l)
	assert.LessOrEqual(t, l.ScrollWidth, l.InnerWidth, "%s: no horizontal scrolling", b.size)
	assert.Greater(t, l.TopoWidth, 700.0, "%s: the topology is wide enough to read", b.size)
	assert.Less(t, l.SendBottom, float64(l.InnerHeight), "%s: send 10 requests is on the first screen", b.size)
}
