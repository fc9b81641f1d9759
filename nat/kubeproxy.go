package nat

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"slices"
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

// serviceInputs maps each Service ("namespace/name") to a digest of what
// kube-proxy sees of it: its ports as the service map holds them and its endpoints
// with their conditions. Upstream rewrites a Service's chains in a partial
// sync whenever the Service or one of its EndpointSlices changed
// (serviceChanges and endpointsChanges in
// https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go),
// whether or not the rules' text changes; a change of this value is that.
func serviceInputs(ports []servicePort) map[string]string {
	in := map[string]hash.Hash{}
	var line []byte // one endpoint's line, reused
	for _, sp := range ports {
		key := sp.svc.Key()
		if in[key] == nil {
			in[key] = sha256.New()
		}
		h := in[key]
		// As fmt would write "%s %s %s:%d nodePort=%d hc=%d local=%v
		// affinity=%s/%d", without its cost at 50,000 endpoints; hashed,
		// since the value is only ever compared.
		io.WriteString(h, sp.name+" "+sp.protocol+" "+sp.svc.ClusterIP.String()+":"+strconv.Itoa(sp.port.Port)+
			" nodePort="+strconv.Itoa(sp.port.NodePort)+" hc="+strconv.Itoa(healthCheckNodePort(sp.svc))+
			" local="+strconv.FormatBool(sp.port.NodePort != 0 && externalTrafficPolicyLocal(sp.svc))+
			" affinity="+sp.svc.SessionAffinity+"/"+strconv.Itoa(affinityTimeout(sp.svc))+"\n")
		for _, ep := range sp.endpoints {
			line = append(line[:0], "  "...)
			line = append(line, ep.addr...)
			line = append(line, " node="...)
			line = append(line, ep.Node...)
			line = strconv.AppendBool(append(line, " ready="...), ep.Ready)
			line = strconv.AppendBool(append(line, " serving="...), ep.Serving)
			line = strconv.AppendBool(append(line, " terminating="...), ep.Terminating)
			h.Write(append(line, '\n'))
		}
	}
	out := make(map[string]string, len(in))
	for k, h := range in {
		out[k] = string(h.Sum(nil))
	}
	return out
}

// servicePort is one port of a Service as kube-proxy's service map holds it.
type servicePort struct {
	svc       topology.Service
	port      topology.ServicePort
	name      string     // ServicePortName
	protocol  string     // lowercase
	endpoints []endpoint // unique, in kube-proxy's order
}

// endpoint is one endpoint of a Service port with its "ip:port" formatted
// once: a big world's rules name each endpoint five times.
type endpoint struct {
	topology.Endpoint
	addr string // Endpoint.String()
}

// ip is the endpoint's address as text.
func (e endpoint) ip() string {
	if e.IP.Is4() {
		return e.addr[:strings.LastIndexByte(e.addr, ':')]
	}
	return e.IP.String()
}

// servicePortsOf lists the ports kube-proxy programs, in a fixed order
// (upstream iterates a map): by namespace, name, port name and protocol.
// Headless and ExternalName Services get no rules.
func servicePortsOf(w *topology.World) ([]servicePort, error) {
	n := 0
	for _, svc := range w.Services {
		n += len(svc.Ports)
	}
	out := make([]servicePort, 0, n)
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

// uniqueEndpoints collapses duplicate "ip:port" entries of a list that
// World.Endpoints has sorted as kube-proxy sorts it (as strings), so that
// duplicates are neighbours. A local copy wins.
func uniqueEndpoints(eps []topology.Endpoint) []endpoint {
	named := make([]endpoint, len(eps))
	for i, ep := range eps {
		named[i] = endpoint{ep, ep.String()}
	}
	out := named[:0]
	for _, ep := range named {
		if n := len(out); n > 0 && out[n-1].addr == ep.addr {
			if out[n-1].Node == "" {
				out[n-1] = ep
			}
			continue
		}
		out = append(out, ep)
	}
	return out
}

// sortByAddr sorts endpoints as strings, stably.
func sortByAddr(eps []endpoint) {
	slices.SortStableFunc(eps, func(a, b endpoint) int { return strings.Compare(a.addr, b.addr) })
}

// categorize splits a port's endpoints as upstream's CategorizeEndpoints
// does, the internal traffic policy always Cluster: cluster holds the
// Ready ones, or when none is, those still serving while they terminate.
// With an external policy Local, local endpoints are chosen independently
// of that list: this node's Ready ones, or when there are none its ones
// still serving while they terminate — so a node whose only pod is
// terminating keeps sending its external traffic there
// (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/topology.go).
func (sp servicePort) categorize(node string, externalPolicyLocal bool) (cluster, local []endpoint) {
	// pick shares sp.endpoints when it keeps them all, as it mostly does.
	pick := func(keep func(endpoint) bool) []endpoint {
		n := 0
		for _, ep := range sp.endpoints {
			if keep(ep) {
				n++
			}
		}
		if n == len(sp.endpoints) || n == 0 {
			return sp.endpoints[:n:n]
		}
		out := make([]endpoint, 0, n)
		for _, ep := range sp.endpoints {
			if keep(ep) {
				out = append(out, ep)
			}
		}
		return out
	}
	if cluster = pick(func(ep endpoint) bool { return ep.Ready }); len(cluster) == 0 {
		cluster = pick(func(ep endpoint) bool { return ep.Serving && ep.Terminating })
	}
	if !externalPolicyLocal {
		return cluster, nil
	}
	if local = pick(func(ep endpoint) bool { return ep.Node == node && ep.Ready }); len(local) == 0 {
		local = pick(func(ep endpoint) bool { return ep.Node == node && ep.Serving && ep.Terminating })
	}
	return cluster, local
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
	// Sized once for the usual shape (a few rules per port, three per
	// endpoint: its chain's two and its dispatch rule), so that the slices
	// are not copied over and over as a big world's rules are appended.
	rs.Chains = slices.Grow(rs.Chains, 3*len(ports)+total)
	rs.Rules = slices.Grow(rs.Rules, 8*len(ports)+3*total)
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

	externallyAccessible := sp.port.NodePort != 0
	externalPolicyLocal := externallyAccessible && externalTrafficPolicyLocal(svc)
	cluster, local := sp.categorize(kp.node, externalPolicyLocal)
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

	// Each endpoint's chain name, hashed once for the dispatch rules and
	// the endpoint's own chain.
	reachable := reachableEndpoints(cluster, local)
	sepOf := make(map[string]string, len(reachable))
	for _, ep := range reachable {
		sepOf[ep.addr] = EndpointChainName(name, proto, ep.addr)
	}
	if usesClusterChain {
		nat.chain(chains.cluster, key)
		kp.writeEndpointDispatch(nat, sp, chains.cluster, cluster, sepOf, largeCluster)
	}
	if usesLocalChain {
		nat.chain(chains.local, key)
		kp.writeEndpointDispatch(nat, sp, chains.local, local, sepOf, largeCluster)
	}

	// Every endpoint reachable from this node gets a chain: the cluster
	// ones and the local ones, which may be terminating ones the cluster
	// list leaves out.
	comment := ""
	if !largeCluster {
		comment = "-m comment --comment " + name + " "
	}
	dnat := " -m " + proto + " -p " + proto + " -j DNAT --to-destination "
	for _, ep := range reachable {
		sep := sepOf[ep.addr]
		nat.chain(sep, key)
		nat.line(sep, key, comment+"-s "+ep.ip()+" -j "+kubeMarkMasqChain)
		if svc.SessionAffinity == affinityClientIP {
			nat.line(sep, key, comment+"-m recent --name "+sep+" --set"+dnat+ep.addr)
		} else {
			nat.line(sep, key, comment+dnat[1:]+ep.addr)
		}
	}
}

// reachableEndpoints is the union of the cluster and local endpoints, in
// kube-proxy's order (as strings).
func reachableEndpoints(cluster, local []endpoint) []endpoint {
	if len(local) == 0 {
		return cluster // already unique and in order (servicePortsOf)
	}
	all := append(append([]endpoint(nil), cluster...), local...)
	sortByAddr(all)
	return slices.CompactFunc(all, func(a, b endpoint) bool { return a.addr == b.addr })
}

// writeEndpointDispatch fills a KUBE-SVC or KUBE-SVL chain: affinity rules
// first, then a cascade that picks endpoint i with probability 1/(n-i), the
// last unconditionally. sepOf maps each endpoint's address to its chain.
func (kp kubeProxy) writeEndpointDispatch(nat ruleWriter, sp servicePort, chain string, eps []endpoint, sepOf map[string]string, largeCluster bool) {
	comment := func(ep endpoint) string {
		if largeCluster {
			return ""
		}
		return "-m comment --comment " + quote(sp.name+" -> "+ep.addr) + " "
	}
	key := sp.svc.Key()
	if sp.svc.SessionAffinity == affinityClientIP {
		seconds := strconv.Itoa(affinityTimeout(sp.svc))
		for _, ep := range eps {
			sep := sepOf[ep.addr]
			nat.line(chain, key, comment(ep)+"-m recent --name "+sep+" --rcheck --seconds "+seconds+" --reap -j "+sep)
		}
	}
	for i, ep := range eps {
		if i < len(eps)-1 {
			nat.line(chain, key, comment(ep)+"-m statistic --mode random --probability "+StatisticProbability(len(eps)-i)+" -j "+sepOf[ep.addr])
		} else {
			nat.line(chain, key, comment(ep)+"-j "+sepOf[ep.addr])
		}
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
