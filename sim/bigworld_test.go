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
// traffic as a small one does: every request answered, the spread not
// rejected; and the walkthrough's Service is the last one KUBE-SERVICES
// lists, where the first packet's walk is longest.
func TestBigWorldServesTheWalkthrough(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance), simtest.Services(2000, 10))
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

	r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 600, Concurrency: 8})
	require.Zero(t, r.Errors, "%v", r.ErrorsByKind)
	simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
}
