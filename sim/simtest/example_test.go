package simtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// The walkthrough's two scenes as a test: traffic from the bastion to the
// NLB's name spreads over the pods as the installed rules say, and each
// mode shows the pods its own source address.
func TestDistributionInBothModes(t *testing.T) {
	for _, mode := range []topology.TargetType{topology.TargetIP, topology.TargetInstance} {
		t.Run(string(mode), func(t *testing.T) {
			c := simtest.Up(t, simtest.Mode(mode))
			r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 600, Concurrency: 8})
			require.Zero(t, r.Errors, "errors by kind: %v", r.ErrorsByKind)
			simtest.AssertDistribution(t, r.ByPod, r.Expected, 1e-4)
			for pod, p := range r.Expected {
				assert.InDelta(t, 1.0/3, p, 1e-9, pod)
			}
			for src := range r.BySourceSeen {
				h, ok := c.World.HostByIP(netipMust(src))
				require.True(t, ok, src)
				want := map[topology.TargetType]topology.HostKind{topology.TargetIP: topology.KindNLB, topology.TargetInstance: topology.KindNode}[mode]
				assert.Equal(t, want, h.Kind, "in %s mode pods see the %s's address, saw %s", mode, want, src)
			}
		})
	}
}

func TestAssertDistributionRejectsASkew(t *testing.T) {
	inner := &testing.T{}
	ok := simtest.AssertDistribution(inner, map[string]int{"a": 900, "b": 50, "c": 50}, map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}, 1e-4)
	assert.False(t, ok)
	assert.True(t, simtest.AssertDistribution(t, map[string]int{"a": 330, "b": 340, "c": 330}, map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}, 1e-4))
}
