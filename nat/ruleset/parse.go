package ruleset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseError is a problem in the input, with the 1-based line it is on.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// MaxParseErrors is how many problems Parse reports before it stops, so
// that a pasted fragment can be fixed in one go without a flood.
const MaxParseErrors = 20

// ParseErrors is every problem Parse found, in line order: each line that
// iptables-restore would refuse. errors.As finds the first *ParseError.
type ParseErrors struct {
	Errs []*ParseError
	// Truncated is set when Parse stopped after MaxParseErrors problems.
	Truncated bool
}

func (e *ParseErrors) Error() string {
	lines := make([]string, 0, len(e.Errs)+1)
	for _, pe := range e.Errs {
		lines = append(lines, pe.Error())
	}
	if e.Truncated {
		lines = append(lines, fmt.Sprintf("(stopped after %d errors)", len(e.Errs)))
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (e *ParseErrors) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, pe := range e.Errs {
		out[i] = pe
	}
	return out
}

// ErrNoTables is returned for input without any `*table` section.
var ErrNoTables = errors.New("no tables: input is not iptables-save output")

// maxLineLength bounds one input line; kube-proxy's longest rules are a few
// hundred bytes.
const maxLineLength = 1 << 20

// builtinChains are the hook chains of each table the kernel knows.
var builtinChains = map[string][]string{
	"raw":      {"PREROUTING", "OUTPUT"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// IsBuiltinChain reports whether chain is a hook chain of table.
func IsBuiltinChain(table, chain string) bool {
	for _, c := range builtinChains[table] {
		if c == chain {
			return true
		}
	}
	return false
}

// Parse reads iptables-save output (or iptables-restore input) and returns
// the ruleset. Every line that iptables-restore would refuse is reported,
// with its line number, up to MaxParseErrors, as a *ParseErrors; a line in
// error is left out and parsing goes on, so one bad line does not hide the
// next. Values that are well formed but that a walk cannot evaluate (a NAT
// range iptables-save printed as ":0", say) are not errors: they are kept
// as written, for the evaluator to report.
func Parse(r io.Reader) (*Dump, error) {
	p := &parser{dump: &Dump{}}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), maxLineLength)
	for scanner.Scan() {
		p.line++
		if err := p.parseLine(strings.TrimSpace(scanner.Text())); err != nil {
			if p.fail(p.line, err) {
				return nil, p.errs
			}
		}
	}
	if err := scanner.Err(); err != nil {
		p.fail(p.line+1, err)
		return nil, p.errs
	}
	if p.table != nil {
		p.fail(p.line, fmt.Errorf("table %s (line %d) has no COMMIT", p.table.Name, p.tableLine))
	}
	if p.errs != nil {
		return nil, p.errs
	}
	if len(p.dump.Tables) == 0 {
		return nil, ErrNoTables
	}
	return p.dump, nil
}

// fail records a problem; it reports true when no more may be recorded.
func (p *parser) fail(line int, err error) bool {
	if p.errs == nil {
		p.errs = &ParseErrors{}
	}
	if len(p.errs.Errs) == MaxParseErrors {
		p.errs.Truncated = true
		return true
	}
	p.errs.Errs = append(p.errs.Errs, &ParseError{Line: line, Err: err})
	return false
}

type parser struct {
	dump *Dump
	line int
	// table is the open `*table` section, nil between COMMIT and the next.
	table     *Table
	tableLine int
	// declared holds the chains declared in the open section.
	declared map[string]int
	// skipping is set inside a section whose header was refused: its lines
	// are passed over up to its COMMIT, so one error is not reported per line.
	skipping bool
	errs     *ParseErrors
}

func (p *parser) parseLine(line string) error {
	switch {
	case line == "" || strings.HasPrefix(line, "#"):
		return nil
	case strings.HasPrefix(line, "*"):
		return p.openTable(line[1:])
	case line == "COMMIT":
		if p.skipping {
			p.skipping = false
			return nil
		}
		return p.commit()
	}
	if p.skipping {
		return nil
	}
	if p.table == nil {
		return fmt.Errorf("unexpected %q outside a table (not iptables-save output)", abbreviate(line))
	}
	switch {
	case strings.HasPrefix(line, ":"):
		return p.declareChain(line[1:])
	case strings.HasPrefix(line, "-") || strings.HasPrefix(line, "["):
		return p.command(line)
	}
	return fmt.Errorf("unexpected %q (not iptables-save output)", abbreviate(line))
}

func (p *parser) openTable(name string) error {
	if p.table != nil {
		// Report it, then read on as if the open table had been committed.
		p.fail(p.line, fmt.Errorf("table %s starts before table %s (line %d) is committed", name, p.table.Name, p.tableLine))
		if err := p.commit(); err != nil {
			p.fail(p.line, err)
		}
	}
	p.skipping = false
	if _, ok := builtinChains[name]; !ok {
		p.skipping = true
		return fmt.Errorf("unknown table %q", name)
	}
	p.table, p.tableLine, p.declared = p.dump.Table(name), p.line, map[string]int{}
	if p.table == nil {
		p.table = &Table{Name: name, Line: p.line, byName: map[string]*Chain{}}
		p.dump.Tables = append(p.dump.Tables, p.table)
	}
	return nil
}

// commit closes the section after checking that every jump lands on a chain.
func (p *parser) commit() error {
	if p.table == nil {
		return errors.New("COMMIT without a table")
	}
	table := p.table
	p.table = nil
	for _, c := range table.Chains {
		for _, r := range c.Rules {
			if r.Target != nil && r.Target.Chain && table.Chain(r.Target.Name) == nil {
				return fmt.Errorf("rule at line %d jumps to chain %s, which was deleted", r.Line, r.Target.Name)
			}
		}
	}
	return nil
}

// declareChain handles ":NAME POLICY [p:b]".
func (p *parser) declareChain(decl string) error {
	fields := strings.Fields(decl)
	if len(fields) < 2 || len(fields) > 3 {
		return fmt.Errorf("chain line %q: want \":NAME POLICY [packets:bytes]\"", abbreviate(decl))
	}
	name, policy := fields[0], fields[1]
	if err := checkChainName(name); err != nil {
		return err
	}
	if first, ok := p.declared[name]; ok {
		return fmt.Errorf("chain %s declared twice (first at line %d)", name, first)
	}
	builtin := IsBuiltinChain(p.table.Name, name)
	switch {
	case builtin && policy == "-":
		policy = "ACCEPT"
	case builtin && policy != "ACCEPT" && policy != "DROP":
		return fmt.Errorf("chain %s: policy %q is neither ACCEPT nor DROP", name, policy)
	case !builtin && policy != "-":
		return fmt.Errorf("chain %s is not a built-in chain of table %s and cannot have policy %s", name, p.table.Name, policy)
	case !builtin:
		policy = ""
	}
	var counters *Counters
	if len(fields) == 3 {
		c, err := parseCounters(fields[2])
		if err != nil {
			return err
		}
		counters = c
	}
	p.declared[name] = p.line
	chain := p.table.Chain(name)
	if chain == nil {
		chain = &Chain{Name: name}
		p.table.byName[name] = chain
		p.table.Chains = append(p.table.Chains, chain)
	}
	// Declaring a chain flushes it, as iptables-restore --noflush does.
	chain.Line, chain.Policy, chain.Counters, chain.Rules = p.line, policy, counters, nil
	return nil
}

func checkChainName(name string) error {
	if name == "" || len(name) > 28 || strings.HasPrefix(name, "-") || name == "!" {
		return fmt.Errorf("invalid chain name %q", name)
	}
	return nil
}

// parseCounters reads "[packets:bytes]".
func parseCounters(s string) (*Counters, error) {
	inner, open := strings.CutPrefix(s, "[")
	inner, closed := strings.CutSuffix(inner, "]")
	if !open || !closed {
		return nil, fmt.Errorf("invalid counters %q: want [packets:bytes]", s)
	}
	packets, bytes, ok := strings.Cut(inner, ":")
	if !ok {
		return nil, fmt.Errorf("invalid counters %q: want [packets:bytes]", s)
	}
	return countersFrom(packets, bytes)
}

func countersFrom(packets, bytes string) (*Counters, error) {
	pn, err1 := strconv.ParseUint(packets, 10, 64)
	bn, err2 := strconv.ParseUint(bytes, 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("invalid counters %q %q", packets, bytes)
	}
	return &Counters{Packets: pn, Bytes: bn}, nil
}

// command handles a rule line ([p:b] -A/-I …) or a chain command (-N, -X,
// -F, -P, -Z) as iptables-restore accepts them.
func (p *parser) command(line string) error {
	var counters *Counters
	if strings.HasPrefix(line, "[") {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return fmt.Errorf("invalid counters in %q", abbreviate(line))
		}
		c, err := parseCounters(line[:end+1])
		if err != nil {
			return err
		}
		counters, line = c, strings.TrimSpace(line[end+1:])
	}
	words, err := splitWords(line)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return errors.New("counters without a rule")
	}
	cmd := words[0].text
	var chainName string
	if len(words) > 1 {
		chainName = words[1].text
	}
	switch cmd {
	case "-A", "--append", "-I", "--insert":
		if chainName == "" {
			return fmt.Errorf("%s needs a chain", cmd)
		}
		return p.addRule(cmd, chainName, words[2:], line, counters)
	case "-N", "--new-chain":
		if len(words) != 2 {
			return fmt.Errorf("%s needs exactly one chain", cmd)
		}
		return p.declareChain(chainName + " -")
	case "-X", "--delete-chain", "-F", "--flush", "-Z", "--zero":
		return p.chainCommand(cmd, words[1:])
	case "-P", "--policy":
		if len(words) != 3 {
			return fmt.Errorf("%s needs a chain and a policy", cmd)
		}
		c := p.table.Chain(chainName)
		if c == nil || !c.BuiltIn() {
			return fmt.Errorf("%s: %s is not a declared built-in chain", cmd, chainName)
		}
		if pol := words[2].text; pol == "ACCEPT" || pol == "DROP" {
			c.Policy = pol
			return nil
		}
		return fmt.Errorf("%s: policy %q is neither ACCEPT nor DROP", cmd, words[2].text)
	}
	return fmt.Errorf("unsupported command %q", cmd)
}

func (p *parser) chainCommand(cmd string, args []word) error {
	if len(args) > 1 {
		return fmt.Errorf("%s takes at most one chain", cmd)
	}
	targets := p.table.Chains
	if len(args) == 1 {
		c := p.table.Chain(args[0].text)
		if c == nil {
			return fmt.Errorf("%s: no chain %s", cmd, args[0].text)
		}
		targets = []*Chain{c}
	}
	for _, c := range targets {
		switch cmd {
		case "-F", "--flush":
			c.Rules = nil
		case "-Z", "--zero":
			c.Counters = nil
		default: // -X
			if c.BuiltIn() {
				if len(args) == 1 {
					return fmt.Errorf("%s: cannot delete built-in chain %s", cmd, c.Name)
				}
				continue
			}
			p.deleteChain(c)
		}
	}
	return nil
}

func (p *parser) deleteChain(c *Chain) {
	delete(p.table.byName, c.Name)
	delete(p.declared, c.Name)
	kept := p.table.Chains[:0]
	for _, other := range p.table.Chains {
		if other != c {
			kept = append(kept, other)
		}
	}
	p.table.Chains = kept
}

func (p *parser) addRule(cmd, chainName string, args []word, text string, counters *Counters) error {
	chain := p.table.Chain(chainName)
	if chain == nil {
		if !IsBuiltinChain(p.table.Name, chainName) {
			return fmt.Errorf("%s %s: chain not declared", cmd, chainName)
		}
		chain = &Chain{Name: chainName, Policy: "ACCEPT"}
		p.table.byName[chainName] = chain
		p.table.Chains = append(p.table.Chains, chain)
	}
	position := len(chain.Rules)
	if cmd == "-I" || cmd == "--insert" {
		position = 0
		if len(args) > 0 && !args[0].quoted {
			if n, err := strconv.Atoi(args[0].text); err == nil {
				if n < 1 || n > len(chain.Rules)+1 {
					return fmt.Errorf("%s %s %d: index out of range", cmd, chainName, n)
				}
				position, args = n-1, args[1:]
			}
		}
	}
	rule, err := parseRule(p.table, chainName, args)
	if err != nil {
		return err
	}
	rule.Line, rule.Text = p.line, text
	if rule.Counters == nil {
		rule.Counters = counters
	}
	chain.Rules = append(chain.Rules, nil)
	copy(chain.Rules[position+1:], chain.Rules[position:])
	chain.Rules[position] = rule
	return nil
}

// abbreviate shortens text quoted in an error message.
func abbreviate(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
