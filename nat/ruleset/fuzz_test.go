package ruleset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the parser: it may refuse it, but must
// not panic, and what it accepts must be well formed.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.rules")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, seed := range smallPieces(string(data), 4) {
			f.Add(seed)
		}
	}
	for _, seed := range []string{
		"",
		"*nat\nCOMMIT\n",
		"*filter\n:INPUT DROP [1:2]\n[3:4] -A INPUT -i eni+ ! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 1:1024 -j ACCEPT\nCOMMIT\n",
		"*nat\n:A - [0:0]\n-A A -m comment --comment \"x \\\" y\" -m statistic --mode random --probability 0.5 -g A\nCOMMIT\n",
		"*mangle\n:PREROUTING ACCEPT\n-A PREROUTING -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80\n-X\n-F\nCOMMIT\n",
		"*raw\n-I PREROUTING 1 -j CT --notrack\n-A OUTPUT -m fancy --x 1 '2' ! --y -j NFQUEUE --queue-num 1\nCOMMIT\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, err := Parse(strings.NewReader(input))
		if err != nil {
			return
		}
		for _, table := range d.Tables {
			for _, c := range table.Chains {
				if table.Chain(c.Name) != c {
					t.Fatalf("chain %s of table %s is not indexed", c.Name, table.Name)
				}
				for _, r := range c.Rules {
					if r.Line <= 0 || r.Chain != c.Name {
						t.Fatalf("rule %q has line %d and chain %q", r.Text, r.Line, r.Chain)
					}
					if r.Target != nil && r.Target.Chain && table.Chain(r.Target.Name) == nil {
						t.Fatalf("rule %q jumps to a missing chain", r.Text)
					}
				}
			}
		}
	})
}

// smallPieces cuts a dump into valid dumps of a few rules each: the fuzzer
// mutates (and minimizes) small inputs much faster than whole files.
func smallPieces(dump string, rulesPerPiece int) []string {
	var pieces []string
	var header, rules []string
	flush := func() {
		if len(rules) > 0 {
			pieces = append(pieces, strings.Join(header, "\n")+"\n"+strings.Join(rules, "\n")+"\nCOMMIT\n")
		}
		rules = nil
	}
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			header = []string{line}
		case strings.HasPrefix(line, ":"):
			header = append(header, line)
		case strings.HasPrefix(line, "-") || strings.HasPrefix(line, "["):
			if rules = append(rules, line); len(rules) == rulesPerPiece {
				flush()
			}
		case line == "COMMIT":
			flush()
		}
	}
	return pieces
}
