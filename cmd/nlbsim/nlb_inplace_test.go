package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// counters are iptables' packet and byte counts, which traffic moves.
var counters = regexp.MustCompile(`\[\d+:\d+\]|(?m)^\s*\d+\s+\d+\s`)

// worldSnapshot is what a user sees of a cluster: get all and get targets
// as JSON, and every node's nat rules without counters.
func worldSnapshot(t *testing.T, name string) map[string]string {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		r := nlbsim(t, append(args, "--name", name)...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		return r.stdout
	}
	snap := map[string]string{
		"get all":     run("get", "all", "-A", "-o", "json"),
		"get targets": run("get", "targets", "-o", "json"),
	}
	for _, node := range []string{"node-1", "node-2", "node-3"} {
		snap["iptables "+node] = counters.ReplaceAllString(run("iptables", node, "-t", "nat"), "")
	}
	return snap
}

// waitSettled waits until no pod of the walkthrough's Deployment is
// pending or terminating and no target is initial or draining.
func waitSettled(t *testing.T, name string, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		w, err := sim.LoadWorld(name)
		if err != nil {
			return false
		}
		for _, p := range w.Pods {
			if p.Owner == topology.AppDeployment && (p.Terminating || !p.Running()) {
				return false
			}
		}
		targets, err := sim.LoadTargets(name)
		if err != nil || len(targets) == 0 {
			return false
		}
		for _, th := range targets {
			if th.State == topology.TargetInitial || th.State == topology.TargetDraining {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, what)
}

// A failed in-place up leaves the world as it was: after a node's pods
// were evicted and replaced and the node came back, an up whose probe
// fails (a pod hangs) restores the previous settings, and the pods, the
// targets and every node's rules are what they were. (An in-place change
// used to start from a freshly built world: evicted pods came back, their
// replacements vanished, and the new policy stayed.)
func TestFailedInPlaceUpRestoresTheWorld(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	ok := func(args ...string) {
		t.Helper()
		r := nlbsim(t, append(args, "--name", name)...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
	}
	ok("up", "--time-scale", "50")
	before, err := sim.LoadWorld(name)
	require.NoError(t, err)
	node3 := before.Nodes[2]
	ok("stop", "node", "node-3")
	require.Eventually(t, func() bool {
		w, err := sim.LoadWorld(name)
		if err != nil {
			return false
		}
		for _, p := range w.PodsOn("node-3") {
			if p.Owner == topology.AppDeployment {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, "node-3's pod evicted")
	ok("start", "node", "node-3")
	waitSettled(t, name, "the replacement running")

	// A pod that hangs makes up's probe fail.
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)
	var hung string
	for _, p := range w.Pods {
		if p.Owner == topology.AppDeployment {
			hung = p.Name
			break
		}
	}
	ok("fail", "pod", hung, "--how", "hang")
	require.Eventually(t, func() bool {
		targets, _ := sim.LoadTargets(name)
		p, _ := w.Pod(hung)
		for _, th := range targets {
			if th.IP == p.IP {
				return th.State == topology.TargetUnhealthy
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond)
	waitSettled(t, name, "settled before the change")
	snapBefore := worldSnapshot(t, name)
	for _, p := range before.PodsOn("node-3") {
		if p.Owner == topology.AppDeployment {
			assert.NotContains(t, snapBefore["get all"], `"`+p.Name+`"`, "the evicted pod is gone")
		}
	}

	r := nlbsim(t, "up", "--name", name, "--time-scale", "50", "--external-traffic-policy", "Local")
	require.Equal(t, 1, r.code, "the probe fails on %s: %s", hung, r.stderr)
	assert.Contains(t, r.stderr, "the previous settings are back")
	assert.Contains(t, r.stderr, hung)

	waitSettled(t, name, "settled after the rollback")
	after := worldSnapshot(t, name)
	for k, v := range snapBefore {
		assert.Equal(t, v, after[k], "%s after the failed change", k)
	}
	w2, err := sim.LoadWorld(name)
	require.NoError(t, err)
	svc, _ := w2.Service(topology.AppNamespace, topology.AppService)
	assert.Equal(t, topology.PolicyCluster, svc.ExternalTrafficPolicy, "the policy is back")
	n3, _ := w2.Node("node-3")
	assert.Equal(t, node3.IP, n3.IP)
	var doc any
	require.NoError(t, json.Unmarshal([]byte(after["get targets"]), &doc))
	assert.True(t, strings.Contains(after["get targets"], "Target.FailedHealthChecks"), "the hung pod's target is unhealthy again")
}
