package ruleset

// Dump is a parsed ruleset: its tables in the order they first appeared.
type Dump struct {
	Tables []*Table
}

// Table returns the table with that name ("nat", "filter", …), or nil.
func (d *Dump) Table(name string) *Table {
	for _, t := range d.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Table is one `*name` section.
type Table struct {
	Name   string
	Line   int
	Chains []*Chain

	byName map[string]*Chain
}

// Chain returns the chain with that name, or nil.
func (t *Table) Chain(name string) *Chain {
	return t.byName[name]
}

// Chain is a built-in or user-defined chain.
type Chain struct {
	Name string
	// Line is where the chain was declared, 0 for built-in chains that the
	// input never declared but a rule appended to.
	Line int
	// Policy is ACCEPT or DROP for built-in chains and "" for user chains
	// (written "-").
	Policy   string
	Counters *Counters
	Rules    []*Rule
}

// BuiltIn reports whether the chain is one of the kernel's hook chains.
func (c *Chain) BuiltIn() bool {
	return c.Policy != ""
}

// Counters are packet and byte counts, from `[p:b]` or `-c p b`.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// Rule is one `-A`/`-I` line.
type Rule struct {
	Line int
	// Text is the line as written, without a leading `[p:b]`.
	Text     string
	Chain    string
	Counters *Counters

	Source       *AddressMatch
	Destination  *AddressMatch
	InInterface  *InterfaceMatch
	OutInterface *InterfaceMatch
	Protocol     *ProtocolMatch
	// Fragment is set by `-f` (or `! -f`): the rule tests for non-first
	// fragments.
	Fragment *FragmentMatch
	// Matches are the `-m` modules in the order the rule loads them;
	// implicit protocol modules (`-p tcp --dport 80`) come last.
	Matches []*Match
	// Target is nil for a rule without -j/-g (it only counts).
	Target *Target
}

// Match returns the rule's first match of that module, or nil.
func (r *Rule) Match(module string) *Match {
	for _, m := range r.Matches {
		if m.Module == module {
			return m
		}
	}
	return nil
}

// Comment returns the text of the rule's comment match, or "".
func (r *Rule) Comment() string {
	if m := r.Match("comment"); m != nil {
		if o := m.Option("comment"); o != nil {
			return o.Arg()
		}
	}
	return ""
}

// Match is one match module with its options.
type Match struct {
	Module  string
	Options []*Option
}

// Option returns the match's option with that name (without dashes), or nil.
func (m *Match) Option(name string) *Option {
	return findOption(m.Options, name)
}

// Target is what a rule does when it matches: a built-in verdict (ACCEPT,
// DROP, RETURN), a target extension (DNAT, MARK, …) or a user chain.
type Target struct {
	Name string
	// Goto is set for `-g`: the chain replaces the current one instead of
	// being called.
	Goto bool
	// Chain is set when Name is a chain of the rule's table.
	Chain   bool
	Options []*Option
}

// Option returns the target's option with that name (without dashes), or nil.
func (t *Target) Option(name string) *Option {
	return findOption(t.Options, name)
}

// Option is a `--name arg…` option of a match or target, possibly negated.
type Option struct {
	// Name is the option without its leading dashes, e.g. "dport".
	Name    string
	Negated bool
	Args    []string
}

// Arg returns the first argument, or "" for a flag or a missing option.
func (o *Option) Arg() string {
	if o == nil || len(o.Args) == 0 {
		return ""
	}
	return o.Args[0]
}

func findOption(options []*Option, name string) *Option {
	for _, o := range options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Without returns a copy of the dump without the chains drop selects and
// without the rules that jump or go to them; the rules kept are shared
// with d. Built-in chains are never dropped.
func (d *Dump) Without(drop func(table, chain string) bool) *Dump {
	out := &Dump{}
	for _, t := range d.Tables {
		nt := &Table{Name: t.Name, Line: t.Line, byName: map[string]*Chain{}}
		for _, c := range t.Chains {
			if !c.BuiltIn() && drop(t.Name, c.Name) {
				continue
			}
			nc := *c
			nc.Rules = nil
			for _, r := range c.Rules {
				if r.Target != nil && r.Target.Chain && drop(t.Name, r.Target.Name) {
					continue
				}
				nc.Rules = append(nc.Rules, r)
			}
			nt.Chains = append(nt.Chains, &nc)
			nt.byName[nc.Name] = &nc
		}
		out.Tables = append(out.Tables, nt)
	}
	return out
}
