package explain

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// upstreamCase is a packet flow of kube-proxy's upstream tests and what
// the iptables rules do with it.
type upstreamCase struct {
	name            string
	src, dst, proto string
	from            Origin
	want            []expect
}

// Packet flows of kube-proxy's upstream tests (upstream's proxier_test.go,
// TestOverallIPTablesRules and friends) over a hand-written dump of their fixture.
func TestUpstreamPacketFlows(t *testing.T) {
	d := loadDump(t, "upstream-services.rules")
	opts := nodeOptions(upstreamNode)
	for _, c := range upstreamCases() {
		t.Run(c.name, func(t *testing.T) {
			r := walkFrom(t, d, opts, c.src, c.dst, c.proto, c.from)
			assertOutcomes(t, r, c.want)
			assert.Empty(t, r.NotModelled)
		})
	}
}

const upstreamNode = "192.168.0.2"

func upstreamCases() []upstreamCase {
	const node = upstreamNode
	return []upstreamCase{
		// TestClusterIPGeneral
		{"pod to ClusterIP", "10.0.0.2", "172.30.0.41:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.1:80", p: 1, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ", "FORWARD", "POSTROUTING"}},
		}},
		{"node to ClusterIP is masqueraded", "", "172.30.0.41:80", "tcp", FromNode, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.1:80", p: 1, masq: true, snat: node, path: []string{
				"OUTPUT", "KUBE-SERVICES", "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-MARK-MASQ", "KUBE-SVC-XPGD46QRK7WJZT7O",
				"KUBE-SEP-SXIVWICOYRO3J4NJ", "POSTROUTING", "KUBE-POSTROUTING"}},
		}},
		{"hairpin: endpoint to its own service", "10.180.0.1", "172.30.0.41:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.1:80", p: 1, masq: true, snat: node, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ", "KUBE-MARK-MASQ",
				"KUBE-SEP-SXIVWICOYRO3J4NJ", "FORWARD", "KUBE-FORWARD", "POSTROUTING", "KUBE-POSTROUTING"}},
		}},
		{"wrong port is not translated", "10.0.0.2", "172.30.0.41:8080", "tcp", FromPod, []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "FORWARD", "POSTROUTING"}},
		}},
		{"wrong protocol is not translated", "10.0.0.2", "172.30.0.41:80", "udp", FromPod, []expect{
			{verdict: VerdictAccept, p: 1},
		}},
		{"two endpoints", "10.0.0.2", "172.30.0.44:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.4:80", p: 0.5},
			{verdict: VerdictDNAT, target: "10.180.0.5:80", p: 0.5},
		}},
		{"session affinity: a first packet is not yet in the recent list", "10.0.0.2", "172.30.0.45:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.3:80", p: 1},
		}},
		// TestNodePorts, eTP=Cluster
		{"external to NodePort", "203.0.113.2", node + ":3003", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.3:80", p: 1, masq: true, snat: node, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXT-X27LE4BHSL4DOUIK", "KUBE-MARK-MASQ",
				"KUBE-EXT-X27LE4BHSL4DOUIK", "KUBE-SVC-X27LE4BHSL4DOUIK", "KUBE-SEP-OYPFS5VJICHGATKP",
				"FORWARD", "KUBE-FORWARD", "POSTROUTING", "KUBE-POSTROUTING"}},
		}},
		{"pod to NodePort with eTP=Cluster is masqueraded", "10.0.0.2", node + ":3003", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.3:80", p: 1, masq: true, snat: node},
		}},
		{"externalIP with two endpoints", "203.0.113.2", "192.168.99.33:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.4:80", p: 0.5, masq: true, snat: node},
			{verdict: VerdictDNAT, target: "10.180.0.5:80", p: 0.5, masq: true, snat: node},
		}},
		// TestExternalTrafficPolicyLocal, no local endpoints
		{"eTP=Local, no local endpoints: external to NodePort is dropped", "203.0.113.2", node + ":3001", "tcp", FromExternal, []expect{
			{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "INPUT", "KUBE-EXTERNAL-SERVICES"}},
		}},
		{"eTP=Local, no local endpoints: external to LB IP is dropped", "203.0.113.2", "1.2.3.4:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "FORWARD", "KUBE-EXTERNAL-SERVICES"}},
		}},
		{"eTP=Local, no local endpoints: external to externalIP is dropped", "203.0.113.2", "192.168.99.22:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDrop, p: 1},
		}},
		{"eTP=Local: pod to LB IP short-circuits to all endpoints", "10.0.0.2", "1.2.3.4:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.2:80", p: 1, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-EXT-GNZBNJ2PO5MGZ6GT", "KUBE-SVC-GNZBNJ2PO5MGZ6GT",
				"KUBE-SEP-RS4RBKLTHTF2IUXJ", "FORWARD", "POSTROUTING"}},
		}},
		{"eTP=Local: node to externalIP is masqueraded", "", "192.168.99.22:80", "tcp", FromNode, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.2:80", p: 1, masq: true, snat: node},
		}},
		{"eTP=Local: node to NodePort is masqueraded", "", node + ":3001", "tcp", FromNode, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.2:80", p: 1, masq: true, snat: node},
		}},
		// TestExternalTrafficPolicyLocal with a local endpoint
		{"eTP=Local: external to NodePort reaches only the local endpoint, unmasqueraded", "203.0.113.2", node + ":3007", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.7:80", p: 1, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXT-KPEMU3PDPRCEMWRI", "KUBE-SVL-KPEMU3PDPRCEMWRI",
				"KUBE-SEP-HZXTC6EBGJZ64CAL", "FORWARD", "POSTROUTING"}},
		}},
		{"eTP=Local: external to LB IP reaches only the local endpoint", "203.0.113.2", "9.10.11.12:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.7:80", p: 1},
		}},
		{"eTP=Local: pod to LB IP reaches every endpoint", "10.0.0.2", "9.10.11.12:80", "tcp", FromPod, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.7:80", p: 0.5},
			{verdict: VerdictDNAT, target: "10.180.1.7:80", p: 0.5},
		}},
		{"eTP=Local: localhost to NodePort reaches every endpoint, masqueraded", "127.0.0.1", "127.0.0.1:3007", "tcp", FromNode, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.7:80", p: 0.5, masq: true, snat: node},
			{verdict: VerdictDNAT, target: "10.180.1.7:80", p: 0.5, masq: true, snat: node},
		}},
		// TestHealthCheckNodePort
		{"health check node port is accepted", "203.0.113.2", node + ":30000", "tcp", FromExternal, []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "INPUT", "KUBE-NODEPORTS"}},
		}},
		{"health check node port from the node itself", "", node + ":30007", "tcp", FromNode, []expect{
			{verdict: VerdictAccept, p: 1, path: []string{"OUTPUT", "POSTROUTING", "PREROUTING", "INPUT", "KUBE-NODEPORTS"}},
		}},
		// TestLoadBalancer: loadBalancerSourceRanges
		{"allowed client reaches the LB IP", "203.0.113.2", "5.6.7.8:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.3:80", p: 1, masq: true, snat: node, path: []string{
				"PREROUTING", "KUBE-SERVICES", "KUBE-FW-NUKIZ6OKUXPJNT4C", "KUBE-EXT-NUKIZ6OKUXPJNT4C", "KUBE-MARK-MASQ",
				"KUBE-EXT-NUKIZ6OKUXPJNT4C", "KUBE-SVC-NUKIZ6OKUXPJNT4C", "KUBE-SEP-I77PXRDZVX7PMWMN",
				"FORWARD", "KUBE-FORWARD", "POSTROUTING", "KUBE-POSTROUTING"}},
		}},
		{"blocked client is dropped by KUBE-PROXY-FIREWALL", "203.0.113.130", "5.6.7.8:80", "tcp", FromExternal, []expect{
			{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "FORWARD", "KUBE-PROXY-FIREWALL"}},
		}},
		{"NodePort bypasses loadBalancerSourceRanges", "203.0.113.130", node + ":3002", "tcp", FromExternal, []expect{
			{verdict: VerdictDNAT, target: "10.180.0.3:80", p: 1, masq: true, snat: node},
		}},
		{"pod to LB IP outside the source ranges is dropped", "10.0.0.2", "5.6.7.8:80", "tcp", FromPod, []expect{
			{verdict: VerdictDrop, p: 1},
		}},
		// TestNoEndpointsReject
		{"no endpoints: pod to ClusterIP is rejected", "10.0.0.2", "172.30.0.46:80", "tcp", FromPod, []expect{
			{verdict: VerdictReject, p: 1, path: []string{"PREROUTING", "FORWARD", "KUBE-SERVICES"}},
		}},
		{"no endpoints: node to ClusterIP is rejected", "", "172.30.0.46:80", "tcp", FromNode, []expect{
			{verdict: VerdictReject, p: 1, path: []string{"OUTPUT", "KUBE-SERVICES"}},
		}},
		{"no endpoints: external to NodePort is rejected", "203.0.113.2", node + ":3006", "tcp", FromExternal, []expect{
			{verdict: VerdictReject, p: 1, path: []string{"PREROUTING", "INPUT", "KUBE-EXTERNAL-SERVICES"}},
		}},
	}
}
