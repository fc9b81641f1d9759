package conformance

import (
	"fmt"
	"sort"
	"strings"
)

// Restore is an iptables-restore input taken apart: per table, the chains
// it declares (and so flushes), the rules of each chain in order, the
// chains it deletes, and where the deletions sit.
type Restore struct {
	Tables []string // in order
	table  map[string]*restoreTable
}

type restoreTable struct {
	chains  []string
	rules   map[string][]string // chain -> rule lines ("-A chain …"), in order
	order   []string            // chains in the order their first rule appears
	deletes []string
	// deletesBeforeTail: every -X line comes before the nodeports rule that
	// ends nat KUBE-SERVICES (true when there is none of either).
	deletesBeforeTail bool
	// declarationsFirst: every chain line comes before every rule.
	declarationsFirst bool
}

const nodePortsTailComment = `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`

// ParseRestore parses an iptables-restore input of the kind kube-proxy
// writes (*table, :CHAIN - [0:0], -A, -X, COMMIT).
func ParseRestore(text string) (*Restore, error) {
	r := &Restore{table: map[string]*restoreTable{}}
	var cur *restoreTable
	sawTail := false
	sawRule := false
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			name := line[1:]
			if r.table[name] != nil {
				return nil, fmt.Errorf("line %d: table %s twice", i+1, name)
			}
			cur = &restoreTable{rules: map[string][]string{}, deletesBeforeTail: true, declarationsFirst: true}
			r.table[name] = cur
			r.Tables = append(r.Tables, name)
			sawTail, sawRule = false, false
		case cur == nil:
			return nil, fmt.Errorf("line %d: %q outside a table", i+1, line)
		case line == "COMMIT":
			cur = nil
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains = append(cur.chains, name)
			if sawRule {
				cur.declarationsFirst = false
			}
		case strings.HasPrefix(line, "-A "):
			chain, _, _ := strings.Cut(line[3:], " ")
			if _, ok := cur.rules[chain]; !ok {
				cur.order = append(cur.order, chain)
			}
			cur.rules[chain] = append(cur.rules[chain], line)
			if chain == "KUBE-SERVICES" && strings.Contains(line, nodePortsTailComment) {
				sawTail = true
			}
			sawRule = true
		case strings.HasPrefix(line, "-X "):
			cur.deletes = append(cur.deletes, strings.TrimSpace(line[3:]))
			if sawTail {
				cur.deletesBeforeTail = false
			}
			sawRule = true
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+1, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("no COMMIT after the last table")
	}
	return r, nil
}

// mapOrdered are the chains whose rules upstream writes while iterating its
// service map, in an order that changes from sync to sync.
var mapOrdered = map[string]bool{
	"filter/KUBE-SERVICES":          true,
	"filter/KUBE-EXTERNAL-SERVICES": true,
	"filter/KUBE-NODEPORTS":         true,
	"filter/KUBE-PROXY-FIREWALL":    true,
	"nat/KUBE-SERVICES":             true,
	"nat/KUBE-NODEPORTS":            true,
}

// Deliberate lists where nlbsim's restore input deliberately differs from
// upstream's, one line each: the comparison allows these and nothing else.
var Deliberate = []string{
	"rules of KUBE-SERVICES, KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES and KUBE-PROXY-FIREWALL are compared as multisets (the nodeports rule last): upstream writes them while iterating a Go map, nlbsim sorts Services by namespace, name and port so that its output is reproducible",
	"per-Service chain declarations and -X lines are compared as sets: upstream orders them by map iteration too, and a restore's meaning does not depend on their order",
}

// Compare compares nlbsim's restore input with upstream's chain by chain
// and returns the differences, none when they agree: the same tables; the
// same chains declared (kube-proxy's fixed chains in the same order) and
// deleted; the same rules in every chain, in the same order except where
// upstream's order is random (mapOrdered: a multiset, and the nodeports
// rule last in nat KUBE-SERVICES on both sides); declarations before rules
// and deletions before the nodeports rule on both sides alike.
func Compare(nlbsim, upstream string) []string {
	a, err := ParseRestore(nlbsim)
	if err != nil {
		return []string{"nlbsim's restore input: " + err.Error()}
	}
	b, err := ParseRestore(upstream)
	if err != nil {
		return []string{"upstream's restore input: " + err.Error()}
	}
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if strings.Join(a.Tables, ",") != strings.Join(b.Tables, ",") {
		add("tables: nlbsim %v, upstream %v", a.Tables, b.Tables)
		return diffs
	}
	for _, name := range a.Tables {
		ta, tb := a.table[name], b.table[name]
		fa, sa := splitChains(ta.chains)
		fb, sb := splitChains(tb.chains)
		if strings.Join(fa, " ") != strings.Join(fb, " ") {
			add("%s: fixed chains declared: nlbsim %v, upstream %v", name, fa, fb)
		}
		if d := setDiff(sa, sb); d != "" {
			add("%s: per-Service chains declared: %s", name, d)
		}
		if d := setDiff(ta.deletes, tb.deletes); d != "" {
			add("%s: chains deleted (-X): %s", name, d)
		}
		if ta.deletesBeforeTail != tb.deletesBeforeTail {
			add("%s: -X lines before the nodeports rule: nlbsim %v, upstream %v", name, ta.deletesBeforeTail, tb.deletesBeforeTail)
		}
		if ta.declarationsFirst != tb.declarationsFirst {
			add("%s: all chain lines before the rules: nlbsim %v, upstream %v", name, ta.declarationsFirst, tb.declarationsFirst)
		}
		chains := map[string]bool{}
		for c := range ta.rules {
			chains[c] = true
		}
		for c := range tb.rules {
			chains[c] = true
		}
		for _, c := range sortedKeys(chains) {
			ra, rb := ta.rules[c], tb.rules[c]
			if mapOrdered[name+"/"+c] {
				if d := multisetDiff(ra, rb); d != "" {
					add("%s %s (compared as a multiset): %s", name, c, d)
				}
				if name == "nat" && c == "KUBE-SERVICES" && lastIsTail(ra) != lastIsTail(rb) {
					add("nat KUBE-SERVICES: the nodeports rule is last: nlbsim %v, upstream %v", lastIsTail(ra), lastIsTail(rb))
				}
				continue
			}
			if d := sequenceDiff(ra, rb); d != "" {
				add("%s %s: %s", name, c, d)
			}
		}
	}
	return diffs
}

func lastIsTail(rules []string) bool {
	return len(rules) > 0 && strings.Contains(rules[len(rules)-1], nodePortsTailComment)
}

// isServiceChain is upstream's isServiceChainName: the per-Service chains.
func isServiceChain(c string) bool {
	for _, p := range []string{"KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

func splitChains(chains []string) (fixed, perService []string) {
	for _, c := range chains {
		if isServiceChain(c) {
			perService = append(perService, c)
		} else {
			fixed = append(fixed, c)
		}
	}
	return fixed, perService
}

func setDiff(a, b []string) string {
	return multisetDiff(a, b)
}

// multisetDiff says which lines only one side has (with multiplicity).
func multisetDiff(a, b []string) string {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
	}
	var onlyA, onlyB []string
	for _, l := range sortedKeys(count) {
		for n := count[l]; n > 0; n-- {
			onlyA = append(onlyA, l)
		}
		for n := count[l]; n < 0; n++ {
			onlyB = append(onlyB, l)
		}
	}
	if len(onlyA) == 0 && len(onlyB) == 0 {
		return ""
	}
	var b2 strings.Builder
	for _, l := range onlyA {
		b2.WriteString("\n    only nlbsim:   " + l)
	}
	for _, l := range onlyB {
		b2.WriteString("\n    only upstream: " + l)
	}
	return b2.String()
}

// sequenceDiff says where two rule lists first differ.
func sequenceDiff(a, b []string) string {
	if strings.Join(a, "\n") == strings.Join(b, "\n") {
		return ""
	}
	if d := multisetDiff(a, b); d != "" {
		return d
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Sprintf("same rules in another order; first difference at rule %d:\n    nlbsim:   %s\n    upstream: %s", i+1, a[i], b[i])
		}
	}
	return "differ"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CompareHealth compares nlbsim's health-check node port answers with
// upstream's: status, headers and body, Service by Service.
func CompareHealth(nlbsim []Health, upstream map[string]Health) []string {
	var diffs []string
	for _, a := range nlbsim {
		b, ok := upstream[a.Service]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("health check of %s: upstream did not answer", a.Service))
			continue
		}
		if a.Status != b.Status {
			diffs = append(diffs, fmt.Sprintf("health check of %s: status nlbsim %d, upstream %d", a.Service, a.Status, b.Status))
		}
		for _, k := range sortedKeys(b.Headers) {
			if a.Headers[k] != b.Headers[k] {
				diffs = append(diffs, fmt.Sprintf("health check of %s: header %s: nlbsim %q, upstream %q", a.Service, k, a.Headers[k], b.Headers[k]))
			}
		}
		if a.Body != b.Body {
			diffs = append(diffs, fmt.Sprintf("health check of %s: body\n    nlbsim:   %q\n    upstream: %q", a.Service, a.Body, b.Body))
		}
	}
	return diffs
}

// CompareBuiltin compares the rules kube-proxy and kubelet keep in the
// built-in chains, in order. Upstream ensures them with iptables commands
// whose comment is one argument; nlbsim writes them as restore lines with
// the comment quoted, so quotes are dropped before comparing.
func CompareBuiltin(nlbsim, upstream []string) []string {
	a := make([]string, len(nlbsim))
	for i, l := range nlbsim {
		a[i] = strings.ReplaceAll(l, `"`, "")
	}
	if d := sequenceDiff(a, upstream); d != "" {
		return []string{"jumps from the built-in chains: " + d}
	}
	return nil
}
