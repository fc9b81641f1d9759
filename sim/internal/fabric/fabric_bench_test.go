package fabric

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// writeIPScript writes the baseline of BenchmarkFabric: a shell script that
// builds the same namespaces, veths, addresses, routes and permanent
// neighbours as Build, with one `ip -n NS …` command per object (sysctls
// cannot be written without ip netns exec, so the script skips them: the
// baseline does less).
func writeIPScript(out io.Writer, w *topology.World) {
	fmt.Fprintln(out, "set -e")
	for _, h := range w.Hosts() {
		fmt.Fprintf(out, "ip netns add %s\nip -n %s link set lo up\n", h.Namespace, h.Namespace)
	}
	vpc := topology.Namespace(w.Cluster.Name, topology.VPCHost)
	for _, s := range w.Subnets {
		fmt.Fprintf(out, "ip -n %s addr add %s/32 dev lo\n", vpc, s.Gateway)
	}
	fmt.Fprintf(out, "ip -n %s addr add %s/32 dev lo\n", vpc, w.Cluster.Resolver)
	for _, h := range w.Hosts() {
		switch h.Kind {
		case topology.KindVPC:
		case topology.KindPod:
			var pod topology.Pod
			for _, p := range w.Pods {
				if p.Name == h.Name {
					pod = p
				}
			}
			node := topology.Namespace(w.Cluster.Name, pod.Node)
			eni := PodLinkName(pod.Namespace, pod.Name)
			n, _ := w.Node(pod.Node)
			fmt.Fprintf(out, "ip -n %s link add eth0 mtu %d netns %s type veth peer name %s mtu %d\n", node, mtu, h.Namespace, eni, mtu)
			fmt.Fprintf(out, "ip -n %s link set eth0 up\nip -n %s link set %s up\n", h.Namespace, node, eni)
			fmt.Fprintf(out, "ip -n %s addr add %s/32 dev eth0\n", h.Namespace, h.IP)
			fmt.Fprintf(out, "ip -n %s route add %s/32 dev %s scope link\n", node, h.IP, eni)
			fmt.Fprintf(out, "ip -n %s neigh add %s dev %s lladdr $(ip -n %s -br link show eth0 | awk '{print $3}') nud permanent\n", node, h.IP, eni, h.Namespace)
			fmt.Fprintf(out, "ip -n %s route add %s dev eth0 scope link\n", h.Namespace, podGateway)
			fmt.Fprintf(out, "ip -n %s route add default via %s dev eth0\n", h.Namespace, podGateway)
			fmt.Fprintf(out, "ip -n %s neigh add %s dev eth0 lladdr $(ip -n %s -br link show %s | awk '{print $3}') nud permanent\n", h.Namespace, podGateway, node, eni)
			fmt.Fprintf(out, "ip -n %s route add %s/32 via %s\n", vpc, h.IP, n.IP)
		default:
			fab := LinkName(w, h)
			sub, _ := w.SubnetOf(h.IP)
			fmt.Fprintf(out, "ip -n %s link add eth0 mtu %d netns %s type veth peer name %s mtu %d\n", vpc, mtu, h.Namespace, fab, mtu)
			fmt.Fprintf(out, "ip -n %s link set eth0 up\nip -n %s link set %s up\n", h.Namespace, vpc, fab)
			fmt.Fprintf(out, "ip -n %s addr add %s/32 dev eth0\n", h.Namespace, h.IP)
			fmt.Fprintf(out, "ip -n %s route add default via %s dev eth0 onlink\n", h.Namespace, sub.Gateway)
			fmt.Fprintf(out, "ip -n %s neigh add %s dev eth0 lladdr $(ip -n %s -br link show %s | awk '{print $3}') nud permanent\n", h.Namespace, sub.Gateway, vpc, fab)
			fmt.Fprintf(out, "ip -n %s route add %s/32 dev %s scope link\n", vpc, h.IP, fab)
			fmt.Fprintf(out, "ip -n %s neigh add %s dev %s lladdr $(ip -n %s -br link show eth0 | awk '{print $3}') nud permanent\n", vpc, h.IP, fab, h.Namespace)
		}
	}
}

// BenchmarkFabric times the fabric phase (namespaces, veths, addresses,
// routes, sysctls) through netlink against the ip(8) script baseline, for
// the default world and a 50-node × 10-pod world. scripts/bench-fabric.sh
// turns the figures into ratios.
func BenchmarkFabric(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, size := range []struct {
		name            string
		nodes, replicas int
	}{{"default", 3, 3}, {"50x10", 50, 500}} {
		spec := topology.DefaultSpec()
		spec.Name = "bench-fabric"
		spec.Nodes, spec.Replicas = size.nodes, size.replicas
		w, err := topology.Build(spec)
		if err != nil {
			b.Fatal(err)
		}
		Teardown(spec.Name)
		b.Run(size.name+"/netlink", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := Build(w); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				Teardown(spec.Name)
				b.StartTimer()
			}
			b.ReportMetric(float64(len(w.Hosts())), "namespaces")
		})
		script := filepath.Join(b.TempDir(), "fabric.sh")
		f, err := os.Create(script)
		if err != nil {
			b.Fatal(err)
		}
		writeIPScript(f, w)
		f.Close()
		b.Run(size.name+"/ip-script", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				b.StopTimer()
				Teardown(spec.Name)
				b.StartTimer()
			}
		})
	}
}

// writeHandScript writes the baseline of `nlbsim up`: the ip(8) script of
// writeIPScript, then the rules `up` installs, one `ip netns exec NS
// iptables-restore` per namespace — each node's kube-proxy rules, each NLB
// node's (targets registering), the VPC fabric's flow steering.
func writeHandScript(out io.Writer, w *topology.World) error {
	writeIPScript(out, w)
	restore := func(host, text string) {
		fmt.Fprintf(out, "ip netns exec %s iptables-restore -w 5 -W 100000 <<'RULES'\n%sRULES\n", topology.Namespace(w.Cluster.Name, host), text)
	}
	links, _ := NLBLinks(w)
	restore(topology.VPCHost, nat.FabricSteering(links))
	for _, n := range w.Nodes {
		rs, err := nat.KubeProxy(w, n.Name)
		if err != nil {
			return err
		}
		restore(n.Name, rs.RestoreText())
	}
	for _, lb := range w.LoadBalancers {
		var healths []topology.TargetHealth
		for _, t := range w.Targets(lb) {
			healths = append(healths, topology.TargetHealth{Target: t, State: topology.TargetInitial})
		}
		for _, node := range lb.Nodes {
			restore(node.Name, nat.NLBNodeRules(lb, node, healths))
		}
	}
	return nil
}

// BenchmarkHandScript times the hand-written script of the default world
// (writeHandScript): scripts/bench-fabric.sh divides `nlbsim up`'s time by
// it.
func BenchmarkHandScript(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	spec := topology.DefaultSpec()
	spec.Name = "bench-hand"
	w, err := topology.Build(spec)
	if err != nil {
		b.Fatal(err)
	}
	Teardown(spec.Name)
	script := filepath.Join(b.TempDir(), "up.sh")
	f, err := os.Create(script)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeHandScript(f, w); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.StopTimer()
		Teardown(spec.Name)
		b.StartTimer()
	}
}
