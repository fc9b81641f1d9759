package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// The supervisor of a -race build of the CLI, timers 100 times faster,
// lives through scale, delete pod, rollout restart and stop/start node while
// requests flow through the NLB: the race detector finds nothing in its log,
// it is still running at the end, and no request fails while the cluster is
// settled (between a change and the moment every target is healthy again and
// every pod of the Deployment is Ready, requests may fail, as on EKS).
func TestSupervisorUnderChaosWithRace(t *testing.T) {
	simtest.RequireRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	raceBinary := filepath.Join(dir, "nlbsim-race")
	if out, err := exec.Command("go", "build", "-race", "-o", raceBinary, ".").CombinedOutput(); err != nil {
		t.Fatalf("building nlbsim with -race: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(raceBinary, args...).CombinedOutput()
		require.NoError(t, err, "nlbsim %v: %s", args, out)
		return string(out)
	}
	name := simtest.ClusterName(t)
	t.Cleanup(func() { exec.Command(raceBinary, "down", "--name", name).Run() })
	run("up", "--name", name, "--mode", "instance", "--time-scale", "100")
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)

	// Requests from the bastion, from this process, to the NLB nodes that
	// the VPC resolver would answer with at that moment (those whose AZ has
	// a healthy target), in turn: an NLB node of an AZ without a target
	// refuses connections, as on AWS, and DNS leaves it out.
	svc, ok := w.Service(topology.AppNamespace, "nginx-nlb-service")
	require.True(t, ok)
	lb := w.LoadBalancers[0]
	serving := func() []string {
		targets, _ := sim.LoadTargets(name)
		healthyAZ := map[string]bool{}
		for _, th := range targets {
			if th.State == topology.TargetHealthy {
				healthyAZ[th.AZ] = true
			}
		}
		var out []string
		for _, n := range lb.Nodes {
			if healthyAZ[n.AZ] || len(healthyAZ) == 0 {
				out = append(out, fmt.Sprintf("http://%s:%d/", n.IP, svc.Ports[0].Port))
			}
		}
		return out
	}
	type failure struct {
		sent time.Time
		err  error
	}
	var (
		mu       sync.Mutex
		failures []failure
		sent     int
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := worker; ctx.Err() == nil; i++ {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				at := time.Now()
				addrs := serving()
				_, err := sim.Get(rctx, w, "bastion", addrs[i%len(addrs)])
				cancel()
				mu.Lock()
				sent++
				if err != nil && ctx.Err() == nil {
					failures = append(failures, failure{at, err})
				}
				mu.Unlock()
			}
		}()
	}

	// Each change opens a window that closes once the cluster is settled.
	type window struct {
		change     string
		start, end time.Time
	}
	var windows []window
	changes := [][]string{
		{"scale", "deployment/nginx-deployment", "--replicas", "5"},
		{"delete", "pod", "pod-1"},
		{"rollout", "restart", "deployment/nginx-deployment"},
		{"stop", "node", "node-3"},
		{"start", "node", "node-3"},
		{"scale", "deployment/nginx-deployment", "--replicas", "3"},
	}
	time.Sleep(time.Second) // settled traffic first
	for _, c := range changes {
		win := window{change: strings.Join(c, " "), start: time.Now()}
		run(append(c, "--name", name)...)
		require.Eventually(t, func() bool { return settled(t, name) }, 60*time.Second, 50*time.Millisecond, "after %s", win.change)
		win.end = time.Now()
		windows = append(windows, win)
		time.Sleep(3 * time.Second) // settled: nothing sent now may fail
	}
	stop()
	wg.Wait()

	t.Logf("%d requests, %d failed", sent, len(failures))
	perChange := map[string]int{}
	for _, f := range failures {
		inWindow := false
		for _, win := range windows {
			// The state says settled a moment before every node's
			// kube-proxy has synced (minSyncPeriod / 100, plus the sync).
			if !f.sent.Before(win.start) && !f.sent.After(win.end.Add(syncSlack)) {
				inWindow = true
				perChange[win.change]++
			}
		}
		assert.True(t, inWindow, "a request sent while the cluster was settled failed (sent %s): %v", f.sent.Format("15:04:05.000"), f.err)
	}
	for _, win := range windows {
		t.Logf("%-45s %5d ms until settled, %d failed requests", win.change, win.end.Sub(win.start).Milliseconds(), perChange[win.change])
	}
	assert.Greater(t, sent, 500, "traffic flowed throughout")
	assert.True(t, sim.SupervisorRunning(name), "the supervisor survived")
	log, err := os.ReadFile(filepath.Join(sim.StateRoot, name, "supervisor.log"))
	require.NoError(t, err)
	assert.NotContains(t, string(log), "DATA RACE", "the race detector found a race in the supervisor")
	assert.NotContains(t, string(log), "panic", "the supervisor panicked")
}

// syncSlack is how long after the state says settled a request may still
// meet rules of before: kube-proxy's minSyncPeriod (1 s) at a time scale of
// 100, plus a sync of every node.
const syncSlack = 500 * time.Millisecond

// settled reports whether every NLB target is healthy (or unused: a stopped
// instance) and every pod of the walkthrough's Deployment runs Ready, with
// none terminating or pending.
func settled(t *testing.T, cluster string) bool {
	w, err := sim.LoadWorld(cluster)
	if err != nil {
		return false
	}
	d, ok := w.Deployment("default", topology.AppDeployment)
	if !ok {
		return false
	}
	ready := 0
	for _, p := range w.Pods {
		if p.Owner != d.Name {
			continue
		}
		if p.Terminating || !p.Running() || p.NotReady {
			return false
		}
		ready++
	}
	if ready != d.Replicas {
		return false
	}
	targets, err := sim.LoadTargets(cluster)
	if err != nil || len(targets) == 0 {
		return false
	}
	for _, th := range targets {
		if th.State != topology.TargetHealthy && th.State != topology.TargetUnused {
			return false
		}
	}
	return true
}
