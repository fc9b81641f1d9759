package explain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// exit is how a flow leaves a table's hook chain.
type exit int

const (
	exitPass exit = iota // accepted (or translated) here: on to the next table
	exitDrop
	exitReject
)

// traverse walks f through one table's chain for hook. Each branch that
// passes the table continues at once with next, so outcomes appear in rule
// order; dropped and rejected branches end here.
func (w *walker) traverse(f *flow, table *ruleset.Table, hook string, next func(*flow) error) error {
	base := table.Chain(hook)
	if base == nil {
		return next(f)
	}
	f.stack = []frame{{chain: base, shownAt: -1}}
	pending := []*flow{f}
	for len(pending) > 0 {
		g := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		how, err := w.run(g, table, &pending)
		if err != nil {
			return err
		}
		switch how {
		case exitDrop:
			w.finish(g, VerdictDrop)
		case exitReject:
			w.finish(g, VerdictReject)
		default:
			g.stack = nil
			if err := next(g); err != nil {
				return err
			}
		}
	}
	return nil
}

// run steps f through rules until it leaves the table. A random match
// splits off the branch where it fails onto pending.
func (w *walker) run(f *flow, table *ruleset.Table, pending *[]*flow) (exit, error) {
	for {
		top := &f.stack[len(f.stack)-1]
		if top.next >= len(top.chain.Rules) {
			if len(f.stack) > 1 {
				f.leave()
				continue
			}
			if top.chain.Policy == "DROP" {
				return exitDrop, nil
			}
			return exitPass, nil
		}
		rule := top.chain.Rules[top.next]
		top.next++
		matched, p := w.matches(f, table.Name, rule)
		if !matched {
			continue
		}
		if p != nil {
			if w.branches++; w.branches > maxBranches {
				return 0, ErrTooManyBranches
			}
			*pending = append(*pending, f.split(p))
		}
		recordRecent(f, rule)
		if how, done := w.apply(f, table, rule); done {
			return how, nil
		}
	}
}

// apply performs the rule's target; done reports that f left the table.
func (w *walker) apply(f *flow, table *ruleset.Table, r *ruleset.Rule) (how exit, done bool) {
	t := r.Target
	if t == nil {
		return 0, false
	}
	if t.Chain {
		f.enter(table.Chain(t.Name), t.Goto)
		return 0, false
	}
	switch t.Name {
	case "RETURN":
		if len(f.stack) > 1 {
			f.leave()
		} else {
			f.stack[0].next = len(f.stack[0].chain.Rules) // the policy decides
		}
		return 0, false
	case "ACCEPT":
		f.acted()
		return exitPass, true
	case "DROP":
		f.acted()
		return exitDrop, true
	case "REJECT":
		f.acted()
		return exitReject, true
	case "DNAT", "REDIRECT":
		to, reason := w.destination(f, t)
		if reason != "" {
			w.skip(table.Name, r, reason)
			return 0, false
		}
		f.acted()
		f.dst, f.dstPort = to.Addr(), to.Port()
		f.dnat = &to
		return exitPass, true
	case "SNAT":
		to, err := ruleset.ParseNATRange(t.Option("to-source").Arg())
		if err != nil || !to.FirstAddr.IsValid() {
			w.skip(table.Name, r, fmt.Sprintf("SNAT --to-source %q: no address to translate to", t.Option("to-source").Arg()))
			return 0, false
		}
		if !to.Single() {
			w.skip(table.Name, r, "SNAT to a range: the kernel's choice of source is not modelled")
			return 0, false
		}
		f.acted()
		f.src = to.FirstAddr
		f.snat = &to.FirstAddr
		return exitPass, true
	case "MASQUERADE":
		f.acted()
		f.masquerade = true
		if src, ok := w.node.masqueradeSource(f.outIface); ok {
			f.src, f.snat = src, &src
		}
		return exitPass, true
	case "MARK":
		f.mark = applyMarkTarget(f.mark, t)
		f.acted()
		return 0, false
	case "CONNMARK":
		f.mark, f.connmark = applyConnmarkTarget(f.mark, f.connmark, t)
		f.acted()
		return 0, false
	case "NOTRACK":
		f.untracked = true
		f.acted()
		return 0, false
	case "CT":
		if t.Option("notrack") != nil {
			f.untracked = true
			f.acted()
		}
		return 0, false
	}
	if passiveTargets[t.Name] {
		return 0, false
	}
	w.skip(table.Name, r, fmt.Sprintf("target %s is not modelled", t.Name))
	return 0, false
}

// passiveTargets log, count or rewrite header fields the walk does not
// track; the packet's fate does not depend on them.
var passiveTargets = map[string]bool{
	"LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "NFACCT": true, "AUDIT": true,
	"TCPMSS": true, "CHECKSUM": true, "CLASSIFY": true, "DSCP": true, "TOS": true, "TTL": true,
	"ECN": true, "SECMARK": true, "CONNSECMARK": true, "IDLETIMER": true, "LED": true,
	"RATEEST": true, "SET": true,
}

// destination is where DNAT or REDIRECT sends f; reason explains why the
// walk cannot tell.
func (w *walker) destination(f *flow, t *ruleset.Target) (to netip.AddrPort, reason string) {
	addr, port := f.dst, f.dstPort
	if t.Name == "DNAT" {
		o := t.Option("to-destination")
		if o == nil {
			return to, "DNAT without a --to-destination"
		}
		r, err := ruleset.ParseNATRange(o.Arg())
		if errors.Is(err, ruleset.ErrEmptyNATRange) {
			return to, fmt.Sprintf("DNAT --to-destination %s names neither an address nor a port "+
				"(iptables-save prints this for a rule it cannot decode, e.g. one a newer iptables wrote)", o.Arg())
		}
		if err != nil {
			return to, fmt.Sprintf("DNAT --to-destination: %v", err)
		}
		if !r.Single() {
			return to, "DNAT to a range: the kernel's choice of destination is not modelled"
		}
		if r.FirstAddr.IsValid() {
			addr = r.FirstAddr
		}
		if r.FirstPort != 0 {
			port = r.FirstPort
		}
		return netip.AddrPortFrom(addr, port), ""
	}
	// REDIRECT: to the primary address of the incoming interface, or
	// loopback for locally generated packets.
	switch {
	case f.inIface == "":
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case f.inIface == w.node.uplink && len(w.node.ips) > 0:
		addr = w.node.ips[0]
	default:
		return to, fmt.Sprintf("REDIRECT: the address of interface %s is not known", f.inIface)
	}
	if o := t.Option("to-ports"); o != nil {
		r, err := ruleset.ParsePortRange(strings.ReplaceAll(o.Arg(), "-", ":"))
		if err != nil || r.First != r.Last {
			return to, "REDIRECT to a port range: the kernel's choice of port is not modelled"
		}
		port = r.First
	}
	return netip.AddrPortFrom(addr, port), ""
}
