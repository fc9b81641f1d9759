package diff

import (
	"fmt"
	"math/big"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/topology"
)

// Modes the comparison knows.
const (
	ModeIPTables = "iptables"
	ModeNFTables = "nftables"
)

// Kinds of finding of nftables mode's sets and maps, and base chains.
const (
	KindMissingElement = "missing-element" // kube-proxy writes it; the set or map lacks it
	KindExtraElement   = "extra-element"   // in the set or map; kube-proxy would not write it
	KindWrongElement   = "wrong-element"   // the key is there with another verdict, or the verdict under another key
	KindChainHook      = "chain-hook"      // a base chain on another hook or priority
)

// nftTable is the table findings name in nftables mode.
const nftTable = "kube-proxy"

// ExpectedNFT is kube-proxy's table in nftables mode on node host of w: what
// nat's NFTProxier writes at a full sync (`nlbsim rules --from
// --proxy-mode nftables`), as the walker reads it.
func ExpectedNFT(w *topology.World, host string) (*explain.NFTRuleset, error) {
	text, err := nat.NFTablesText(w, host)
	if err != nil {
		return nil, err
	}
	rs, err := explain.ParseNFT(text)
	if err != nil {
		return nil, fmt.Errorf("nlbsim's own nftables rules do not parse: %w", err)
	}
	return rs, nil
}

// CompareNFT diffs the real kube-proxy table of node host (`nft list
// ruleset`, text or JSON, as explain.ParseNFT reads it) against what
// kube-proxy in nftables mode should have written for w. The Services'
// chains, their own sets and their elements in the shared sets and maps
// are grouped by Service; the report is Compare's.
func CompareNFT(w *topology.World, host string, real *explain.NFTRuleset) (*Report, error) {
	node, ok := w.Node(host)
	if !ok {
		return nil, fmt.Errorf("no node %q", host)
	}
	var assumed []string
	if !w.Cluster.ServiceCIDR.IsValid() {
		if cidr, ok := serviceCIDROf(w, real); ok {
			w = w.Clone()
			w.Cluster.ServiceCIDR = cidr
			assumed = append(assumed, fmt.Sprintf("ServiceCIDR %s, from the node's cluster-ips-check: the objects hold no ServiceCIDR, and it holds every ClusterIP of theirs", cidr))
		}
	}
	exp, err := ExpectedNFT(w, host)
	if err != nil {
		return nil, err
	}
	c := newComparison(w, host, node, ModeNFTables)
	c.report.Assumed = assumed
	keys := keyOwners(w, exp, real)
	c.exp, c.real = newNFTSide(exp, keys), newNFTSide(real, keys)
	c.classifyNFT()
	c.compareNodeNFT()
	c.compareServices()
	c.report.Agree = len(c.report.Services) == 0 && len(c.report.NodeFindings) == 0
	c.walkAffected()
	return c.report, nil
}

// nftName is what a per-Service chain or set name says: kube-proxy names
// them kind-HASH-ns/name/proto/port, endpoints' with __ip/port after it.
type nftName struct {
	kind     string // service, local, external, endpoint, firewall, affinity
	service  string // ns/name
	port     string // kube-proxy's port name, ns/name:port
	proto    string
	endpoint string // ip:port, for endpoint chains and affinity sets
}

var nftServiceName = regexp.MustCompile(`^(service|local|external|endpoint|firewall|affinity)-[A-Z0-9]{8}-([^/]+)/([^/]+)/([^/]+)/([^_/]*)(?:__([^/]+)/([0-9]+))?$`)

var nftServicePrefixes = []string{"service-", "local-", "external-", "endpoint-", "firewall-", "affinity-"}

func parseNFTName(name string) (nftName, bool) {
	m := nftServiceName.FindStringSubmatch(name)
	if m == nil {
		return nftName{}, false
	}
	n := nftName{kind: m[1], service: m[2] + "/" + m[3], proto: m[4], port: m[2] + "/" + m[3]}
	if m[5] != "" {
		n.port += ":" + m[5] // kube-proxy names an unnamed port by its Service alone
	}
	if m[6] != "" {
		n.endpoint = m[6] + ":" + m[7]
	}
	return n, true
}

func looksPerService(name string) bool {
	for _, p := range nftServicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sharedSets are kube-proxy's sets and maps whose elements belong to
// Services, in report order; nodeport-ips is the node's.
var sharedSets = []string{"cluster-ips", "firewall-ips", "no-endpoint-nodeports", "no-endpoint-services", "service-ips", "service-nodeports"}

// keyOwners maps the keys of shared elements that do not name a chain of
// their Service (a ClusterIP in cluster-ips, a no-endpoint-* verdict) to
// the Service: from the objects, then from either side's service-ips and
// service-nodeports elements (a stale Service's).
func keyOwners(w *topology.World, sides ...*explain.NFTRuleset) map[string]string {
	owner := map[string]string{}
	add := func(k, s string) {
		if _, ok := owner[k]; !ok {
			owner[k] = s
		}
	}
	for _, s := range w.Services {
		for _, p := range s.Ports {
			proto := strings.ToLower(p.Protocol)
			if s.ClusterIP.IsValid() {
				add(s.ClusterIP.String(), s.Key())
				add(fmt.Sprintf("%s . %s . %d", s.ClusterIP, proto, p.Port), s.Key())
			}
			if p.NodePort != 0 {
				add(fmt.Sprintf("%s . %d", proto, p.NodePort), s.Key())
			}
		}
	}
	for _, rs := range sides {
		for _, set := range []string{"service-ips", "service-nodeports"} {
			for k, v := range rs.Sets[set] {
				if n, ok := parseNFTName(verdictTarget(v)); ok {
					add(k, n.service)
					if ip, _, found := strings.Cut(k, " . "); found && set == "service-ips" {
						add(ip, n.service)
					}
				}
			}
		}
	}
	return owner
}

// verdictTarget is the chain of "goto X" or "jump X", else "".
func verdictTarget(v string) string {
	f := strings.Fields(v)
	if len(f) == 2 && (f[0] == "goto" || f[0] == "jump") {
		return f[1]
	}
	return ""
}

func newNFTSide(rs *explain.NFTRuleset, keys map[string]string) *side {
	s := &side{nft: rs, owner: map[string]string{}, rules: map[string][]ruleRef{}, chains: map[string][]string{},
		shared: map[string]map[string][]ruleRef{}, sets: map[string][]string{}}
	for name := range rs.Chains {
		if n, ok := parseNFTName(name); ok {
			s.owner[name] = n.service
			s.chains[n.service] = append(s.chains[n.service], name)
		}
	}
	for name := range rs.Sets {
		if n, ok := parseNFTName(name); ok {
			s.owner[name] = n.service
			s.sets[n.service] = append(s.sets[n.service], name)
		}
	}
	for _, m := range []map[string][]string{s.chains, s.sets} {
		for _, list := range m {
			sort.Strings(list)
		}
	}
	for _, set := range append(append([]string{}, sharedSets...), "nodeport-ips") {
		keysSorted := make([]string, 0, len(rs.Sets[set]))
		for k := range rs.Sets[set] {
			keysSorted = append(keysSorted, k)
		}
		sort.Strings(keysSorted)
		for _, k := range keysSorted {
			v := rs.Sets[set][k]
			r := ruleRef{table: nftTable, chain: set, canon: k, text: set + " { " + k + " }", jump: verdictTarget(v)}
			if v != "" {
				r.canon, r.text = k+" : "+v, set+" { "+k+" : "+v+" }"
			}
			o := keys[k]
			if n, ok := parseNFTName(r.jump); ok {
				o = n.service
			}
			if set == "nodeport-ips" {
				o = ""
			}
			if s.shared[o] == nil {
				s.shared[o] = map[string][]ruleRef{}
			}
			s.shared[o][set] = append(s.shared[o][set], r)
		}
	}
	return s
}

// nftRulesOf lists a chain's rules; nil when the chain is absent.
func nftRulesOf(rs *explain.NFTRuleset, chain string) []ruleRef {
	ch := rs.Chains[chain]
	if ch == nil {
		return nil
	}
	out := []ruleRef{}
	for _, r := range ch.Rules {
		ref := ruleRef{table: nftTable, chain: chain, canon: nftCanon(r.Tokens), line: r.Line, text: r.Text}
		for i, t := range r.Tokens {
			if (t == "jump" || t == "goto") && i+1 < len(r.Tokens) && (i == 0 || r.Tokens[i-1] != ":") {
				ref.jump = r.Tokens[i+1]
			}
		}
		out = append(out, ref)
	}
	return out
}

// nftCanon is a rule in a form that does not depend on how it was written:
// nft -f input as kube-proxy sends it (`mark set mark or 0x00004000`), `nft
// list`'s printing (`meta mark set meta mark | 0x00004000`) and the JSON
// reader's (`… | 16384`) agree, and so do `ip daddr { 10.100.0.0/16 }` and
// its listing `ip daddr 10.100.0.0/16`. Comments are left out.
func nftCanon(toks []string) string {
	out := make([]string, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t {
		case "comment":
			i++
			continue
		case "{":
			// An anonymous set of one element: nft lists it bare.
			if i+2 < len(toks) && toks[i+2] == "}" {
				out = append(out, toks[i+1])
				i += 2
				continue
			}
		case "mark":
			if len(out) == 0 || out[len(out)-1] != "meta" {
				out = append(out, "meta")
			}
		case "or":
			t = "|"
		case "and":
			t = "&"
		case "xor":
			t = "^"
		}
		if strings.HasPrefix(t, "0x") {
			if n, err := strconv.ParseUint(t, 0, 64); err == nil {
				t = strconv.FormatUint(n, 10)
			}
		}
		out = append(out, t)
	}
	return strings.Join(out, " ")
}

// builtinIPTablesChains are iptables-nft's built-in chains, in its tables.
var builtinIPTablesChains = map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}

// classifyNFT lists the other tables' chains: other components' are left
// out, kube-proxy's iptables mode's are leftovers, the rest not judged.
func (c *comparison) classifyNFT() {
	ignored := map[string][]string{}
	var order []string
	for _, o := range c.real.nft.Others {
		label := o.Family + " " + o.Table + "/" + o.Chain
		switch {
		case builtinIPTablesChains[o.Chain]:
		case componentOf(o.Chain) != "":
			comp := componentOf(o.Chain)
			if ignored[comp] == nil {
				order = append(order, comp)
			}
			ignored[comp] = append(ignored[comp], label)
		case o.Family == "ip" && isKubeProxyChain(o.Table, o.Chain):
			c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindUnownedChain, Table: o.Family + " " + o.Table, Chain: o.Chain, Line: o.Line,
				Message: fmt.Sprintf("chain %s of table %s %s (line %d) is kube-proxy's iptables mode's; kube-proxy in nftables mode removes those when it starts (a leftover?)", o.Chain, o.Family, o.Table, o.Line)})
		default:
			c.report.Unrecognised = append(c.report.Unrecognised, label)
		}
	}
	for _, comp := range order {
		c.report.Ignored = append(c.report.Ignored, Ignored{Component: comp, Chains: ignored[comp]})
	}
}

// compareNodeNFT compares kube-proxy's fixed chains and sets, and the
// elements no Service owns.
func (c *comparison) compareNodeNFT() {
	fixed := func(s *side) []string {
		var out []string
		for name := range s.nft.Chains {
			if _, ok := parseNFTName(name); !ok {
				out = append(out, name)
			}
		}
		return out
	}
	for _, name := range union(fixed(c.exp), fixed(c.real)) {
		e, r := c.exp.nft.Chains[name], c.real.nft.Chains[name]
		switch {
		case e != nil && r != nil:
			if e.Type != r.Type || e.Hook != r.Hook || e.Priority != r.Priority {
				c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindChainHook, Table: nftTable, Chain: name, Line: r.Line,
					Message: fmt.Sprintf("chain %s is type %q hook %q priority %d; kube-proxy writes type %q hook %q priority %d", name, r.Type, r.Hook, r.Priority, e.Type, e.Hook, e.Priority)})
			}
			c.diffRules("", rulesOf(c.exp, nftTable, name), rulesOf(c.real, nftTable, name), true)
		case e != nil:
			c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindMissingChain, Table: nftTable, Chain: name,
				Message: fmt.Sprintf("chain %s is missing", name)})
		default:
			why := "is not one kube-proxy writes in nftables mode"
			if looksPerService(name) {
				why = "is named like a Service's, but its name does not parse as kube-proxy's"
			}
			c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindUnownedChain, Table: nftTable, Chain: name, Line: r.Line,
				Message: fmt.Sprintf("chain %s (line %d) %s", name, r.Line, why)})
		}
	}
	var expSets, realSets []string
	for name := range c.exp.nft.Sets {
		if _, ok := parseNFTName(name); !ok {
			expSets = append(expSets, name)
		}
	}
	for name := range c.real.nft.Sets {
		if _, ok := parseNFTName(name); !ok {
			realSets = append(realSets, name)
		}
	}
	for _, name := range union(expSets, realSets) {
		_, inExp := c.exp.nft.Sets[name]
		_, inReal := c.real.nft.Sets[name]
		switch {
		case inExp && !inReal:
			c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindMissingChain, Table: nftTable, Chain: name,
				Message: fmt.Sprintf("set %s is missing", name)})
		case inReal && !inExp:
			c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindUnownedChain, Table: nftTable, Chain: name,
				Message: fmt.Sprintf("set %s is not one kube-proxy writes in nftables mode", name)})
		}
	}
	for _, set := range append(append([]string{}, sharedSets...), "nodeport-ips") {
		c.report.NodeFindings = append(c.report.NodeFindings, c.diffElements(set, sharedOf(c.exp, "")[set], sharedOf(c.real, "")[set])...)
	}
}

// compareServiceNFT diffs one Service's chains, sets and elements.
func (c *comparison) compareServiceNFT(key string, expChains, realChains []string, expShared, realShared map[string][]ruleRef) []Finding {
	var out []Finding
	// In the order of the Service's ports, not of their chains' hashes.
	all := union(expChains, realChains)
	sort.SliceStable(all, func(i, j int) bool {
		a, _ := parseNFTName(all[i])
		b, _ := parseNFTName(all[j])
		return a.port < b.port
	})
	for _, ch := range all {
		if n, _ := parseNFTName(ch); n.kind == "service" || n.kind == "local" {
			out = append(out, c.compareDispatchNFT(key, ch, n)...)
		}
	}
	for _, ch := range all {
		inExp, inReal := contains(expChains, ch), contains(realChains, ch)
		switch {
		case inExp && inReal:
			out = append(out, c.diffRules(key, rulesOf(c.exp, nftTable, ch), rulesOf(c.real, nftTable, ch), true)...)
		case inReal && !c.explainedChain[ch]:
			line := c.real.nft.Chains[ch].Line
			out = append(out, Finding{Kind: KindExtraChain, Table: nftTable, Chain: ch, Line: line,
				Message: fmt.Sprintf("chain %s (line %d) is not one kube-proxy would write for %s", ch, line, key)})
		case inExp && !inReal && !c.explainedChain[ch]:
			out = append(out, Finding{Kind: KindMissingChain, Table: nftTable, Chain: ch,
				Message: fmt.Sprintf("chain %s is missing", ch)})
		}
	}
	expSets, realSets := c.exp.sets[key], c.real.sets[key]
	for _, set := range union(expSets, realSets) {
		inExp, inReal := contains(expSets, set), contains(realSets, set)
		switch {
		case c.explainedChain[set] || inExp == inReal:
		case inReal:
			out = append(out, Finding{Kind: KindExtraChain, Table: nftTable, Chain: set,
				Message: fmt.Sprintf("set %s is not one kube-proxy would write for %s", set, key)})
		default:
			out = append(out, Finding{Kind: KindMissingChain, Table: nftTable, Chain: set,
				Message: fmt.Sprintf("set %s is missing", set)})
		}
	}
	for _, set := range sharedSets {
		out = append(out, c.diffElements(set, expShared[set], realShared[set])...)
	}
	return out
}

// nftDispatch is how a service- or local- chain picks endpoints: numgen's
// slots (the endpoint chain of each of mod), and affinity rules.
type nftDispatch struct {
	mod      int
	slots    map[int]string
	affinity []string
	rules    []ruleRef // the rules that dispatch
}

func dispatchOfNFT(s *side, chain string) nftDispatch {
	d := nftDispatch{slots: map[int]string{}}
	for _, r := range rulesOf(s, nftTable, chain) {
		toks := strings.Fields(r.canon)
		switch {
		case len(toks) >= 5 && toks[0] == "numgen" && toks[3] != "" && toks[4] == "vmap":
			d.mod, _ = strconv.Atoi(toks[3])
			for i := 5; i+3 < len(toks); i++ {
				if toks[i+1] == ":" && (toks[i+2] == "goto" || toks[i+2] == "jump") {
					if n, err := strconv.Atoi(toks[i]); err == nil {
						d.slots[n] = toks[i+3]
					}
				}
			}
			d.rules = append(d.rules, r)
		case strings.HasPrefix(r.jump, "endpoint-"):
			d.affinity = append(d.affinity, r.jump)
			d.rules = append(d.rules, r)
		}
	}
	return d
}

// endpoints lists the endpoint chains a dispatch sends to.
func (d nftDispatch) endpoints() []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range append(d.slotsInOrder(), d.affinity...) {
		if !seen[ep] {
			seen[ep] = true
			out = append(out, ep)
		}
	}
	return out
}

func (d nftDispatch) slotsInOrder() []string {
	idx := make([]int, 0, len(d.slots))
	for i := range d.slots {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = d.slots[i]
	}
	return out
}

// share is the part of new connections numgen sends to an endpoint chain.
func (d nftDispatch) share(ep string) *big.Rat {
	n := 0
	for i, s := range d.slots {
		if s == ep && i >= 0 && i < d.mod {
			n++
		}
	}
	if d.mod == 0 {
		return new(big.Rat)
	}
	return big.NewRat(int64(n), int64(d.mod))
}

// nftDNAT is the dnat destination of an endpoint chain, and its rule.
func nftDNAT(s *side, chain string) (string, *ruleRef) {
	for _, r := range rulesOf(s, nftTable, chain) {
		toks := strings.Fields(r.canon)
		for i := 0; i+2 < len(toks); i++ {
			if toks[i] == "dnat" && toks[i+1] == "to" {
				r := r
				return toks[i+2], &r
			}
		}
	}
	return "", nil
}

// affinitySet is the affinity set of an endpoint chain.
func affinitySet(endpointChain string) string {
	return "affinity-" + strings.TrimPrefix(endpointChain, "endpoint-")
}

// compareDispatchNFT compares the endpoints a service- or local- chain
// sends to on both sides, their dnat targets and their shares, and marks
// the differences these findings explain.
func (c *comparison) compareDispatchNFT(key, chain string, name nftName) []Finding {
	expD, realD := dispatchOfNFT(c.exp, chain), dispatchOfNFT(c.real, chain)
	svc, port, known := c.nftPort(key, name)
	var out []Finding
	expEPs, realEPs := expD.endpoints(), realD.endpoints()
	changed := false
	for _, ep := range realEPs {
		to, rule := nftDNAT(c.real, ep)
		if contains(expEPs, ep) {
			expTo, expRule := nftDNAT(c.exp, ep)
			if to != expTo && rule != nil && expRule != nil && !c.reportedSEP[ep] {
				c.reportedSEP[ep] = true
				out = append(out, Finding{Kind: KindEndpointTarget, Port: name.port, Endpoint: expTo, Table: nftTable, Chain: ep, Line: rule.line, Rule: rule.text,
					Message: fmt.Sprintf("%s (line %d) DNATs to %s, but the slices list the endpoint as %s (which its name says)", ep, rule.line, to, expTo)})
				c.explained["real|"+nftTable+"|"+ep+"|"+rule.canon] = true
				c.explained["exp|"+nftTable+"|"+ep+"|"+expRule.canon] = true
			}
			continue
		}
		changed = true
		c.explainedChain[ep], c.explainedChain[affinitySet(ep)] = true, true
		if c.reportedSEP[ep] {
			continue
		}
		c.reportedSEP[ep] = true
		if to == "" {
			n, _ := parseNFTName(ep)
			to = n.endpoint
		}
		line := 0
		if rule != nil {
			line = rule.line
		}
		out = append(out, Finding{Kind: KindEndpointNotServing, Port: name.port, Endpoint: to, Table: nftTable, Chain: ep, Line: line,
			Message: fmt.Sprintf("endpoint %s (%s, sent to from %s) is in the rules, but %s", to, ep, chain, c.sliceSays(svc, port, known, to))})
	}
	for _, ep := range expEPs {
		if contains(realEPs, ep) {
			continue
		}
		changed = true
		c.explainedChain[ep], c.explainedChain[affinitySet(ep)] = true, true
		if c.reportedSEP[ep] {
			continue
		}
		c.reportedSEP[ep] = true
		to, _ := nftDNAT(c.exp, ep)
		out = append(out, Finding{Kind: KindEndpointMissing, Port: name.port, Endpoint: to, Table: nftTable, Chain: ep,
			Message: fmt.Sprintf("endpoint %s is serving in the slices, but %s does not send to it (no %s)", to, chain, ep)})
	}
	if !changed {
		for _, ep := range expEPs {
			want, got := expD.share(ep), realD.share(ep)
			if want.Cmp(got) == 0 {
				continue
			}
			changed = true
			to, _ := nftDNAT(c.exp, ep)
			line := 0
			if len(realD.rules) > 0 {
				line = realD.rules[len(realD.rules)-1].line
			}
			out = append(out, Finding{Kind: KindProbability, Port: name.port, Endpoint: to, Table: nftTable, Chain: chain, Line: line,
				Message: fmt.Sprintf("%s (line %d) sends %s of new connections to %s (numgen random mod %d); kube-proxy sends %s (mod %d) for %d endpoints",
					chain, line, got.RatString(), to, realD.mod, want.RatString(), expD.mod, len(expD.slots))})
		}
	}
	if changed && (len(expEPs) == 0 || len(realEPs) == 0) {
		// No endpoint left (or none before): kube-proxy writes no such
		// chain, and sends the port's addresses to no-endpoint-* instead.
		c.explainedChain[chain] = true
		if known && svc.ClusterIP.IsValid() {
			proto := strings.ToLower(port.Protocol)
			c.explained["element|no-endpoint-services|"+fmt.Sprintf("%s . %s . %d", svc.ClusterIP, proto, port.Port)] = true
			if port.NodePort != 0 {
				c.explained["element|no-endpoint-nodeports|"+fmt.Sprintf("%s . %d", proto, port.NodePort)] = true
			}
		}
	}
	if changed {
		for _, r := range expD.rules {
			c.explained["exp|"+nftTable+"|"+chain+"|"+r.canon] = true
		}
		for _, r := range realD.rules {
			c.explained["real|"+nftTable+"|"+chain+"|"+r.canon] = true
		}
	}
	return out
}

// nftPort finds the Service port a chain name names.
func (c *comparison) nftPort(key string, name nftName) (topology.Service, topology.ServicePort, bool) {
	svc, ok := c.service(key)
	if !ok {
		return svc, topology.ServicePort{}, false
	}
	for _, p := range svc.Ports {
		if nat.ServicePortName(svc, p) == name.port && strings.EqualFold(p.Protocol, name.proto) {
			return svc, p, true
		}
	}
	return svc, topology.ServicePort{}, false
}

// diffElements reports the elements of one set or map one side has and the
// other lacks; a key with another verdict, or a verdict under another key,
// is one wrong element.
func (c *comparison) diffElements(set string, exp, real []ruleRef) []Finding {
	key := func(r ruleRef) string { k, _, _ := strings.Cut(r.canon, " : "); return k }
	value := func(r ruleRef) string { _, v, _ := strings.Cut(r.canon, " : "); return v }
	expBy, realBy := map[string]ruleRef{}, map[string]ruleRef{}
	for _, r := range exp {
		expBy[key(r)] = r
	}
	for _, r := range real {
		realBy[key(r)] = r
	}
	portOf := func(r ruleRef) string {
		if n, ok := parseNFTName(r.jump); ok {
			return n.port
		}
		return ""
	}
	var out []Finding
	var missing, extra []ruleRef
	for _, r := range exp {
		rr, ok := realBy[key(r)]
		switch {
		case !ok:
			missing = append(missing, r)
		case rr.canon != r.canon && !c.jumpsToExplained(r) && !c.jumpsToExplained(rr):
			out = append(out, Finding{Kind: KindWrongElement, Port: portOf(r), Table: nftTable, Chain: set, Rule: rr.text,
				Message: fmt.Sprintf("%s sends %s to %q; kube-proxy writes %q", set, key(r), value(rr), value(r))})
		}
	}
	for _, r := range real {
		if _, ok := expBy[key(r)]; !ok {
			extra = append(extra, r)
		}
	}
	paired := map[int]bool{}
	for _, m := range missing {
		found := false
		for j, x := range extra {
			if !paired[j] && value(m) != "" && value(x) == value(m) {
				paired[j], found = true, true
				out = append(out, Finding{Kind: KindWrongElement, Port: portOf(m), Table: nftTable, Chain: set, Rule: x.text,
					Message: fmt.Sprintf("%s has %q under %s; kube-proxy writes it under %s", set, value(m), key(x), key(m))})
				break
			}
		}
		if found || c.jumpsToExplained(m) || c.explained["element|"+set+"|"+key(m)] {
			continue
		}
		out = append(out, Finding{Kind: KindMissingElement, Port: portOf(m), Table: nftTable, Chain: set, Rule: m.text,
			Message: fmt.Sprintf("missing from %s: %s", set, strings.TrimPrefix(m.text, set+" "))})
	}
	for j, x := range extra {
		if paired[j] || c.jumpsToExplained(x) || c.explained["element|"+set+"|"+key(x)] {
			continue
		}
		out = append(out, Finding{Kind: KindExtraElement, Port: portOf(x), Table: nftTable, Chain: set, Rule: x.text,
			Message: fmt.Sprintf("%s holds %s, which kube-proxy would not write", set, strings.TrimPrefix(x.text, set+" "))})
	}
	return out
}

// stalePacketsNFT lists the packets of a Service the objects lack, from the
// real table's service-ips and service-nodeports elements.
func (c *comparison) stalePacketsNFT(key string) []explain.Packet {
	var out []explain.Packet
	for _, r := range sharedOf(c.real, key)["service-ips"] {
		f := strings.Split(strings.SplitN(r.canon, " : ", 2)[0], " . ")
		if len(f) != 3 {
			continue
		}
		if p, err := packetTo(f[0], f[2], f[1], explain.FromPod); err == nil {
			out = append(out, p)
		}
	}
	for _, r := range sharedOf(c.real, key)["service-nodeports"] {
		f := strings.Split(strings.SplitN(r.canon, " : ", 2)[0], " . ")
		if len(f) != 2 {
			continue
		}
		if p, err := packetTo(c.nodeIP.String(), f[1], f[0], explain.FromExternal); err == nil {
			p.Src = externalClient
			out = append(out, p)
		}
	}
	return out
}

// packetTo is a packet to addr:port of proto ("tcp").
func packetTo(addr, port, proto string, from explain.Origin) (explain.Packet, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return explain.Packet{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return explain.Packet{}, err
	}
	return explain.Packet{Dst: netip.AddrPortFrom(a, uint16(n)), Proto: proto, From: from}, nil
}

// serviceCIDROf reads the ServiceCIDR kube-proxy v1.33 drops unallocated
// ClusterIPs of (`ip daddr { CIDR } drop` in cluster-ips-check), which it
// learns from ServiceCIDR objects that `kubectl get nodes,services,…` does
// not list; taken only when it holds every ClusterIP of the objects.
func serviceCIDROf(w *topology.World, real *explain.NFTRuleset) (netip.Prefix, bool) {
	ch := real.Chains["cluster-ips-check"]
	if ch == nil {
		return netip.Prefix{}, false
	}
	for _, r := range ch.Rules {
		f := strings.Fields(nftCanon(r.Tokens))
		if len(f) != 4 || f[0] != "ip" || f[1] != "daddr" || f[3] != "drop" {
			continue
		}
		cidr, err := netip.ParsePrefix(f[2])
		if err != nil {
			continue
		}
		for _, s := range w.Services {
			if s.ClusterIP.IsValid() && !cidr.Contains(s.ClusterIP) {
				return netip.Prefix{}, false
			}
		}
		return cidr, true
	}
	return netip.Prefix{}, false
}
