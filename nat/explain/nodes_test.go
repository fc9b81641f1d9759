package explain

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// explain -o json's example (README), on node-1 of the walkthrough's world.
func TestEKSNodeMatchesSpecExample(t *testing.T) {
	d := loadDump(t, "eks-node-1.rules")
	r := walkFrom(t, d, nodeOptions("192.168.1.118"), "192.168.2.77", "10.100.30.185:7777", "tcp", FromPod)
	got, err := json.Marshal(r)
	require.NoError(t, err)
	path := func(sep string) string {
		return `["PREROUTING","KUBE-SERVICES","KUBE-SVC-VDXCGHLC7LJVQSZ7","KUBE-SEP-` + sep + `","FORWARD","POSTROUTING"]`
	}
	want := `{"schemaVersion":1,"packet":{"src":"192.168.2.77","dst":"10.100.30.185:7777","proto":"tcp","from":"pod"},` +
		`"interfaces":{"in":"eni0","inSource":"default","out":"","outSource":"routed","uplink":"eth0","routes":[]},"outcomes":[` +
		`{"verdict":"DNAT","target":"192.168.1.248:7777","probability":0.33333333348855376,"masquerade":false,"snat":null,"path":` + path("LHC45K453FK42NFG") + `,"outInterface":"eth0"},` +
		`{"verdict":"DNAT","target":"192.168.2.206:7777","probability":0.3333333332557231,"masquerade":false,"snat":null,"path":` + path("KZTINFDZQREWAZ5M") + `,"outInterface":"eth0"},` +
		`{"verdict":"DNAT","target":"192.168.3.111:7777","probability":0.3333333332557231,"masquerade":false,"snat":null,"path":` + path("62QXZKLRNZ4Q2ZG5") + `,"outInterface":"eth0"}],` +
		`"notModelled":[]}`
	assert.JSONEq(t, want, string(got))
}

// VPC CNI: AWS-SNAT-CHAIN-0 SNATs to the node IP what leaves the VPC and
// RETURNs for 192.168.0.0/16; AWS-CONNMARK-CHAIN-0 marks outbound flows.
func TestEKSNodeVPCCNI(t *testing.T) {
	d := loadDump(t, "eks-node-1.rules")
	opts := nodeOptions("192.168.1.118")
	const node = "192.168.1.118"
	cases := []struct {
		name            string
		src, dst, proto string
		from            Origin
		want            []expect
	}{
		{"pod to the internet is SNATed to the node IP", "192.168.1.248", "8.8.8.8:53", "udp", FromPod, []expect{
			{verdict: VerdictAccept, p: 1, snat: node, path: []string{
				"PREROUTING", "AWS-CONNMARK-CHAIN-0", "FORWARD", "POSTROUTING", "AWS-SNAT-CHAIN-0"}},
		}},
		{"pod to a VPC address keeps its source", "192.168.1.248", "192.168.2.206:7777", "tcp", FromPod, []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "FORWARD", "POSTROUTING"}},
		}},
		{"ip mode: the NLB reaches the pod without NAT", "192.168.1.51", "192.168.1.248:7777", "tcp", FromExternal, []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "FORWARD", "POSTROUTING"}},
		}},
		{"instance mode: the NLB reaches the NodePort, masqueraded", "192.168.1.51", node + ":32392", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "192.168.1.248:7777", p: 715827883.0 / (1 << 31), masq: true, snat: node},
			{verdict: VerdictDNAT, target: "192.168.2.206:7777", p: (1 - 715827883.0/(1<<31)) / 2, masq: true, snat: node},
			{verdict: VerdictDNAT, target: "192.168.3.111:7777", p: (1 - 715827883.0/(1<<31)) / 2, masq: true, snat: node},
		}},
		{"node to kube-dns over UDP", "", "10.100.0.10:53", "udp", FromNode, []expect{
			{verdict: VerdictDNAT, target: "192.168.3.202:53", p: 0.5, path: []string{
				"OUTPUT", "KUBE-SERVICES", "KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SEP-V6N5HQQSW43PC5DW", "POSTROUTING"}},
			{verdict: VerdictDNAT, target: "192.168.3.62:53", p: 0.5},
		}},
		{"pod to the kubernetes API", "192.168.1.248", "10.100.0.1:443", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "192.168.2.40:443", p: 0.5},
			{verdict: VerdictDNAT, target: "192.168.3.12:443", p: 0.5},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := walkFrom(t, d, opts, c.src, c.dst, c.proto, c.from)
			assertOutcomes(t, r, c.want)
			assert.Empty(t, r.NotModelled)
		})
	}
}

func TestMasqueradeSourceNeedsANodeIP(t *testing.T) {
	d := loadDump(t, "eks-node-1.rules")
	r := walkFrom(t, d, Options{}, "192.168.1.248", "10.100.30.185:7777", "tcp", FromPod)
	hairpin := r.Outcomes[0]
	assert.Equal(t, "192.168.1.248:7777", hairpin.Target.String())
	assert.True(t, hairpin.Masquerade)
	assert.Nil(t, hairpin.SNAT, "without --node-ip the masquerade address is unknown")
	assert.False(t, r.Outcomes[1].Masquerade)
}

// Docker: FORWARD policy DROP, DOCKER-USER first, isolation chains.
func TestDockerHost(t *testing.T) {
	d := loadDump(t, "docker.rules")
	opts := nodeOptions("192.168.0.10")
	opts.Routes = []Route{{Prefix: netip.MustParsePrefix("172.17.0.0/16"), Interface: "docker0", Source: netip.MustParseAddr("172.17.0.1")}}
	cases := []struct {
		name            string
		src, dst, proto string
		from            Origin
		in              string
		want            []expect
	}{
		{"published port", "203.0.113.9", "192.168.0.10:8080", "tcp", FromExternal, "", []expect{
			{verdict: VerdictDNAT, target: "172.17.0.2:80", p: 1, path: []string{"PREROUTING", "DOCKER", "FORWARD", "DOCKER", "POSTROUTING"}},
		}},
		{"DOCKER-USER drops a blocked client after DNAT", "198.51.100.7", "192.168.0.10:8080", "tcp", FromExternal, "", []expect{
			{verdict: VerdictDrop, target: "172.17.0.2:80", p: 1, path: []string{"PREROUTING", "DOCKER", "FORWARD", "DOCKER-USER"}},
		}},
		{"unpublished container port falls to the FORWARD policy", "203.0.113.9", "172.17.0.3:80", "tcp", FromExternal, "", []expect{
			{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "FORWARD"}},
		}},
		{"forwarding between other networks is dropped", "203.0.113.9", "10.9.9.9:80", "tcp", FromExternal, "", []expect{
			{verdict: VerdictDrop, p: 1},
		}},
		{"container to the internet is masqueraded", "172.17.0.2", "8.8.8.8:53", "udp", FromPod, "docker0", []expect{
			{verdict: VerdictAccept, p: 1, masq: true, snat: "192.168.0.10", path: []string{"PREROUTING", "FORWARD", "POSTROUTING"}},
		}},
		{"container to container stays on the bridge", "172.17.0.2", "172.17.0.3:80", "tcp", FromPod, "docker0", []expect{
			{verdict: VerdictAccept, p: 1},
		}},
		{"the host reaches its own published port", "", "192.168.0.10:8080", "tcp", FromNode, "", []expect{
			{verdict: VerdictDNAT, target: "172.17.0.2:80", p: 1, path: []string{"OUTPUT", "DOCKER", "POSTROUTING"}},
		}},
		{"a container's hairpin to the published port is left to docker-proxy", "172.17.0.2", "192.168.0.10:8080", "tcp", FromPod, "docker0", []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "INPUT"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePacket(c.src, c.dst, c.proto, string(c.from))
			require.NoError(t, err)
			p.InInterface = c.in
			r, err := Walk(d, p, opts)
			require.NoError(t, err)
			assertOutcomes(t, r, c.want)
			assert.Empty(t, r.NotModelled)
		})
	}
}
