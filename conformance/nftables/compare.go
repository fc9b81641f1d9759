package nftables

import (
	"fmt"
	"sort"
	"strings"
)

// Objects is nft -f input (a transaction, or knftables' fake dump, which
// has the same form) taken apart object by object: each rule line by the
// chain it goes to, in order; every other line (tables, chains, sets, maps,
// elements, flushes, deletions) as a multiset; and, per chain, whether the
// chain is added or flushed before its first rule.
type Objects struct {
	rules      map[string][]string // chain -> "add rule …" lines, in order
	others     map[string]int
	flushFirst map[string]bool // chain -> its add/flush comes before its first rule
}

// ParseObjects parses nft -f input as knftables writes it (one operation a
// line: verb, object type, family, table, name, …).
func ParseObjects(text string) (*Objects, error) {
	o := &Objects{rules: map[string][]string{}, others: map[string]int{}, flushFirst: map[string]bool{}}
	declared := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: %q is not an nft operation", i+1, line)
		}
		verb, typ := f[0], f[1]
		if typ == "rule" {
			if len(f) < 5 {
				return nil, fmt.Errorf("line %d: %q: a rule without a chain", i+1, line)
			}
			chain := f[4]
			if _, seen := o.rules[chain]; !seen {
				o.flushFirst[chain] = declared[chain]
			}
			o.rules[chain] = append(o.rules[chain], line)
			continue
		}
		if typ == "chain" && (verb == "add" || verb == "flush") && len(f) >= 5 {
			declared[f[4]] = true
		}
		o.others[line]++
	}
	return o, nil
}

// Deliberate lists where nlbsim's nftables output may differ from
// upstream's, one line each: the comparison allows these and nothing else.
var Deliberate = []string{
	"operations other than rules (chains, sets, maps, elements, flushes, deletions) are compared as multisets: upstream writes them while iterating Go maps (Services, stale chains, leftover elements), nlbsim in a sorted order; an nft transaction's meaning does not depend on their order as long as each chain is added before its rules, which is checked",
	"rules are compared chain by chain, in order; the order of rules of different chains in the text is not compared, for the same reason",
}

// Compare compares nlbsim's nft -f input with upstream's object by object
// and returns the differences, none when they agree.
func Compare(nlbsim, upstream string) []string {
	a, err := ParseObjects(nlbsim)
	if err != nil {
		return []string{"nlbsim's nft input: " + err.Error()}
	}
	b, err := ParseObjects(upstream)
	if err != nil {
		return []string{"upstream's nft input: " + err.Error()}
	}
	var diffs []string
	if d := multisetDiff(a.others, b.others); d != "" {
		diffs = append(diffs, "objects (tables, chains, sets, maps, elements, flushes, deletions):"+d)
	}
	chains := map[string]bool{}
	for c := range a.rules {
		chains[c] = true
	}
	for c := range b.rules {
		chains[c] = true
	}
	for _, c := range sortedKeys(chains) {
		ra, rb := a.rules[c], b.rules[c]
		if d := sequenceDiff(ra, rb); d != "" {
			diffs = append(diffs, fmt.Sprintf("rules of chain %s: %s", c, d))
		}
		if a.flushFirst[c] != b.flushFirst[c] {
			diffs = append(diffs, fmt.Sprintf("chain %s added or flushed before its first rule: nlbsim %v, upstream %v", c, a.flushFirst[c], b.flushFirst[c]))
		}
	}
	return diffs
}

// CompareSync compares one sync: the same number of transactions, each
// object by object, and the table after them.
func CompareSync(nlbsimTx []string, nlbsimDump string, upstream Result) []string {
	var diffs []string
	if len(nlbsimTx) != len(upstream.Transactions) {
		diffs = append(diffs, fmt.Sprintf("transactions: nlbsim sent %d, upstream %d", len(nlbsimTx), len(upstream.Transactions)))
	} else {
		for i := range nlbsimTx {
			for _, d := range Compare(nlbsimTx[i], upstream.Transactions[i]) {
				diffs = append(diffs, fmt.Sprintf("transaction %d: %s", i+1, d))
			}
		}
	}
	for _, d := range Compare(nlbsimDump, upstream.Dump) {
		diffs = append(diffs, "table after the sync: "+d)
	}
	return diffs
}

func multisetDiff(a, b map[string]int) string {
	count := map[string]int{}
	for l, n := range a {
		count[l] += n
	}
	for l, n := range b {
		count[l] -= n
	}
	var out strings.Builder
	for _, l := range sortedKeys(count) {
		for n := count[l]; n > 0; n-- {
			out.WriteString("\n    only nlbsim:   " + l)
		}
		for n := count[l]; n < 0; n++ {
			out.WriteString("\n    only upstream: " + l)
		}
	}
	return out.String()
}

func sequenceDiff(a, b []string) string {
	if strings.Join(a, "\n") == strings.Join(b, "\n") {
		return ""
	}
	ca, cb := map[string]int{}, map[string]int{}
	for _, l := range a {
		ca[l]++
	}
	for _, l := range b {
		cb[l]++
	}
	if d := multisetDiff(ca, cb); d != "" {
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
