package nat

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// lines splits hand-written expected text into rule lines.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// chainText returns a chain's rules as restore lines.
func chainText(rs *Ruleset, table, chain string) []string {
	var out []string
	for _, r := range rs.ChainRules(table, chain) {
		out = append(out, r.String())
	}
	return out
}

// savedChains returns, for every chain named in expected (iptables-save
// lines), the ruleset's rules of that chain in iptables-save's form.
func savedChains(rs *Ruleset, table string, expected []string) (want, got map[string][]string) {
	want, got = map[string][]string{}, map[string][]string{}
	for _, l := range expected {
		chain := strings.Fields(l)[1]
		want[chain] = append(want[chain], l)
	}
	for chain := range want {
		got[chain] = []string{}
		for _, r := range rs.ChainRules(table, chain) {
			got[chain] = append(got[chain], savedForm(r.String()))
		}
	}
	return want, got
}

func ruleset(t *testing.T, w *topology.World, node string) *Ruleset {
	t.Helper()
	rs, err := KubeProxy(w, node)
	require.NoError(t, err)
	return rs
}

// The walkthrough's chains for nginx-nlb-service (eTP Cluster, three pods),
// written from upstream's proxier.go and the walkthrough's listing.
func TestWalkthroughChains(t *testing.T) {
	rs := ruleset(t, topology.Default(), "node-2")

	assert.Contains(t, chainText(rs, TableNAT, "KUBE-SERVICES"),
		`-A KUBE-SERVICES -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp -p tcp -d 10.100.30.185 --dport 7777 -j KUBE-SVC-VDXCGHLC7LJVQSZ7`)
	assert.Equal(t, lines(`
-A KUBE-NODEPORTS -m comment --comment default/nginx-nlb-service -m tcp -p tcp --dport 32392 -j KUBE-EXT-VDXCGHLC7LJVQSZ7
`), chainText(rs, TableNAT, "KUBE-NODEPORTS"))
	assert.Equal(t, lines(`
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade traffic for default/nginx-nlb-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVC-VDXCGHLC7LJVQSZ7
`), chainText(rs, TableNAT, "KUBE-EXT-VDXCGHLC7LJVQSZ7"))
	// No cluster CIDR on EKS: no masquerade rule before the endpoints.
	svc := lines(`
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.2.206:7777" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-KZTINFDZQREWAZ5M
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.3.111:7777" -j KUBE-SEP-62QXZKLRNZ4Q2ZG5
`)
	assert.Equal(t, svc, chainText(rs, TableNAT, "KUBE-SVC-VDXCGHLC7LJVQSZ7"))
	for sep, ip := range map[string]string{
		"KUBE-SEP-LHC45K453FK42NFG": "192.168.1.248",
		"KUBE-SEP-KZTINFDZQREWAZ5M": "192.168.2.206",
		"KUBE-SEP-62QXZKLRNZ4Q2ZG5": "192.168.3.111",
	} {
		assert.Equal(t, []string{
			"-A " + sep + " -m comment --comment default/nginx-nlb-service -s " + ip + " -j KUBE-MARK-MASQ",
			"-A " + sep + " -m comment --comment default/nginx-nlb-service -m tcp -p tcp -j DNAT --to-destination " + ip + ":7777",
		}, chainText(rs, TableNAT, sep))
	}

	// What the walkthrough's node printed: 0.33333333349, then 0.50000000000.
	want, got := savedChains(rs, TableNAT, lines(`
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.2.206:7777" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-KZTINFDZQREWAZ5M
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.3.111:7777" -j KUBE-SEP-62QXZKLRNZ4Q2ZG5
`))
	assert.Equal(t, want, got)
}

// The built-in chains of a node, as kubelet and kube-proxy leave them
// for kube-proxy and kubelet, followed by aws-node's appended rules.
func TestBuiltinChains(t *testing.T) {
	rs := ruleset(t, topology.Default(), "node-1")
	filter := lines(`
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
`)
	nat := lines(`
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0
-A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --mask 0x80
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
`)
	mangle := lines(`
-A PREROUTING -m comment --comment "AWS, primary ENI" -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-mark 0x80/0x80
-A PREROUTING -m comment --comment "AWS, primary ENI" -i eni+ -j CONNMARK --restore-mark --mask 0x80
-A PREROUTING -m comment --comment "AWS, primary ENI" -i vlan+ -j CONNMARK --restore-mark --mask 0x80
`)
	builtin := func(table string, chains ...string) []string {
		var out []string
		for _, c := range chains {
			out = append(out, chainText(rs, table, c)...)
		}
		return out
	}
	assert.Equal(t, filter, builtin(TableFilter, "INPUT", "FORWARD", "OUTPUT"))
	assert.Equal(t, nat, builtin(TableNAT, "PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"))
	assert.Equal(t, mangle, builtin(TableMangle, "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"))

	// iptables-save prints kube-proxy's and kubelet's jumps as written.
	for _, r := range rs.Rules {
		if r.Owner != OwnerVPCCNI && (r.Chain == "INPUT" || r.Chain == "FORWARD" || r.Chain == "OUTPUT" || r.Chain == "PREROUTING" || r.Chain == "POSTROUTING") {
			assert.Equal(t, r.String(), savedForm(r.String()))
		}
	}
}

// The masquerade chains in kube-proxy's input
// form and as iptables-save shows them; KUBE-FORWARD and KUBE-FIREWALL.
func TestMasqueradeChains(t *testing.T) {
	rs := ruleset(t, topology.Default(), "node-1")
	input := lines(`
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
`)
	saved := lines(`
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
`)
	got := append(chainText(rs, TableNAT, "KUBE-POSTROUTING"), chainText(rs, TableNAT, "KUBE-MARK-MASQ")...)
	assert.Equal(t, input, got)
	for i := range got {
		assert.Equal(t, saved[i], savedForm(got[i]))
	}
	assert.Equal(t, lines(`
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
`), chainText(rs, TableFilter, "KUBE-FORWARD"))
	assert.Equal(t, lines(`
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
`), chainText(rs, TableFilter, "KUBE-FIREWALL"))
	assert.Equal(t, lines(`
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
`), chainText(rs, TableNAT, "KUBE-SERVICES")[len(chainText(rs, TableNAT, "KUBE-SERVICES"))-1:])
}

// The VPC CNI's nat chains on node-1 (192.168.1.118, VPC 192.168.0.0/16).
func TestVPCCNIChains(t *testing.T) {
	rs := ruleset(t, topology.Default(), "node-1")
	assert.Equal(t, lines(`
-A AWS-SNAT-CHAIN-0 -d 192.168.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN
-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 192.168.1.118 --random-fully
-A AWS-CONNMARK-CHAIN-0 -d 192.168.0.0/16 -m comment --comment "AWS CONNMARK CHAIN, VPC CIDR" -j RETURN
-A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80
`), append(chainText(rs, TableNAT, "AWS-SNAT-CHAIN-0"), chainText(rs, TableNAT, "AWS-CONNMARK-CHAIN-0")...))
}

// workedExampleWorld is a worked example in the form of upstream's TestOverallIPTablesRules: Service A default/nginx
// (ClusterIP 10.96.100.10:80, three endpoints) and Service B
// default/nginx-nlb-service (LoadBalancer 80→7777, NodePort 31080,
// ClusterIP 10.96.200.20, hostname-only ingress) with B's endpoints given.
func workedExampleWorld(t *testing.T, policy topology.TrafficPolicy, bEndpoints ...string) *topology.World {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	w.Pods = nil
	a := clusterIPService("default", "nginx", "10.96.100.10", tcpPort("", 80, "80", 0))
	addPods(t, w, "default", "nginx", nil, "192.168.1.10", "192.168.1.9", "192.168.2.3")
	b := clusterIPService("default", "nginx-nlb-service", "10.96.200.20", tcpPort("", 80, "7777", 31080))
	b.Type = "LoadBalancer"
	b.ExternalTrafficPolicy = policy
	if policy == topology.PolicyLocal {
		b.HealthCheckNodePort = 32123
	}
	addPods(t, w, "default", "nginx-nlb-service", nil, bEndpoints...) // 192.168.1.x on node-1, 192.168.3.x on node-3
	w.Services = []topology.Service{a, b}
	w.Nodes[0].IP = netip.MustParseAddr("10.0.0.10")
	return w
}

// workedExampleConfig is §11's kube-proxy: detect-local by cluster CIDR
// 192.168.0.0/16 (EKS has none).
func workedExampleConfig(w *topology.World) kubeProxyConfig {
	cfg := kubeProxyConfigOf(w)
	cfg.clusterCIDR = netip.MustParsePrefix("192.168.0.0/16")
	return cfg
}

// The worked example's expected iptables-save listing, written by hand from upstream's rules.
func TestWorkedExample(t *testing.T) {
	w := workedExampleWorld(t, topology.PolicyCluster, "192.168.1.248")
	rs, err := nodeRuleset(w, "node-1", workedExampleConfig(w))
	require.NoError(t, err)
	want, got := savedChains(rs, TableNAT, lines(`
-A KUBE-SERVICES -d 10.96.100.10/32 -p tcp -m comment --comment "default/nginx cluster IP" -m tcp --dport 80 -j KUBE-SVC-2CMXP7HKUVJN7L6M
-A KUBE-SERVICES -d 10.96.200.20/32 -p tcp -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nginx-nlb-service" -m tcp --dport 31080 -j KUBE-EXT-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade traffic for default/nginx-nlb-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-SVC-2CMXP7HKUVJN7L6M ! -s 192.168.0.0/16 -d 10.96.100.10/32 -p tcp -m comment --comment "default/nginx cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-2CMXP7HKUVJN7L6M -m comment --comment "default/nginx -> 192.168.1.10:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-QEUVR6UIWCNPPGR2
-A KUBE-SVC-2CMXP7HKUVJN7L6M -m comment --comment "default/nginx -> 192.168.1.9:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-U6CJFFO6O642QILV
-A KUBE-SVC-2CMXP7HKUVJN7L6M -m comment --comment "default/nginx -> 192.168.2.3:80" -j KUBE-SEP-YQ6BIJ6RBEZSBQVY
-A KUBE-SEP-QEUVR6UIWCNPPGR2 -s 192.168.1.10/32 -m comment --comment "default/nginx" -j KUBE-MARK-MASQ
-A KUBE-SEP-QEUVR6UIWCNPPGR2 -p tcp -m comment --comment "default/nginx" -m tcp -j DNAT --to-destination 192.168.1.10:80
-A KUBE-SEP-U6CJFFO6O642QILV -s 192.168.1.9/32 -m comment --comment "default/nginx" -j KUBE-MARK-MASQ
-A KUBE-SEP-U6CJFFO6O642QILV -p tcp -m comment --comment "default/nginx" -m tcp -j DNAT --to-destination 192.168.1.9:80
-A KUBE-SEP-YQ6BIJ6RBEZSBQVY -s 192.168.2.3/32 -m comment --comment "default/nginx" -j KUBE-MARK-MASQ
-A KUBE-SEP-YQ6BIJ6RBEZSBQVY -p tcp -m comment --comment "default/nginx" -m tcp -j DNAT --to-destination 192.168.2.3:80
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 ! -s 192.168.0.0/16 -d 10.96.200.20/32 -p tcp -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SEP-LHC45K453FK42NFG -s 192.168.1.248/32 -m comment --comment "default/nginx-nlb-service" -j KUBE-MARK-MASQ
-A KUBE-SEP-LHC45K453FK42NFG -p tcp -m comment --comment "default/nginx-nlb-service" -m tcp -j DNAT --to-destination 192.168.1.248:7777
`))
	assert.Equal(t, want, got)

	// The same rules in the restore input (§11, below the listing).
	assert.Contains(t, chainText(rs, TableNAT, "KUBE-SERVICES"),
		`-A KUBE-SERVICES -m comment --comment "default/nginx cluster IP" -m tcp -p tcp -d 10.96.100.10 --dport 80 -j KUBE-SVC-2CMXP7HKUVJN7L6M`)
	assert.Contains(t, chainText(rs, TableNAT, "KUBE-SVC-2CMXP7HKUVJN7L6M"),
		`-A KUBE-SVC-2CMXP7HKUVJN7L6M -m comment --comment "default/nginx -> 192.168.1.10:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-QEUVR6UIWCNPPGR2`)

	// Hostname-only ingress: no load balancer IP rules, no firewall chains.
	for _, r := range rs.Rules {
		assert.NotContains(t, r.Spec, "loadbalancer IP")
		assert.NotContains(t, r.Chain, "KUBE-FW-")
	}
	assert.Empty(t, rs.ChainRules(TableFilter, kubeProxyFirewallChain))
}

// The worked example, B with externalTrafficPolicy Local: node-1
// holds the local endpoint 192.168.1.248, node-2 none; 192.168.3.17 is remote.
func TestWorkedExampleLocal(t *testing.T) {
	w := workedExampleWorld(t, topology.PolicyLocal, "192.168.1.248", "192.168.3.17")
	cfg := workedExampleConfig(w)

	withLocal, err := nodeRuleset(w, "node-1", cfg)
	require.NoError(t, err)
	want, got := savedChains(withLocal, TableNAT, lines(`
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -s 192.168.0.0/16 -m comment --comment "pod traffic for default/nginx-nlb-service external destinations" -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "route LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVL-VDXCGHLC7LJVQSZ7
-A KUBE-SVL-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 ! -s 192.168.0.0/16 -d 10.96.200.20/32 -p tcp -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.3.17:7777" -j KUBE-SEP-XO3LBSZWYTK2KX5F
`))
	assert.Equal(t, want, got)
	want, got = savedChains(withLocal, TableFilter, lines(`
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nginx-nlb-service health check node port" -m tcp --dport 32123 -j ACCEPT
`))
	assert.Equal(t, want, got)
	assert.Empty(t, withLocal.ChainRules(TableFilter, kubeExternalServicesChain))

	without, err := nodeRuleset(w, "node-2", cfg)
	require.NoError(t, err)
	want, got = savedChains(without, TableNAT, lines(`
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -s 192.168.0.0/16 -m comment --comment "pod traffic for default/nginx-nlb-service external destinations" -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "route LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-VDXCGHLC7LJVQSZ7
`))
	assert.Equal(t, want, got)
	want, got = savedChains(without, TableFilter, lines(`
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/nginx-nlb-service has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 31080 -j DROP
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nginx-nlb-service health check node port" -m tcp --dport 32123 -j ACCEPT
`))
	assert.Equal(t, want, got)
	for _, c := range without.Chains {
		assert.NotEqual(t, "KUBE-SVL-VDXCGHLC7LJVQSZ7", c.Name)
	}

	b, _ := w.Service("default", "nginx-nlb-service")
	status, body := HealthCheckNodePortResponse(b.Namespace, b.Name, LocalReadyEndpoints(w, b, "node-1"), true)
	assert.Equal(t, 200, status)
	assert.Contains(t, body, `"localEndpoints": 1,`)
	status, body = HealthCheckNodePortResponse(b.Namespace, b.Name, LocalReadyEndpoints(w, b, "node-2"), true)
	assert.Equal(t, 503, status)
	assert.Contains(t, body, `"localEndpoints": 0,`)
}

// The EKS configuration has no cluster CIDR: no ClusterIP masquerade rule
// and no pod short-circuit in KUBE-EXT (as upstream's proxier.go writes them).
func TestNoDetectLocalOnEKS(t *testing.T) {
	rs := ruleset(t, localWorld(t), "node-1")
	for _, r := range rs.Rules {
		if strings.HasPrefix(r.Chain, servicePrefix) || strings.HasPrefix(r.Chain, localPrefix) {
			assert.NotContains(t, r.Spec, kubeMarkMasqChain, r.String())
		}
		assert.NotContains(t, r.Spec, "pod traffic for", r.String())
	}
	assert.Equal(t, lines(`
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "route LOCAL traffic for default/nginx-nlb-service external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVL-VDXCGHLC7LJVQSZ7
`), chainText(rs, TableNAT, "KUBE-EXT-VDXCGHLC7LJVQSZ7"))
}

// A Service without endpoints gets only filter
// REJECT rules; §3.2: endpoints sort as strings.
func TestServicesWorld(t *testing.T) {
	w := servicesWorld(t)
	rs := ruleset(t, w, "node-1")

	assert.Equal(t, lines(`
-A KUBE-EXTERNAL-SERVICES -m comment --comment "shop/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30999 -j REJECT
`), chainText(rs, TableFilter, kubeExternalServicesChain))
	assert.Equal(t, lines(`
-A KUBE-SERVICES -m comment --comment "shop/empty has no endpoints" -m tcp -p tcp -d 10.100.50.5 --dport 80 -j REJECT
`), chainText(rs, TableFilter, kubeServicesChain))
	empty := serviceChainsOf("shop/empty", "tcp")
	for _, r := range rs.Rules {
		if r.Table == TableNAT {
			assert.NotContains(t, r.String(), "shop/empty", r.String())
			assert.NotContains(t, r.String(), empty.cluster)
			assert.NotContains(t, r.String(), empty.external)
		}
	}

	// A named targetPort resolves to the pod's port; .10 sorts before .9.
	two := ServiceChainName("shop/two:http", "tcp")
	assert.Equal(t, lines(`
-A `+two+` -m comment --comment "shop/two:http -> 192.168.1.10:8080" -m statistic --mode random --probability 0.5000000000 -j `+EndpointChainName("shop/two:http", "tcp", "192.168.1.10:8080")+`
-A `+two+` -m comment --comment "shop/two:http -> 192.168.1.9:8080" -j `+EndpointChainName("shop/two:http", "tcp", "192.168.1.9:8080")+`
`), chainText(rs, TableNAT, two))

	// Five endpoints: 1/5, 1/4, 1/3, 1/2, then the last, in string order.
	five := ServiceChainName("shop/five", "tcp")
	var order, probs []string
	for _, r := range rs.ChainRules(TableNAT, five) {
		f := strings.Fields(r.Spec)
		order = append(order, strings.Trim(f[5], `"`))
		if i := strings.Index(r.Spec, "--probability "); i >= 0 {
			probs = append(probs, strings.Fields(r.Spec[i:])[1])
		}
	}
	assert.Equal(t, []string{"192.168.1.11:8080", "192.168.2.10:8080", "192.168.2.9:8080", "192.168.3.100:8080", "192.168.3.21:8080"}, order)
	assert.Equal(t, []string{"0.2000000000", "0.2500000000", "0.3333333333", "0.5000000000"}, probs)

	// Ten endpoints, four on node-1: KUBE-SVC has all ten, KUBE-SVL the four.
	ten := serviceChainsOf("shop/ten", "tcp")
	assert.Len(t, rs.ChainRules(TableNAT, ten.cluster), 10)
	assert.Contains(t, chainText(rs, TableNAT, ten.cluster)[0], "--probability 0.1000000000")
	assert.Equal(t, lines(`
-A KUBE-SVL-IGS2GIU32CCDNGH6 -m comment --comment "shop/ten -> 192.168.1.101:8080" -m statistic --mode random --probability 0.2500000000 -j KUBE-SEP-LUOEGICUW535K5X5
-A KUBE-SVL-IGS2GIU32CCDNGH6 -m comment --comment "shop/ten -> 192.168.1.12:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-VQAFTOIPNUWX3KV2
-A KUBE-SVL-IGS2GIU32CCDNGH6 -m comment --comment "shop/ten -> 192.168.1.21:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-MWLXEVESICFGOLFN
-A KUBE-SVL-IGS2GIU32CCDNGH6 -m comment --comment "shop/ten -> 192.168.1.9:8080" -j KUBE-SEP-WESTCYQGBVWWIFC4
`), chainText(rs, TableNAT, ten.local))
	assert.Contains(t, chainText(rs, TableFilter, kubeNodePortsChain),
		`-A KUBE-NODEPORTS -m comment --comment "shop/ten health check node port" -m tcp -p tcp --dport 31999 -j ACCEPT`)
}

// ClientIP affinity, with the Service's
// timeout or the API default of 10800 s.
func TestSessionAffinity(t *testing.T) {
	rs := ruleset(t, servicesWorld(t), "node-1")
	sticky := ServiceChainName("shop/sticky", "tcp")
	a := EndpointChainName("shop/sticky", "tcp", "192.168.1.31:8080")
	b := EndpointChainName("shop/sticky", "tcp", "192.168.3.31:8080")
	assert.Equal(t, lines(`
-A `+sticky+` -m comment --comment "shop/sticky -> 192.168.1.31:8080" -m recent --name `+a+` --rcheck --seconds 600 --reap -j `+a+`
-A `+sticky+` -m comment --comment "shop/sticky -> 192.168.3.31:8080" -m recent --name `+b+` --rcheck --seconds 600 --reap -j `+b+`
-A `+sticky+` -m comment --comment "shop/sticky -> 192.168.1.31:8080" -m statistic --mode random --probability 0.5000000000 -j `+a+`
-A `+sticky+` -m comment --comment "shop/sticky -> 192.168.3.31:8080" -j `+b+`
`), chainText(rs, TableNAT, sticky))
	assert.Equal(t, lines(`
-A `+a+` -m comment --comment shop/sticky -s 192.168.1.31 -j KUBE-MARK-MASQ
-A `+a+` -m comment --comment shop/sticky -m recent --name `+a+` --set -m tcp -p tcp -j DNAT --to-destination 192.168.1.31:8080
`), chainText(rs, TableNAT, a))
	want, got := savedChains(rs, TableNAT, lines(`
-A `+a+` -s 192.168.1.31/32 -m comment --comment "shop/sticky" -j KUBE-MARK-MASQ
-A `+a+` -p tcp -m comment --comment "shop/sticky" -m recent --set --name `+a+` --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 192.168.1.31:8080
`))
	assert.Equal(t, want, got)

	multi := ServiceChainName("default/multi:http", "tcp")
	assert.Contains(t, chainText(rs, TableNAT, multi)[0], "--rcheck --seconds 10800 --reap")
}

// Above 1000 endpoints kube-proxy drops the per-endpoint comments.
func TestLargeClusterMode(t *testing.T) {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	w.Pods = nil
	var addrs []string
	for i := 0; i < 501; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 168, byte(1 + i%3), byte(4 + i/3)}).String())
	}
	addPods(t, w, "default", "big", nil, addrs...)
	// Two ports of 501 endpoints each: 1002 endpoints in all.
	big := clusterIPService("default", "big", "10.100.60.1", tcpPort("http", 80, "8080", 0), tcpPort("alt", 81, "8081", 0))
	w.Services = []topology.Service{big}
	rs := ruleset(t, w, "node-1")

	rules := rs.ChainRules(TableNAT, ServiceChainName("default/big:http", "tcp"))
	require.Len(t, rules, 501)
	// "192.168.1.100:8080" sorts first: '0' < ':'.
	assert.Equal(t, "-m statistic --mode random --probability 0.0019960080 -j "+
		EndpointChainName("default/big:http", "tcp", "192.168.1.100:8080"), rules[0].Spec)
	for _, r := range rs.Rules {
		if strings.HasPrefix(r.Chain, endpointPrefix) {
			assert.NotContains(t, r.Spec, "--comment")
		}
	}
	assert.Contains(t, chainText(rs, TableNAT, kubeServicesChain)[0], `"default/big:alt cluster IP"`)
}

// Node rulesets do not depend on the NLB's target mode.
func TestRulesIndependentOfTargetMode(t *testing.T) {
	for _, policy := range []topology.TrafficPolicy{topology.PolicyCluster, topology.PolicyLocal} {
		ip := buildWorld(t, func(s *topology.Spec) { s.Mode, s.ExternalTrafficPolicy = topology.TargetIP, policy })
		instance := buildWorld(t, func(s *topology.Spec) { s.Mode, s.ExternalTrafficPolicy = topology.TargetInstance, policy })
		require.NotEqual(t, ip.LoadBalancers[0].TargetType, instance.LoadBalancers[0].TargetType)
		for _, n := range ip.Nodes {
			assert.Equal(t, ruleset(t, ip, n.Name).RestoreText(), ruleset(t, instance, n.Name).RestoreText(), "%s %s", policy, n.Name)
		}
	}
}

func TestDeterministic(t *testing.T) {
	first := ruleset(t, servicesWorld(t), "node-2").RestoreText()
	for i := 0; i < 5; i++ {
		assert.Equal(t, first, ruleset(t, servicesWorld(t), "node-2").RestoreText())
	}
}

// Every jump goes to a declared chain or a built-in target, and every
// declared per-Service chain is jumped to (upstream's checkIPTablesRuleJumps).
func TestJumpsResolve(t *testing.T) {
	builtinTargets := map[string]bool{"ACCEPT": true, "DROP": true, "RETURN": true, "REJECT": true, "DNAT": true,
		"SNAT": true, "MASQUERADE": true, "MARK": true, "CONNMARK": true}
	for _, w := range []*topology.World{topology.Default(), servicesWorld(t), localWorld(t)} {
		for _, n := range w.Nodes {
			rs := ruleset(t, w, n.Name)
			declared, jumped := map[string]bool{}, map[string]bool{}
			for _, c := range rs.Chains {
				key := c.Table + "/" + c.Name
				assert.False(t, declared[key], "chain %s declared twice", key)
				declared[key] = true
			}
			for _, r := range rs.Rules {
				f := strings.Fields(r.Spec)
				for i := range f[:len(f)-1] {
					if f[i] == "-j" && !builtinTargets[f[i+1]] {
						assert.True(t, declared[r.Table+"/"+f[i+1]], "%s: %s jumps to an undeclared chain", n.Name, r)
						jumped[r.Table+"/"+f[i+1]] = true
					}
				}
			}
			for _, c := range rs.Chains {
				if isServiceChain(c.Name) {
					assert.True(t, jumped[c.Table+"/"+c.Name], "%s: %s is never jumped to", n.Name, c.Name)
				}
			}
		}
	}
}

func TestKubeProxyRefuses(t *testing.T) {
	w := topology.Default()
	_, err := KubeProxy(w, "node-9")
	assert.ErrorContains(t, err, `no node "node-9"`)

	w.Services[len(w.Services)-1].Ports[0].NodePort = 29999
	_, err = KubeProxy(w, "node-1")
	assert.ErrorContains(t, err, "service default/nginx-nlb-service: spec.ports[0].nodePort: 29999 is outside the node port range 30000–32767")
}

// With externalTrafficPolicy Local, a node whose only local pod is
// terminating but still serving keeps sending its external traffic to that
// pod while Ready pods elsewhere take the cluster's share (upstream
// CategorizeEndpoints); a pod no longer serving gets the DROP.
func TestLocalPolicyTerminatingLocalEndpoint(t *testing.T) {
	w := localWorld(t)
	for i := range w.Pods {
		if w.Pods[i].IP.String() == "192.168.1.248" {
			w.Pods[i].Terminating = true
		}
	}
	rs, err := KubeProxy(w, "node-1")
	require.NoError(t, err)
	text := rs.RestoreText()
	assert.Contains(t, text, "-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVL-VDXCGHLC7LJVQSZ7\n")
	assert.Contains(t, text, `-A KUBE-SVL-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -j KUBE-SEP-LHC45K453FK42NFG`+"\n")
	assert.Contains(t, text, "-A KUBE-SEP-LHC45K453FK42NFG -m comment --comment default/nginx-nlb-service -m tcp -p tcp -j DNAT --to-destination 192.168.1.248:7777\n")
	assert.NotContains(t, text, "has no local endpoints")
	assert.NotContains(t, text, `-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777"`)

	for i := range w.Pods {
		if w.Pods[i].IP.String() == "192.168.1.248" {
			w.Pods[i].NotReady = true // no longer serving
		}
	}
	rs, err = KubeProxy(w, "node-1")
	require.NoError(t, err)
	assert.Contains(t, rs.RestoreText(), `"default/nginx-nlb-service has no local endpoints"`)
	assert.NotContains(t, rs.RestoreText(), "KUBE-SVL-VDXCGHLC7LJVQSZ7")
}
