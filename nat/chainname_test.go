package nat

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/topology"
)

// Vectors from upstream's chain-name tests (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier_test.go), plus two SEP chains the
// walkthrough's node listed (seed, iptables -t nat -L).
func TestServiceChainName(t *testing.T) {
	for _, tc := range []struct{ svcPortName, proto, want string }{
		{"ns1/svc1:p80", "tcp", "KUBE-SVC-XPGD46QRK7WJZT7O"},
		{"ns2/svc2:p80", "tcp", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"},
		{"ns5/svc5:p80", "tcp", "KUBE-SVC-NUKIZ6OKUXPJNT4C"},
		{"default/kubernetes:https", "tcp", "KUBE-SVC-NPX46M4PTMTKRN6Y"},
		{"kube-system/kube-dns:dns", "udp", "KUBE-SVC-TCOU7JCQXEZGVUNU"},
		{"default/nginx", "tcp", "KUBE-SVC-2CMXP7HKUVJN7L6M"},
		{"default/nginx-nlb-service", "tcp", "KUBE-SVC-VDXCGHLC7LJVQSZ7"},
		{"default/nginx:http", "tcp", "KUBE-SVC-P4Q3KNUAWJVP4ILH"},
		{"default/nginx-nlb-service", "TCP", "KUBE-SVC-VDXCGHLC7LJVQSZ7"}, // protocol in any case
	} {
		assert.Equal(t, tc.want, ServiceChainName(tc.svcPortName, tc.proto), "%s %s", tc.svcPortName, tc.proto)
	}
}

func TestServiceChainsShareOneHash(t *testing.T) {
	c := serviceChainsOf("default/nginx-nlb-service", "tcp")
	assert.Equal(t, serviceChains{
		cluster:  "KUBE-SVC-VDXCGHLC7LJVQSZ7",
		local:    "KUBE-SVL-VDXCGHLC7LJVQSZ7",
		external: "KUBE-EXT-VDXCGHLC7LJVQSZ7",
		firewall: "KUBE-FW-VDXCGHLC7LJVQSZ7",
	}, c)
}

func TestEndpointChainName(t *testing.T) {
	for _, tc := range []struct{ svcPortName, proto, endpoint, want string }{
		{"ns1/svc1:p80", "tcp", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"},
		{"ns5/svc5:p80", "tcp", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"},
		{"default/nginx-nlb-service", "tcp", "192.168.1.248:7777", "KUBE-SEP-LHC45K453FK42NFG"},
		{"default/nginx-nlb-service", "tcp", "192.168.3.17:7777", "KUBE-SEP-XO3LBSZWYTK2KX5F"},
		{"default/nginx", "tcp", "192.168.1.10:80", "KUBE-SEP-QEUVR6UIWCNPPGR2"},
		{"default/nginx", "tcp", "192.168.1.9:80", "KUBE-SEP-U6CJFFO6O642QILV"},
		{"default/nginx", "tcp", "192.168.2.3:80", "KUBE-SEP-YQ6BIJ6RBEZSBQVY"},
		// The walkthrough's node.
		{"default/nginx-nlb-service", "tcp", "192.168.2.206:7777", "KUBE-SEP-KZTINFDZQREWAZ5M"},
		{"default/nginx-nlb-service", "tcp", "192.168.3.111:7777", "KUBE-SEP-62QXZKLRNZ4Q2ZG5"},
	} {
		assert.Equal(t, tc.want, EndpointChainName(tc.svcPortName, tc.proto, tc.endpoint), "%s %s %s", tc.svcPortName, tc.proto, tc.endpoint)
	}
}

func TestChainNamesFitIPTables(t *testing.T) {
	c := serviceChainsOf("some-namespace/a-rather-long-service-name:with-a-port-name", "sctp")
	for _, name := range []string{c.cluster, c.local, c.external, c.firewall, EndpointChainName("a/b", "tcp", "10.0.0.1:1")} {
		assert.LessOrEqual(t, len(name), 28, name)
	}
	assert.Len(t, c.firewall, 24)
	assert.Len(t, c.cluster, 25)
}

func TestServicePortName(t *testing.T) {
	svc := topology.Service{Namespace: "default", Name: "nginx"}
	assert.Equal(t, "default/nginx", ServicePortName(svc, topology.ServicePort{Port: 80}))
	assert.Equal(t, "default/nginx:http", ServicePortName(svc, topology.ServicePort{Name: "http", Port: 80}))
}

func TestIsServiceChain(t *testing.T) {
	for _, name := range []string{"KUBE-SVC-X", "KUBE-SVL-X", "KUBE-EXT-X", "KUBE-FW-X", "KUBE-SEP-X"} {
		assert.True(t, isServiceChain(name), name)
	}
	for _, name := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "AWS-SNAT-CHAIN-0"} {
		assert.False(t, isServiceChain(name), name)
	}
}
