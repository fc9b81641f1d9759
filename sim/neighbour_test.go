package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// neighbours lists every IPv4 neighbour entry of a world's hosts, in any
// state, as "host: ip neigh line".
func neighbours(t *testing.T, w *topology.World) []string {
	t.Helper()
	var out []string
	for _, h := range w.Hosts() {
		for _, line := range strings.Split(strings.TrimSpace(ipIn(t, h.Namespace, "-4", "neigh", "show", "nud", "all")), "\n") {
			if line != "" {
				out = append(out, h.Name+": "+line)
			}
		}
	}
	return out
}

// dynamicNeighbours are the entries the kernel made by resolving an
// address (ARP): neither permanent nor on a link without ARP.
func dynamicNeighbours(all []string) []string {
	var out []string
	for _, e := range all {
		if !strings.HasSuffix(strings.TrimSpace(e), "PERMANENT") && !strings.Contains(e, " NOARP") {
			out = append(out, e)
		}
	}
	return out
}

// wantStaticNeighbours is every permanent entry the fabric must have placed,
// as "host: address dev link": each host (but the VPC) for its subnet's
// router and the VPC for it, each running pod for 169.254.1.1 and its node
// for it.
func wantStaticNeighbours(w *topology.World) []string {
	var want []string
	for _, h := range w.Hosts() {
		switch h.Kind {
		case topology.KindVPC:
		case topology.KindPod:
			want = append(want, h.Name+": 169.254.1.1 dev eth0", h.Node+": "+h.IP.String()+" dev eni")
		default:
			sub, _ := w.SubnetOf(h.IP)
			want = append(want, h.Name+": "+sub.Gateway.String()+" dev eth0", "vpc: "+h.IP.String()+" dev to-")
		}
	}
	return want
}

// assertStaticNeighbours checks that the world's hosts hold exactly the
// permanent entries the fabric places, and no other entry.
func assertStaticNeighbours(t *testing.T, w *topology.World) {
	t.Helper()
	all := neighbours(t, w)
	assert.Empty(t, dynamicNeighbours(all), "no host resolved a neighbour by ARP")
	var permanent []string
	for _, e := range all {
		if strings.HasSuffix(strings.TrimSpace(e), "PERMANENT") {
			permanent = append(permanent, e)
		}
	}
	want := wantStaticNeighbours(w)
	assert.Len(t, permanent, len(want), "one entry per link end the fabric made:\n%s", strings.Join(permanent, "\n"))
	for _, prefix := range want {
		n := 0
		for _, e := range permanent {
			if strings.HasPrefix(e, prefix) {
				n++
			}
		}
		assert.Equal(t, 1, n, "one permanent entry %q…", prefix)
	}
}

// Every address nlbsim places has a permanent neighbour entry wherever a
// host would resolve it, so traffic between the hosts — through the NLB and
// kube-proxy to pods on other nodes, health checks, pod to pod, node to
// pod, pod to a ClusterIP — makes no dynamic entry in the kernel's one
// neighbour table (bounded for every namespace together by gc_thresh3).
// A stopped node's link takes its router's entry with it; started again,
// it has it back.
func TestTrafficMakesNoDynamicNeighbours(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance), simtest.CrossZone(true), simtest.TimeScale(50))
	ctx := context.Background()
	r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 60, Concurrency: 4})
	require.Zero(t, r.Errors, "%v", r.ErrorsByKind)
	require.Len(t, r.ByNode, 3, "the NLB sent to every node: %v", r.ByNode)
	w := c.World
	for _, p := range w.Pods {
		if p.Serves != topology.ServesHTTP {
			continue
		}
		url := fmt.Sprintf("http://%s:%d/", p.IP, topology.AppPort)
		for _, from := range []string{"pod-1", "node-3"} {
			_, err := c.Get(ctx, from, url)
			require.NoError(t, err, "%s → %s", from, p.Name)
		}
	}
	_, err := c.Get(ctx, "pod-2", "http://10.100.0.1:443/")
	require.NoError(t, err, "a pod reaches the API server's ClusterIP")
	assertStaticNeighbours(t, w)

	do(t, c, sim.Action{Verb: "stop-node", Name: "node-2"})
	do(t, c, sim.Action{Verb: "start-node", Name: "node-2"})
	_, err = c.Get(ctx, "node-2", "http://192.168.3.111:7777/")
	require.NoError(t, err, "the started node reaches a pod on another node")
	assertStaticNeighbours(t, liveWorld(t, c))
}

// Pods added by a scale-up get their node's permanent entry and answer;
// pods removed by a scale-down take theirs with them.
func TestScaleKeepsStaticNeighbours(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(50))
	appPods := func(w *topology.World) map[string]topology.Pod {
		out := map[string]topology.Pod{}
		for _, p := range w.Pods {
			if p.Owner == topology.AppDeployment && p.Running() && !p.Terminating {
				out[p.Name] = p
			}
		}
		return out
	}
	before := appPods(c.World)
	do(t, c, sim.Action{Verb: "scale", Name: topology.AppDeployment, Replicas: 6})
	var w *topology.World
	eventually(t, 10*time.Second, "six running pods", func() bool { w = liveWorld(t, c); return len(appPods(w)) == 6 })
	added := 0
	for name, p := range appPods(w) {
		if _, old := before[name]; old {
			continue
		}
		added++
		r, err := c.Get(context.Background(), "bastion", fmt.Sprintf("http://%s:%d/", p.IP, topology.AppPort))
		require.NoError(t, err, "new pod %s answers", name)
		assert.Equal(t, name, r.Pod)
	}
	require.Equal(t, 3, added)
	assertStaticNeighbours(t, w)

	grown := appPods(w)
	do(t, c, sim.Action{Verb: "scale", Name: topology.AppDeployment, Replicas: 1})
	eventually(t, 10*time.Second, "the removed pods gone", func() bool { w = liveWorld(t, c); return len(w.Pods) == len(c.World.Pods)-2 })
	var removed []string
	for name, p := range grown {
		if _, kept := appPods(w)[name]; !kept {
			removed = append(removed, p.IP.String())
		}
	}
	require.Len(t, removed, 5)
	// The world forgets a pod just before its namespace (and veth) goes.
	eventually(t, 5*time.Second, "the removed pods' entries gone", func() bool {
		all := neighbours(t, w)
		for _, ip := range removed {
			for _, e := range all {
				if strings.Contains(e, ": "+ip+" ") {
					return false
				}
			}
		}
		return true
	})
	assertStaticNeighbours(t, w)
}
