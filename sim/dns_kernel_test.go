package sim_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// runIn runs a command inside a namespace, as `ip netns exec` does (with the
// host's /etc/netns files), and returns its standard output.
func runIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "ip netns exec %s %v: %s%s", ns, args, out, stderr)
	return string(out)
}

// ahosts returns the distinct addresses `getent ahosts` prints, in order.
func ahosts(t *testing.T, ns, name string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(runIn(t, ns, "getent", "ahosts", name)), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !slices.Contains(out, f[0]) {
			out = append(out, f[0])
		}
	}
	return out
}

// DNS as a user meets it: the bastion asks the VPC resolver, pods ask
// kube-dns (CoreDNS through kube-proxy's rules), with glibc's resolver.
func TestDNSThroughTheKernel(t *testing.T) {
	c := simtest.Up(t)
	w := c.World
	nlbName := w.LoadBalancers[0].DNSName
	bastion := topology.Namespace(w.Cluster.Name, "bastion")
	pod, err := w.Lookup("pod-1")
	require.NoError(t, err)

	t.Run("bastion resolves the NLB to its three nodes", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"192.168.1.51", "192.168.2.149", "192.168.3.171"}, ahosts(t, bastion, nlbName))
	})

	t.Run("the order rotates and glibc keeps it", func(t *testing.T) {
		firsts := map[string]int{}
		for i := 0; i < 10; i++ {
			firsts[ahosts(t, bastion, nlbName)[0]]++
		}
		assert.Greater(t, len(firsts), 1, "first addresses over ten lookups: %v", firsts)
		firsts = map[string]int{}
		for i := 0; i < 10; i++ {
			first, _, _ := strings.Cut(runIn(t, bastion, "dig", "+short", "+tries=1", nlbName), "\n")
			firsts[first]++
		}
		assert.Greater(t, len(firsts), 1, "first addresses over ten digs: %v", firsts)
	})

	t.Run("bastion resolves a node's EC2 name through DNS", func(t *testing.T) {
		out := runIn(t, bastion, "dig", "+short", "ip-192-168-3-137.ap-northeast-2.compute.internal")
		assert.Equal(t, "192.168.3.137", strings.TrimSpace(out))
	})

	t.Run("pod resolves a Service by its short name", func(t *testing.T) {
		out := runIn(t, pod.Namespace, "getent", "hosts", "nginx-nlb-service")
		assert.Equal(t, "10.100.30.185", strings.Fields(out)[0])
	})

	t.Run("pod reaches a Service by its short name", func(t *testing.T) {
		out := runIn(t, pod.Namespace, "curl", "-s", "--max-time", "5", "nginx-nlb-service:7777")
		var served bool
		for _, p := range w.Pods {
			if p.Owner == topology.AppDeployment && strings.Contains(out, "pod: "+p.Name+"\n") {
				served = true
			}
		}
		assert.True(t, served, "an nginx pod answers: %q", out)
	})

	t.Run("pod resolves kubernetes.default", func(t *testing.T) {
		out := runIn(t, pod.Namespace, "getent", "hosts", "kubernetes.default")
		assert.Equal(t, "10.100.0.1", strings.Fields(out)[0])
	})

	t.Run("pod resolves the NLB through CoreDNS's forwarding", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"192.168.1.51", "192.168.2.149", "192.168.3.171"}, ahosts(t, pod.Namespace, nlbName))
	})

	t.Run("CoreDNS forwards from its own pod", func(t *testing.T) {
		runIn(t, pod.Namespace, "getent", "hosts", nlbName)
		coreDNS, nodes := map[string]bool{}, map[string]bool{}
		for _, p := range w.Pods {
			if p.Serves == topology.ServesDNS {
				coreDNS[p.IP.String()], nodes[p.Node] = true, true
			}
		}
		var from []string
		for n := range nodes {
			node := topology.Namespace(w.Cluster.Name, n)
			for _, line := range strings.Split(runIn(t, node, "conntrack", "-L", "-p", "udp", "--dport", "53", "-d", w.Cluster.Resolver.String()), "\n") {
				if src, ok := fieldValue(line, "src"); ok && coreDNS[src] {
					from = append(from, src)
				}
			}
		}
		assert.NotEmpty(t, from, "the VPC resolver's queries come from a CoreDNS pod")
	})

	t.Run("CoreDNS answers over TCP too", func(t *testing.T) {
		out := runIn(t, pod.Namespace, "dig", "+tcp", "+short", "kube-dns.kube-system.svc.cluster.local")
		assert.Equal(t, "10.100.0.10", strings.TrimSpace(out))
	})
}

// fieldValue returns the first key=value of a conntrack line.
func fieldValue(line, key string) (string, bool) {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
