package explain

import (
	"net/netip"
	"testing"

	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walkPacket walks a packet with interface inference on.
func walkPacket(t *testing.T, d *ruleset.Dump, nodeIP string, p Packet) *Report {
	t.Helper()
	opts := nodeOptions(nodeIP)
	opts.InferInterfaces = true
	r, err := Walk(d, p, opts)
	require.NoError(t, err)
	return r
}

func packet(t *testing.T, src, dst, proto string, from Origin) Packet {
	t.Helper()
	p, err := ParsePacket(src, dst, proto, string(from))
	require.NoError(t, err)
	return p
}

// kube-dns's UDP port in the walkthrough's world: the udp rules match, the
// tcp ones (dns-tcp, on the same address and port) do not.
func TestUDPThroughKubeDNSInTheDefaultWorld(t *testing.T) {
	d := loadDump(t, "eks-node-1.rules")
	r := walkPacket(t, d, "192.168.1.118", packet(t, "192.168.1.248", "10.100.0.10:53", "udp", FromPod))
	assertOutcomes(t, r, []expect{
		{verdict: VerdictDNAT, target: "192.168.3.202:53", p: 0.5, path: []string{
			"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SEP-V6N5HQQSW43PC5DW", "FORWARD", "POSTROUTING"}},
		{verdict: VerdictDNAT, target: "192.168.3.62:53", p: 0.5},
	})
	assert.Empty(t, r.NotModelled)
	assert.Equal(t, "udp", r.Packet.Proto)
	assert.Equal(t, Interfaces{In: "eni0", InSource: SourceInferred, OutSource: SourceRouted, Uplink: "eth0",
		Routes: []RouteSummary{}, CNI: "aws-vpc-cni", Evidence: r.Interfaces.Evidence}, r.Interfaces)
	require.NotEmpty(t, r.Interfaces.Evidence)

	tcp := walkPacket(t, d, "192.168.1.118", packet(t, "192.168.1.248", "10.100.0.10:53", "tcp", FromPod))
	require.Len(t, tcp.Outcomes, 2)
	assert.NotContains(t, tcp.Outcomes[0].Path, "KUBE-SVC-TCOU7JCQXEZGVUNU", "dns-tcp has a chain of its own")

	sctp := walkPacket(t, d, "192.168.1.118", packet(t, "192.168.1.248", "10.100.0.10:53", "sctp", FromPod))
	// No SCTP Service: the packet leaves untranslated but for the VPC CNI's SNAT
	// of what leaves the VPC.
	assertOutcomes(t, sctp, []expect{{verdict: VerdictAccept, p: 1, snat: "192.168.1.118"}})
}

// A flannel node: pods on cni0, the rest of the pod network beyond
// flannel.1, both read from FLANNEL-POSTRTG; kube-proxy's clusterCIDR
// masquerade for what does not come from a pod.
func TestFlannelNode(t *testing.T) {
	d := loadDump(t, "flannel.rules")
	const node = "192.168.56.11"

	r := walkPacket(t, d, node, packet(t, "10.244.1.5", "10.96.0.10:53", "udp", FromPod))
	assertOutcomes(t, r, []expect{
		{verdict: VerdictDNAT, target: "10.244.0.2:53", p: 0.5, path: []string{
			"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SEP-YIL6JZP7A3QYXJU2", "FORWARD", "FLANNEL-FWD", "POSTROUTING"}},
		{verdict: VerdictDNAT, target: "10.244.0.3:53", p: 0.5},
	})
	assert.Empty(t, r.NotModelled)
	for _, o := range r.Outcomes {
		assert.Equal(t, "flannel.1", o.OutInterface, "CoreDNS runs on another node")
	}
	assert.Equal(t, "flannel", r.Interfaces.CNI)
	assert.Equal(t, "cni0", r.Interfaces.In)
	assert.Equal(t, SourceInferred, r.Interfaces.InSource)
	assert.Equal(t, []RouteSummary{
		{Prefix: "10.244.1.0/24", Interface: "cni0", Source: SourceInferred},
		{Prefix: "10.244.0.0/16", Interface: "flannel.1", Source: SourceInferred},
	}, r.Interfaces.Routes)

	// From the node: outside the cluster CIDR, so kube-proxy masquerades, to
	// flannel.1's own address.
	r = walkPacket(t, d, node, packet(t, "", "10.96.0.10:53", "udp", FromNode))
	assertOutcomes(t, r, []expect{
		{verdict: VerdictDNAT, target: "10.244.0.2:53", p: 0.5, masq: true, snat: "10.244.1.0"},
		{verdict: VerdictDNAT, target: "10.244.0.3:53", p: 0.5, masq: true, snat: "10.244.1.0"},
	})

	// A pod to the internet: flannel masquerades it to the node's address.
	r = walkPacket(t, d, node, packet(t, "10.244.1.5", "8.8.8.8:53", "udp", FromPod))
	assertOutcomes(t, r, []expect{{verdict: VerdictAccept, p: 1, masq: true, snat: node,
		path: []string{"PREROUTING", "FORWARD", "FLANNEL-FWD", "POSTROUTING", "FLANNEL-POSTRTG"}}})
	assert.Equal(t, "eth0", r.Outcomes[0].OutInterface)
}

// A live node's dump can hold a rule iptables-save printed as it could not
// decode it: the walk lists it and goes on.
func TestUnevaluableRuleIsListedAndTheRestWalked(t *testing.T) {
	d := parseDump(t, `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination :0 --persistent --persistent
-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080
COMMIT
`)
	r := walkFrom(t, d, Options{}, "10.244.1.5", "10.96.0.20:80", "tcp", FromPod)
	assertOutcomes(t, r, []expect{{verdict: VerdictDNAT, target: "10.244.2.7:8080", p: 1}})
	require.Len(t, r.NotModelled, 1)
	nm := r.NotModelled[0]
	assert.Equal(t, 11, nm.Line)
	assert.Equal(t, "KUBE-SEP-1", nm.Chain)
	assert.Contains(t, nm.Reason, "--to-destination :0 names neither an address nor a port")
}

func TestInterfaceOptions(t *testing.T) {
	d := loadDump(t, "docker.rules")
	opts := nodeOptions("192.168.0.10")
	opts.InferInterfaces = true
	cases := []struct {
		in, out string
		want    expect
	}{
		// Inferred: in on docker0, out by the route (eth0 for the internet).
		{"", "", expect{verdict: VerdictAccept, p: 1, masq: true, snat: "192.168.0.10"}},
		{"docker0", "eth0", expect{verdict: VerdictAccept, p: 1, masq: true, snat: "192.168.0.10"}},
		// Out on the bridge again: ! -o docker0 does not match, no masquerade.
		{"docker0", "docker0", expect{verdict: VerdictAccept, p: 1}},
		// In on another interface: FORWARD's policy drops it.
		{"eth1", "eth0", expect{verdict: VerdictDrop, p: 1}},
	}
	for _, c := range cases {
		p := packet(t, "172.17.0.2", "203.0.113.7:9", "udp", FromPod)
		p.InInterface, p.OutInterface = c.in, c.out
		r, err := Walk(d, p, opts)
		require.NoError(t, err)
		assertOutcomes(t, r, []expect{c.want})
		if c.in == "" {
			assert.Equal(t, "docker0", r.Interfaces.In)
			assert.Equal(t, SourceInferred, r.Interfaces.InSource)
			assert.Equal(t, "docker", r.Interfaces.CNI)
			assert.Equal(t, SourceRouted, r.Interfaces.OutSource)
		} else {
			assert.Equal(t, SourceOption, r.Interfaces.InSource)
			assert.Equal(t, c.out, r.Interfaces.Out)
			assert.Equal(t, SourceOption, r.Interfaces.OutSource)
		}
	}
}

func TestInferenceIsAmbiguousOrAbsent(t *testing.T) {
	none := InferInterfaces(parseDump(t, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"))
	assert.Equal(t, Inference{}, none)

	calico := InferInterfaces(parseDump(t, `*filter
:FORWARD ACCEPT [0:0]
:cali-FORWARD - [0:0]
:cali-from-wl-dispatch - [0:0]
:cali-fw-cali1a2b3c4d5e6 - [0:0]
:cali-fw-cali9f8e7d6c5b4 - [0:0]
-A FORWARD -j cali-FORWARD
-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch
-A cali-from-wl-dispatch -i cali1a2b3c4d5e6 -g cali-fw-cali1a2b3c4d5e6
-A cali-from-wl-dispatch -i cali9f8e7d6c5b4 -g cali-fw-cali9f8e7d6c5b4
-A cali-from-wl-dispatch -j DROP
COMMIT
`))
	assert.Equal(t, "calico", calico.CNI)
	assert.Empty(t, calico.PodInterface, "two workload interfaces: which one is the pod's?")
	assert.Contains(t, calico.Note, "cali1a2b3c4d5e6, cali9f8e7d6c5b4")

	both := InferInterfaces(parseDump(t, "*nat\n:POSTROUTING ACCEPT [0:0]\n:FLANNEL-POSTRTG - [0:0]\n:WEAVE - [0:0]\nCOMMIT\n"))
	assert.Empty(t, both.PodInterface)
	assert.Contains(t, both.Note, "several network plugins")

	kubenet := InferInterfaces(parseDump(t, `*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING ! -d 10.0.0.0/8 -m comment --comment "kubenet: SNAT for outbound traffic from cluster" -m addrtype ! --dst-type LOCAL -j MASQUERADE
COMMIT
`))
	assert.Equal(t, "kubenet", kubenet.CNI)
	assert.Equal(t, "cbr0", kubenet.PodInterface)

	eks := InferInterfaces(loadDump(t, "eks-node-1.rules"))
	assert.Equal(t, "eni0", eks.PodInterface)

	p := packet(t, "10.0.0.2", "10.0.0.1:80", "tcp", FromNode)
	p.InInterface = "eth0"
	_, err := Walk(parseDump(t, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"), p, Options{NodeIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
	assert.ErrorContains(t, err, "arrives on no interface")
}
