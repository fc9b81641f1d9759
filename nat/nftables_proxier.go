package nat

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/nlbsim/nlbsim/topology"
)

// NFTProxier is one node's kube-proxy in nftables mode (v1.33): what it
// remembers between syncs, and the transactions it sends. It follows
// syncProxyRules in
// https://github.com/kubernetes/kubernetes/blob/v1.33.13/pkg/proxy/nftables/proxier.go
// step for step: a full sync at first (and when asked), partial syncs after
// it that touch only the changed Services' chains and elements, stale
// chains flushed at once and deleted in a transaction of their own at least
// a second later.
//
// It builds its transactions with knftables (upstream's library,
// https://github.com/kubernetes-sigs/knftables), and keeps what upstream
// reads back from the kernel (nft --json list: the chains, sets and their
// elements) from the transactions the kernel took, without a process per
// read. KeepDump adds knftables' fake beside it, for the whole table.
type NFTProxier struct {
	node string // host name of the node
	// table is the kernel's table as the applied transactions left it.
	table *nftTable
	// ctx makes transactions (a fake's: family ip, table kube-proxy).
	ctx *knftables.Fake
	// dump, with KeepDump, holds the whole table.
	dump *knftables.Fake

	flushed      bool // the one-time add+delete of the base chains is done
	syncedOnce   bool
	needFullSync bool
	staleChains  map[string]time.Time
	inputs       map[string]string // serviceInputs of the last sync

	// names memoises endpoint chain bases (a SHA-256 each) from one sync
	// to the next; namesNext collects this sync's.
	names, namesNext map[string]string

	storages []*nftElementStorage
	clusterIPs, serviceIPs, firewallIPs, noEndpointServices,
	noEndpointNodePorts, serviceNodePorts *nftElementStorage
}

// NewNFTProxier returns the nftables-mode kube-proxy of one node (its host
// name, e.g. "node-1"), before its first sync.
func NewNFTProxier(nodeHost string) *NFTProxier {
	p := &NFTProxier{
		node:                nodeHost,
		table:               newNFTTable(),
		ctx:                 knftables.NewFake(knftables.IPv4Family, NFTTable),
		needFullSync:        true,
		staleChains:         map[string]time.Time{},
		clusterIPs:          newNFTElementStorage("set", nftClusterIPsSet),
		serviceIPs:          newNFTElementStorage("map", nftServiceIPsMap),
		firewallIPs:         newNFTElementStorage("map", nftFirewallIPsMap),
		noEndpointServices:  newNFTElementStorage("map", nftNoEndpointServices),
		noEndpointNodePorts: newNFTElementStorage("map", nftNoEndpointNodePorts),
		serviceNodePorts:    newNFTElementStorage("map", nftServiceNodePortsMap),
	}
	p.storages = []*nftElementStorage{p.clusterIPs, p.serviceIPs, p.firewallIPs, p.noEndpointServices, p.noEndpointNodePorts, p.serviceNodePorts}
	return p
}

// NFTSyncOptions shape one sync.
type NFTSyncOptions struct {
	// Full forces a full sync (kube-proxy's first sync is always one).
	Full bool
	// Changed lists the Services ("namespace/name") whose Service or
	// EndpointSlices changed since the last sync; nil derives them from
	// what kube-proxy saw of each Service then and now.
	Changed map[string]bool
	// Now is when the sync starts: stale chains flushed more than a second
	// before are deleted. Zero means time.Now().
	Now time.Time
}

// NFTSync is what one sync sent: its transactions as `nft -f` input, in
// the order they ran (a stale-chain deletion, when due, comes first).
type NFTSync struct {
	Full         bool
	Transactions []string
	// Operations counts the operations of the main transaction.
	Operations int
}

// Text is every transaction of the sync, one after the other.
func (s *NFTSync) Text() string { return strings.Join(s.Transactions, "") }

// Apply hands one transaction (nft -f input) to the kernel.
type NFTApply func(text string) error

// KeepDump makes the proxier keep the whole table in knftables' fake, for
// Dump; call it before the first sync. It costs a copy of the table per
// transaction (the fake's), so the supervisor does without.
func (p *NFTProxier) KeepDump() { p.dump = knftables.NewFake(knftables.IPv4Family, NFTTable) }

// Dump is the table as the last applied transaction left it, in knftables'
// fake dump form (add lines, sorted by object name); empty without
// KeepDump.
func (p *NFTProxier) Dump() string {
	if p.dump == nil {
		return ""
	}
	return p.dump.Dump()
}

func (p *NFTProxier) newTx() *nftTx { return &nftTx{tx: p.ctx.NewTransaction()} }

// Sync runs one kube-proxy sync for the world: it builds the transactions,
// hands each to apply (nil: none, the fake alone takes them) and records
// them. A transaction apply refuses makes the next sync a full one, as
// upstream's does.
func (p *NFTProxier) Sync(w *topology.World, o NFTSyncOptions, apply NFTApply) (*NFTSync, error) {
	node, ok := w.Node(p.node)
	if !ok {
		return nil, fmt.Errorf("no node %q in cluster %q", p.node, w.Cluster.Name)
	}
	if bit := w.Cluster.KubeProxy.MasqueradeBit; bit < 0 || bit > 31 {
		return nil, fmt.Errorf("kube-proxy masqueradeBit %d is out of range (0–31)", bit)
	}
	ports, err := servicePortsOf(w)
	if err != nil {
		return nil, err
	}
	inputs := serviceInputs(ports)
	changed := o.Changed
	if changed == nil {
		changed = map[string]bool{}
		for svc, in := range inputs {
			if p.inputs[svc] != in {
				changed[svc] = true
			}
		}
		for svc := range p.inputs {
			if _, ok := inputs[svc]; !ok {
				changed[svc] = true
			}
		}
	}
	start := o.Now
	if start.IsZero() {
		start = time.Now()
	}
	run := func(tx *nftTx) error {
		if apply != nil {
			if err := apply(tx.String()); err != nil {
				return err
			}
		}
		p.table.apply(tx.ops)
		if p.dump != nil {
			return tx.replay(p.dump)
		}
		return nil
	}

	full := o.Full || p.needFullSync
	out := &NFTSync{}
	if len(p.staleChains) > 0 {
		oneSecondAgo := start.Add(-time.Second)
		tx := p.newTx()
		var names []string
		for c, t := range p.staleChains {
			if t.Before(oneSecondAgo) {
				names = append(names, c)
			}
		}
		sort.Strings(names)
		for _, c := range names {
			tx.Delete(&knftables.Chain{Name: c})
			delete(p.staleChains, c)
		}
		if len(names) > 0 {
			text := tx.String()
			if err := run(tx); err != nil {
				full = true
			} else {
				out.Transactions = append(out.Transactions, text)
			}
		}
	}
	out.Full = full

	cfg := nftConfig{
		mark:        fmt.Sprintf("%#08x", uint32(1)<<w.Cluster.KubeProxy.MasqueradeBit),
		nodeIP:      node.IP,
		serviceCIDR: w.Cluster.ServiceCIDR,
	}
	tx := p.newTx()
	if full {
		p.setup(tx, cfg)
	}
	// A table not there yet lists nothing (upstream logs the error and
	// goes on with no inventory).
	existing := p.table.listAll()
	existingChains := map[string]bool{}
	for _, c := range existing["chain"] {
		existingChains[c] = true
	}
	existingAffinity := map[string]bool{}
	for _, s := range existing["set"] {
		if strings.HasPrefix(s, nftAffinityPrefix) {
			existingAffinity[s] = true
		}
	}
	active := map[string]bool{}
	activeAffinity := map[string]bool{}
	p.namesNext = make(map[string]string, len(p.names))
	for _, sp := range ports {
		skip := !full && !changed[sp.svc.Key()]
		p.writeServicePort(tx, cfg, sp, skip, existingChains, existingAffinity, active, activeAffinity)
	}

	var stale []string
	for c := range existingChains {
		if isNFTServiceChain(c) {
			if !active[c] {
				stale = append(stale, c)
			} else {
				delete(p.staleChains, c)
			}
		}
	}
	sort.Strings(stale)
	for _, c := range stale {
		tx.Flush(&knftables.Chain{Name: c})
		p.staleChains[c] = start
	}
	var staleSets []string
	for s := range existingAffinity {
		if !activeAffinity[s] {
			staleSets = append(staleSets, s)
		}
	}
	sort.Strings(staleSets)
	for _, s := range staleSets {
		tx.Delete(&knftables.Set{Name: s})
	}
	for _, s := range p.storages {
		s.cleanupLeftoverKeys(tx)
	}

	text := tx.String()
	out.Operations = tx.NumOperations()
	if err := run(tx); err != nil {
		clear(p.staleChains)
		p.needFullSync = true
		// The element stores now hold what the failed transaction would have
		// made; the next (full) sync reads them back from the table.
		return out, fmt.Errorf("nft -f (kube-proxy sync): %w", err)
	}
	out.Transactions = append(out.Transactions, text)
	p.names, p.namesNext = p.namesNext, nil
	p.needFullSync = false
	p.syncedOnce = true
	p.inputs = inputs
	return out, nil
}

// nftConfig is what shapes the rules beyond the Services: EKS's settings
// (masqueradeBit 14, no detect-local, masqueradeAll off, nodePortAddresses
// "primary", so the node's IP alone accepts NodePorts).
type nftConfig struct {
	mark        string // %#08x of the mark bit: 0x00004000
	nodeIP      netip.Addr
	serviceCIDR netip.Prefix
}

// ensureChain is upstream's: add and flush a chain once per transaction;
// skip leaves it alone but counts it as in use.
func nftEnsureChain(tx *nftTx, name string, created map[string]bool, skip bool) {
	if created[name] {
		return
	}
	created[name] = true
	if skip {
		return
	}
	tx.Add(&knftables.Chain{Name: name})
	tx.Flush(&knftables.Chain{Name: name})
}

// setup writes the full sync's prologue (upstream's setupNFTables): the
// table, base chains, fixed chains and rules, sets and maps, and reads the
// element stores back.
func (p *NFTProxier) setup(tx *nftTx, cfg nftConfig) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("rules for kube-proxy")})
	if !p.flushed {
		for _, bc := range nftBaseChains {
			c := &knftables.Chain{Name: bc.name}
			tx.Add(c)
			tx.Delete(c)
		}
		p.flushed = true
	}
	for _, bc := range nftBaseChains {
		c := &knftables.Chain{Name: bc.name, Type: knftables.PtrTo(bc.typ), Hook: knftables.PtrTo(bc.hook), Priority: knftables.PtrTo(bc.priority)}
		tx.Add(c)
		tx.Flush(c)
	}
	created := map[string]bool{}
	for _, j := range nftJumpChains {
		nftEnsureChain(tx, j.dst, created, false)
		tx.Add(&knftables.Rule{Chain: j.src, Rule: knftables.Concat(j.extra, "jump", j.dst)})
	}
	for _, c := range []string{nftServicesChain, nftClusterIPsCheckChain, nftMasqueradingChain, nftMarkMasqChain} {
		nftEnsureChain(tx, c, created, false)
	}
	tx.Add(&knftables.Rule{Chain: nftMarkMasqChain, Rule: knftables.Concat("mark", "set", "mark", "or", cfg.mark)})
	tx.Add(&knftables.Rule{Chain: nftMasqueradingChain, Rule: knftables.Concat("mark", "and", cfg.mark, "==", "0", "return")})
	tx.Add(&knftables.Rule{Chain: nftMasqueradingChain, Rule: knftables.Concat("mark", "set", "mark", "xor", cfg.mark)})
	tx.Add(&knftables.Rule{Chain: nftMasqueradingChain, Rule: "masquerade fully-random"})

	tx.Add(&knftables.Set{Name: nftClusterIPsSet, Type: "ipv4_addr", Comment: knftables.PtrTo("Active ClusterIPs")})
	tx.Add(&knftables.Rule{Chain: nftClusterIPsCheckChain, Rule: knftables.Concat("ip", "daddr", "@", nftClusterIPsSet, "reject"),
		Comment: knftables.PtrTo("Reject traffic to invalid ports of ClusterIPs")})
	// The ServiceCIDR objects (v1.33: MultiCIDRServiceAllocator is GA)
	// give the unallocated-ClusterIP drop.
	if cfg.serviceCIDR.IsValid() {
		tx.Add(&knftables.Rule{Chain: nftClusterIPsCheckChain, Rule: knftables.Concat("ip", "daddr", "{", cfg.serviceCIDR.String(), "}", "drop"),
			Comment: knftables.PtrTo("Drop traffic to unallocated ClusterIPs")})
	}

	tx.Add(&knftables.Set{Name: nftNodePortIPsSet, Type: "ipv4_addr", Comment: knftables.PtrTo("IPs that accept NodePort traffic")})
	tx.Flush(&knftables.Set{Name: nftNodePortIPsSet})
	if cfg.nodeIP.IsValid() && !cfg.nodeIP.IsLoopback() {
		tx.Add(&knftables.Element{Set: nftNodePortIPsSet, Key: []string{cfg.nodeIP.String()}})
	}

	tx.Add(&knftables.Map{Name: nftNoEndpointServices, Type: "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("vmap to drop or reject packets to services with no endpoints")})
	tx.Add(&knftables.Map{Name: nftNoEndpointNodePorts, Type: "inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("vmap to drop or reject packets to service nodeports with no endpoints")})
	tx.Add(&knftables.Chain{Name: nftRejectChain, Comment: knftables.PtrTo("helper for @no-endpoint-services / @no-endpoint-nodeports")})
	tx.Flush(&knftables.Chain{Name: nftRejectChain})
	tx.Add(&knftables.Rule{Chain: nftRejectChain, Rule: "reject"})
	tx.Add(&knftables.Rule{Chain: nftServiceEPCheckChain, Rule: knftables.Concat("ip", "daddr", ".", "meta l4proto", ".", "th dport", "vmap", "@", nftNoEndpointServices)})
	tx.Add(&knftables.Rule{Chain: nftNodePortEPCheckChain, Rule: knftables.Concat("ip", "daddr", "@", nftNodePortIPsSet, "meta l4proto . th dport", "vmap", "@", nftNoEndpointNodePorts)})

	tx.Add(&knftables.Map{Name: nftFirewallIPsMap, Type: "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("destinations that are subject to LoadBalancerSourceRanges")})
	nftEnsureChain(tx, nftFirewallCheckChain, created, false)
	tx.Add(&knftables.Rule{Chain: nftFirewallCheckChain, Rule: knftables.Concat("ip", "daddr", ".", "meta l4proto", ".", "th dport", "vmap", "@", nftFirewallIPsMap)})

	tx.Add(&knftables.Map{Name: nftServiceIPsMap, Type: "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("ClusterIP, ExternalIP and LoadBalancer IP traffic")})
	tx.Add(&knftables.Map{Name: nftServiceNodePortsMap, Type: "inet_proto . inet_service : verdict", Comment: knftables.PtrTo("NodePort traffic")})
	tx.Add(&knftables.Rule{Chain: nftServicesChain, Rule: knftables.Concat("ip", "daddr", ".", "meta l4proto", ".", "th dport", "vmap", "@", nftServiceIPsMap)})
	tx.Add(&knftables.Rule{Chain: nftServicesChain, Rule: knftables.Concat("ip", "daddr @nodeport-ips", "meta l4proto . th dport", "vmap", "@", nftServiceNodePortsMap)})

	for _, s := range p.storages {
		s.readOrReset(p.table)
	}
}

// writeServicePort writes one Service port's elements and, unless skip,
// its chains (upstream's loop body in syncProxyRules).
func (p *NFTProxier) writeServicePort(tx *nftTx, cfg nftConfig, sp servicePort, skip bool,
	existingChains, existingAffinity, active, activeAffinity map[string]bool) {
	svc, proto := sp.svc, sp.protocol
	base := NFTServiceChainBase(svc.Namespace, svc.Name, proto, sp.port.Name)
	clusterChain, localChain := nftServicePrefix+base, nftLocalPrefix+base
	externalChain := nftExternalPrefix + base
	port := strconv.Itoa(sp.port.Port)
	nameString := sp.name
	epChain := func(ep endpoint) (chain, set string) {
		key := svc.Namespace + "/" + svc.Name + "/" + proto + "/" + sp.port.Name + "__" + ep.addr
		b, ok := p.namesNext[key]
		if !ok {
			if b, ok = p.names[key]; !ok {
				b = NFTEndpointChainBase(svc.Namespace, svc.Name, proto, sp.port.Name, ep.ip(), ep.Port)
			}
			p.namesNext[key] = b
		}
		return nftEndpointPrefix + b, nftAffinityPrefix + b
	}
	affinity := svc.SessionAffinity == affinityClientIP

	externalIPs := svc.ExternalIPs
	lbVIPs := svc.LoadBalancerIPs
	externallyAccessible := sp.port.NodePort != 0 || len(externalIPs) > 0 || len(lbVIPs) > 0
	externalPolicyLocal := externallyAccessible && (svc.ExternalTrafficPolicy == topology.PolicyLocal) &&
		(svc.Type == "NodePort" || svc.Type == "LoadBalancer" || len(externalIPs) > 0)

	cluster, local := sp.categorize(p.node, externalPolicyLocal)
	hasEndpoints := len(cluster) > 0
	reachable := reachableEndpoints(cluster, local)

	for _, ep := range reachable {
		chain, set := epChain(ep)
		nftEnsureChain(tx, chain, active, skip || p.epChainSkipUpdate(existingChains, existingAffinity, affinity, chain, set))
		if affinity {
			activeAffinity[set] = true
		}
	}
	usesClusterChain := len(cluster) > 0
	if usesClusterChain {
		nftEnsureChain(tx, clusterChain, active, skip)
	}
	usesLocalChain := len(local) > 0 && externalPolicyLocal
	if usesLocalChain {
		nftEnsureChain(tx, localChain, active, skip)
	}
	internalChain, hasInternalEndpoints := clusterChain, hasEndpoints
	externalPolicyChain, hasExternalEndpoints := clusterChain, hasEndpoints
	if externalPolicyLocal {
		externalPolicyChain = localChain
		hasExternalEndpoints = len(local) > 0
	}
	usesExternalChain := hasEndpoints && externallyAccessible
	if usesExternalChain {
		nftEnsureChain(tx, externalChain, active, skip)
	}

	var internalVerdict, externalVerdict string
	if !hasEndpoints {
		internalVerdict, externalVerdict = "goto "+nftRejectChain, "goto "+nftRejectChain
	} else if !hasExternalEndpoints {
		externalVerdict = "drop"
	}

	cip := svc.ClusterIP.String()
	p.clusterIPs.ensureElem(tx, &knftables.Element{Set: nftClusterIPsSet, Key: []string{cip}})
	if hasInternalEndpoints {
		p.serviceIPs.ensureElem(tx, &knftables.Element{Map: nftServiceIPsMap, Key: []string{cip, proto, port}, Value: []string{"goto " + internalChain}})
	} else {
		p.noEndpointServices.ensureElem(tx, &knftables.Element{Map: nftNoEndpointServices, Key: []string{cip, proto, port},
			Value: []string{internalVerdict}, Comment: knftables.PtrTo(nameString)})
	}
	for _, ip := range externalIPs {
		if hasEndpoints {
			p.serviceIPs.ensureElem(tx, &knftables.Element{Map: nftServiceIPsMap, Key: []string{ip.String(), proto, port}, Value: []string{"goto " + externalChain}})
		}
		if !hasExternalEndpoints {
			p.noEndpointServices.ensureElem(tx, &knftables.Element{Map: nftNoEndpointServices, Key: []string{ip.String(), proto, port},
				Value: []string{externalVerdict}, Comment: knftables.PtrTo(nameString)})
		}
	}
	// loadBalancerSourceRanges are not modelled: no firewall chain.
	for _, ip := range lbVIPs {
		if hasEndpoints {
			p.serviceIPs.ensureElem(tx, &knftables.Element{Map: nftServiceIPsMap, Key: []string{ip.String(), proto, port}, Value: []string{"goto " + externalChain}})
		}
	}
	if !hasExternalEndpoints {
		for _, ip := range lbVIPs {
			p.noEndpointServices.ensureElem(tx, &knftables.Element{Map: nftNoEndpointServices, Key: []string{ip.String(), proto, port},
				Value: []string{externalVerdict}, Comment: knftables.PtrTo(nameString)})
		}
	}
	if np := sp.port.NodePort; np != 0 {
		if hasEndpoints {
			p.serviceNodePorts.ensureElem(tx, &knftables.Element{Map: nftServiceNodePortsMap, Key: []string{proto, strconv.Itoa(np)}, Value: []string{"goto " + externalChain}})
		}
		if !hasExternalEndpoints {
			p.noEndpointNodePorts.ensureElem(tx, &knftables.Element{Map: nftNoEndpointNodePorts, Key: []string{proto, strconv.Itoa(np)},
				Value: []string{externalVerdict}, Comment: knftables.PtrTo(nameString)})
		}
	}
	if skip {
		return
	}

	// No ClusterIP masquerade rule: masqueradeAll is off and EKS's
	// detect-local is the no-op one.
	if usesExternalChain {
		if !externalPolicyLocal {
			tx.Add(&knftables.Rule{Chain: externalChain, Rule: knftables.Concat("jump", nftMarkMasqChain)})
		} else {
			tx.Add(&knftables.Rule{Chain: externalChain, Rule: knftables.Concat("fib", "saddr", "type", "local", "jump", nftMarkMasqChain),
				Comment: knftables.PtrTo("masquerade local traffic")})
			tx.Add(&knftables.Rule{Chain: externalChain, Rule: knftables.Concat("fib", "saddr", "type", "local", "goto", clusterChain),
				Comment: knftables.PtrTo("short-circuit local traffic")})
		}
		if hasExternalEndpoints {
			tx.Add(&knftables.Rule{Chain: externalChain, Rule: knftables.Concat("goto", externalPolicyChain)})
		}
	}
	if affinity {
		for _, ep := range reachable {
			_, set := epChain(ep)
			tx.Add(&knftables.Set{Name: set, Type: "ipv4_addr",
				Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
				Timeout: knftables.PtrTo(time.Duration(affinityTimeout(svc)) * time.Second)})
		}
	}
	if usesClusterChain {
		p.writeDispatch(tx, clusterChain, cluster, affinity, epChain)
	}
	if usesLocalChain {
		p.writeDispatch(tx, localChain, local, affinity, epChain)
	}
	for _, ep := range reachable {
		chain, set := epChain(ep)
		if p.epChainSkipUpdate(existingChains, existingAffinity, affinity, chain, set) {
			continue
		}
		tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat("ip", "saddr", ep.ip(), "jump", nftMarkMasqChain)})
		if affinity {
			tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat("update", "@", set, "{", "ip", "saddr", "}")})
		}
		tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat("meta l4proto", proto, "dnat to", ep.addr)})
	}
}

// epChainSkipUpdate is upstream's: only at the first sync, an endpoint
// chain that exists already (kube-proxy restarted) is left as it is when
// its affinity set exists exactly when affinity is wanted.
func (p *NFTProxier) epChainSkipUpdate(existingChains, existingAffinity map[string]bool, affinity bool, chain, set string) bool {
	if p.syncedOnce {
		return false
	}
	return existingChains[chain] && affinity == existingAffinity[set]
}

// writeDispatch fills a service- or local- chain: affinity rules first,
// then one numgen vmap over the endpoints (upstream's
// writeServiceToEndpointRules).
func (p *NFTProxier) writeDispatch(tx *nftTx, chain string, eps []endpoint, affinity bool,
	epChain func(endpoint) (string, string)) {
	if affinity {
		for _, ep := range eps {
			c, set := epChain(ep)
			tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat("ip", "saddr", "@", set, "goto", c)})
		}
	}
	var elements []string
	for i, ep := range eps {
		c, _ := epChain(ep)
		elements = append(elements, strconv.Itoa(i), ":", "goto", c)
		if i != len(eps)-1 {
			elements = append(elements, ",")
		}
	}
	tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat("numgen random mod", len(eps), "vmap", "{", elements, "}")})
}

// nftElementStorage is upstream's: a set's or map's elements as the table
// holds them, so that a sync adds only the missing ones and deletes the
// ones no Service uses any more.
type nftElementStorage struct {
	elements      map[string]string
	leftover      map[string]bool
	containerType string // set or map
	containerName string
}

func newNFTElementStorage(typ, name string) *nftElementStorage {
	return &nftElementStorage{elements: map[string]string{}, leftover: map[string]bool{}, containerType: typ, containerName: name}
}

// readOrReset reads the elements the table holds (upstream lists them
// with nft --json; a listing that fails makes it flush the set, which
// reading the record never does).
func (s *nftElementStorage) readOrReset(t *nftTable) {
	clear(s.elements)
	defer s.resetLeftover()
	elems, _ := t.elements(s.containerName)
	for k, v := range elems {
		s.elements[k] = v
	}
}

func (s *nftElementStorage) resetLeftover() {
	clear(s.leftover)
	for k := range s.elements {
		s.leftover[k] = true
	}
}

func (s *nftElementStorage) ensureElem(tx *nftTx, e *knftables.Element) {
	key, value := strings.Join(e.Key, " . "), strings.Join(e.Value, " . ")
	if old, ok := s.elements[key]; ok {
		if old != value {
			tx.Delete(e)
			tx.Add(e)
			s.elements[key] = value
		}
		delete(s.leftover, key)
		return
	}
	tx.Add(e)
	s.elements[key] = value
}

func (s *nftElementStorage) cleanupLeftoverKeys(tx *nftTx) {
	keys := make([]string, 0, len(s.leftover))
	for k := range s.leftover {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := &knftables.Element{Key: strings.Split(k, " . ")}
		if s.containerType == "set" {
			e.Set = s.containerName
		} else {
			e.Map = s.containerName
		}
		tx.Delete(e)
		delete(s.elements, k)
	}
	s.resetLeftover()
}
