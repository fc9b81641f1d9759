package nat

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// kube-proxy's fixed chains (iptables mode; https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go).
const (
	kubeServicesChain         = "KUBE-SERVICES"          // nat and filter
	kubeExternalServicesChain = "KUBE-EXTERNAL-SERVICES" // filter
	kubeNodePortsChain        = "KUBE-NODEPORTS"         // nat and filter
	kubePostroutingChain      = "KUBE-POSTROUTING"       // nat
	kubeMarkMasqChain         = "KUBE-MARK-MASQ"         // nat
	kubeForwardChain          = "KUBE-FORWARD"           // filter
	kubeProxyFirewallChain    = "KUBE-PROXY-FIREWALL"    // filter
	kubeProxyCanaryChain      = "KUBE-PROXY-CANARY"      // mangle, nat, filter; empty
)

// largeClusterEndpointsThreshold is the endpoint count above which
// kube-proxy leaves out the per-endpoint comments.
const largeClusterEndpointsThreshold = 1000

// kubeProxyConfig is what shapes kube-proxy's rules.
type kubeProxyConfig struct {
	masqueradeMark string // "%#08x" of the mark bit: 0x00004000
	randomFully    bool   // MASQUERADE --random-fully (iptables >= 1.6.2)
	// clusterCIDR turns on detect-local by cluster CIDR. EKS configures
	// none, so there is no ClusterIP masquerade and no pod short-circuit.
	clusterCIDR        netip.Prefix
	localhostNodePorts bool // the default; brings the KUBE-FIREWALL copy
	// conntrackTCPLiberal is nf_conntrack_tcp_be_liberal != 0, which drops
	// the INVALID rule. Off on EKS nodes.
	conntrackTCPLiberal bool
}

func kubeProxyConfigOf(w *topology.World) kubeProxyConfig {
	kp := w.Cluster.KubeProxy
	return kubeProxyConfig{
		masqueradeMark:     fmt.Sprintf("%#08x", uint32(1)<<kp.MasqueradeBit),
		randomFully:        kp.RandomFully,
		localhostNodePorts: true,
	}
}

// KubeProxy returns every iptables rule of a node (its host name, e.g.
// "node-1"): kube-proxy 1.30's in iptables mode for every Service of the
// world, kubelet's, and the VPC CNI's. The target mode of an NLB does not
// change it. In nftables mode kube-proxy writes no iptables rule (its rules
// are NFTProxier's), so the ruleset holds kubelet's and the VPC CNI's alone.
func KubeProxy(w *topology.World, nodeHost string) (*Ruleset, error) {
	rs, err := nodeRuleset(w, nodeHost, kubeProxyConfigOf(w))
	if err != nil || !w.NFTables() {
		return rs, err
	}
	return withoutKubeProxy(rs), nil
}

// withoutKubeProxy keeps kubelet's and the VPC CNI's chains and rules.
// KUBE-FIREWALL, which kube-proxy rewrites in iptables mode, is kubelet's
// alone then (kubelet writes the same rule).
func withoutKubeProxy(rs *Ruleset) *Ruleset {
	out := &Ruleset{Node: rs.Node}
	for _, c := range rs.Chains {
		if c.Owner == OwnerKubeProxy && c.Name == kubeletFirewall {
			c.Owner = OwnerKubelet
		}
		if c.Owner != OwnerKubeProxy {
			out.Chains = append(out.Chains, c)
		}
	}
	for _, r := range rs.Rules {
		if r.Owner == OwnerKubeProxy && r.Chain == kubeletFirewall {
			r.Owner = OwnerKubelet
		}
		if r.Owner != OwnerKubeProxy {
			out.Rules = append(out.Rules, r)
		}
	}
	return out
}

func nodeRuleset(w *topology.World, nodeHost string, cfg kubeProxyConfig) (*Ruleset, error) {
	node, ok := w.Node(nodeHost)
	if !ok {
		return nil, fmt.Errorf("no node %q in cluster %q", nodeHost, w.Cluster.Name)
	}
	if bit := w.Cluster.KubeProxy.MasqueradeBit; bit < 0 || bit > 31 {
		return nil, fmt.Errorf("kube-proxy masqueradeBit %d is out of range (0–31)", bit)
	}
	ports, err := servicePortsOf(w)
	if err != nil {
		return nil, err
	}
	rs := &Ruleset{Node: nodeHost}
	cni := vpcCNI{vpc: w.Cluster.VPC, nodeIP: node.IP}
	kubeletChains(rs)
	builtinJumps(rs, cni)
	cni.chains(rs)
	kubeProxy{cfg: cfg, node: nodeHost}.sync(rs, ports)
	rs.inputs = serviceInputs(ports)
	return rs, nil
}

// serviceInputs maps each Service ("namespace/name") to what kube-proxy
// sees of it: its ports as the service map holds them and its endpoints
// with their conditions. Upstream rewrites a Service's chains in a partial
// sync whenever the Service or one of its EndpointSlices changed
// (serviceChanges and endpointsChanges in
// https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go),
// whether or not the rules' text changes; a change of this value is that.
func serviceInputs(ports []servicePort) map[string]string {
	in := map[string]*strings.Builder{}
	for _, sp := range ports {
		key := sp.svc.Key()
		if in[key] == nil {
			in[key] = &strings.Builder{}
		}
		b := in[key]
		// As fmt would write "%s %s %s:%d nodePort=%d hc=%d local=%v
		// affinity=%s/%d", without its cost at 50,000 endpoints.
		b.WriteString(sp.name + " " + sp.protocol + " " + sp.svc.ClusterIP.String() + ":" + strconv.Itoa(sp.port.Port) +
			" nodePort=" + strconv.Itoa(sp.port.NodePort) + " hc=" + strconv.Itoa(healthCheckNodePort(sp.svc)) +
			" local=" + strconv.FormatBool(sp.port.NodePort != 0 && externalTrafficPolicyLocal(sp.svc)) +
			" affinity=" + sp.svc.SessionAffinity + "/" + strconv.Itoa(affinityTimeout(sp.svc)) + "\n")
		for _, ep := range sp.endpoints {
			b.WriteString("  " + ep.String() + " node=" + ep.Node + " ready=" + strconv.FormatBool(ep.Ready) +
				" serving=" + strconv.FormatBool(ep.Serving) + " terminating=" + strconv.FormatBool(ep.Terminating) + "\n")
		}
	}
	out := make(map[string]string, len(in))
	for k, b := range in {
		out[k] = b.String()
	}
	return out
}

// servicePort is one port of a Service as kube-proxy's service map holds it.
type servicePort struct {
	svc       topology.Service
	port      topology.ServicePort
	name      string // ServicePortName
	protocol  string // lowercase
	endpoints []topology.Endpoint
}

// servicePortsOf lists the ports kube-proxy programs, in a fixed order
// (upstream iterates a map): by namespace, name, port name and protocol.
// Headless and ExternalName Services get no rules.
func servicePortsOf(w *topology.World) ([]servicePort, error) {
	var out []servicePort
	for _, svc := range w.Services {
		if err := ValidateService(svc); err != nil {
			return nil, err
		}
		if svc.Type == "ExternalName" || !svc.ClusterIP.IsValid() {
			continue
		}
		for _, p := range svc.Ports {
			out = append(out, servicePort{
				svc: svc, port: p, name: ServicePortName(svc, p),
				protocol: strings.ToLower(p.Protocol), endpoints: uniqueEndpoints(w.Endpoints(svc, p)),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		// Upstream lists Services in map order; nlbsim sorts them, with a
		// big world's probe Service last, where the first packet's walk
		// through KUBE-SERVICES is longest.
		if pa, pb := a.svc.Key() == w.ProbeService, b.svc.Key() == w.ProbeService; pa != pb {
			return pb
		}
		if a.svc.Namespace != b.svc.Namespace {
			return a.svc.Namespace < b.svc.Namespace
		}
		if a.svc.Name != b.svc.Name {
			return a.svc.Name < b.svc.Name
		}
		if a.port.Name != b.port.Name {
			return a.port.Name < b.port.Name
		}
		return a.protocol < b.protocol
	})
	return out, nil
}

// uniqueEndpoints collapses duplicate "ip:port" entries, keeping the list
// sorted as kube-proxy sorts it (as strings). A local copy wins.
func uniqueEndpoints(eps []topology.Endpoint) []topology.Endpoint {
	keyed := sortedByString(eps)
	var out []topology.Endpoint
	last := ""
	for _, k := range keyed {
		if n := len(out); n > 0 && last == k.key {
			if out[n-1].Node == "" {
				out[n-1] = k.ep
			}
			continue
		}
		out, last = append(out, k.ep), k.key
	}
	return out
}

type keyedEndpoint struct {
	key string // ip:port
	ep  topology.Endpoint
}

// sortedByString sorts endpoints as strings (stably), formatting each once.
func sortedByString(eps []topology.Endpoint) []keyedEndpoint {
	keyed := make([]keyedEndpoint, len(eps))
	for i, ep := range eps {
		keyed[i] = keyedEndpoint{ep.String(), ep}
	}
	sort.SliceStable(keyed, func(i, j int) bool { return keyed[i].key < keyed[j].key })
	return keyed
}

type kubeProxy struct {
	cfg  kubeProxyConfig
	node string // host name of the node the rules are for
}

// sync writes what one full sync of kube-proxy writes, in its order
// (syncProxyRules), plus the canary chains its monitor creates.
func (kp kubeProxy) sync(rs *Ruleset, ports []servicePort) {
	filter := ruleWriter{rs, TableFilter, OwnerKubeProxy}
	nat := ruleWriter{rs, TableNAT, OwnerKubeProxy}
	for _, t := range []string{TableMangle, TableNAT, TableFilter} {
		ruleWriter{rs, t, OwnerKubeProxy}.chain(kubeProxyCanaryChain, "")
	}
	for _, c := range []string{kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain} {
		filter.chain(c, "")
	}
	for _, c := range []string{kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain} {
		nat.chain(c, "")
	}

	mark := kp.cfg.masqueradeMark
	nat.rule(kubePostroutingChain, "", "-m mark ! --mark", mark+"/"+mark, "-j RETURN")
	// The xor clears the bit so that a packet crossing the stack again is
	// not masqueraded twice.
	nat.rule(kubePostroutingChain, "", "-j MARK --xor-mark", mark)
	masquerade := []string{"-m comment --comment", `"kubernetes service traffic requiring SNAT"`, "-j MASQUERADE"}
	if kp.cfg.randomFully {
		masquerade = append(masquerade, "--random-fully")
	}
	nat.rule(kubePostroutingChain, "", masquerade...)
	nat.rule(kubeMarkMasqChain, "", "-j MARK --or-mark", mark)

	if kp.cfg.localhostNodePorts {
		// The anti-martian rule that makes route_localnet safe; kubelet
		// holds an identical copy.
		filter.chain(kubeletFirewall, "")
		filter.rule(kubeletFirewall, "", "-m comment --comment", `"block incoming localnet connections"`,
			"-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
	}

	total := 0
	for _, sp := range ports {
		total += len(sp.endpoints)
	}
	largeCluster := total > largeClusterEndpointsThreshold
	rs.largeCluster = largeCluster
	for _, sp := range ports {
		kp.writeServicePort(filter, nat, sp, largeCluster)
	}

	tail := []string{"-m comment --comment", `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`, "-m addrtype --dst-type LOCAL"}
	if !kp.cfg.localhostNodePorts {
		tail = append(tail, "! -d 127.0.0.0/8")
	}
	nat.rule(kubeServicesChain, "", append(tail, "-j", kubeNodePortsChain)...)

	if !kp.cfg.conntrackTCPLiberal {
		filter.rule(kubeForwardChain, "", "-m conntrack --ctstate INVALID -j DROP")
	}
	// Marked traffic is forwarded even where FORWARD's policy is DROP.
	filter.rule(kubeForwardChain, "", "-m comment --comment", `"kubernetes forwarding rules"`,
		"-m mark --mark", mark+"/"+mark, "-j ACCEPT")
	filter.rule(kubeForwardChain, "", "-m comment --comment", `"kubernetes forwarding conntrack rule"`,
		"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
}

// writeServicePort writes the rules and chains of one Service port
// (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go, externalTrafficPolicy Local).
func (kp kubeProxy) writeServicePort(filter, nat ruleWriter, sp servicePort, largeCluster bool) {
	svc, key, name, proto := sp.svc, sp.svc.Key(), sp.name, sp.protocol
	chains := serviceChainsOf(name, proto)

	// Endpoints by traffic policy (CategorizeEndpoints): the Ready ones;
	// when none is, those still serving while they terminate. The internal
	// traffic policy is always Cluster.
	var cluster, local []topology.Endpoint
	for _, ep := range sp.endpoints {
		if ep.Ready {
			cluster = append(cluster, ep)
		}
	}
	if len(cluster) == 0 {
		for _, ep := range sp.endpoints {
			if ep.Serving && ep.Terminating {
				cluster = append(cluster, ep)
			}
		}
	}
	externallyAccessible := sp.port.NodePort != 0
	externalPolicyLocal := externallyAccessible && externalTrafficPolicyLocal(svc)
	if externalPolicyLocal {
		// Local endpoints are chosen independently of the cluster-wide
		// list: the local Ready ones, or when there are none the local ones
		// still serving while they terminate — so a node whose only pod is
		// terminating keeps sending its external traffic there
		// (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/topology.go).
		for _, ep := range sp.endpoints {
			if ep.Node == kp.node && ep.Ready {
				local = append(local, ep)
			}
		}
		if len(local) == 0 {
			for _, ep := range sp.endpoints {
				if ep.Node == kp.node && ep.Serving && ep.Terminating {
					local = append(local, ep)
				}
			}
		}
	}
	hasEndpoints := len(cluster) > 0
	usesClusterChain := len(cluster) > 0
	usesLocalChain := len(local) > 0

	externalPolicyChain, hasExternalEndpoints := chains.cluster, hasEndpoints
	if externalPolicyLocal {
		externalPolicyChain = chains.local
		hasExternalEndpoints = len(local) > 0
	}
	usesExternalChain := hasEndpoints && externallyAccessible

	externalFilterTarget, externalFilterComment := "REJECT", quote(name+" has no endpoints")
	if hasEndpoints {
		externalFilterTarget, externalFilterComment = "DROP", quote(name+" has no local endpoints")
	}

	match := []string{"-m", proto, "-p", proto}
	clusterIP := []string{"-m comment --comment", quote(name + " cluster IP")}
	clusterIP = append(clusterIP, match...)
	clusterIP = append(clusterIP, "-d", svc.ClusterIP.String(), "--dport", strconv.Itoa(sp.port.Port))

	if hasEndpoints {
		nat.rule(kubeServicesChain, key, append(clusterIP, "-j", chains.cluster)...)
	} else {
		filter.rule(kubeServicesChain, key, "-m comment --comment", quote(name+" has no endpoints"),
			strings.Join(match, " "), "-d", svc.ClusterIP.String(), "--dport", strconv.Itoa(sp.port.Port), "-j REJECT")
	}

	if externallyAccessible {
		nodePort := strconv.Itoa(sp.port.NodePort)
		if hasEndpoints {
			nat.rule(kubeNodePortsChain, key, "-m comment --comment", name, strings.Join(match, " "),
				"--dport", nodePort, "-j", chains.external)
		}
		if !hasExternalEndpoints {
			filter.rule(kubeExternalServicesChain, key, "-m comment --comment", externalFilterComment,
				"-m addrtype --dst-type LOCAL", strings.Join(match, " "), "--dport", nodePort, "-j", externalFilterTarget)
		}
	}

	if hc := healthCheckNodePort(svc); hc != 0 {
		filter.rule(kubeNodePortsChain, key, "-m comment --comment", quote(name+" health check node port"),
			"-m tcp -p tcp --dport", strconv.Itoa(hc), "-j ACCEPT")
	}

	if hasEndpoints && kp.cfg.clusterCIDR.IsValid() {
		nat.rule(chains.cluster, key, append(clusterIP, "! -s", kp.cfg.clusterCIDR.String(), "-j", kubeMarkMasqChain)...)
	}

	if usesExternalChain {
		nat.chain(chains.external, key)
		if !externalPolicyLocal {
			nat.rule(chains.external, key, "-m comment --comment", quote("masquerade traffic for "+name+" external destinations"),
				"-j", kubeMarkMasqChain)
		} else {
			if kp.cfg.clusterCIDR.IsValid() {
				nat.rule(chains.external, key, "-m comment --comment", quote("pod traffic for "+name+" external destinations"),
					"-s", kp.cfg.clusterCIDR.String(), "-j", chains.cluster)
			}
			nat.rule(chains.external, key, "-m comment --comment", quote("masquerade LOCAL traffic for "+name+" external destinations"),
				"-m addrtype --src-type LOCAL -j", kubeMarkMasqChain)
			nat.rule(chains.external, key, "-m comment --comment", quote("route LOCAL traffic for "+name+" external destinations"),
				"-m addrtype --src-type LOCAL -j", chains.cluster)
		}
		if hasExternalEndpoints {
			nat.rule(chains.external, key, "-j", externalPolicyChain)
		}
	}

	if usesClusterChain {
		nat.chain(chains.cluster, key)
		kp.writeEndpointDispatch(nat, sp, chains.cluster, cluster, largeCluster)
	}
	if usesLocalChain {
		nat.chain(chains.local, key)
		kp.writeEndpointDispatch(nat, sp, chains.local, local, largeCluster)
	}

	// Every endpoint reachable from this node gets a chain: the cluster
	// ones and the local ones, which may be terminating ones the cluster
	// list leaves out.
	for _, ep := range reachableEndpoints(cluster, local) {
		sep := EndpointChainName(name, proto, ep.String())
		nat.chain(sep, key)
		args := []string{}
		if !largeCluster {
			args = append(args, "-m comment --comment", name)
		}
		nat.rule(sep, key, append(args, "-s", ep.IP.String(), "-j", kubeMarkMasqChain)...)
		if svc.SessionAffinity == affinityClientIP {
			args = append(args, "-m recent --name", sep, "--set")
		}
		nat.rule(sep, key, append(args, strings.Join(match, " "), "-j DNAT --to-destination", ep.String())...)
	}
}

// reachableEndpoints is the union of the cluster and local endpoints, in
// kube-proxy's order (as strings).
func reachableEndpoints(cluster, local []topology.Endpoint) []topology.Endpoint {
	if len(local) == 0 {
		return cluster // already unique and in order (servicePortsOf)
	}
	var out []topology.Endpoint
	last := ""
	for i, k := range sortedByString(append(append([]topology.Endpoint(nil), cluster...), local...)) {
		if i == 0 || k.key != last {
			out, last = append(out, k.ep), k.key
		}
	}
	return out
}

// writeEndpointDispatch fills a KUBE-SVC or KUBE-SVL chain: affinity rules
// first, then a cascade that picks endpoint i with probability 1/(n-i), the
// last unconditionally.
func (kp kubeProxy) writeEndpointDispatch(nat ruleWriter, sp servicePort, chain string, eps []topology.Endpoint, largeCluster bool) {
	comment := func(ep topology.Endpoint) []string {
		if largeCluster {
			return nil
		}
		return []string{"-m comment --comment", quote(sp.name + " -> " + ep.String())}
	}
	key := sp.svc.Key()
	if sp.svc.SessionAffinity == affinityClientIP {
		for _, ep := range eps {
			sep := EndpointChainName(sp.name, sp.protocol, ep.String())
			nat.rule(chain, key, append(comment(ep), "-m recent --name", sep, "--rcheck --seconds",
				strconv.Itoa(affinityTimeout(sp.svc)), "--reap -j", sep)...)
		}
	}
	for i, ep := range eps {
		args := comment(ep)
		if i < len(eps)-1 {
			args = append(args, "-m statistic --mode random --probability", StatisticProbability(len(eps)-i))
		}
		nat.rule(chain, key, append(args, "-j", EndpointChainName(sp.name, sp.protocol, ep.String()))...)
	}
}

const (
	affinityClientIP = "ClientIP"
	// defaultAffinityTimeout is the API's default for
	// sessionAffinityConfig.clientIP.timeoutSeconds.
	defaultAffinityTimeout = 10800
)

func affinityTimeout(svc topology.Service) int {
	if svc.AffinityTimeout > 0 {
		return svc.AffinityTimeout
	}
	return defaultAffinityTimeout
}

// externalTrafficPolicyLocal is true for NodePort and LoadBalancer Services
// with externalTrafficPolicy Local.
func externalTrafficPolicyLocal(svc topology.Service) bool {
	return (svc.Type == "NodePort" || svc.Type == "LoadBalancer") && svc.ExternalTrafficPolicy == topology.PolicyLocal
}

// healthCheckNodePort is the port kube-proxy serves a Service's health on:
// only LoadBalancer Services with externalTrafficPolicy Local have one.
func healthCheckNodePort(svc topology.Service) int {
	if svc.Type == "LoadBalancer" && svc.ExternalTrafficPolicy == topology.PolicyLocal {
		return svc.HealthCheckNodePort
	}
	return 0
}

// quote wraps a comment in double quotes, as kube-proxy writes comments
// with spaces into its restore input.
func quote(s string) string { return `"` + s + `"` }
