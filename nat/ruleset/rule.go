package ruleset

import (
	"errors"
	"fmt"
	"strings"
)

// opaqueTargets are target extensions the parser accepts without knowing
// their options.
var opaqueTargets = map[string]bool{
	"AUDIT": true, "CLASSIFY": true, "CLUSTERIP": true, "CONNSECMARK": true, "DSCP": true,
	"ECN": true, "HMARK": true, "IDLETIMER": true, "LED": true, "NETMAP": true, "NFQUEUE": true,
	"RATEEST": true, "SECMARK": true, "SET": true, "SYNPROXY": true, "TEE": true, "TOS": true,
	"TPROXY": true, "TTL": true, "ULOG": true, "NFACCT": true, "QUEUE": true,
}

// ruleParser reads the options of one rule, in any order.
type ruleParser struct {
	table *Table
	rule  *Rule
	words []word
	pos   int
	// negate is set by a "!" and applies to the next option.
	negate bool
}

func parseRule(table *Table, chain string, words []word) (*Rule, error) {
	p := &ruleParser{table: table, rule: &Rule{Chain: chain}, words: words}
	for p.pos < len(p.words) {
		w := p.next()
		if !w.quoted && w.text == "!" {
			if p.negate {
				return nil, errors.New(`"!" twice in a row`)
			}
			p.negate = true
			continue
		}
		if w.quoted || !strings.HasPrefix(w.text, "-") || len(w.text) < 2 {
			return nil, fmt.Errorf("unexpected %q", w.text)
		}
		if err := p.option(w.text); err != nil {
			return nil, err
		}
	}
	if p.negate {
		return nil, errors.New(`"!" at the end of the rule`)
	}
	return p.rule, nil
}

func (p *ruleParser) next() word {
	w := p.words[p.pos]
	p.pos++
	return w
}

// value returns the next argument of option name, taking an old-style "!"
// after the option (`--dport ! 80`) as a negation.
func (p *ruleParser) value(name string) (string, error) {
	if p.pos < len(p.words) && !p.words[p.pos].quoted && p.words[p.pos].text == "!" {
		if p.negate {
			return "", fmt.Errorf("%s negated twice", name)
		}
		p.pos++
		p.negate = true
	}
	if p.pos >= len(p.words) {
		return "", fmt.Errorf("%s needs an argument", name)
	}
	return p.next().text, nil
}

// takeNegation returns and clears the pending "!".
func (p *ruleParser) takeNegation() bool {
	n := p.negate
	p.negate = false
	return n
}

func (p *ruleParser) option(name string) error {
	switch name {
	case "-s", "--source", "--src":
		return p.address(name, &p.rule.Source)
	case "-d", "--destination", "--dst":
		return p.address(name, &p.rule.Destination)
	case "-i", "--in-interface":
		return p.iface(name, &p.rule.InInterface)
	case "-o", "--out-interface":
		return p.iface(name, &p.rule.OutInterface)
	case "-p", "--protocol":
		if p.rule.Protocol != nil {
			return fmt.Errorf("%s given twice", name)
		}
		v, err := p.value(name)
		if err != nil {
			return err
		}
		p.rule.Protocol = &ProtocolMatch{Negated: p.takeNegation(), Name: normalProtocol(v)}
		return nil
	case "-f", "--fragment":
		p.rule.Fragment = &FragmentMatch{Negated: p.takeNegation()}
		return nil
	case "-m", "--match":
		if p.takeNegation() {
			return fmt.Errorf("%s cannot be negated", name)
		}
		v, err := p.value(name)
		if err != nil {
			return err
		}
		if !knownMatchModules[v] {
			// iptables-restore: "Couldn't load match `c'".
			return fmt.Errorf("%s %s: no such match module", name, v)
		}
		p.rule.Matches = append(p.rule.Matches, &Match{Module: v})
		return nil
	case "-j", "--jump", "-g", "--goto":
		return p.target(name)
	case "-c", "--set-counters":
		if p.pos+2 > len(p.words) {
			return fmt.Errorf("%s needs packets and bytes", name)
		}
		c, err := countersFrom(p.next().text, p.next().text)
		p.rule.Counters = c
		return err
	}
	if strings.HasPrefix(name, "--") {
		return p.extensionOption(name[2:])
	}
	return fmt.Errorf("unknown option %s", name)
}

func (p *ruleParser) address(name string, dst **AddressMatch) error {
	if *dst != nil {
		return fmt.Errorf("%s given twice", name)
	}
	v, err := p.value(name)
	if err != nil {
		return err
	}
	m := &AddressMatch{Negated: p.takeNegation()}
	for _, part := range strings.Split(v, ",") {
		prefix, err := ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		m.Prefixes = append(m.Prefixes, prefix)
	}
	if m.Negated && len(m.Prefixes) > 1 {
		return fmt.Errorf("%s: a negated address cannot be a list", name)
	}
	*dst = m
	return nil
}

func (p *ruleParser) iface(name string, dst **InterfaceMatch) error {
	if *dst != nil {
		return fmt.Errorf("%s given twice", name)
	}
	v, err := p.value(name)
	if err != nil {
		return err
	}
	if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ ") {
		return fmt.Errorf("%s: invalid interface name %q", name, v)
	}
	*dst = &InterfaceMatch{Negated: p.takeNegation(), Name: v}
	return nil
}

func (p *ruleParser) target(name string) error {
	if p.rule.Target != nil {
		return fmt.Errorf("%s: the rule already has a target", name)
	}
	if p.takeNegation() {
		return fmt.Errorf("%s cannot be negated", name)
	}
	v, err := p.value(name)
	if err != nil {
		return err
	}
	t := &Target{Name: v, Goto: name == "-g" || name == "--goto"}
	_, isExtension := targetExtensions[v]
	switch {
	case IsBuiltinChain(p.table.Name, v):
		return fmt.Errorf("%s %s: cannot jump to a built-in chain", name, v)
	case p.table.Chain(v) != nil:
		t.Chain = true
	case t.Goto:
		return fmt.Errorf("%s %s: no such chain", name, v)
	case !isExtension && !opaqueTargets[v]:
		return fmt.Errorf("%s %s: no such chain or target", name, v)
	}
	p.rule.Target = t
	return nil
}

// extensionOption assigns `--name args` to the match or target that owns
// it: the target's own options first, then the most recently loaded module
// that knows the option, then an implicit protocol module (`-p tcp --dport
// 80`), then the last module or target the parser has no table for.
func (p *ruleParser) extensionOption(name string) error {
	options, spec, known := p.owner(name)
	if options == nil {
		return fmt.Errorf("unknown option --%s", name)
	}
	negated := p.takeNegation()
	o := &Option{Name: name}
	if known {
		for i := 0; i < spec.args; i++ {
			if i == 0 { // only the first argument may carry an old-style "!"
				p.negate = negated
			}
			v, err := p.value("--" + name)
			if err != nil {
				return err
			}
			if i == 0 {
				negated = p.takeNegation()
			} else if p.takeNegation() {
				return fmt.Errorf("--%s: misplaced \"!\"", name)
			}
			o.Args = append(o.Args, v)
		}
		if spec.check != nil {
			if err := spec.check(o.Args); err != nil {
				return fmt.Errorf("--%s: %v", name, err)
			}
		}
		if t := p.rule.Target; t != nil && options == &t.Options && len(o.Args) > 0 && natPortOption(t.Name, name, o.Args[0]) {
			// iptables-restore decides this while parsing the target, so -p
			// must come before it.
			if proto := p.rule.Protocol; proto == nil || proto.Name == "all" {
				return fmt.Errorf("--%s %s: a port needs -p tcp, udp, sctp or dccp before the target (iptables-restore: \"Need TCP, UDP, SCTP or DCCP with port specification\")", name, o.Args[0])
			}
		}
	} else {
		for p.pos < len(p.words) && !startsOption(p.words[p.pos]) {
			o.Args = append(o.Args, p.next().text)
		}
	}
	o.Negated = negated
	*options = append(*options, o)
	return nil
}

func startsOption(w word) bool {
	return !w.quoted && (w.text == "!" || (len(w.text) > 1 && w.text[0] == '-' && !isDigit(w.text[1])))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// owner finds where option name belongs; known says whether its arguments
// are described by spec.
func (p *ruleParser) owner(name string) (options *[]*Option, spec optionSpec, known bool) {
	t := p.rule.Target
	if t != nil && !t.Chain {
		if s, ok := targetExtensions[t.Name][name]; ok {
			return &t.Options, s, true
		}
	}
	for i := len(p.rule.Matches) - 1; i >= 0; i-- {
		m := p.rule.Matches[i]
		if s, ok := matchExtensions[m.Module][name]; ok {
			return &m.Options, s, true
		}
	}
	if proto := p.rule.Protocol; proto != nil && !proto.Negated {
		if s, ok := matchExtensions[proto.Name][name]; ok && p.rule.Match(proto.Name) == nil {
			m := &Match{Module: proto.Name}
			p.rule.Matches = append(p.rule.Matches, m)
			return &m.Options, s, true
		}
	}
	if t != nil && !t.Chain && targetExtensions[t.Name] == nil {
		return &t.Options, optionSpec{}, false
	}
	for i := len(p.rule.Matches) - 1; i >= 0; i-- {
		if m := p.rule.Matches[i]; matchExtensions[m.Module] == nil {
			return &m.Options, optionSpec{}, false
		}
	}
	return nil, optionSpec{}, false
}

// natPortOption reports whether a NAT target's option names a port:
// DNAT/SNAT's "addr:port" (also ":port", "[v6]:port") or MASQUERADE and
// REDIRECT's --to-ports.
func natPortOption(target, option, arg string) bool {
	switch {
	case option == "to-ports" && (target == "MASQUERADE" || target == "REDIRECT"):
		return true
	case option == "to-destination" || option == "to-source":
		if end := strings.LastIndex(arg, "]"); strings.HasPrefix(arg, "[") && end >= 0 {
			return strings.HasPrefix(arg[end+1:], ":")
		}
		return strings.Count(arg, ":") == 1
	}
	return false
}
