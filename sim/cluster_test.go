package sim_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// ipIn runs ip(8) inside a host's namespace and returns its output.
func ipIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	require.NoError(t, err, "ip -n %s %v: %s", ns, args, out)
	return string(out)
}

// VPC CNI semantics: pods hold VPC addresses and every path is direct, so
// each server sees the client's own address.
func TestEveryPathIsDirect(t *testing.T) {
	c := simtest.Up(t)
	w := c.World
	ctx := context.Background()
	for _, p := range w.Pods {
		if p.Serves != topology.ServesHTTP {
			continue
		}
		url := fmt.Sprintf("http://%s:%d/", p.IP, topology.AppPort)
		r, err := c.Get(ctx, "bastion", url)
		require.NoError(t, err)
		assert.Equal(t, p.Name, r.Pod)
		assert.Equal(t, p.IP.String(), r.PodIP)
		assert.True(t, strings.HasPrefix(r.Peer, w.Bastion.IP.String()+":"), "bastion→pod peer %s", r.Peer)
		node, _ := w.Node(p.Node)
		assert.Equal(t, node.NodeName, r.Node)

		for _, from := range w.Pods {
			if from.Serves != topology.ServesHTTP || from.Name == p.Name {
				continue
			}
			r, err := c.Get(ctx, from.Name, url)
			require.NoError(t, err, "%s → %s", from.Name, p.Name)
			assert.True(t, strings.HasPrefix(r.Peer, from.IP.String()+":"), "pod→pod peer %s", r.Peer)
		}
		for _, n := range w.Nodes {
			r, err := c.Get(ctx, n.Name, url)
			require.NoError(t, err, "%s → %s", n.Name, p.Name)
			assert.True(t, strings.HasPrefix(r.Peer, n.IP.String()+":"), "node→pod peer %s", r.Peer)
		}
	}
}

// The fabric is wired as VPC CNI wires a node: /32 routes to pods over eni
// veths, MTU 9001, a link-local gateway in pods, names within 15 characters.
func TestFabricLooksLikeVPCCNI(t *testing.T) {
	c := simtest.Up(t)
	w := c.World
	node2 := topology.Namespace(w.Cluster.Name, "node-2")
	routes := ipIn(t, node2, "route")
	assert.Contains(t, routes, "default via 192.168.2.1 dev eth0 onlink")
	assert.Regexp(t, `192\.168\.2\.206 dev eni[0-9a-f]{11} scope link`, routes)

	pod, err := w.Lookup("pod-2")
	require.NoError(t, err)
	podRoutes := ipIn(t, pod.Namespace, "route")
	assert.Contains(t, podRoutes, "default via 169.254.1.1 dev eth0")
	assert.Contains(t, ipIn(t, pod.Namespace, "neigh"), "169.254.1.1 dev eth0 lladdr")
	assert.Contains(t, ipIn(t, pod.Namespace, "-br", "addr"), "192.168.2.206/32")

	for _, h := range w.Hosts() {
		links := ipIn(t, h.Namespace, "-o", "link")
		for _, line := range strings.Split(strings.TrimSpace(links), "\n") {
			if strings.Contains(line, "link/ether") {
				assert.Contains(t, line, "mtu 9001", "%s: %s", h.Name, line)
			}
		}
	}
	fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	require.NoError(t, err)
	for _, h := range w.Hosts() {
		out, err := exec.Command("ip", "netns", "exec", h.Namespace, "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/disable_ipv6").Output()
		require.NoError(t, err)
		want := "0\n1\n"
		if h.Kind == topology.KindNode || h.Kind == topology.KindVPC || h.Kind == topology.KindNLB {
			want = "1\n1\n"
		}
		assert.Equal(t, want, string(out), h.Name)
	}
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	assert.Equal(t, string(fwd), string(after), "the host's own ip_forward is untouched")
}

func TestExecFilesMakeHostsFeelReal(t *testing.T) {
	c := simtest.Up(t)
	w := c.World
	bastion := topology.Namespace(w.Cluster.Name, "bastion")
	resolv, err := os.ReadFile(filepath.Join("/etc/netns", bastion, "resolv.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(resolv), "nameserver 192.168.0.2")
	pod, _ := w.Lookup("pod-1")
	resolv, err = os.ReadFile(filepath.Join("/etc/netns", pod.Namespace, "resolv.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(resolv), "nameserver 10.100.0.10")
	assert.Contains(t, string(resolv), "search default.svc.cluster.local svc.cluster.local cluster.local")
	out, err := exec.Command("ip", "netns", "exec", bastion, "getent", "hosts", "ip-192-168-2-146").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "192.168.2.146")
}

func TestTwoClustersSideBySide(t *testing.T) {
	a := simtest.Up(t, simtest.Minimal())
	t.Run("second", func(t *testing.T) {
		b := simtest.Up(t, simtest.Minimal(), simtest.Replicas(1))
		require.NotEqual(t, a.World.Cluster.Name, b.World.Cluster.Name)
		for _, c := range []*sim.Cluster{a, b} {
			r, err := c.Get(context.Background(), "bastion", "http://192.168.1.248:7777/")
			require.NoError(t, err)
			assert.Equal(t, c.World.Pods[0].Name, r.Pod)
		}
	})
}

func TestDownLeavesNothing(t *testing.T) {
	simtest.RequireRoot(t)
	spec := topology.DefaultSpec()
	spec.Name, spec.TimeScale = simtest.ClusterName(t), simtest.DefaultTimeScale
	c, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	require.NoError(t, err)
	require.NoError(t, c.Down())
	assertNothingLeft(t, spec.Name)
	require.NoError(t, sim.Down(spec.Name), "down is idempotent")
}

func assertNothingLeft(t *testing.T, cluster string) {
	t.Helper()
	prefix := topology.Namespace(cluster, "")
	for _, dir := range []string{"/run/netns", "/etc/netns"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			assert.False(t, strings.HasPrefix(e.Name(), prefix), "%s/%s is left", dir, e.Name())
		}
	}
	for _, p := range []string{filepath.Join(sim.StateRoot, cluster), filepath.Join(sim.StateRoot, cluster+".lock")} {
		_, err := os.Stat(p)
		assert.True(t, os.IsNotExist(err), "%s is left", p)
	}
	_, err := sim.LoadWorld(cluster)
	assert.ErrorIs(t, err, sim.ErrNoCluster)
}

// A failure midway through a first up leaves nothing; with Retain it keeps
// what it built.
func TestFailedUpLeavesNothing(t *testing.T) {
	simtest.RequireRoot(t)
	for _, step := range sim.UpSteps {
		t.Run(step, func(t *testing.T) {
			spec := topology.DefaultSpec()
			spec.Name, spec.TimeScale = simtest.ClusterName(t), simtest.DefaultTimeScale
			boom := fmt.Errorf("injected failure at %s", step)
			_, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true,
				BeforeStep: func(s string) error {
					if s == step {
						return boom
					}
					return nil
				}})
			require.ErrorIs(t, err, boom)
			assertNothingLeft(t, spec.Name)
		})
	}
	spec := topology.DefaultSpec()
	spec.Name, spec.TimeScale = simtest.ClusterName(t), simtest.DefaultTimeScale
	_, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true, Retain: true,
		BeforeStep: func(s string) error {
			if s == "supervisor" {
				return fmt.Errorf("stop here")
			}
			return nil
		}})
	require.Error(t, err)
	left, _ := filepath.Glob("/run/netns/" + topology.Namespace(spec.Name, "*"))
	assert.NotEmpty(t, left, "--retain keeps the namespaces")
	require.NoError(t, sim.Down(spec.Name))
	assertNothingLeft(t, spec.Name)
}

// Two ups of one name at once: one builds, the other is refused by the lock
// or finds the running cluster; never two half-built worlds.
func TestConcurrentUpsOfOneName(t *testing.T) {
	simtest.RequireRoot(t)
	spec := topology.DefaultSpec()
	spec.Name, spec.TimeScale = simtest.ClusterName(t), simtest.DefaultTimeScale
	t.Cleanup(func() { sim.Down(spec.Name) })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	clusters := make([]*sim.Cluster, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = sim.Up(context.Background(), spec, sim.Options{InProcess: true})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, sim.ErrBusy, "up %d", i)
	}
	assert.GreaterOrEqual(t, ok, 1)
	for _, c := range clusters {
		if c != nil {
			c.Down()
		}
	}
	assertNothingLeft(t, spec.Name)
}
