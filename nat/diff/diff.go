// Package diff compares a real node's iptables rules with the rules
// kube-proxy should have written there for a cluster's objects, and says
// what differs, grouped by Service: Services missing from the rules and
// stale ones still in them, endpoints in the rules that the EndpointSlices
// do not list as serving (and the reverse), wrong probabilities, endpoint
// chains that translate to another address than their name says, chains
// nobody owns. For each affected Service it walks packets through both
// rulesets (nat/explain) and sets their outcomes side by side.
//
// Rules are compared as the kernel holds them, not as text (see canon), so
// kube-proxy's restore input and iptables-save's printing of it agree.
//
// In nftables mode (CompareNFT) the same comparison reads kube-proxy's table
// (`nft list ruleset`, text or JSON): chain names carry their Service, the
// shared sets' and maps' elements are grouped by the Service whose chain
// they send to (or whose address they hold), numgen's slots are the
// probabilities, and other tables (iptables-nft's) are other components'.
// Chains of other components — kubelet, the VPC CNI, Calico, Cilium,
// flannel, docker, weave, CNI plugins — are recognised by name and left out
// of the verdict.
package diff

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
)

// SchemaVersion is the version of the JSON document.
const SchemaVersion = 1

// Kinds of finding.
const (
	KindMissingService     = "missing-service"      // in the objects, not in the rules
	KindStaleService       = "stale-service"        // in the rules, not in the objects
	KindEndpointNotServing = "endpoint-not-serving" // in the rules, not serving in the slices
	KindEndpointMissing    = "endpoint-missing"     // serving in the slices, not in the rules
	KindProbability        = "probability"          // a dispatch rule's probability
	KindEndpointTarget     = "endpoint-target"      // a KUBE-SEP chain DNATs elsewhere than its name says
	KindMissingChain       = "missing-chain"
	KindExtraChain         = "extra-chain"
	KindMissingRule        = "missing-rule"
	KindExtraRule          = "extra-rule"
	KindUnownedChain       = "unowned-chain" // a kube-proxy-style chain no Service owns
)

// Finding is one difference.
type Finding struct {
	Kind string `json:"kind"`
	// Port is kube-proxy's name of the Service port ("ns/name:port"), when
	// the finding is about one.
	Port     string `json:"port,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Table    string `json:"table,omitempty"`
	Chain    string `json:"chain,omitempty"`
	// Line is the line of the real dump, 0 for what it lacks.
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

// Status of a Service in the report.
const (
	StatusMissing = "missing" // kube-proxy should have written its rules; none are there
	StatusStale   = "stale"   // its rules are there; the objects have no such Service
	StatusDiffers = "differs"
)

// ServiceDiff is what differs for one Service.
type ServiceDiff struct {
	Service  string             `json:"service"`
	Status   string             `json:"status"`
	Findings []Finding          `json:"findings"`
	Packets  []PacketComparison `json:"packets"`
}

// Ignored lists the chains of one other component.
type Ignored struct {
	Component string   `json:"component"`
	Chains    []string `json:"chains"`
}

// Report is what Compare finds.
type Report struct {
	SchemaVersion int `json:"schemaVersion"`
	// Mode is kube-proxy's mode the rules were compared in: iptables or
	// nftables.
	Mode   string `json:"mode"`
	Node   string `json:"node"`
	NodeIP string `json:"nodeIP"`
	// Agree is true when nothing differs.
	Agree    bool          `json:"agree"`
	Services []ServiceDiff `json:"services"`
	// NodeFindings are differences of kube-proxy's fixed chains and jumps,
	// and chains nobody owns.
	NodeFindings []Finding `json:"nodeFindings"`
	// Ignored are other components' chains, recognised and left out.
	Ignored []Ignored `json:"ignored"`
	// Unrecognised are chains of no known component; listed, not judged.
	Unrecognised []string `json:"unrecognised"`
	// Assumed lists what the comparison took from the dump because the
	// objects do not say it (nftables mode: the ServiceCIDR).
	Assumed []string `json:"assumed,omitempty"`
}

// Expected is what kube-proxy, and kubelet beside it, write on node host
// of w: nat.KubeProxy's ruleset without the VPC CNI's rules, which depend
// on the VPC and not on the cluster's objects.
func Expected(w *topology.World, host string) (*nat.Ruleset, error) {
	switch mode := w.Cluster.KubeProxy.Mode; mode {
	case "", "iptables":
	default:
		return nil, fmt.Errorf("kube-proxy mode %q: Expected is iptables mode's (ExpectedNFT is nftables mode's)", mode)
	}
	full, err := nat.KubeProxy(w, host)
	if err != nil {
		return nil, err
	}
	rs := &nat.Ruleset{Node: full.Node}
	for _, c := range full.Chains {
		if c.Owner != nat.OwnerVPCCNI {
			rs.Chains = append(rs.Chains, c)
		}
	}
	for _, r := range full.Rules {
		if r.Owner != nat.OwnerVPCCNI {
			rs.Rules = append(rs.Rules, r)
		}
	}
	return rs, nil
}

// ruleRef is one rule of one side (in nftables mode also one element of a
// shared set or map, its chain the set's name).
type ruleRef struct {
	table, chain string
	canon        string
	line         int
	text         string
	// jump is the chain the rule (or element) jumps or goes to, "" for none.
	jump string
	rule *ruleset.Rule // iptables mode
}

// side is one ruleset as the comparison sees it: an iptables dump, or in
// nftables mode kube-proxy's table.
type side struct {
	dump *ruleset.Dump
	nft  *explain.NFTRuleset
	// sets are a Service's own sets (nftables mode's affinity sets).
	sets map[string][]string
	// owner maps nat chains to the Service ("ns/name") that owns them.
	owner map[string]string
	// rules caches rulesOf by "table/chain"; chains and shared group a
	// Service's chains and its rules in shared chains.
	rules  map[string][]ruleRef
	chains map[string][]string
	shared map[string]map[string][]ruleRef
}

func newSide(d *ruleset.Dump, owner map[string]string) *side {
	s := &side{dump: d, owner: owner, rules: map[string][]ruleRef{}, chains: map[string][]string{}, shared: map[string]map[string][]ruleRef{}}
	for ch, o := range owner {
		if hasChain(s, "nat", ch) {
			s.chains[o] = append(s.chains[o], ch)
		}
	}
	for _, list := range s.chains {
		sort.Strings(list)
	}
	for key := range sharedChains {
		table, chain, _ := strings.Cut(key, "/")
		for _, r := range rulesOf(s, table, chain) {
			o := s.ruleOwner(r.rule)
			if s.shared[o] == nil {
				s.shared[o] = map[string][]ruleRef{}
			}
			s.shared[o][key] = append(s.shared[o][key], r)
		}
	}
	return s
}

// Compare diffs the real dump of node host against what kube-proxy should
// have written for w.
func Compare(w *topology.World, host string, real *ruleset.Dump) (*Report, error) {
	node, ok := w.Node(host)
	if !ok {
		return nil, fmt.Errorf("no node %q", host)
	}
	exp, err := Expected(w, host)
	if err != nil {
		return nil, err
	}
	expDump, err := ruleset.Parse(strings.NewReader(exp.RestoreText()))
	if err != nil {
		return nil, fmt.Errorf("nlbsim's own rules do not parse: %w", err)
	}
	c := newComparison(w, host, node, ModeIPTables)
	owners := map[string]string{}
	for _, ch := range exp.Chains {
		if ch.Service != "" && ch.Table == nat.TableNAT {
			owners[ch.Name] = ch.Service
		}
	}
	c.exp = newSide(expDump, owners)
	c.real = newSide(real, attribute(real, owners))
	c.classify()
	c.compareNode()
	c.compareServices()
	c.report.Agree = len(c.report.Services) == 0 && len(c.report.NodeFindings) == 0
	c.walkAffected()
	return c.report, nil
}

func newComparison(w *topology.World, host string, node topology.Node, mode string) *comparison {
	c := &comparison{w: w, host: host, nodeIP: node.IP, report: &Report{
		SchemaVersion: SchemaVersion, Mode: mode, Node: node.NodeName, NodeIP: node.IP.String(),
		Services: []ServiceDiff{}, NodeFindings: []Finding{}, Ignored: []Ignored{}, Unrecognised: []string{},
	}, explained: map[string]bool{}, explainedChain: map[string]bool{}, reportedSEP: map[string]bool{}}
	if c.report.Node == "" {
		c.report.Node = host
	}
	return c
}

type comparison struct {
	w         *topology.World
	host      string
	nodeIP    netip.Addr
	exp, real *side
	report    *Report
	// explained holds "side|table|chain|canon" of rule differences a
	// higher finding already accounts for; explainedChain whole chains.
	explained      map[string]bool
	explainedChain map[string]bool
	// reportedSEP holds the endpoint chains already named in a finding, so
	// that one sent to from both KUBE-SVC and KUBE-SVL is named once.
	reportedSEP map[string]bool
}

var commentService = regexp.MustCompile(`(?:^| )([a-z0-9][-a-z0-9.]*/[a-z0-9][-a-z0-9.]*)(?::\S*)?(?: |$)`)

// serviceInComment finds the "ns/name" a kube-proxy comment names.
func serviceInComment(comment string) string {
	if m := commentService.FindStringSubmatch(comment); m != nil {
		return m[1]
	}
	return ""
}

// attribute finds the owner of every per-Service chain of a dump: the
// expected owner of its name, else the Service its own comments or the
// comments of the rules that jump to it name, else the owner of a chain that
// jumps to it.
func attribute(d *ruleset.Dump, expected map[string]string) map[string]string {
	owner := map[string]string{}
	t := d.Table("nat")
	if t == nil {
		return owner
	}
	for _, ch := range t.Chains {
		if !isServiceChain(ch.Name) {
			continue
		}
		if o, ok := expected[ch.Name]; ok {
			owner[ch.Name] = o
			continue
		}
		for _, r := range ch.Rules {
			if s := serviceInComment(r.Comment()); s != "" {
				owner[ch.Name] = s
				break
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, ch := range t.Chains {
			for _, r := range ch.Rules {
				if r.Target == nil || !r.Target.Chain || !isServiceChain(r.Target.Name) || owner[r.Target.Name] != "" {
					continue
				}
				s := owner[ch.Name]
				if s == "" {
					s = serviceInComment(r.Comment())
				}
				if s != "" {
					owner[r.Target.Name] = s
					changed = true
				}
			}
		}
	}
	return owner
}

// ruleOwner is the Service a rule of a shared chain belongs to.
func (s *side) ruleOwner(r *ruleset.Rule) string {
	if r.Target != nil && r.Target.Chain {
		if o := s.owner[r.Target.Name]; o != "" {
			return o
		}
	}
	return serviceInComment(r.Comment())
}

// classify lists the real dump's chains of other components and of none.
func (c *comparison) classify() {
	ignored := map[string][]string{}
	var order []string
	for _, t := range c.real.dump.Tables {
		for _, ch := range t.Chains {
			if ch.BuiltIn() || isKubeProxyChain(t.Name, ch.Name) {
				continue
			}
			if comp := componentOf(ch.Name); comp != "" {
				if ignored[comp] == nil {
					order = append(order, comp)
				}
				ignored[comp] = append(ignored[comp], t.Name+"/"+ch.Name)
				continue
			}
			if strings.HasPrefix(ch.Name, "KUBE-") {
				c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindUnownedChain, Table: t.Name, Chain: ch.Name, Line: ch.Line,
					Message: fmt.Sprintf("chain %s (line %d) is not one kube-proxy writes in iptables mode (an older version's, or IPVS mode's?)", ch.Name, ch.Line)})
				continue
			}
			c.report.Unrecognised = append(c.report.Unrecognised, t.Name+"/"+ch.Name)
		}
	}
	for _, comp := range order {
		c.report.Ignored = append(c.report.Ignored, Ignored{Component: comp, Chains: ignored[comp]})
	}
	if t := c.real.dump.Table("nat"); t != nil {
		for _, ch := range t.Chains {
			if isServiceChain(ch.Name) && c.real.owner[ch.Name] == "" {
				c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindUnownedChain, Table: "nat", Chain: ch.Name, Line: ch.Line,
					Message: fmt.Sprintf("chain %s (line %d) belongs to no Service: none of the objects', no comment names one, and no chain of a Service jumps to it", ch.Name, ch.Line)})
			}
		}
	}
}

// rulesOf lists a chain's rules on one side; nil when the chain is absent.
func rulesOf(s *side, table, chain string) []ruleRef {
	key := table + "/" + chain
	if out, ok := s.rules[key]; ok {
		return out
	}
	if s.nft != nil {
		s.rules[key] = nftRulesOf(s.nft, chain)
		return s.rules[key]
	}
	t := s.dump.Table(table)
	if t == nil || t.Chain(chain) == nil {
		s.rules[key] = nil
		return nil
	}
	out := []ruleRef{}
	for _, r := range t.Chain(chain).Rules {
		ref := ruleRef{table: table, chain: chain, canon: canon(r), line: r.Line, text: r.Text, rule: r}
		if r.Target != nil && r.Target.Chain {
			ref.jump = r.Target.Name
		}
		out = append(out, ref)
	}
	s.rules[key] = out
	return out
}

func hasChain(s *side, table, chain string) bool {
	if s.nft != nil {
		return s.nft.Chains[chain] != nil
	}
	t := s.dump.Table(table)
	return t != nil && t.Chain(chain) != nil
}

// compareNode compares the jumps from built-in chains into kube-proxy's
// chains and kube-proxy's fixed chains (their rules that belong to no
// Service).
func (c *comparison) compareNode() {
	for _, table := range []string{"filter", "nat", "mangle"} {
		for _, chain := range []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"} {
			keep := func(r ruleRef) bool {
				return r.rule.Target != nil && r.rule.Target.Chain && isKubeProxyChain(table, r.rule.Target.Name)
			}
			c.diffRules("", filterRules(rulesOf(c.exp, table, chain), keep), filterRules(rulesOf(c.real, table, chain), keep), false)
		}
		var fixed []string
		for chain := range fixedChains[table] {
			fixed = append(fixed, chain)
		}
		sort.Strings(fixed)
		for _, chain := range fixed {
			keep := func(r ruleRef) bool {
				return !sharedChains[table+"/"+chain] || c.exp.ruleOwner(r.rule) == "" && c.real.ruleOwner(r.rule) == ""
			}
			expRules, realRules := rulesOf(c.exp, table, chain), rulesOf(c.real, table, chain)
			switch {
			case expRules != nil && realRules == nil:
				c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindMissingChain, Table: table, Chain: chain,
					Message: fmt.Sprintf("%s chain %s is missing", table, chain)})
			case expRules == nil && realRules != nil:
				c.report.NodeFindings = append(c.report.NodeFindings, Finding{Kind: KindExtraChain, Table: table, Chain: chain,
					Message: fmt.Sprintf("%s chain %s is not expected", table, chain)})
			default:
				c.diffRules("", filterRules(expRules, keep), filterRules(realRules, keep), !sharedChains[table+"/"+chain])
			}
		}
	}
}

func filterRules(rs []ruleRef, keep func(ruleRef) bool) []ruleRef {
	var out []ruleRef
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// diffRules reports the rules one side has and the other lacks (as
// multisets), and, for ordered chains with the same rules, a different
// order. Rules a higher finding explains are left out. service is "" for
// node findings.
func (c *comparison) diffRules(service string, exp, real []ruleRef, ordered bool) []Finding {
	count := map[string]int{}
	for _, r := range exp {
		count[r.canon]++
	}
	var out []Finding
	same := len(exp) == len(real)
	for _, r := range real {
		if count[r.canon] > 0 {
			count[r.canon]--
			continue
		}
		same = false
		if c.explained["real|"+r.table+"|"+r.chain+"|"+r.canon] || c.jumpsToExplained(r) {
			continue
		}
		out = append(out, Finding{Kind: KindExtraRule, Table: r.table, Chain: r.chain, Line: r.line, Rule: r.text,
			Message: fmt.Sprintf("line %d: a rule kube-proxy would not write: %s", r.line, r.text)})
	}
	left := map[string]int{}
	for _, r := range real {
		left[r.canon]++
	}
	for _, r := range exp {
		if left[r.canon] > 0 {
			left[r.canon]--
			continue
		}
		if c.explained["exp|"+r.table+"|"+r.chain+"|"+r.canon] || c.jumpsToExplained(r) {
			continue
		}
		out = append(out, Finding{Kind: KindMissingRule, Table: r.table, Chain: r.chain, Rule: r.text,
			Message: fmt.Sprintf("missing from %s %s: %s", r.table, r.chain, r.text)})
	}
	if ordered && same {
		for i := range exp {
			if exp[i].canon != real[i].canon {
				out = append(out, Finding{Kind: KindExtraRule, Table: real[i].table, Chain: real[i].chain, Line: real[i].line, Rule: real[i].text,
					Message: fmt.Sprintf("%s %s: the rules are kube-proxy's but in another order, from line %d", real[i].table, real[i].chain, real[i].line)})
				break
			}
		}
	}
	if service == "" {
		c.report.NodeFindings = append(c.report.NodeFindings, out...)
	}
	return out
}

func (c *comparison) jumpsToExplained(r ruleRef) bool {
	return r.jump != "" && c.explainedChain[r.jump]
}

// services lists every Service of either side or the objects, sorted.
func (c *comparison) serviceKeys() []string {
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, s := range c.w.Services {
		add(s.Key())
	}
	for _, s := range []*side{c.exp, c.real} {
		for o := range s.chains {
			add(o)
		}
		for o := range s.shared {
			add(o)
		}
		for o := range s.sets {
			add(o)
		}
	}
	sort.Strings(keys)
	return keys
}

// chainsOf lists the nat chains a side attributes to a Service, sorted.
func chainsOf(s *side, service string) []string { return s.chains[service] }

// sharedOf lists a Service's rules in the shared chains of one side.
func sharedOf(s *side, service string) map[string][]ruleRef {
	if m := s.shared[service]; m != nil {
		return m
	}
	return map[string][]ruleRef{}
}

func (c *comparison) compareServices() {
	for _, key := range c.serviceKeys() {
		expChains, realChains := chainsOf(c.exp, key), chainsOf(c.real, key)
		expShared, realShared := sharedOf(c.exp, key), sharedOf(c.real, key)
		_, inObjects := c.service(key)
		d := ServiceDiff{Service: key, Findings: []Finding{}, Packets: []PacketComparison{}}
		switch {
		case !inObjects && (len(realChains) > 0 || len(realShared) > 0 || len(c.real.sets[key]) > 0):
			d.Status = StatusStale
			d.Findings = append(d.Findings, Finding{Kind: KindStaleService,
				Message: fmt.Sprintf("Service %s is not in the objects, but the node still has its rules: %s", key, c.describe(c.real, key, realChains, realShared))})
		case inObjects && len(realChains) == 0 && len(realShared) == 0 && len(c.real.sets[key]) == 0 && (len(expChains) > 0 || len(expShared) > 0):
			d.Status = StatusMissing
			d.Findings = append(d.Findings, Finding{Kind: KindMissingService,
				Message: fmt.Sprintf("Service %s has no rules on the node; kube-proxy should have written %s", key, c.describe(c.exp, key, expChains, expShared))})
		default:
			if c.real.nft != nil {
				d.Findings = c.compareServiceNFT(key, expChains, realChains, expShared, realShared)
			} else {
				d.Findings = c.compareService(key, expChains, realChains, expShared, realShared)
			}
			if len(d.Findings) > 0 {
				d.Status = StatusDiffers
			}
		}
		if d.Status != "" {
			c.report.Services = append(c.report.Services, d)
		}
	}
}

// describe lists a Service's chains, sets and rules (elements) in shared
// chains (sets) on one side.
func (c *comparison) describe(s *side, key string, chains []string, shared map[string][]ruleRef) string {
	var parts []string
	if len(chains) > 0 {
		parts = append(parts, strings.Join(chains, ", "))
	}
	if sets := s.sets[key]; len(sets) > 0 {
		parts = append(parts, "set(s) "+strings.Join(sets, ", "))
	}
	what := "rule(s)"
	if s.nft != nil {
		what = "element(s)"
	}
	keys := make([]string, 0, len(shared))
	for k := range shared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s in %s", len(shared[k]), what, k))
	}
	return strings.Join(parts, "; ")
}

// service finds a Service of the objects by key.
func (c *comparison) service(key string) (topology.Service, bool) {
	ns, name, _ := strings.Cut(key, "/")
	return c.w.Service(ns, name)
}

// compareService diffs one Service present in both or neither form.
func (c *comparison) compareService(key string, expChains, realChains []string, expShared, realShared map[string][]ruleRef) []Finding {
	var out []Finding
	// Endpoint dispatch first: it explains most rule differences.
	for _, ch := range union(expChains, realChains) {
		if strings.HasPrefix(ch, "KUBE-SVC-") || strings.HasPrefix(ch, "KUBE-SVL-") {
			out = append(out, c.compareDispatch(key, ch)...)
		}
	}
	for _, ch := range union(expChains, realChains) {
		inExp, inReal := contains(expChains, ch), contains(realChains, ch)
		switch {
		case inExp && inReal:
			out = append(out, c.diffRules(key, rulesOf(c.exp, "nat", ch), rulesOf(c.real, "nat", ch), true)...)
		case inReal && !c.explainedChain[ch]:
			line := c.real.dump.Table("nat").Chain(ch).Line
			out = append(out, Finding{Kind: KindExtraChain, Table: "nat", Chain: ch, Line: line,
				Message: fmt.Sprintf("chain %s (line %d) is not one kube-proxy would write for %s", ch, line, key)})
		case inExp && !inReal && !c.explainedChain[ch]:
			out = append(out, Finding{Kind: KindMissingChain, Table: "nat", Chain: ch,
				Message: fmt.Sprintf("chain %s is missing", ch)})
		}
	}
	for _, sharedKey := range sortedShared {
		exp, real := expShared[sharedKey], realShared[sharedKey]
		if len(exp) == 0 && len(real) == 0 {
			continue
		}
		out = append(out, c.diffRules(key, exp, real, false)...)
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
