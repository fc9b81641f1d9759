package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// keptConn is one client connection through the NLB, kept open for
// several requests.
type keptConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialKept(t *testing.T, c *sim.Cluster, addr string) *keptConn {
	t.Helper()
	conn, err := c.Dial(context.Background(), "bastion", "tcp4", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &keptConn{conn: conn, br: bufio.NewReader(conn)}
}

func (k *keptConn) get() (sim.EchoReply, error) {
	var r sim.EchoReply
	k.conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprint(k.conn, "GET / HTTP/1.1\r\nHost: nlb\r\nAccept: application/json\r\n\r\n"); err != nil {
		return r, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// stateOf returns a target's state and reason, or "gone".
func stateOf(t *testing.T, c *sim.Cluster, ip string) string {
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	for _, tg := range targets {
		if tg.IP.String() == ip {
			return string(tg.State) + "/" + tg.Reason
		}
	}
	return "gone"
}

// With target_health_state.unhealthy.connection_termination.enabled=false
// a target that fails its health checks is unhealthy.draining for the
// draining interval: no new connections, its established ones kept; then
// unhealthy, and they are reset.
func TestUnhealthyDrainingKeepsConnections(t *testing.T) {
	const scale = 20 // interval 500 ms; draining interval 60 s → 3 s
	c := simtest.Up(t, simtest.Manifests("testdata/unhealthy_draining.yaml"), simtest.TimeScale(scale))
	kept := dialKept(t, c, "192.168.3.171:7777")
	first, err := kept.get()
	require.NoError(t, err)
	for _, addr := range nlbAddrs {
		execOn(t, c, first.Pod, "iptables", "-I", "INPUT", "-s", addr, "-p", "tcp", "--dport", "7777", "-j", "DROP")
	}
	eventually(t, 10*time.Second, first.Pod+" unhealthy.draining", func() bool {
		return stateOf(t, c, first.PodIP) == "unhealthy.draining/Target.FailedHealthChecks"
	})
	r, err := kept.get()
	require.NoError(t, err, "an unhealthy.draining target keeps its established connections")
	assert.Equal(t, first.Pod, r.Pod)
	for i := 0; i < 10; i++ {
		r, err := c.Get(context.Background(), "bastion", "http://192.168.3.171:7777/")
		require.NoError(t, err)
		assert.NotEqual(t, first.Pod, r.Pod, "no new connection goes to the unhealthy.draining target")
	}
	eventually(t, 10*time.Second, first.Pod+" unhealthy at the end of the draining interval", func() bool {
		return stateOf(t, c, first.PodIP) == "unhealthy/Target.FailedHealthChecks"
	})
	_, err = kept.get()
	require.Error(t, err, "at the end of the interval the connection is reset")
	assert.Contains(t, err.Error(), "reset")
}

// With deregistration_delay.connection_termination.enabled=true a
// deregistered target's connections are reset at the end of the delay;
// with AWS's default (false) they go on.
func TestDeregistrationConnectionTermination(t *testing.T) {
	for _, terminate := range []bool{true, false} {
		t.Run(fmt.Sprintf("termination %v", terminate), func(t *testing.T) {
			file := map[bool]string{true: "testdata/deregistration_termination.yaml", false: "testdata/deregistration_keep.yaml"}[terminate]
			c := simtest.Up(t, simtest.Manifests(file), simtest.TimeScale(20)) // delay 30 s → 1.5 s
			require.Equal(t, topology.TargetInstance, c.World.LoadBalancers[0].TargetType)
			kept := dialKept(t, c, "192.168.2.149:7777") // nlb-b sends to node-2
			_, err := kept.get()
			require.NoError(t, err)
			do(t, c, sim.Action{Verb: sim.VerbLabelNode, Name: "node-2", Edit: topology.LabelExcludeFromLB + "=true"})
			var states []string
			eventually(t, 10*time.Second, "node-2's target drained and gone", func() bool {
				s := stateOf(t, c, "192.168.2.146")
				if len(states) == 0 || states[len(states)-1] != s {
					states = append(states, s)
				}
				return s == "gone"
			})
			assert.Equal(t, []string{"draining/Target.DeregistrationInProgress", "gone"}, states[len(states)-2:])
			time.Sleep(100 * time.Millisecond) // the NLB nodes' rules
			_, err = kept.get()
			if terminate {
				require.Error(t, err, "the connection is terminated at the end of the delay")
				assert.Contains(t, err.Error(), "reset")
			} else {
				assert.NoError(t, err, "AWS's default: the connection goes on after the delay")
			}
		})
	}
}

// An idle flow through the NLB is forgotten after the idle timeout (350 s,
// here 3.5 s): the next packet gets a reset. A flow idle for less goes on.
func TestIdleTimeoutResetsTheNextPacket(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(100))
	short := dialKept(t, c, "192.168.1.51:7777")
	long := dialKept(t, c, "192.168.2.149:7777")
	_, err := short.get()
	require.NoError(t, err)
	_, err = long.get()
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		time.Sleep(1500 * time.Millisecond)
		_, err = short.get()
		require.NoError(t, err, "a flow idle for 1.5 s (150 s at AWS's timers) goes on")
	}
	_, err = long.get()
	require.Error(t, err, "a flow idle for 4.5 s (450 s) is forgotten")
	assert.Contains(t, err.Error(), "reset")
	nlbB := execOn(t, c, "nlb-b", "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_timeout_established")
	assert.Equal(t, "4\n", nlbB, "350 s / 100, rounded")
}
