package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
)

// targetStates reads `get targets -o json` as target ID → "state/reason".
func targetStates(t *testing.T, name string) map[string]string {
	t.Helper()
	r := nlbsim(t, "get", "targets", "-o", "json", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	var doc struct {
		TargetHealthDescriptions []struct {
			Target struct {
				ID string `json:"id"`
			} `json:"target"`
			TargetHealth struct {
				State  string `json:"state"`
				Reason string `json:"reason"`
			} `json:"targetHealth"`
		} `json:"targetHealthDescriptions"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	out := map[string]string{}
	for _, d := range doc.TargetHealthDescriptions {
		out[d.Target.ID] = d.TargetHealth.State + "/" + d.TargetHealth.Reason
	}
	return out
}

// Instance targets are the nodes the Load Balancer Controller selects: a
// node labelled to be excluded, one Karpenter disrupts and one that went
// NotReady are deregistered and drain, then go; get nodes shows NotReady.
func TestInstanceTargetsFollowNodeSelection(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	ok := func(args ...string) string {
		t.Helper()
		r := nlbsim(t, append(args, "--name", name)...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		return r.stdout
	}
	ok("up", "--mode", "instance", "--nodes", "4", "--time-scale", "50")
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)
	id := map[string]string{}
	for _, n := range w.Nodes {
		id[n.Name] = n.InstanceID
	}
	states := targetStates(t, name)
	require.Len(t, states, 4)
	for _, s := range states {
		assert.Equal(t, "healthy/", s)
	}

	// Bad edits are refused before anything is asked.
	r := nlbsim(t, "taint", "node", "node-3", "karpenter.sh/disrupted:Sometimes", "--name", name)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `unknown effect "Sometimes"`)

	ok("label", "node", "node-2", "node.kubernetes.io/exclude-from-external-load-balancers=true")
	ok("taint", "node", "node-3", "karpenter.sh/disrupted:NoSchedule")
	ok("stop", "node", "node-4")
	seen := map[string]map[string]bool{}
	require.Eventually(t, func() bool {
		states := targetStates(t, name)
		for n, i := range id {
			if seen[n] == nil {
				seen[n] = map[string]bool{}
			}
			if s, ok := states[i]; ok {
				seen[n][s] = true
			} else {
				seen[n]["gone"] = true
			}
		}
		return len(states) == 1
	}, 30*time.Second, 20*time.Millisecond, "only node-1 left")
	assert.Equal(t, "healthy/", targetStates(t, name)[id["node-1"]])
	for _, n := range []string{"node-2", "node-3", "node-4"} {
		assert.True(t, seen[n]["draining/Target.DeregistrationInProgress"], "%s drained: %v", n, seen[n])
		assert.True(t, seen[n]["gone"], n)
	}
	assert.True(t, seen["node-4"]["unused/Target.InvalidState"], "the stopped instance is unused until its node is NotReady: %v", seen["node-4"])

	nodes := ok("get", "nodes")
	for _, line := range strings.Split(nodes, "\n") {
		if strings.HasPrefix(line, w.Nodes[3].NodeName) {
			assert.Equal(t, "NotReady", strings.Fields(line)[1], line)
		} else if strings.HasPrefix(line, "ip-") {
			assert.Equal(t, "Ready", strings.Fields(line)[1], line)
		}
	}
	events := ok("events")
	assert.Contains(t, events, "NodeNotReady")
	assert.Contains(t, events, "Labelled")
	assert.Contains(t, events, "karpenter.sh/disrupted:NoSchedule")

	// Back: the label removed, node-2 registers again through initial.
	ok("label", "node", "node-2", "node.kubernetes.io/exclude-from-external-load-balancers-")
	require.Eventually(t, func() bool { return targetStates(t, name)[id["node-2"]] == "healthy/" }, 30*time.Second, 20*time.Millisecond)
}

// A setting nlbsim does not model is refused with exit 2, naming the
// annotation and the attribute, before anything is built.
func TestUnmodelledNLBSettingsExitTwo(t *testing.T) {
	base, err := os.ReadFile("../../topology/testdata/nlb_ip_mode.yaml")
	require.NoError(t, err)
	for ann, want := range map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-target-group-attributes: stickiness.enabled=true": "stickiness.enabled=true is not modelled",
		"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol: \"*\"":                            "proxy protocol v2",
		"service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol: HTTPS":                      "HTTPS health checks are not modelled",
	} {
		text := strings.Replace(string(base), "    service.beta.kubernetes.io/aws-load-balancer-type:", "    "+ann+"\n    service.beta.kubernetes.io/aws-load-balancer-type:", 1)
		path := filepath.Join(t.TempDir(), "svc.yaml")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		r := nlbsim(t, "up", "--name", "nlb-refused", "-f", path)
		assert.Equal(t, 2, r.code, r.stderr)
		name, _, _ := strings.Cut(ann, ":")
		assert.Contains(t, r.stderr, name)
		assert.Contains(t, r.stderr, want)
	}
}

// Without client IP preservation the traffic report counts the NLB's port
// allocation errors (none for a few thousand connections, also run after
// run); with it the NLB translates no source and the count is absent.
func TestTrafficReportsPortAllocationErrors(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	for _, preserve := range []string{"false", "true"} {
		r := nlbsim(t, "up", "--name", name, "--preserve-client-ip="+preserve)
		require.Equal(t, 0, r.code, r.stderr)
		for run := 0; run < 2; run++ {
			r = nlbsim(t, "traffic", "--name", name, "-n", "3000", "-o", "json")
			require.Equal(t, 0, r.code, r.stderr)
			var report map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &report))
			assert.EqualValues(t, 0, report["errors"])
			if preserve == "false" {
				assert.EqualValues(t, 0, report["portAllocationErrors"], "run %d", run)
			} else {
				assert.NotContains(t, report, "portAllocationErrors")
			}
		}
		r = nlbsim(t, "traffic", "--name", name, "-n", "10")
		require.Equal(t, 0, r.code, r.stderr)
		if preserve == "false" {
			assert.Contains(t, r.stdout, "NLB port allocation errors 0")
		}
	}
}
