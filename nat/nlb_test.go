package nat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/topology"
)

func nlbTargets(t *testing.T, states ...topology.TargetState) (topology.NLB, []topology.TargetHealth) {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.Replicas = len(states)
	w, err := topology.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	lb := w.LoadBalancers[0]
	lb.CrossZone = true
	var out []topology.TargetHealth
	for i, tg := range w.Targets(lb) {
		out = append(out, topology.TargetHealth{Target: tg, State: states[i]})
	}
	return lb, out
}

// New connections go to healthy targets; failing open, to the unhealthy
// ones; never to initial, draining, unhealthy.draining or unused ones.
func TestCandidatesByState(t *testing.T) {
	lb, ts := nlbTargets(t, topology.TargetHealthy, topology.TargetInitial, topology.TargetUnhealthyDraining, topology.TargetUnhealthy)
	c := Candidates(lb.Nodes[0], true, ts)
	assert.Len(t, c, 1)
	assert.Equal(t, topology.TargetHealthy, c[0].State)

	ts[0].State = topology.TargetDraining
	c = Candidates(lb.Nodes[0], true, ts)
	assert.Len(t, c, 1, "failing open: the unhealthy target only")
	assert.Equal(t, topology.TargetUnhealthy, c[0].State)

	ts[3].State = topology.TargetInitial
	assert.Empty(t, Candidates(lb.Nodes[0], true, ts), "initial targets get nothing, even failing open")
}

// The NLB node's rules: an unhealthy target's connections are reset, an
// unhealthy.draining one's are not; a terminated target's are; forgotten
// idle flows are not translated again and are reset; a DNAT rule that
// never matches keeps established flows translated.
func TestNLBNodeRulesForConnections(t *testing.T) {
	lb, ts := nlbTargets(t, topology.TargetHealthy, topology.TargetUnhealthy, topology.TargetUnhealthyDraining)
	text := NLBNodeRulesTerminating(lb, lb.Nodes[0], ts, []topology.Target{ts[2].Target})
	has := func(s string) bool { return strings.Contains(text, s) }
	assert.True(t, has(ts[1].Addr().String()+" is unhealthy: reset its connections"))
	assert.False(t, has(ts[2].Addr().String()+" is unhealthy"), "unhealthy.draining keeps its connections")
	assert.True(t, has(ts[2].Addr().String()+" deregistered: terminate its connections"))
	assert.True(t, has(`! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW -m comment --comment "nlbsim: a forgotten idle flow is not translated again" -j RETURN`))
	assert.True(t, has(`--ctstate NEW,INVALID -m comment --comment "nlbsim: packets of a forgotten idle flow get a reset" -j REJECT --reject-with tcp-reset`))
	assert.True(t, has(`-A PREROUTING -d 127.0.0.2/32 -p tcp`))

	_, none := nlbTargets(t, topology.TargetDraining)
	empty := NLBNodeRules(lb, lb.Nodes[0], none)
	assert.Contains(t, empty, "DNAT --to-destination 127.0.0.2", "a node without targets keeps a NAT rule")
}
