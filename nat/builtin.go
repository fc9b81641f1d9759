package nat

// Kubelet's chains (pkg/kubelet/kubelet_network_linux.go, 1.28+).
const (
	kubeletCanaryChain = "KUBE-KUBELET-CANARY" // mangle, nat, filter; empty
	iptablesHintChain  = "KUBE-IPTABLES-HINT"  // mangle; empty, tells which iptables backend is in use
	kubeletFirewall    = "KUBE-FIREWALL"       // filter; kube-proxy rewrites it with the same rule
)

// kubeletChains declares kubelet's chains. KUBE-FIREWALL is declared by
// kube-proxy, which rewrites it on every sync.
func kubeletChains(rs *Ruleset) {
	ruleWriter{rs, TableMangle, OwnerKubelet}.chain(iptablesHintChain, "")
	for _, t := range tables {
		ruleWriter{rs, t, OwnerKubelet}.chain(kubeletCanaryChain, "")
	}
}

// builtinJumps writes every rule of the built-in chains in the order a node
// ends up with (kube-proxy's iptablesJumpChains in https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go). Kubelet starts first and
// prepends its KUBE-FIREWALL jumps; kube-proxy then prepends its jumps one by
// one in iptablesJumpChains order, so the last one lands on top; aws-node
// appends its rules, so they follow kube-proxy's whatever the start order.
func builtinJumps(rs *Ruleset, cni vpcCNI) {
	const ctNew = "-m conntrack --ctstate NEW"
	const (
		portals         = `-m comment --comment "kubernetes service portals"`
		externalPortals = `-m comment --comment "kubernetes externally-visible service portals"`
		healthPorts     = `-m comment --comment "kubernetes health check service ports"`
		forwarding      = `-m comment --comment "kubernetes forwarding rules"`
		lbFirewall      = `-m comment --comment "kubernetes load balancer firewall"`
		postrouting     = `-m comment --comment "kubernetes postrouting rules"`
	)
	filterKP := ruleWriter{rs, TableFilter, OwnerKubeProxy}
	filterKubelet := ruleWriter{rs, TableFilter, OwnerKubelet}
	natKP := ruleWriter{rs, TableNAT, OwnerKubeProxy}

	filterKP.rule("INPUT", "", ctNew, lbFirewall, "-j", kubeProxyFirewallChain)
	filterKP.rule("INPUT", "", healthPorts, "-j", kubeNodePortsChain)
	filterKP.rule("INPUT", "", ctNew, externalPortals, "-j", kubeExternalServicesChain)
	filterKubelet.rule("INPUT", "", "-j", kubeletFirewall)

	filterKP.rule("FORWARD", "", ctNew, lbFirewall, "-j", kubeProxyFirewallChain)
	filterKP.rule("FORWARD", "", forwarding, "-j", kubeForwardChain)
	filterKP.rule("FORWARD", "", ctNew, portals, "-j", kubeServicesChain)
	filterKP.rule("FORWARD", "", ctNew, externalPortals, "-j", kubeExternalServicesChain)

	filterKP.rule("OUTPUT", "", ctNew, lbFirewall, "-j", kubeProxyFirewallChain)
	filterKP.rule("OUTPUT", "", ctNew, portals, "-j", kubeServicesChain)
	filterKubelet.rule("OUTPUT", "", "-j", kubeletFirewall)

	natKP.rule("PREROUTING", "", portals, "-j", kubeServicesChain)
	cni.natPrerouting(rs)
	natKP.rule("OUTPUT", "", portals, "-j", kubeServicesChain)
	natKP.rule("POSTROUTING", "", postrouting, "-j", kubePostroutingChain)
	cni.natPostrouting(rs)

	cni.manglePrerouting(rs)
}
