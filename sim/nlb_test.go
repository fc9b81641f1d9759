package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
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

var nlbAddrs = map[string]string{"a": "192.168.1.51", "b": "192.168.2.149", "c": "192.168.3.171"}

// execOn runs a command inside a host's namespace and returns its output.
func execOn(t *testing.T, c *sim.Cluster, host string, args ...string) string {
	t.Helper()
	h, err := c.World.Lookup(host)
	require.NoError(t, err)
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.Namespace}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s: %v: %s", host, args, out)
	return string(out)
}

func podByName(w *topology.World, name string) topology.Pod {
	for _, p := range w.Pods {
		if p.Name == name {
			return p
		}
	}
	return topology.Pod{}
}

// Which source each mode shows the pod, and which path the packet takes
// (the README's table of ip and instance mode), asserted from the pods' replies.
func TestSourceThePodSees(t *testing.T) {
	cases := []struct {
		name string
		opts []simtest.Option
		// check gets the NLB AZ letter used, the reply, and the world.
		check func(t *testing.T, letter string, r sim.EchoReply, w *topology.World)
	}{
		{"ip default: the NLB node's address in the flow's AZ", nil,
			func(t *testing.T, letter string, r sim.EchoReply, w *topology.World) {
				assert.True(t, strings.HasPrefix(r.Peer, nlbAddrs[letter]+":"), r.Peer)
			}},
		{"ip with preservation: the client", []simtest.Option{simtest.PreserveClientIP(true)},
			func(t *testing.T, letter string, r sim.EchoReply, w *topology.World) {
				assert.True(t, strings.HasPrefix(r.Peer, "192.168.1.100:"), r.Peer)
			}},
		{"instance, Cluster: a node", []simtest.Option{simtest.Mode(topology.TargetInstance)},
			func(t *testing.T, letter string, r sim.EchoReply, w *topology.World) {
				peer := strings.Split(r.Peer, ":")[0]
				h, ok := w.HostByIP(netipMust(peer))
				require.True(t, ok, peer)
				assert.Equal(t, topology.KindNode, h.Kind, r.Peer)
			}},
		{"instance, Local: the client, on the receiving node", []simtest.Option{simtest.Mode(topology.TargetInstance), simtest.ExternalTrafficPolicy(topology.PolicyLocal)},
			func(t *testing.T, letter string, r sim.EchoReply, w *topology.World) {
				assert.True(t, strings.HasPrefix(r.Peer, "192.168.1.100:"), r.Peer)
				node, _ := w.Node(podByName(w, r.Pod).Node)
				assert.Equal(t, "ap-northeast-2"+letter, node.AZ, "eTP=Local serves from the node that received the packet")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := simtest.Up(t, tc.opts...)
			for letter, addr := range nlbAddrs {
				for i := 0; i < 4; i++ {
					r, err := c.Get(context.Background(), "bastion", fmt.Sprintf("http://%s:7777/", addr))
					require.NoError(t, err, "via nlb-%s", letter)
					pod := podByName(c.World, r.Pod)
					node, _ := c.World.Node(pod.Node)
					if c.World.LoadBalancers[0].TargetType == topology.TargetIP {
						assert.Equal(t, "ap-northeast-2"+letter, node.AZ, "cross-zone off keeps nlb-%s's flows in its AZ", letter)
					}
					tc.check(t, letter, r, c.World)
				}
			}
		})
	}
}

// In instance mode with externalTrafficPolicy Cluster, the node hop sends
// some connections to a pod on another node.
func TestInstanceModeCrossesNodes(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance))
	other := 0
	for i := 0; i < 40; i++ {
		r, err := c.Get(context.Background(), "bastion", "http://192.168.2.149:7777/")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(r.Peer, "192.168.2.146:"), "nlb-b sends to node-2, which masquerades: %s", r.Peer)
		if podByName(c.World, r.Pod).Node != "node-2" {
			other++
		}
	}
	assert.Greater(t, other, 0, "some of 40 connections reach a pod on another node")
}

func TestCrossZoneSpreadsOverEveryPod(t *testing.T) {
	c := simtest.Up(t, simtest.CrossZone(true))
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		r, err := c.Get(context.Background(), "bastion", "http://192.168.1.51:7777/")
		require.NoError(t, err)
		seen[r.Pod] = true
	}
	assert.Len(t, seen, 3, "with cross-zone on, nlb-a reaches pods in every AZ")
}

// The NLB is kernel NAT: the SYN reaches the pod with the client's own
// sequence number.
func TestSequenceNumberSurvivesTheNLB(t *testing.T) {
	c := simtest.Up(t, simtest.PreserveClientIP(true))
	syn := func(host string) (*exec.Cmd, *bufio.Scanner) {
		h, _ := c.World.Lookup(host)
		cmd := exec.Command("ip", "netns", "exec", h.Namespace, "tcpdump", "-i", "eth0", "-nn", "-S", "-l", "-c", "1",
			"tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and port 7777")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		ready := bufio.NewScanner(stderr)
		for ready.Scan() && !strings.Contains(ready.Text(), "listening on") {
		}
		return cmd, bufio.NewScanner(stdout)
	}
	clientCmd, client := syn("bastion")
	podCmd, pod := syn("pod-2")
	_, err := c.Get(context.Background(), "bastion", "http://192.168.2.149:7777/")
	require.NoError(t, err)
	seq := regexp.MustCompile(`seq (\d+)`)
	require.True(t, client.Scan())
	require.True(t, pod.Scan())
	clientCmd.Wait()
	podCmd.Wait()
	a, b := seq.FindStringSubmatch(client.Text()), seq.FindStringSubmatch(pod.Text())
	require.NotNil(t, a, client.Text())
	require.NotNil(t, b, pod.Text())
	assert.Equal(t, a[1], b[1], "bastion sent %q; pod got %q", client.Text(), pod.Text())
	assert.Contains(t, pod.Text(), "192.168.1.100.")
}

// Dropping the NLB's probes in one pod turns its target unhealthy after the
// unhealthy threshold; its AZ leaves DNS; direct traffic still works; every
// NLB node probes it.
func TestUnhealthyTargetLeavesDNS(t *testing.T) {
	const scale = 40 // interval 10 s → 250 ms
	c := simtest.Up(t, simtest.TimeScale(scale))
	lb := c.World.LoadBalancers[0]
	for _, addr := range nlbAddrs {
		execOn(t, c, "pod-3", "iptables", "-A", "INPUT", "-s", addr, "-p", "tcp", "--dport", "7777", "--syn", "-j", "ACCEPT")
	}
	wait := time.Duration(float64(lb.HealthCheck.Interval) / scale * 2)
	time.Sleep(wait)
	counters := execOn(t, c, "pod-3", "iptables", "-L", "INPUT", "-n", "-v", "-x")
	for _, addr := range nlbAddrs {
		assert.Regexp(t, `(?m)^\s+[1-9]\d*\s+\d+\s+ACCEPT.*`+regexp.QuoteMeta(addr), counters, "probes from %s", addr)
	}
	assert.ElementsMatch(t, []string{"192.168.1.51", "192.168.2.149", "192.168.3.171"}, ahosts(t, bastionNS(c), lb.DNSName))

	for _, addr := range nlbAddrs {
		execOn(t, c, "pod-3", "iptables", "-I", "INPUT", "-s", addr, "-p", "tcp", "--dport", "7777", "-j", "DROP")
	}
	deadline := time.Now().Add(time.Duration(float64(lb.HealthCheck.Interval)/scale*float64(lb.HealthCheck.UnhealthyThreshold+2)) + 2*time.Second)
	var state topology.TargetState
	for time.Now().Before(deadline) {
		targets, err := sim.LoadTargets(c.World.Cluster.Name)
		require.NoError(t, err)
		for _, tg := range targets {
			if tg.IP.String() == "192.168.3.111" {
				state = tg.State
			}
		}
		if state == topology.TargetUnhealthy {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, topology.TargetUnhealthy, state)
	assert.ElementsMatch(t, []string{"192.168.1.51", "192.168.2.149"}, ahosts(t, bastionNS(c), lb.DNSName), "AZ c lost its last healthy target")
	r, err := c.Get(context.Background(), "bastion", "http://192.168.3.111:7777/")
	require.NoError(t, err, "direct traffic to the pod still works")
	assert.Equal(t, "192.168.3.111", r.PodIP)
}

// With externalTrafficPolicy Local in instance mode, nodes without a local
// pod fail kube-proxy's health check and get no traffic.
func TestLocalPolicyTargetsOnlyNodesWithPods(t *testing.T) {
	c := simtest.Up(t, simtest.Mode(topology.TargetInstance), simtest.ExternalTrafficPolicy(topology.PolicyLocal),
		simtest.Nodes(6), simtest.Replicas(3), simtest.CrossZone(true))
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	require.Len(t, targets, 6)
	for _, tg := range targets {
		if len(c.World.PodsOn(tg.Host)) > 0 && tg.Host != "node-3" || tg.Host == "node-3" {
			assert.Equal(t, topology.TargetHealthy, tg.State, tg.Host)
		} else {
			assert.Equal(t, topology.TargetUnhealthy, tg.State, tg.Host)
			assert.Equal(t, "Target.FailedHealthChecks", tg.Reason, "the only unhealthy reason of an NLB")
		}
	}
	for i := 0; i < 20; i++ {
		r, err := c.Get(context.Background(), "bastion", "http://192.168.1.51:7777/")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(r.Peer, "192.168.1.100:"), r.Peer)
	}
}

// With client IP preservation, a pod that reaches its own NLB and is
// chosen as the target times out (AWS's hairpin); through another AZ's NLB
// node it works.
func TestHairpinTimesOut(t *testing.T) {
	c := simtest.Up(t, simtest.PreserveClientIP(true))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Get(ctx, "pod-1", "http://192.168.1.51:7777/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deadline exceeded")
	r, err := c.Get(context.Background(), "pod-1", "http://192.168.2.149:7777/")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(r.Peer, "192.168.1.248:"), r.Peer)
}

func TestModeSwitchInPlace(t *testing.T) {
	c := simtest.Up(t)
	namespaces := func() string { return execOn(t, c, "bastion", "ip", "-br", "addr") }
	before := namespaces()
	spec := c.World.Spec
	spec.Mode = topology.TargetInstance
	c2, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	require.NoError(t, err)
	assert.True(t, c2.Changed)
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	for _, tg := range targets {
		assert.Equal(t, topology.AppNodePort, tg.Port, "instance targets are nodes on the NodePort")
	}
	r, err := c.Get(context.Background(), "bastion", "http://192.168.2.149:7777/")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(r.Peer, "192.168.2.146:"), "the node hop masquerades: %s", r.Peer)
	assert.Equal(t, before, namespaces())
	assert.Equal(t, c.World.LoadBalancers[0].DNSName, c2.World.LoadBalancers[0].DNSName)
}

func bastionNS(c *sim.Cluster) string { return topology.Namespace(c.World.Cluster.Name, "bastion") }

// A target that turns unhealthy has its existing connections reset by the
// NLB (AWS's default), while the node still has healthy targets.
func TestUnhealthyTargetsConnectionsAreReset(t *testing.T) {
	const scale = 40
	c := simtest.Up(t, simtest.TimeScale(scale), simtest.Replicas(6), simtest.PreserveClientIP(true))
	conn, err := c.Dial(context.Background(), "bastion", "tcp4", "192.168.3.171:7777")
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	get := func() (sim.EchoReply, error) {
		var r sim.EchoReply
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: nlb\r\nAccept: application/json\r\n\r\n"); err != nil {
			return r, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return r, err
		}
		defer resp.Body.Close()
		return r, json.NewDecoder(resp.Body).Decode(&r)
	}
	first, err := get()
	require.NoError(t, err)
	for _, addr := range nlbAddrs {
		execOn(t, c, first.Pod, "iptables", "-I", "INPUT", "-s", addr, "-p", "tcp", "--dport", "7777", "-j", "DROP")
	}
	eventually(t, 5*time.Second, first.Pod+"'s target turning unhealthy", func() bool {
		targets, err := sim.LoadTargets(c.World.Cluster.Name)
		require.NoError(t, err)
		for _, tg := range targets {
			if tg.Host == first.Pod {
				return tg.State == topology.TargetUnhealthy
			}
		}
		return false
	})
	_, err = get()
	require.Error(t, err, "the kept connection to the unhealthy target is reset")
	assert.Contains(t, err.Error(), "reset")
	r, err := c.Get(context.Background(), "bastion", "http://192.168.3.171:7777/")
	require.NoError(t, err, "new connections go to the healthy target in the AZ")
	assert.NotEqual(t, first.Pod, r.Pod)
}
