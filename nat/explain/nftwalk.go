package explain

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// WalkNFT follows the first packet of a connection through kube-proxy's
// nftables table (a node in nftables mode) and returns every outcome with
// its exact probability, in the Report Walk gives for iptables dumps.
// Chains are named as the table names them; the path lists the base chains
// and every chain entered. It walks kube-proxy's table alone: a node's other
// rules (the VPC CNI's and kubelet's iptables rules) are Walk's.
//
// It knows the statements kube-proxy v1.33 writes (verdict maps, sets,
// numgen, fib, marks, dnat, masquerade, reject); a rule with anything else
// is taken as not matching and listed under notModelled. Affinity sets
// (filled by the datapath) are taken as empty: a client's first connection.
func WalkNFT(rs *NFTRuleset, p Packet, opts Options) (*Report, error) {
	if rs == nil {
		return nil, errors.New("no ruleset")
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	n, err := newNode(opts)
	if err != nil {
		return nil, err
	}
	if !p.Src.IsValid() {
		if p.From != FromNode || len(n.ips) == 0 {
			return nil, fmt.Errorf("src: missing (only packets from the node default to the first node IP)")
		}
		p.Src = n.ips[0]
	}
	in := p.InInterface
	inSource := SourceOption
	switch {
	case p.From == FromNode:
		in, inSource = "", SourceNone
	case in == "" && p.From == FromPod:
		in, inSource = DefaultPodInterface, SourceDefault
	case in == "":
		in, inSource = n.uplink, SourceDefault
	}
	w := &nftWalker{rs: rs, node: n, packet: p, index: map[string]int{}, seen: map[string]bool{}}
	w.ifaces = Interfaces{In: in, InSource: inSource, Out: p.OutInterface, OutSource: SourceRouted, Uplink: n.uplink, Routes: []RouteSummary{}}
	f := &nftFlow{weight: big.NewRat(1, 1), src: p.Src.Unmap(), dst: p.Dst.Addr().Unmap(), dport: p.Dst.Port(), in: in}
	hooks := []string{"prerouting"}
	if p.From == FromNode {
		hooks = []string{"output"}
	}
	if err := w.hooks(f, hooks); err != nil {
		return nil, err
	}
	return w.report(), nil
}

type nftFlow struct {
	weight     *big.Rat
	src, dst   netip.Addr
	dport      uint16
	in, out    string
	mark       uint32
	dnat       *netip.AddrPort
	masquerade bool
	snat       *netip.Addr
	path       []string
}

func (f *nftFlow) clone(weight *big.Rat) *nftFlow {
	c := *f
	c.weight = weight
	c.path = append([]string(nil), f.path...)
	return &c
}

type nftWalker struct {
	rs          *NFTRuleset
	node        *node
	packet      Packet
	ifaces      Interfaces
	outcomes    []Outcome
	index       map[string]int
	notModelled []NotModelled
	seen        map[string]bool
	branches    int
}

// chainsAt lists a hook's base chains by priority.
func (w *nftWalker) chainsAt(hook string) []*NFTChain {
	var out []*NFTChain
	for _, c := range w.rs.Chains {
		if c.Hook == hook {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// hooks runs the flow through the remaining hooks of its way, routing
// after prerouting and output.
func (w *nftWalker) hooks(f *nftFlow, hooks []string) error {
	if len(hooks) == 0 {
		v := VerdictAccept
		if f.dnat != nil {
			v = VerdictDNAT
		}
		w.finish(f, v)
		return nil
	}
	hook := hooks[0]
	return w.chains(f, hook, w.chainsAt(hook), func(f *nftFlow) error {
		next := hooks[1:]
		switch hook {
		case "prerouting":
			if w.node.isLocal(f.dst) {
				next = []string{"input"}
			} else {
				f.out = w.route(f)
				next = []string{"forward", "postrouting"}
			}
		case "output":
			f.out = w.route(f)
			next = []string{"postrouting"}
		}
		return w.hooks(f, next)
	})
}

func (w *nftWalker) route(f *nftFlow) string {
	if w.packet.OutInterface != "" {
		return w.packet.OutInterface
	}
	return w.node.outInterface(f.dst)
}

// chains runs a hook's base chains in order; each surviving flow goes on
// to then.
func (w *nftWalker) chains(f *nftFlow, hook string, chains []*NFTChain, then func(*nftFlow) error) error {
	if len(chains) == 0 {
		return then(f)
	}
	c := chains[0]
	f.path = append(f.path, c.Name)
	return w.run(f, c, nil, func(f *nftFlow, v string) error {
		switch v {
		case "drop":
			w.finish(f, VerdictDrop)
			return nil
		case "reject":
			w.finish(f, VerdictReject)
			return nil
		case "nat":
			// A NAT statement ends its base chain; the next chains of the
			// hook still run.
		}
		return w.chains(f, hook, chains[1:], then)
	})
}

// frame is a jump's return point.
type nftFrame struct {
	chain *NFTChain
	rule  int
}

// run evaluates chain c from rule start for f; done gets the flow and its
// verdict at the end of the base chain ("accept", "drop", "reject", "nat").
func (w *nftWalker) run(f *nftFlow, c *NFTChain, stack []nftFrame, done func(*nftFlow, string) error) error {
	return w.runFrom(f, c, 0, stack, done)
}

func (w *nftWalker) runFrom(f *nftFlow, c *NFTChain, start int, stack []nftFrame, done func(*nftFlow, string) error) error {
	for i := start; i < len(c.Rules); i++ {
		r := c.Rules[i]
		outs, err := w.rule(f, c, r)
		if err != nil {
			return err
		}
		if len(outs) == 1 && outs[0].verdict == "" && outs[0].flow == f {
			continue // no match, or a statement without verdict
		}
		for _, o := range outs {
			if err := w.verdict(o, c, i, stack, done); err != nil {
				return err
			}
		}
		return nil
	}
	// End of chain: return to the caller, or the base chain's policy.
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return w.runFrom(f, top.chain, top.rule+1, stack[:len(stack)-1], done)
	}
	return done(f, "accept")
}

type nftOutcome struct {
	flow    *nftFlow
	verdict string // "", accept, drop, reject, nat, return, jump, goto, continue
	target  string
}

func (w *nftWalker) verdict(o nftOutcome, c *NFTChain, i int, stack []nftFrame, done func(*nftFlow, string) error) error {
	f := o.flow
	switch o.verdict {
	case "", "continue":
		return w.runFrom(f, c, i+1, stack, done)
	case "accept", "drop", "reject", "nat":
		return done(f, o.verdict)
	case "return":
		if len(stack) == 0 {
			return done(f, "accept")
		}
		top := stack[len(stack)-1]
		return w.runFrom(f, top.chain, top.rule+1, stack[:len(stack)-1], done)
	case "jump", "goto":
		next := w.rs.Chains[o.target]
		if next == nil {
			return fmt.Errorf("chain %s: %s to chain %s, which the table does not have", c.Name, o.verdict, o.target)
		}
		if len(stack) > 64 {
			return fmt.Errorf("chain %s: jumps nest deeper than 64", c.Name)
		}
		f.path = append(f.path, next.Name)
		if o.verdict == "jump" {
			stack = append(append([]nftFrame(nil), stack...), nftFrame{c, i})
		}
		return w.runFrom(f, next, 0, stack, done)
	}
	return fmt.Errorf("chain %s: unknown verdict %q", c.Name, o.verdict)
}

// rule evaluates one rule: its matches, then its statements. It returns
// the flows that come out (several after numgen) with their verdicts; a
// single unchanged flow with no verdict means the rule did not decide.
func (w *nftWalker) rule(f *nftFlow, c *NFTChain, r NFTRule) ([]nftOutcome, error) {
	t := r.Tokens
	pass := []nftOutcome{{flow: f}}
	for i := 0; i < len(t); {
		tok := t[i]
		switch {
		case tok == "comment":
			i += 2
		case tok == "counter":
			i++
			for i+1 < len(t) && (t[i] == "packets" || t[i] == "bytes") {
				i += 2
			}
		case tok == "ct" && i+2 < len(t) && t[i+1] == "state":
			// The first packet of a connection: state new.
			if !strings.Contains(t[i+2], "new") {
				return pass, nil
			}
			i += 3
		case tok == "ip" && i+1 < len(t) && (t[i+1] == "daddr" || t[i+1] == "saddr") && i+3 < len(t) && t[i+2] == "." && t[i+3] == "meta":
			// ip daddr . meta l4proto . th dport vmap @map
			if i+9 >= len(t) || t[i+8] != "vmap" {
				return w.unknown(f, c, r, "a concatenation kube-proxy does not write")
			}
			key := fmt.Sprintf("%s . %s . %d", w.addr(f, t[i+1]), w.packet.Proto, f.dport)
			return w.vmap(f, c, r, strings.TrimPrefix(t[i+9], "@"), key)
		case tok == "ip" && i+2 < len(t) && (t[i+1] == "daddr" || t[i+1] == "saddr"):
			addr := w.addrValue(f, t[i+1])
			neg := t[i+2] == "!="
			j := i + 2
			if neg {
				j++
			}
			values, next, err := w.values(t, j)
			if err != nil {
				return w.unknown(f, c, r, err.Error())
			}
			m, ok := w.addrIn(addr, values)
			if !ok {
				return w.unknown(f, c, r, "an address match kube-proxy does not write")
			}
			if m == neg {
				return pass, nil
			}
			i = next
		case tok == "meta" && i+5 < len(t) && t[i+1] == "l4proto" && t[i+2] == "." && t[i+3] == "th" && t[i+4] == "dport" && t[i+5] == "vmap":
			if i+6 >= len(t) {
				return w.unknown(f, c, r, "vmap without a map")
			}
			key := fmt.Sprintf("%s . %d", w.packet.Proto, f.dport)
			return w.vmap(f, c, r, strings.TrimPrefix(t[i+6], "@"), key)
		case tok == "meta" && i+2 < len(t) && t[i+1] == "l4proto":
			if t[i+2] != w.packet.Proto {
				return pass, nil
			}
			i += 3
		case (tok == "tcp" || tok == "udp" || tok == "sctp") && i+2 < len(t) && t[i+1] == "dport":
			if tok != w.packet.Proto || t[i+2] != strconv.Itoa(int(f.dport)) {
				return pass, nil
			}
			i += 3
		case tok == "fib" && i+3 < len(t) && t[i+2] == "type":
			a := f.src
			if t[i+1] == "daddr" {
				a = f.dst
			}
			local := w.node.isLocal(a) || (t[i+1] == "saddr" && w.packet.From == FromNode)
			if t[i+3] != "local" {
				return w.unknown(f, c, r, "a fib type other than local")
			}
			if !local {
				return pass, nil
			}
			i += 4
		case tok == "iifname" && i+1 < len(t):
			neg := t[i+1] == "!="
			j := i + 1
			if neg {
				j++
			}
			if j >= len(t) {
				return w.unknown(f, c, r, "iifname without a name")
			}
			name := strings.Trim(t[j], `"`)
			m := f.in == name || (strings.HasSuffix(name, "*") && strings.HasPrefix(f.in, strings.TrimSuffix(name, "*")))
			if m == neg {
				return pass, nil
			}
			i = j + 1
		case (tok == "mark" || tok == "meta") && markStatement(t[i:]) != nil:
			ms := markStatement(t[i:])
			if ms.set {
				switch ms.op {
				case "or":
					f.mark |= ms.value
				case "xor":
					f.mark ^= ms.value
				}
			} else if (f.mark & ms.mask) != ms.value {
				return pass, nil
			}
			i += ms.length
		case tok == "numgen":
			// numgen random mod N vmap { 0 : goto a , 1 : goto b }
			if i+5 >= len(t) || t[i+1] != "random" || t[i+2] != "mod" || t[i+4] != "vmap" || t[i+5] != "{" {
				return w.unknown(f, c, r, "a numgen form kube-proxy does not write")
			}
			n, err := strconv.Atoi(t[i+3])
			if err != nil || n <= 0 {
				return w.unknown(f, c, r, "numgen modulus "+t[i+3])
			}
			entries := map[int][]string{}
			var cur []string
			for j := i + 6; j < len(t) && t[j] != "}"; j++ {
				if t[j] == "," {
					if len(cur) > 0 {
						if k, err := strconv.Atoi(cur[0]); err == nil && len(cur) >= 3 {
							entries[k] = cur[2:]
						}
					}
					cur = nil
					continue
				}
				cur = append(cur, t[j])
			}
			if k, err := strconv.Atoi(firstOr(cur, "")); err == nil && len(cur) >= 3 {
				entries[k] = cur[2:]
			}
			w.branches += n
			if w.branches > maxBranches {
				return nil, ErrTooManyBranches
			}
			var outs []nftOutcome
			share := big.NewRat(1, int64(n))
			missing := 0
			for k := 0; k < n; k++ {
				v, ok := entries[k]
				if !ok {
					missing++
					continue
				}
				g := f.clone(new(big.Rat).Mul(f.weight, share))
				outs = append(outs, nftOutcome{flow: g, verdict: v[0], target: firstOr(v[1:], "")})
			}
			if missing > 0 {
				// A number without an element: the vmap has no verdict and
				// the rule goes on with the next one.
				g := f.clone(new(big.Rat).Mul(f.weight, big.NewRat(int64(missing), int64(n))))
				outs = append(outs, nftOutcome{flow: g, verdict: "continue"})
			}
			return outs, nil
		case tok == "update":
			// update @affinity-… { ip saddr }: the datapath's bookkeeping.
			j := i
			for j < len(t) && t[j] != "}" {
				j++
			}
			i = j + 1
		case tok == "dnat":
			// dnat to 10.0.0.1:80
			if i+2 >= len(t) || t[i+1] != "to" {
				return w.unknown(f, c, r, "a dnat form kube-proxy does not write")
			}
			to, err := netip.ParseAddrPort(t[i+2])
			if err != nil {
				return w.unknown(f, c, r, "dnat to "+t[i+2])
			}
			g := f.clone(f.weight)
			g.dst, g.dport, g.dnat = to.Addr(), to.Port(), &to
			return []nftOutcome{{flow: g, verdict: "nat"}}, nil
		case tok == "masquerade":
			g := f.clone(f.weight)
			g.masquerade = true
			if src, ok := w.node.masqueradeSource(g.out); ok {
				g.src, g.snat = src, &src
			}
			return []nftOutcome{{flow: g, verdict: "nat"}}, nil
		case tok == "jump" || tok == "goto":
			if i+1 >= len(t) {
				return w.unknown(f, c, r, tok+" without a chain")
			}
			return []nftOutcome{{flow: f, verdict: tok, target: t[i+1]}}, nil
		case tok == "return" || tok == "accept" || tok == "drop" || tok == "reject":
			return []nftOutcome{{flow: f, verdict: tok}}, nil
		default:
			return w.unknown(f, c, r, fmt.Sprintf("%q is not a statement the walker knows", tok))
		}
	}
	return []nftOutcome{{flow: f}}, nil
}

// vmap looks key up in a verdict map: its verdict, or on to the next rule.
func (w *nftWalker) vmap(f *nftFlow, c *NFTChain, r NFTRule, name, key string) ([]nftOutcome, error) {
	m, ok := w.rs.Sets[name]
	if !ok {
		return nil, fmt.Errorf("chain %s: map @%s, which the table does not have", c.Name, name)
	}
	v, ok := m[key]
	if !ok || v == "" {
		return []nftOutcome{{flow: f}}, nil
	}
	fields := strings.Fields(v)
	return []nftOutcome{{flow: f, verdict: fields[0], target: firstOr(fields[1:], "")}}, nil
}

func (w *nftWalker) addr(f *nftFlow, which string) string {
	return w.addrValue(f, which).String()
}

func (w *nftWalker) addrValue(f *nftFlow, which string) netip.Addr {
	if which == "saddr" {
		return f.src
	}
	return f.dst
}

// values reads the value of an address match at t[j]: @set, { a , b }, or
// one address or prefix. It returns them and the index after them.
func (w *nftWalker) values(t []string, j int) ([]string, int, error) {
	if j >= len(t) {
		return nil, j, errors.New("an address match without a value")
	}
	if strings.HasPrefix(t[j], "@") {
		set, ok := w.rs.Sets[strings.TrimPrefix(t[j], "@")]
		if !ok {
			return nil, j, fmt.Errorf("set %s, which the table does not have", t[j])
		}
		if strings.HasPrefix(t[j], "@affinity-") {
			return nil, j + 1, nil // filled by the datapath: empty for a first connection
		}
		out := make([]string, 0, len(set))
		for k := range set {
			out = append(out, k)
		}
		return out, j + 1, nil
	}
	if t[j] == "{" {
		var out []string
		k := j + 1
		for ; k < len(t) && t[k] != "}"; k++ {
			if t[k] != "," {
				out = append(out, t[k])
			}
		}
		return out, k + 1, nil
	}
	return []string{t[j]}, j + 1, nil
}

// addrIn reports whether a is one of the addresses or prefixes.
func (w *nftWalker) addrIn(a netip.Addr, values []string) (bool, bool) {
	for _, v := range values {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return false, false
			}
			if p.Contains(a) {
				return true, true
			}
			continue
		}
		b, err := netip.ParseAddr(v)
		if err != nil {
			return false, false
		}
		if a == b {
			return true, true
		}
	}
	return false, true
}

type markStmt struct {
	set         bool
	op          string // or, xor (set)
	mask, value uint32 // match: mark & mask == value
	length      int
}

// markStatement reads kube-proxy's mark statements in both spellings: nft
// -f input ("mark set mark or 0x4000", "mark and 0x4000 == 0") and nft
// list output ("meta mark set meta mark | 0x00004000", "meta mark &
// 0x00004000 == 0x00000000").
func markStatement(t []string) *markStmt {
	var words []string
	for _, w := range t {
		if w != "meta" {
			words = append(words, w)
		}
		if len(words) == 5 {
			break
		}
	}
	consumed := func(n int) int {
		// tokens of t that make up the first n non-"meta" words
		c, seen := 0, 0
		for _, w := range t {
			c++
			if w != "meta" {
				seen++
			}
			if seen == n {
				return c
			}
		}
		return c
	}
	num := func(s string) (uint32, bool) {
		v, err := strconv.ParseUint(s, 0, 32)
		return uint32(v), err == nil
	}
	if len(words) >= 5 && words[0] == "mark" && words[1] == "set" && words[2] == "mark" {
		op := map[string]string{"or": "or", "|": "or", "xor": "xor", "^": "xor"}[words[3]]
		v, ok := num(words[4])
		if op == "" || !ok {
			return nil
		}
		return &markStmt{set: true, op: op, value: v, length: consumed(5)}
	}
	if len(words) >= 5 && words[0] == "mark" && (words[1] == "and" || words[1] == "&") && words[3] == "==" {
		m, ok1 := num(words[2])
		v, ok2 := num(words[4])
		if !ok1 || !ok2 {
			return nil
		}
		return &markStmt{mask: m, value: v, length: consumed(5)}
	}
	return nil
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

// unknown records a rule the walker cannot evaluate and takes it as not
// matching.
func (w *nftWalker) unknown(f *nftFlow, c *NFTChain, r NFTRule, reason string) ([]nftOutcome, error) {
	key := fmt.Sprint(c.Name, r.Line, reason)
	if !w.seen[key] {
		w.seen[key] = true
		w.notModelled = append(w.notModelled, NotModelled{Table: "ip kube-proxy", Chain: c.Name, Line: r.Line, Rule: r.Text, Reason: reason})
	}
	return []nftOutcome{{flow: f}}, nil
}

func (w *nftWalker) finish(f *nftFlow, v Verdict) {
	out := f.out
	if v == VerdictDrop || v == VerdictReject {
		out = ""
	}
	o := Outcome{Verdict: v, Target: f.dnat, Masquerade: f.masquerade, SNAT: f.snat, Path: f.path, OutInterface: out}
	key := fmt.Sprint(v, "|", addrPortText(o.Target), "|", o.Masquerade, "|", addrText(o.SNAT), "|", strings.Join(o.Path, " "), "|", o.OutInterface)
	if i, ok := w.index[key]; ok {
		w.outcomes[i].Exact.Add(w.outcomes[i].Exact, f.weight)
		return
	}
	o.Exact = new(big.Rat).Set(f.weight)
	w.index[key] = len(w.outcomes)
	w.outcomes = append(w.outcomes, o)
}

func (w *nftWalker) report() *Report {
	return newReport(w.packet, w.ifaces, w.outcomes, w.notModelled)
}
