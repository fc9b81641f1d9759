package nat

import (
	"bufio"
	"io"
	"sort"
	"strings"
	"time"
)

// Owner is the program on a node that writes a chain or rule.
type Owner string

const (
	OwnerKubeProxy Owner = "kube-proxy"
	OwnerKubelet   Owner = "kubelet"
	OwnerVPCCNI    Owner = "aws-node"
)

// The tables, in the order RestoreText writes them.
const (
	TableFilter = "filter"
	TableNAT    = "nat"
	TableMangle = "mangle"
)

var tables = []string{TableFilter, TableNAT, TableMangle}

// Chain is a user-defined chain.
type Chain struct {
	Table string
	Name  string
	Owner Owner
	// Service is "namespace/name" for kube-proxy's per-Service chains
	// (KUBE-SVC/SVL/EXT/FW/SEP), empty otherwise.
	Service string
}

// Rule is one rule, in the form its owner hands to iptables.
type Rule struct {
	Table string
	Chain string
	Spec  string // everything after "-A <chain> "
	Owner Owner
	// Service is "namespace/name" when kube-proxy wrote the rule for a Service.
	Service string
}

// String is the rule as an iptables-restore line.
func (r Rule) String() string { return "-A " + r.Chain + " " + r.Spec }

// Ruleset is every iptables rule one node carries: kube-proxy's, kubelet's
// and the VPC CNI's.
type Ruleset struct {
	Node string
	// Chains lists the user-defined chains in the order their owners
	// declare them.
	Chains []Chain
	// Rules lists rules in the order their owners write them. Rules of
	// built-in chains come first, in the order they end up in the kernel.
	Rules []Rule
	// inputs maps each Service to what kube-proxy saw of it (serviceInputs),
	// so that a partial sync can tell which Services changed.
	inputs map[string]string
	// largeCluster: more than 1000 endpoints, where kube-proxy deletes
	// stale chains at most once per syncPeriod.
	largeCluster bool
	// After SyncText: the stale per-Service nat chains the sync left in the
	// kernel (large-cluster mode), and when stale chains were last deleted.
	lingering   []string
	lastCleanup time.Time
}

// SyncOptions shape one kube-proxy sync (SyncText).
type SyncOptions struct {
	// Full rewrites every chain (kube-proxy's first sync, or after a
	// failure); otherwise only the changed Services' chains are.
	Full bool
	// Changed lists the Services ("namespace/name") whose Service or
	// EndpointSlices changed since prev; nil derives them (ChangedServices).
	Changed map[string]bool
	// Now and SyncPeriod time the deletion of stale chains: in large-cluster
	// mode (more than 1000 endpoints) kube-proxy deletes them only when more
	// than SyncPeriod has passed since it last did, and they linger in the
	// kernel meanwhile. A zero Now deletes them at every sync.
	Now        time.Time
	SyncPeriod time.Duration
}

// ChainRules returns the rules of one chain, in order.
func (rs *Ruleset) ChainRules(table, chain string) []Rule {
	var out []Rule
	for _, r := range rs.Rules {
		if r.Table == table && r.Chain == chain {
			out = append(out, r)
		}
	}
	return out
}

// RestoreText is iptables-restore input that builds the whole ruleset in a
// fresh network namespace when applied once with --noflush: chain lines,
// the jumps from built-in chains in their final order, and every rule.
func (rs *Ruleset) RestoreText() string {
	var b strings.Builder
	b.Grow(rs.restoreTextSize())
	rs.writeRestoreText(&b) // a strings.Builder never fails
	return b.String()
}

// WriteRestoreText writes RestoreText to w without holding it whole.
func (rs *Ruleset) WriteRestoreText(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := rs.writeRestoreText(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (rs *Ruleset) writeRestoreText(w io.StringWriter) error {
	for _, t := range tables {
		if _, err := w.WriteString("*" + t + "\n"); err != nil {
			return err
		}
		for _, c := range rs.Chains {
			if c.Table == t {
				writeChainLine(w, c.Name)
			}
		}
		for _, r := range rs.Rules {
			if r.Table == t {
				writeRuleLine(w, r)
			}
		}
		// A bufio.Writer keeps its first error and returns it from here on.
		if _, err := w.WriteString("COMMIT\n"); err != nil {
			return err
		}
	}
	return nil
}

// restoreTextSize is the length of RestoreText, so that its builder is
// sized once: growing a 15 MiB builder by doubling copies it again and
// again and leaves the copies to the garbage collector.
func (rs *Ruleset) restoreTextSize() int {
	n := 0
	for _, t := range tables {
		n += len("*" + t + "\n" + "COMMIT\n")
	}
	for _, c := range rs.Chains {
		n += len(c.Name) + len(": - [0:0]\n")
	}
	for _, r := range rs.Rules {
		n += len(r.Chain) + len(r.Spec) + len("-A  \n")
	}
	return n
}

// FullSyncText is the iptables-restore input (for --noflush) of a full
// kube-proxy sync: every chain of kube-proxy's in filter and nat is
// rewritten, and the per-Service chains of prev (the ruleset last applied,
// or nil) that are no longer used are flushed and deleted. Jumps from
// built-in chains are not in it: kube-proxy ensures those one by one.
func (rs *Ruleset) FullSyncText(prev *Ruleset) string {
	return rs.SyncText(prev, SyncOptions{Full: true})
}

// PartialSyncText is the iptables-restore input (for --noflush) of a
// partial kube-proxy sync from prev, the ruleset last applied: all of filter
// and nat's fixed chains are rewritten, per-Service chains only for the
// Services that changed since prev — their Service or their endpoints, as
// kube-proxy's change trackers see them, even when the chains' text stays
// the same — and unused per-Service chains are flushed and deleted. Without
// prev it is a full sync.
func (rs *Ruleset) PartialSyncText(prev *Ruleset) string {
	return rs.SyncText(prev, SyncOptions{})
}

// PartialSyncTextFor is PartialSyncText with the changed Services given
// ("namespace/name"), as a caller that tracks Service and EndpointSlice
// events knows them.
func (rs *Ruleset) PartialSyncTextFor(prev *Ruleset, changed []string) string {
	set := map[string]bool{}
	for _, s := range changed {
		set[s] = true
	}
	return rs.SyncText(prev, SyncOptions{Changed: set})
}

// ChangedServices lists ("namespace/name") the Services whose kube-proxy
// input (Service ports, policies, affinity; endpoints and their
// conditions) differs between prev and rs. Rulesets made without that
// record fall back to comparing the Services' chains.
func (rs *Ruleset) ChangedServices(prev *Ruleset) map[string]bool {
	changed := map[string]bool{}
	if prev == nil {
		return changed
	}
	before, after := prev.inputs, rs.inputs
	if before == nil || after == nil {
		before, after = prev.serviceSignatures(), rs.serviceSignatures()
	}
	for svc, sig := range after {
		if before[svc] != sig {
			changed[svc] = true
		}
	}
	return changed
}

// SyncText is the iptables-restore input (for --noflush) of one kube-proxy
// sync from prev, the ruleset last applied (nil at the first sync), as
// upstream's syncProxyRules writes it: filter and nat's fixed chains always,
// per-Service chains all (Full) or the changed Services' only, stale
// per-Service chains flushed and deleted (-X, before the final nodeports
// rule) unless large-cluster mode defers it. It records on rs the chains it
// left for later and the time of the deletion, so rs is the prev of the
// next sync.
func (rs *Ruleset) SyncText(prev *Ruleset, o SyncOptions) string {
	changed := o.Changed
	if changed == nil {
		changed = rs.ChangedServices(prev)
	}
	cleanup := !rs.largeCluster || o.Now.IsZero() || prev == nil || o.Now.Sub(prev.lastCleanup) > o.SyncPeriod
	text, stale := rs.syncText(prev, o.Full, changed, cleanup)
	rs.lingering, rs.lastCleanup = nil, o.Now
	if !cleanup {
		rs.lingering, rs.lastCleanup = stale, prev.lastCleanup
	}
	return text
}

func (rs *Ruleset) syncText(prev *Ruleset, full bool, changed map[string]bool, cleanup bool) (string, []string) {
	write := map[string]bool{} // "table/chain" to rewrite
	for _, c := range rs.Chains {
		if c.Owner != OwnerKubeProxy || c.Name == kubeProxyCanaryChain {
			continue
		}
		if full || prev == nil || c.Service == "" || changed[c.Service] {
			write[c.Table+"/"+c.Name] = true
		}
	}
	var stale []string
	if prev != nil {
		active := map[string]bool{}
		for _, c := range rs.Chains {
			active[c.Table+"/"+c.Name] = true
		}
		seen := map[string]bool{}
		for _, c := range prev.Chains {
			if c.Table == TableNAT && isServiceChain(c.Name) && !active[c.Table+"/"+c.Name] && !seen[c.Name] {
				seen[c.Name] = true
				stale = append(stale, c.Name)
			}
		}
		for _, name := range prev.lingering {
			if !active[TableNAT+"/"+name] && !seen[name] {
				seen[name] = true
				stale = append(stale, name)
			}
		}
		sort.Strings(stale)
	}
	deleted := stale
	if !cleanup {
		deleted = nil
	}

	var b strings.Builder
	if full || prev == nil {
		b.Grow(rs.restoreTextSize())
	}
	for _, t := range []string{TableFilter, TableNAT} {
		b.WriteString("*" + t + "\n")
		for _, c := range rs.Chains {
			if c.Table == t && write[t+"/"+c.Name] {
				writeChainLine(&b, c.Name)
			}
		}
		if t == TableNAT {
			for _, name := range deleted {
				writeChainLine(&b, name)
			}
		}
		// Stale chains are deleted before the nodeports rule that ends
		// KUBE-SERVICES, where upstream writes the -X lines.
		tail := ""
		for _, r := range rs.Rules {
			if r.Table == t && r.Owner == OwnerKubeProxy && write[t+"/"+r.Chain] {
				if t == TableNAT && isNodePortsTail(r) {
					tail = r.String() + "\n"
					continue
				}
				writeRuleLine(&b, r)
			}
		}
		if t == TableNAT {
			for _, name := range deleted {
				b.WriteString("-X " + name + "\n")
			}
			b.WriteString(tail)
		}
		b.WriteString("COMMIT\n")
	}
	return b.String(), stale
}

// serviceSignatures maps each Service to the text of its per-Service chains,
// so that a change of any of them can be seen.
func (rs *Ruleset) serviceSignatures() map[string]string {
	chainOf := map[string]string{} // nat chain name -> Service
	sig := map[string]*strings.Builder{}
	for _, c := range rs.Chains {
		if c.Service == "" {
			continue
		}
		chainOf[c.Name] = c.Service
		if sig[c.Service] == nil {
			sig[c.Service] = &strings.Builder{}
		}
		sig[c.Service].WriteString(":" + c.Name + "\n")
	}
	for _, r := range rs.Rules {
		if svc, ok := chainOf[r.Chain]; ok && r.Table == TableNAT {
			sig[svc].WriteString(r.String() + "\n")
		}
	}
	out := make(map[string]string, len(sig))
	for svc, b := range sig {
		out[svc] = b.String()
	}
	return out
}

// isNodePortsTail reports whether r is the rule that ends nat
// KUBE-SERVICES with the jump to KUBE-NODEPORTS.
func isNodePortsTail(r Rule) bool {
	return r.Table == TableNAT && r.Chain == kubeServicesChain && strings.HasSuffix(r.Spec, "-j "+kubeNodePortsChain)
}

func writeChainLine(b io.StringWriter, name string) {
	b.WriteString(":")
	b.WriteString(name)
	b.WriteString(" - [0:0]\n")
}

// writeRuleLine writes r.String() and a newline without building the line
// as a string of its own first.
func writeRuleLine(b io.StringWriter, r Rule) {
	b.WriteString("-A ")
	b.WriteString(r.Chain)
	b.WriteString(" ")
	b.WriteString(r.Spec)
	b.WriteString("\n")
}

// ruleWriter appends one owner's chains and rules of one table to a Ruleset.
type ruleWriter struct {
	rs    *Ruleset
	table string
	owner Owner
}

func (w ruleWriter) chain(name, service string) {
	w.rs.Chains = append(w.rs.Chains, Chain{Table: w.table, Name: name, Owner: w.owner, Service: service})
}

// rule writes "-A chain args..." with the args joined by spaces, as
// kube-proxy's line buffer does.
func (w ruleWriter) rule(chain, service string, args ...string) {
	w.line(chain, service, strings.Join(args, " "))
}

// line writes "-A chain spec", spec already joined: the per-endpoint rules
// of a big world build theirs in one concatenation.
func (w ruleWriter) line(chain, service, spec string) {
	w.rs.Rules = append(w.rs.Rules, Rule{Table: w.table, Chain: chain, Spec: spec, Owner: w.owner, Service: service})
}
