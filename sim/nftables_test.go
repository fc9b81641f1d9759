package sim_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// The walkthrough's scene with kube-proxy in nftables mode, in both target
// modes: 3,000 requests without an error, spread as the live nft ruleset
// says (a third each, read by the nft walker), and the pods see the same
// sources as with kube-proxy in iptables mode.
func TestNFTablesWalkthrough(t *testing.T) {
	for _, mode := range []topology.TargetType{topology.TargetIP, topology.TargetInstance} {
		t.Run(string(mode), func(t *testing.T) {
			sources := map[topology.ProxyMode][]string{}
			for _, pm := range []topology.ProxyMode{topology.ProxyNFTables, topology.ProxyIPTables} {
				requests := 3000
				if pm == topology.ProxyIPTables {
					requests = 600 // the sources to compare with
				}
				c := simtest.Up(t, simtest.Mode(mode), simtest.ProxyMode(pm))
				r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: requests, Concurrency: 8})
				require.Zero(t, r.Errors, "%s: errors by kind: %v", pm, r.ErrorsByKind)
				if pm == topology.ProxyNFTables {
					simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
					require.Len(t, r.Expected, 3)
					for pod, p := range r.Expected {
						assert.InDelta(t, 1.0/3, p, 1e-12, pod)
					}
				}
				for src := range r.BySourceSeen {
					sources[pm] = append(sources[pm], src)
				}
				sort.Strings(sources[pm])
				require.NoError(t, c.Down())
			}
			assert.Equal(t, sources[topology.ProxyIPTables], sources[topology.ProxyNFTables], "the sources pods see")
		})
	}
}

// Switching kube-proxy's mode in place cleans the old mode's rules up as
// upstream does: no kube-proxy table after going back to iptables, no
// kube-proxy iptables rule a packet reaches after going to nftables (only
// the chains upstream's cleanup leaves: KUBE-MARK-MASQ, KUBE-PROXY-FIREWALL,
// KUBE-PROXY-CANARY, nothing jumping to them), and traffic flows after each
// switch.
func TestProxyModeSwitchInPlace(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance))
	ctx := context.Background()
	check := func(pm topology.ProxyMode) {
		t.Helper()
		for _, n := range c.World.Nodes {
			saved, err := sim.SaveRules(c.World, n.Name)
			require.NoError(t, err)
			run := netns.RunIn(topology.Namespace(c.World.Cluster.Name, n.Name))
			ruleset, err := nat.ListNFT(run, "list", "ruleset")
			require.NoError(t, err)
			if pm == topology.ProxyNFTables {
				assert.Contains(t, ruleset, "table ip kube-proxy", n.Name)
				for _, gone := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FORWARD", "KUBE-EXTERNAL-SERVICES", "-j KUBE-MARK-MASQ", "-j KUBE-PROXY-FIREWALL"} {
					assert.NotContains(t, saved, gone, n.Name)
				}
			} else {
				assert.NotContains(t, ruleset, "table ip kube-proxy", n.Name)
				assert.Contains(t, saved, "-j KUBE-SERVICES", n.Name)
			}
		}
		r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 300, Concurrency: 8})
		assert.Zero(t, r.Errors, "%s: %v", pm, r.ErrorsByKind)
		simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
	}
	for _, pm := range []topology.ProxyMode{topology.ProxyNFTables, topology.ProxyIPTables, topology.ProxyNFTables} {
		spec := c.World.Spec
		spec.ProxyMode = pm
		c2, err := sim.Up(ctx, spec, sim.Options{InProcess: true})
		require.NoError(t, err, pm)
		require.True(t, c2.Changed)
		c.World = c2.World
		require.Equal(t, pm == topology.ProxyNFTables, c.World.NFTables())
		check(pm)
	}
	assert.True(t, strings.HasPrefix(c.World.Cluster.KubernetesVersion, "v1.33."))
}

// In nftables mode the supervisor's syncs after endpoint changes are
// partial nft transactions: scale 3 → 5 → 2, and every node's numgen vmap
// holds exactly the ready endpoints while traffic reaches exactly those
// pods, spread as the live table says.
func TestNFTablesScaleKeepsTableAndTrafficExact(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50), simtest.Mode(topology.TargetInstance), simtest.ProxyMode(topology.ProxyNFTables))
	modulus := regexp.MustCompile(`chain service-UZX5NTXH-default/nginx-nlb-service/tcp/ \{\n\s*numgen random mod (\d+) vmap`)
	for _, n := range []int{5, 2} {
		do(t, c, sim.Action{Verb: "scale", Name: "nginx-deployment", Replicas: n})
		var w *topology.World
		eventually(t, 5*time.Second, fmt.Sprintf("numgen random mod %d on every node", n), func() bool {
			w = liveWorld(t, c)
			for _, node := range w.Nodes {
				table, err := sim.KubeProxyTable(w, node.Name)
				require.NoError(t, err)
				m := modulus.FindStringSubmatch(table)
				if m == nil || m[1] != strconv.Itoa(n) {
					return false
				}
			}
			return true
		})
		r := simtest.Traffic(t, &sim.Cluster{World: w}, sim.TrafficOptions{Requests: 300, Concurrency: 8})
		require.Zero(t, r.Errors, "%v", r.ErrorsByKind)
		require.Len(t, r.Expected, n)
		simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
	}
	events, _, err := sim.ReadEvents(c.World.Cluster.Name, 0)
	require.NoError(t, err)
	partial := 0
	for _, e := range events {
		if e.Reason == "RulesSynced" && strings.Contains(e.Message, "partial sync") && strings.Contains(e.Message, "nftables") {
			partial++
		}
	}
	assert.Positive(t, partial, "the supervisor's syncs after the first are partial nft transactions")
}
