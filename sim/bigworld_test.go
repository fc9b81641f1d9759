//go:build !race

// Not under the race detector: generating and loading 2,000 Services'
// rules instrumented takes minutes; scripts/test.sh runs this file in a
// run of its own without -race.

package sim_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// A node with 2,000 more Services × 10 endpoints serves the walkthrough's
// traffic as a small one does, in both of kube-proxy's modes: every request
// answered, the spread not rejected. In iptables mode the walkthrough's
// Service is the last one KUBE-SERVICES lists, where the first packet's walk
// is longest; in nftables mode every Service is an element of one map.
func TestBigWorldServesTheWalkthrough(t *testing.T) {
	for _, mode := range []topology.ProxyMode{topology.ProxyIPTables, topology.ProxyNFTables} {
		t.Run(string(mode), func(t *testing.T) {
			c := simtest.Up(t, simtest.Mode(topology.TargetInstance), simtest.ProxyMode(mode), simtest.Services(2000, 10))
			if mode == topology.ProxyNFTables {
				assertBigNFTable(t, c)
			} else {
				assertBigIPTables(t, c)
			}
			r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 600, Concurrency: 8})
			require.Zero(t, r.Errors, "%v", r.ErrorsByKind)
			simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
		})
	}
}

// assertBigIPTables checks node-1's KUBE-SERVICES, as iptables-save shows
// it: a rule per Service, the walkthrough's last before the NodePorts rule.
func assertBigIPTables(t *testing.T, c *sim.Cluster) {
	saved, err := sim.SaveRules(c.World, "node-1")
	require.NoError(t, err)
	var services []string
	inNAT := false
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			inNAT = line == "*nat"
		case inNAT && strings.Contains(line, "-A KUBE-SERVICES "): // after the counters
			services = append(services, line)
		}
	}
	require.Greater(t, len(services), 2000, "every Service has its KUBE-SERVICES rule")
	assert.Contains(t, services[len(services)-1], "KUBE-NODEPORTS", "the nodeports rule ends the chain")
	assert.Contains(t, services[len(services)-2], "default/nginx-nlb-service", "the walkthrough's Service comes last")
}

// assertBigNFTable checks node-1's live kube-proxy table: a service-ips
// element per Service, the walkthrough's among them.
func assertBigNFTable(t *testing.T, c *sim.Cluster) {
	table, err := sim.KubeProxyTable(c.World, "node-1")
	require.NoError(t, err)
	elements := strings.Count(table, " : goto service-")
	assert.Greater(t, elements, 2000, "every Service's ClusterIP is an element of service-ips")
	assert.Contains(t, table, "default/nginx-nlb-service/tcp/", "the walkthrough's Service is in the table")
}
