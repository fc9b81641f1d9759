package sim_test

import (
	"context"
	"net"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
)

// resolverTTL asks the VPC resolver for a name from the bastion and
// returns the TTL of its first A record.
func resolverTTL(t *testing.T, c *sim.Cluster, name string) uint32 {
	t.Helper()
	nc, err := c.Dial(context.Background(), "bastion", "udp4", net.JoinHostPort(c.World.Cluster.Resolver.String(), "53"))
	require.NoError(t, err)
	defer nc.Close()
	conn := &dns.Conn{Conn: nc}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	require.NoError(t, conn.WriteMsg(q))
	r, err := conn.ReadMsg()
	require.NoError(t, err)
	require.NotEmpty(t, r.Answer)
	return r.Answer[0].Header().Ttl
}

// The VPC resolver's TTL (60 s, divided by the time scale) follows an
// in-place change of the time scale: its answers are built from the live
// world. (It used to keep the TTL the supervisor started with.)
func TestResolverTTLFollowsAnInPlaceTimeScale(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(10))
	name := c.World.LoadBalancers[0].DNSName
	assert.Equal(t, uint32(6), resolverTTL(t, c, name), "60 s at time scale 10")
	spec := c.World.Spec
	spec.TimeScale = 20
	c2, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	require.NoError(t, err)
	require.True(t, c2.Changed)
	assert.Equal(t, uint32(3), resolverTTL(t, c, name), "60 s at time scale 20, after the change in place")
}
