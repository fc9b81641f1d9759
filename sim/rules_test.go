package sim_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// The walkthrough's iptables evidence, read back from the kernel in
// iptables-save's display form.
func TestNodeRulesAsTheKernelShowsThem(t *testing.T) {
	c := simtest.Up(t)
	saved, err := sim.SaveRules(c.World, "node-2")
	require.NoError(t, err)
	svc := chainRules(saved, "KUBE-SVC-VDXCGHLC7LJVQSZ7")
	require.Len(t, svc, 3)
	assert.Contains(t, svc[0], `-m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-LHC45K453FK42NFG`)
	assert.Contains(t, svc[1], `-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-KZTINFDZQREWAZ5M`)
	assert.Contains(t, svc[2], `-m comment --comment "default/nginx-nlb-service -> 192.168.3.111:7777" -j KUBE-SEP-62QXZKLRNZ4Q2ZG5`)
	assert.NotContains(t, svc[2], "statistic")
	assert.Contains(t, strings.Join(chainRules(saved, "KUBE-SEP-LHC45K453FK42NFG"), "\n"), "-j DNAT --to-destination 192.168.1.248:7777")
	assert.Contains(t, strings.Join(chainRules(saved, "KUBE-SERVICES"), "\n"),
		`-d 10.100.30.185/32 -p tcp -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp --dport 7777 -j KUBE-SVC-VDXCGHLC7LJVQSZ7`)
	assert.Contains(t, strings.Join(chainRules(saved, "KUBE-NODEPORTS"), "\n"), "--dport 32392 -j KUBE-EXT-VDXCGHLC7LJVQSZ7")
	assert.Contains(t, strings.Join(chainRules(saved, "KUBE-POSTROUTING"), "\n"), "-j MASQUERADE --random-fully")
}

// chainRules returns the -A lines of a chain, counters stripped.
func chainRules(saved, chain string) []string {
	counters := regexp.MustCompile(`^\[\d+:\d+\] `)
	var out []string
	for _, line := range strings.Split(saved, "\n") {
		line = counters.ReplaceAllString(line, "")
		if strings.HasPrefix(line, "-A "+chain+" ") {
			out = append(out, line)
		}
	}
	return out
}

// counter returns the packet counter of the rule of a chain that contains want.
func counter(t *testing.T, saved, chain, want string) int {
	t.Helper()
	re := regexp.MustCompile(`^\[(\d+):\d+\] -A ` + regexp.QuoteMeta(chain) + ` `)
	for _, line := range strings.Split(saved, "\n") {
		if m := re.FindStringSubmatch(line); m != nil && strings.Contains(line, want) {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	t.Fatalf("no rule of %s contains %q", chain, want)
	return 0
}

// Services work as kube-proxy makes them work: ClusterIP from pods and
// nodes, NodePort from outside with the node's address as the source.
func TestServicesThroughKubeProxy(t *testing.T) {
	c := simtest.Up(t)
	w := c.World
	ctx := context.Background()
	pods := map[string]bool{}
	for _, p := range w.Pods {
		if p.Serves == topology.ServesHTTP {
			pods[p.Name] = true
		}
	}
	for _, from := range []string{"pod-1", "node-1", "node-3"} {
		r, err := c.Get(ctx, from, "http://10.100.30.185:7777/")
		require.NoError(t, err, from)
		assert.True(t, pods[r.Pod], "%s reached %s", from, r.Pod)
	}
	before, err := sim.SaveRules(w, "node-2")
	require.NoError(t, err)
	const n = 30
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		r, err := c.Get(ctx, "bastion", "http://192.168.2.146:32392/")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(r.Peer, "192.168.2.146:"), "NodePort traffic is masqueraded to the node: peer %s", r.Peer)
		seen[r.Pod]++
	}
	assert.Len(t, seen, 3, "30 connections reach every pod: %v", seen)
	after, err := sim.SaveRules(w, "node-2")
	require.NoError(t, err)
	for _, ep := range []string{"KUBE-SEP-LHC45K453FK42NFG", "KUBE-SEP-KZTINFDZQREWAZ5M", "KUBE-SEP-62QXZKLRNZ4Q2ZG5"} {
		rose := counter(t, after, "KUBE-SVC-VDXCGHLC7LJVQSZ7", ep) - counter(t, before, "KUBE-SVC-VDXCGHLC7LJVQSZ7", ep)
		assert.Greater(t, rose, 0, "counter of the jump to %s", ep)
	}
	assert.Equal(t, n, counter(t, after, "KUBE-NODEPORTS", "32392")-counter(t, before, "KUBE-NODEPORTS", "32392"))
}

// Node rulesets do not depend on the NLB's target mode.
func TestNodeRulesAreTheSameInBothModes(t *testing.T) {
	strip := regexp.MustCompile(`(?m)^#.*\n|\[\d+:\d+\]`)
	rules := map[topology.TargetType][]string{}
	for _, mode := range []topology.TargetType{topology.TargetIP, topology.TargetInstance} {
		t.Run(string(mode), func(t *testing.T) {
			c := simtest.Up(t, simtest.Mode(mode))
			for _, n := range c.World.Nodes {
				saved, err := sim.SaveRules(c.World, n.Name)
				require.NoError(t, err)
				rules[mode] = append(rules[mode], strip.ReplaceAllString(saved, ""))
			}
		})
	}
	require.Len(t, rules[topology.TargetIP], 3)
	assert.Equal(t, rules[topology.TargetIP], rules[topology.TargetInstance])
}

// With externalTrafficPolicy Local, every node answers kube-proxy's health
// check on the healthCheckNodePort: 200 with its local endpoint count.
func TestHealthCheckNodePort(t *testing.T) {
	c := simtest.Up(t, simtest.ExternalTrafficPolicy(topology.PolicyLocal), simtest.Nodes(4), simtest.Replicas(3))
	svc, _ := c.World.Service("default", "nginx-nlb-service")
	require.NotZero(t, svc.HealthCheckNodePort)
	for _, n := range c.World.Nodes {
		status, body := httpStatus(t, c, "bastion", fmt.Sprintf("http://%s:%d/healthz", n.IP, svc.HealthCheckNodePort))
		want, local := 200, 1
		if n.Name == "node-4" {
			want, local = 503, 0
		}
		assert.Equal(t, want, status, n.Name)
		assert.Contains(t, body, fmt.Sprintf(`"localEndpoints": %d`, local), n.Name)
	}
	// Through the NodePort, a node without a local endpoint drops external
	// traffic, and a node with one serves its own pod with the client's IP.
	r, err := c.Get(context.Background(), "bastion", fmt.Sprintf("http://192.168.1.118:%d/", topology.AppNodePort))
	require.NoError(t, err)
	assert.Equal(t, "192.168.1.248", r.PodIP)
	assert.True(t, strings.HasPrefix(r.Peer, "192.168.1.100:"), "eTP=Local keeps the client IP: %s", r.Peer)
}
