package explain

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// result of one match against one flow.
type result struct {
	matched bool
	// p is the probability that a random match passes; nil for certain
	// matches.
	p *big.Rat
	// unknown is the reason the match cannot be evaluated, "" if it can.
	unknown string
}

var (
	yes = result{matched: true}
	no  = result{}
)

func certain(b bool) result { return result{matched: b} }

func notModelled(format string, args ...any) result {
	return result{unknown: fmt.Sprintf(format, args...)}
}

// matches evaluates the rule's tests in the kernel's order (header fields,
// then modules as written), stopping at the first that fails. p is the
// product of the random matches' probabilities, nil when none.
func (w *walker) matches(f *flow, table string, r *ruleset.Rule) (bool, *big.Rat) {
	if !w.matchesHeader(f, r) {
		return false, nil
	}
	var p *big.Rat
	for _, m := range r.Matches {
		res := w.matchModule(f, m)
		if res.unknown != "" {
			w.skip(table, r, res.unknown)
			return false, nil
		}
		if !res.matched {
			return false, nil
		}
		if res.p != nil {
			if p == nil {
				p = new(big.Rat).Set(res.p)
			} else {
				p.Mul(p, res.p)
			}
		}
	}
	if p != nil && p.Sign() == 0 {
		return false, nil
	}
	if p != nil && p.Cmp(big.NewRat(1, 1)) == 0 {
		p = nil
	}
	return true, p
}

func (w *walker) matchesHeader(f *flow, r *ruleset.Rule) bool {
	switch {
	case r.Source != nil && !r.Source.Matches(f.src),
		r.Destination != nil && !r.Destination.Matches(f.dst),
		r.InInterface != nil && !r.InInterface.Matches(f.inIface),
		r.OutInterface != nil && !r.OutInterface.Matches(f.outIface),
		r.Protocol != nil && !r.Protocol.Matches(w.packet.Proto),
		r.Fragment != nil && !r.Fragment.Negated: // a first packet is no fragment
		return false
	}
	return true
}

func (w *walker) matchModule(f *flow, m *ruleset.Match) result {
	switch m.Module {
	case "comment", "nfacct":
		return yes
	case "tcp", "udp", "udplite", "sctp":
		return w.matchPorts(f, m)
	case "multiport":
		return w.matchMultiport(f, m)
	case "icmp", "icmp6", "icmpv6":
		return no // the packet is TCP, UDP or SCTP
	case "addrtype":
		return w.matchAddrtype(f, m)
	case "conntrack":
		return w.matchConntrack(f, m)
	case "state":
		o := m.Option("state")
		if o == nil {
			return notModelled("-m state without --state")
		}
		return certain(anyState(f, o) != o.Negated)
	case "mark", "connmark":
		o := m.Option("mark")
		if o == nil {
			return notModelled("-m %s without --mark", m.Module)
		}
		mark := f.mark
		if m.Module == "connmark" {
			mark = f.connmark
		}
		want, _ := ruleset.ParseMark(o.Arg())
		return certain((mark&want.Mask == want.Value) != o.Negated)
	case "statistic":
		return matchStatistic(m)
	case "recent":
		return matchRecent(f, m)
	case "iprange":
		return matchIPRange(f, m)
	case "pkttype":
		return w.matchPacketType(f, m)
	}
	if reason, ok := unmodelledModules[m.Module]; ok {
		return notModelled("-m %s: %s", m.Module, reason)
	}
	return notModelled("-m %s is not modelled", m.Module)
}

// unmodelledModules depend on state or packet contents a dump does not
// hold; a rule using one is taken as not matching.
var unmodelledModules = map[string]string{
	"set":       "ipset contents are not in the dump",
	"physdev":   "bridge ports are not modelled",
	"owner":     "the sending socket's owner is not known",
	"socket":    "local sockets are not modelled",
	"cgroup":    "the sending process's cgroup is not known",
	"limit":     "rate-limit state is not in the dump",
	"hashlimit": "rate-limit state is not in the dump",
	"connlimit": "connection counts are not in the dump",
	"connbytes": "connection byte counts are not in the dump",
	"quota":     "quota state is not in the dump",
	"string":    "payload is not modelled",
	"bpf":       "BPF programs are not evaluated",
	"u32":       "raw header tests are not evaluated",
	"mac":       "link-layer addresses are not modelled",
	"length":    "packet length is not modelled",
	"ttl":       "TTL is not modelled",
	"tos":       "TOS is not modelled",
	"dscp":      "DSCP is not modelled",
	"ecn":       "ECN is not modelled",
	"tcpmss":    "TCP options are not modelled",
	"rpfilter":  "reverse-path lookups are not modelled",
	"policy":    "IPsec policies are not modelled",
	"helper":    "conntrack helpers are not modelled",
	"time":      "the time of day is not modelled",
	"devgroup":  "device groups are not modelled",
	"realm":     "routing realms are not modelled",
}

// matchPorts handles the tcp/udp/… modules.
func (w *walker) matchPorts(f *flow, m *ruleset.Match) result {
	if m.Module != w.packet.Proto {
		return no
	}
	for _, o := range m.Options {
		switch o.Name {
		case "dport", "destination-port":
			r, _ := ruleset.ParsePortRange(o.Arg())
			if r.Contains(f.dstPort) == o.Negated {
				return no
			}
		case "sport", "source-port":
			if f.srcPort == 0 {
				return notModelled("--%s: the source port is not known (set the packet's source port)", o.Name)
			}
			r, _ := ruleset.ParsePortRange(o.Arg())
			if r.Contains(f.srcPort) == o.Negated {
				return no
			}
		case "syn":
			if o.Negated { // the first packet of a TCP connection is a SYN
				return no
			}
		case "tcp-flags":
			mask, err1 := tcpFlags(o.Args[0])
			set, err2 := tcpFlags(o.Args[1])
			if err1 != nil || err2 != nil {
				return notModelled("--tcp-flags %s: unknown flag", strings.Join(o.Args, " "))
			}
			if (tcpSYN&mask == set) == o.Negated {
				return no
			}
		default:
			return notModelled("-m %s --%s is not modelled", m.Module, o.Name)
		}
	}
	return yes
}

const tcpSYN = 0x02

func tcpFlags(s string) (uint8, error) {
	bits := map[string]uint8{"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80, "ALL": 0xff, "NONE": 0}
	var flags uint8
	for _, name := range strings.Split(strings.ToUpper(s), ",") {
		b, ok := bits[name]
		if !ok {
			return 0, fmt.Errorf("unknown TCP flag %q", name)
		}
		flags |= b
	}
	return flags, nil
}

func (w *walker) matchMultiport(f *flow, m *ruleset.Match) result {
	// multiport works on tcp, udp, udplite, dccp and sctp.
	if !ValidProtocol(w.packet.Proto) {
		return no
	}
	for _, o := range m.Options {
		ranges, _ := ruleset.ParsePortList(o.Arg())
		inList := func(port uint16) bool {
			for _, r := range ranges {
				if r.Contains(port) {
					return true
				}
			}
			return false
		}
		var in bool
		switch o.Name {
		case "dports", "destination-ports":
			in = inList(f.dstPort)
		case "sports", "source-ports", "ports":
			if f.srcPort == 0 {
				if o.Name == "ports" && inList(f.dstPort) {
					in = true
					break
				}
				return notModelled("-m multiport --%s: the source port is not known", o.Name)
			}
			in = inList(f.srcPort) || (o.Name == "ports" && inList(f.dstPort))
		}
		if in == o.Negated {
			return no
		}
	}
	return yes
}

func (w *walker) matchAddrtype(f *flow, m *ruleset.Match) result {
	limitIn, limitOut := m.Option("limit-iface-in") != nil, m.Option("limit-iface-out") != nil
	iface := f.inIface
	if limitOut {
		iface = f.outIface
	}
	for _, o := range m.Options {
		var addr netip.Addr
		switch o.Name {
		case "src-type":
			addr = f.src
		case "dst-type":
			addr = f.dst
		default:
			continue
		}
		types, _ := ruleset.ParseAddressTypes(o.Arg())
		have := w.node.addressType(addr, iface, limitIn || limitOut)
		if slices.Contains(types, have) == o.Negated {
			return no
		}
	}
	return yes
}

// states are the conntrack states of the flow's first packet.
func states(f *flow) []string {
	if f.untracked {
		return []string{"UNTRACKED"}
	}
	s := []string{"NEW"}
	if f.dnat != nil {
		s = append(s, "DNAT")
	}
	if f.snat != nil || f.masquerade {
		s = append(s, "SNAT")
	}
	return s
}

func anyState(f *flow, o *ruleset.Option) bool {
	want, _ := ruleset.ParseConntrackStates(o.Arg())
	for _, s := range states(f) {
		if slices.Contains(want, s) {
			return true
		}
	}
	return false
}

// matchConntrack tests the connection of a first packet: state NEW (plus
// DNAT/SNAT once translated), original direction, original tuple as sent,
// reply tuple as translated so far.
func (w *walker) matchConntrack(f *flow, m *ruleset.Match) result {
	orig := w.packet
	for _, o := range m.Options {
		var in bool
		switch o.Name {
		case "ctstate":
			in = anyState(f, o)
		case "ctproto":
			in = strings.EqualFold(o.Arg(), orig.Proto) || o.Arg() == map[string]string{"tcp": "6", "udp": "17", "sctp": "132"}[orig.Proto]
		case "ctdir":
			in = strings.EqualFold(o.Arg(), "ORIGINAL")
		case "ctorigsrc":
			in = prefixContains(o.Arg(), orig.Src)
		case "ctorigdst":
			in = prefixContains(o.Arg(), orig.Dst.Addr())
		case "ctreplsrc": // the reply comes from where the packet now goes
			in = prefixContains(o.Arg(), f.dst)
		case "ctrepldst":
			if f.masquerade && f.snat == nil {
				return notModelled("--ctrepldst: the masquerade address is not known (give a node IP)")
			}
			in = prefixContains(o.Arg(), f.src)
		case "ctorigdstport":
			in = portContains(o.Arg(), orig.Dst.Port())
		case "ctreplsrcport":
			in = portContains(o.Arg(), f.dstPort)
		case "ctorigsrcport", "ctrepldstport":
			if f.srcPort == 0 {
				return notModelled("--%s: the source port is not known", o.Name)
			}
			in = portContains(o.Arg(), f.srcPort)
		default:
			return notModelled("-m conntrack --%s is not modelled", o.Name)
		}
		if in == o.Negated {
			return no
		}
	}
	return yes
}

func prefixContains(s string, a netip.Addr) bool {
	p, err := ruleset.ParsePrefix(s)
	return err == nil && p.Contains(a.Unmap())
}

func portContains(s string, port uint16) bool {
	r, err := ruleset.ParsePortRange(s)
	return err == nil && r.Contains(port)
}

// matchStatistic weighs a random match by the kernel's threshold and an nth
// match by 1/every (its long-run share; the counter itself is not in the
// dump).
func matchStatistic(m *ruleset.Match) result {
	var p *big.Rat
	var negated bool
	switch mode := m.Option("mode"); {
	case mode == nil:
		return notModelled("-m statistic without --mode")
	case mode.Arg() == "random":
		o := m.Option("probability")
		if o == nil {
			return notModelled("-m statistic --mode random without --probability")
		}
		threshold, _ := ruleset.ParseProbability(o.Arg())
		p, negated = KernelProbability(threshold), o.Negated
	default: // nth
		o := m.Option("every")
		if o == nil {
			return notModelled("-m statistic --mode nth without --every")
		}
		every, _ := strconv.ParseInt(o.Arg(), 10, 64)
		p, negated = big.NewRat(1, every), o.Negated
	}
	if negated {
		p.Sub(big.NewRat(1, 1), p)
	}
	return result{matched: true, p: p}
}

// KernelProbability is the chance that `-m statistic --mode random` with
// this threshold (see ruleset.ParseProbability) matches: the kernel draws
// 31 random bits and matches when they are below the threshold.
func KernelProbability(threshold uint32) *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(uint64(threshold)), big.NewInt(ruleset.ProbabilityScale))
}

// matchRecent: the source is in no list before this packet, so --rcheck,
// --update and --remove fail unless this same packet was --set earlier on
// its way; --set matches.
func matchRecent(f *flow, m *ruleset.Match) result {
	name := "DEFAULT"
	if o := m.Option("name"); o != nil {
		name = o.Arg()
	}
	for _, o := range m.Options {
		switch o.Name {
		case "set":
			return certain(!o.Negated)
		case "rcheck", "update", "remove":
			hits := 0
			if f.wasRecentlySet(name) {
				hits = 1
			}
			if h := m.Option("hitcount"); h != nil {
				n, _ := strconv.Atoi(h.Arg())
				return certain((hits >= n) != o.Negated)
			}
			return certain((hits > 0) != o.Negated)
		}
	}
	return notModelled("-m recent without --set, --rcheck, --update or --remove")
}

// recordRecent adds the packet to the lists of a matched rule's `-m recent
// --set`; a rule that forks records only in the branch where it matches.
func recordRecent(f *flow, r *ruleset.Rule) {
	for _, m := range r.Matches {
		if m.Module != "recent" || m.Option("set") == nil || m.Option("set").Negated {
			continue
		}
		name := "DEFAULT"
		if o := m.Option("name"); o != nil {
			name = o.Arg()
		}
		if !f.wasRecentlySet(name) {
			f.recent = append(f.recent, name)
		}
	}
}

func matchIPRange(f *flow, m *ruleset.Match) result {
	for _, o := range m.Options {
		addr := f.src
		if o.Name == "dst-range" {
			addr = f.dst
		}
		first, last, _ := strings.Cut(o.Arg(), "-")
		lo, err1 := netip.ParseAddr(first)
		hi, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil {
			return notModelled("-m iprange --%s %q: not an address range", o.Name, o.Arg())
		}
		in := lo.Compare(addr) <= 0 && addr.Compare(hi) <= 0
		if in == o.Negated {
			return no
		}
	}
	return yes
}

func (w *walker) matchPacketType(f *flow, m *ruleset.Match) result {
	o := m.Option("pkt-type")
	if o == nil {
		return notModelled("-m pkttype without --pkt-type")
	}
	kind := "unicast"
	switch w.node.addressType(f.dst, "", false) {
	case "BROADCAST":
		kind = "broadcast"
	case "MULTICAST":
		kind = "multicast"
	}
	return certain(strings.EqualFold(o.Arg(), kind) != o.Negated)
}
