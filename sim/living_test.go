package sim_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within %s", what, within)
}

func do(t *testing.T, c *sim.Cluster, a sim.Action) {
	t.Helper()
	require.NoError(t, sim.Do(context.Background(), c.World.Cluster.Name, a))
}

func liveWorld(t *testing.T, c *sim.Cluster) *topology.World {
	t.Helper()
	w, err := sim.LoadWorld(c.World.Cluster.Name)
	require.NoError(t, err)
	return w
}

// svcRules returns a node's KUBE-SVC chain of the walkthrough's Service as
// the kernel holds it: one rule per endpoint.
func svcRules(t *testing.T, w *topology.World, node string) []string {
	t.Helper()
	saved, err := sim.SaveRules(w, node)
	require.NoError(t, err)
	return chainRules(saved, "KUBE-SVC-VDXCGHLC7LJVQSZ7")
}

// Scale 3 → 5 → 2: every node's rules hold exactly the ready endpoints
// with kube-proxy's probabilities, and traffic reaches exactly those pods.
func TestScaleKeepsRulesAndTrafficExact(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50), simtest.Mode(topology.TargetInstance))
	for _, n := range []int{5, 2} {
		do(t, c, sim.Action{Verb: "scale", Name: "nginx-deployment", Replicas: n})
		var w *topology.World
		eventually(t, 5*time.Second, fmt.Sprintf("rules for %d endpoints on every node", n), func() bool {
			w = liveWorld(t, c)
			svc, _ := w.Service("default", "nginx-nlb-service")
			ready := 0
			for _, e := range w.Endpoints(svc, svc.Ports[0]) {
				if e.Ready {
					ready++
				}
			}
			if ready != n {
				return false
			}
			for _, node := range w.Nodes {
				if len(svcRules(t, w, node.Name)) != n {
					return false
				}
			}
			return true
		})
		svc, _ := w.Service("default", "nginx-nlb-service")
		var want []string
		for _, e := range w.Endpoints(svc, svc.Ports[0]) {
			if e.Ready {
				want = append(want, e.String())
			}
		}
		for _, node := range w.Nodes {
			rules := svcRules(t, w, node.Name)
			for i, r := range rules {
				assert.Contains(t, r, "-> "+want[i]+`"`, node.Name)
				if i < n-1 {
					assert.Contains(t, r, "--probability "+nat.SavedProbability(1/float64(n-i)), node.Name)
				} else {
					assert.NotContains(t, r, "statistic", node.Name)
				}
			}
		}
		report := simtest.Traffic(t, &sim.Cluster{World: w}, sim.TrafficOptions{Requests: 40 * n, Concurrency: 4, To: "192.168.2.146:32392"})
		assert.Zero(t, report.Errors, "%v", report.ErrorsByKind)
		assert.Len(t, report.ByPod, n, "traffic reaches exactly the ready pods: %v", report.ByPod)
		simtest.AssertDistribution(t, report.ByPod, report.Expected, 1e-4)
	}
}

// A partial sync rewrites only the changed Service's chains: another
// Service's counters survive it.
func TestPartialSyncKeepsOtherCounters(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	for i := 0; i < 5; i++ {
		_, err := c.Get(context.Background(), "pod-1", "http://10.100.0.1:443/")
		require.NoError(t, err)
	}
	counters := func() string {
		saved, err := sim.SaveRules(liveWorld(t, c), "node-1")
		require.NoError(t, err)
		var out []string
		for _, line := range strings.Split(saved, "\n") {
			if strings.Contains(line, "-A KUBE-SVC-NPX46M4PTMTKRN6Y ") { // default/kubernetes:https
				out = append(out, line)
			}
		}
		return strings.Join(out, "\n")
	}
	before := counters()
	require.Regexp(t, regexp.MustCompile(`\[[1-9]\d*:\d+\]`), before, "the kubernetes Service's counters rose")
	do(t, c, sim.Action{Verb: "scale", Name: "nginx-deployment", Replicas: 4})
	eventually(t, 5*time.Second, "the sync", func() bool { return len(svcRules(t, liveWorld(t, c), "node-1")) == 4 })
	assert.Equal(t, before, counters(), "a partial sync for nginx-nlb-service leaves default/kubernetes's counters alone")
}

// Deleting a pod removes it from the endpoints and the target group and
// replaces it with a new pod with a new name and address.
func TestDeletePodIsReplaced(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	old, err := c.World.Lookup("pod-2")
	require.NoError(t, err)
	do(t, c, sim.Action{Verb: "delete-pod", Name: "pod-2"})
	var w *topology.World
	eventually(t, 10*time.Second, "the old pod gone", func() bool {
		w = liveWorld(t, c)
		_, gone := w.Lookup(old.Name)
		return gone != nil
	})
	var fresh []topology.Pod
	for _, p := range w.Pods {
		if p.Owner == "nginx-deployment" {
			assert.NotEqual(t, old.IP, p.IP, "addresses never repeat")
			if p.Name != c.World.Pods[0].Name && p.Name != c.World.Pods[2].Name && p.Owner == "nginx-deployment" {
				fresh = append(fresh, p)
			}
		}
	}
	require.NotEmpty(t, fresh)
	r, err := c.Get(context.Background(), "bastion", fmt.Sprintf("http://%s:7777/", fresh[len(fresh)-1].IP))
	require.NoError(t, err, "the replacement serves")
	assert.Equal(t, fresh[len(fresh)-1].Name, r.Pod)
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	for _, tg := range targets {
		if tg.IP == old.IP {
			assert.Equal(t, topology.TargetDraining, tg.State, "the deleted pod's target drains")
		}
	}
}

// Stopping a node in instance mode: its target turns unused at once and
// gets no new connections.
func TestStoppedNodeGetsNoConnections(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance), simtest.CrossZone(true), simtest.TimeScale(50))
	do(t, c, sim.Action{Verb: "stop-node", Name: "node-3"})
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	for _, tg := range targets {
		if tg.Host == "node-3" {
			assert.Equal(t, topology.TargetUnused, tg.State)
		}
	}
	report := simtest.Traffic(t, &sim.Cluster{World: liveWorld(t, c)}, sim.TrafficOptions{Requests: 60, Concurrency: 4, To: "192.168.1.51:7777"})
	n3, _ := c.World.Node("node-3")
	assert.Zero(t, report.ByNode[n3.NodeName], "no new connection reaches the stopped node: %v", report.ByNode)
	assert.Len(t, report.ByNode, 2)
	do(t, c, sim.Action{Verb: "start-node", Name: "node-3"})
}

// VPC CNI's pod limit: pods beyond the cluster's room stay Pending with the
// scheduler's reason; scaling down lets them start.
func TestPodsBeyondTheLimitWaitPending(t *testing.T) {
	c := simtest.Up(t, simtest.Nodes(2), simtest.InstanceType("t3.small"), simtest.Minimal(), simtest.TimeScale(50))
	do(t, c, sim.Action{Verb: "scale", Name: "nginx-deployment", Replicas: 30})
	w := liveWorld(t, c)
	running, pending := 0, 0
	for _, p := range w.Pods {
		switch p.Phase {
		case topology.PhaseRunning:
			running++
		case topology.PhasePending:
			pending++
			assert.Contains(t, p.Reason, "Too many pods")
		}
	}
	assert.Equal(t, 2*11, running, "t3.small holds 11 pods per node (no host-network pods with --minimal)")
	assert.Equal(t, 30-22, pending)
	do(t, c, sim.Action{Verb: "scale", Name: "nginx-deployment", Replicas: 20})
	eventually(t, 10*time.Second, "pending pods to start", func() bool {
		w := liveWorld(t, c)
		n := 0
		for _, p := range w.Pods {
			if p.Phase == topology.PhasePending {
				return false
			}
			if !p.Terminating {
				n++
			}
		}
		return n == 20
	})
}

// A failed pod without a readiness probe stays in the endpoints: kube-proxy
// keeps sending it a share of new connections, which fail.
func TestFailedPodKeepsGettingTraffic(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	do(t, c, sim.Action{Verb: "fail-pod", Name: "pod-2", How: "refuse"})
	report := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 150, Concurrency: 4, To: "192.168.2.146:32392"})
	assert.Greater(t, report.ErrorsByKind[sim.ErrRefused], 20, "about a third of the connections go to the failed pod")
	assert.Less(t, report.ErrorsByKind[sim.ErrRefused], 90)
	do(t, c, sim.Action{Verb: "recover-pod", Name: "pod-2"})
	report = simtest.Traffic(t, c, sim.TrafficOptions{Requests: 60, Concurrency: 4, To: "192.168.2.146:32392"})
	assert.Zero(t, report.Errors)
}

func TestRolloutRestartReplacesEveryPod(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	before := map[string]bool{}
	for _, p := range c.World.Pods {
		before[p.Name] = true
	}
	do(t, c, sim.Action{Verb: "rollout-restart", Name: "nginx-deployment"})
	eventually(t, 20*time.Second, "the rollout", func() bool {
		w := liveWorld(t, c)
		n := 0
		for _, p := range w.Pods {
			if p.Owner != "nginx-deployment" {
				continue
			}
			if before[p.Name] || p.Terminating {
				return false
			}
			n++
		}
		return n == 3
	})
	eventually(t, 10*time.Second, "the new targets to pass their health checks", func() bool {
		targets, err := sim.LoadTargets(c.World.Cluster.Name)
		require.NoError(t, err)
		healthy := 0
		for _, tg := range targets {
			if tg.State == topology.TargetHealthy {
				healthy++
			}
		}
		return healthy == 3
	})
	report := simtest.Traffic(t, &sim.Cluster{World: liveWorld(t, c)}, sim.TrafficOptions{Requests: 90, Concurrency: 4})
	assert.Zero(t, report.Errors)
	assert.Len(t, report.ByPod, 3)
}

// With a readiness probe, a failing pod leaves the endpoints after the
// failure threshold, and new connections stop failing.
func TestReadinessProbeRemovesAFailedPod(t *testing.T) {
	c := simtest.Up(t, simtest.Manifests("testdata/readiness.yaml"), simtest.TimeScale(50))
	failed, err := c.World.Lookup("pod-2")
	require.NoError(t, err)
	do(t, c, sim.Action{Verb: "fail-pod", Name: "pod-2", How: "hang"})
	eventually(t, 5*time.Second, "the failed pod to leave every node's rules", func() bool {
		w := liveWorld(t, c)
		for _, n := range w.Nodes {
			for _, r := range svcRules(t, w, n.Name) {
				if strings.Contains(r, failed.IP.String()+":") {
					return false
				}
			}
		}
		return true
	})
	report := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 60, Concurrency: 4, To: "192.168.2.146:32392"})
	assert.Zero(t, report.Errors, "%v", report.ErrorsByKind)
	assert.Zero(t, report.ByPod[failed.Name])
	do(t, c, sim.Action{Verb: "recover-pod", Name: "pod-2"})
	eventually(t, 5*time.Second, "the recovered pod back in the rules", func() bool {
		return len(svcRules(t, liveWorld(t, c), "node-1")) == 3
	})
}

// traffic --chaos deletes a pod mid-run: errors are reported over time and
// the fit is withheld, since the rules changed.
func TestChaosDuringTraffic(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	chaos, err := sim.ParseChaos("delete-pod:pod-3@30%")
	require.NoError(t, err)
	report := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 300, Concurrency: 4, Chaos: &chaos})
	assert.Len(t, report.ErrorsOverTime, 10)
	assert.True(t, report.RulesChanged)
	assert.Nil(t, report.PValue)
	_, err = sim.ParseChaos("explode@10%")
	assert.ErrorContains(t, err, `unknown action "explode"`)
	_, err = sim.ParseChaos("rollout@150%")
	assert.ErrorContains(t, err, "percentage")
}

// A rollout and a pod deletion during 5,000 requests, in each mode: the
// failures inside the change's windows are reported per tenth of the run,
// and after the windows no request fails.
func TestDisruptionsPerMode(t *testing.T) {
	for _, mode := range []topology.TargetType{topology.TargetIP, topology.TargetInstance} {
		for _, spec := range []string{"rollout@10%", "delete-pod:pod-2@10%"} {
			t.Run(string(mode)+"/"+spec, func(t *testing.T) {
				c := simtest.Up(t, simtest.Mode(mode), simtest.TimeScale(100))
				chaos, err := sim.ParseChaos(spec)
				require.NoError(t, err)
				report := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 5000, Concurrency: 8, Chaos: &chaos})
				t.Logf("%s mode, %s: %d errors %v, per tenth %v", mode, spec, report.Errors, report.ErrorsByKind, report.ErrorsOverTime)
				require.Len(t, report.ErrorsOverTime, 10)
				assert.Zero(t, report.ErrorsOverTime[9], "the last tenth of the run is past the windows")
				after := simtest.Traffic(t, &sim.Cluster{World: liveWorld(t, c)}, sim.TrafficOptions{Requests: 300, Concurrency: 8})
				assert.Zero(t, after.Errors, "after the windows: %v", after.ErrorsByKind)
			})
		}
	}
}
