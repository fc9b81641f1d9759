package diff

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// canon is a rule in a form that does not depend on how it was written:
// kube-proxy's restore input (`-m tcp -p tcp -d 10.0.0.1 --probability
// 0.3333333333 -j MARK --or-mark 0x00004000`) and iptables-save's printing
// of the same rule (`-d 10.0.0.1/32 -p tcp … --probability 0.33333333349 -j
// MARK --set-xmark 0x4000/0x4000`) give the same text. Values are compared
// as the kernel holds them: probabilities as their 31-bit threshold, marks
// as numbers, defaults that iptables-save adds (recent's --mask and
// --rsource, REJECT's --reject-with) filled in.
func canon(r *ruleset.Rule) string {
	var parts []string
	neg := func(n bool) string {
		if n {
			return "! "
		}
		return ""
	}
	if m := r.Source; m != nil {
		parts = append(parts, neg(m.Negated)+"-s "+prefixes(m))
	}
	if m := r.Destination; m != nil {
		parts = append(parts, neg(m.Negated)+"-d "+prefixes(m))
	}
	if m := r.InInterface; m != nil {
		parts = append(parts, neg(m.Negated)+"-i "+m.Name)
	}
	if m := r.OutInterface; m != nil {
		parts = append(parts, neg(m.Negated)+"-o "+m.Name)
	}
	if m := r.Protocol; m != nil {
		parts = append(parts, neg(m.Negated)+"-p "+m.Name)
	}
	if m := r.Fragment; m != nil {
		parts = append(parts, neg(m.Negated)+"-f")
	}
	var matches []string
	for _, m := range r.Matches {
		matches = append(matches, canonMatch(m))
	}
	sort.Strings(matches)
	parts = append(parts, matches...)
	if t := r.Target; t != nil {
		parts = append(parts, canonTarget(t))
	}
	return strings.Join(parts, " ")
}

func prefixes(m *ruleset.AddressMatch) string {
	s := make([]string, len(m.Prefixes))
	for i, p := range m.Prefixes {
		s[i] = p.String()
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

var optionAliases = map[string]string{
	"destination-port": "dport", "source-port": "sport",
	"destination-ports": "dports", "source-ports": "sports",
}

func canonMatch(m *ruleset.Match) string {
	var opts []string
	recentDefaults := map[string]bool{"mask": true, "rsource": true}
	for _, o := range m.Options {
		name := o.Name
		if a, ok := optionAliases[name]; ok {
			name = a
		}
		args := append([]string(nil), o.Args...)
		switch {
		case m.Module == "statistic" && name == "probability":
			if th, err := ruleset.ParseProbability(o.Arg()); err == nil {
				args = []string{strconv.FormatUint(uint64(th), 10)}
			}
		case (m.Module == "mark" || m.Module == "connmark") && name == "mark":
			if mk, err := ruleset.ParseMark(o.Arg()); err == nil {
				args = []string{fmt.Sprintf("%#x/%#x", mk.Value, mk.Mask)}
			}
		case name == "dport" || name == "sport":
			if pr, err := ruleset.ParsePortRange(o.Arg()); err == nil {
				args = []string{portRange(pr)}
			}
		case (m.Module == "conntrack" && name == "ctstate") || (m.Module == "state" && name == "state"):
			if st, err := ruleset.ParseConntrackStates(o.Arg()); err == nil {
				sort.Strings(st)
				args = []string{strings.Join(st, ",")}
			}
		case m.Module == "addrtype" && (name == "src-type" || name == "dst-type"):
			args = []string{strings.ToUpper(o.Arg())}
		case m.Module == "recent" && recentDefaults[name]:
			if name == "rsource" || o.Arg() == "255.255.255.255" {
				continue
			}
		}
		opts = append(opts, strings.TrimSpace(neg(o.Negated)+"--"+name+" "+strings.Join(args, " ")))
	}
	sort.Strings(opts)
	return "-m " + m.Module + " " + strings.Join(opts, " ")
}

func neg(n bool) string {
	if n {
		return "! "
	}
	return ""
}

func portRange(r ruleset.PortRange) string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d:%d", r.First, r.Last)
}

func canonTarget(t *ruleset.Target) string {
	verb := "-j "
	if t.Goto {
		verb = "-g "
	}
	if t.Chain {
		return verb + t.Name
	}
	var opts []string
	switch t.Name {
	case "MARK":
		// Every form as the kernel's value/mask xor (iptables-save prints
		// --set-xmark for all of them).
		var value, mask uint32
		for _, o := range t.Options {
			v, _ := ruleset.ParseMarkValue(o.Arg())
			mk, _ := ruleset.ParseMark(o.Arg())
			switch o.Name {
			case "set-xmark":
				value, mask = mk.Value, mk.Mask
			case "set-mark":
				value, mask = mk.Value, mk.Value|mk.Mask
			case "or-mark":
				value, mask = v, v
			case "and-mark":
				value, mask = 0, ^v
			case "xor-mark":
				value, mask = v, 0
			}
		}
		opts = append(opts, fmt.Sprintf("--set-xmark %#x/%#x", value, mask))
	case "REJECT":
		with := "icmp-port-unreachable"
		if o := t.Option("reject-with"); o != nil {
			with = o.Arg()
		}
		opts = append(opts, "--reject-with "+with)
	default:
		for _, o := range t.Options {
			opts = append(opts, strings.TrimSpace("--"+o.Name+" "+strings.Join(o.Args, " ")))
		}
		sort.Strings(opts)
	}
	return strings.TrimSpace(verb + t.Name + " " + strings.Join(opts, " "))
}
