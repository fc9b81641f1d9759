package ruleset

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseFile(t *testing.T, name string) *Dump {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	d, err := Parse(f)
	require.NoError(t, err)
	return d
}

func parseText(t *testing.T, text string) *Dump {
	t.Helper()
	d, err := Parse(strings.NewReader(text))
	require.NoError(t, err)
	return d
}

func TestParseSaveOutput(t *testing.T) {
	d := parseFile(t, "eks-node-1.rules")
	require.Len(t, d.Tables, 3)
	assert.Equal(t, []string{"mangle", "nat", "filter"}, []string{d.Tables[0].Name, d.Tables[1].Name, d.Tables[2].Name})

	nat := d.Table("nat")
	pre := nat.Chain("PREROUTING")
	require.NotNil(t, pre)
	assert.True(t, pre.BuiltIn())
	assert.Equal(t, "ACCEPT", pre.Policy)
	assert.Equal(t, &Counters{Packets: 12, Bytes: 720}, pre.Counters)
	require.Len(t, pre.Rules, 3)
	assert.Equal(t, &Counters{Packets: 2, Bytes: 120}, pre.Rules[0].Counters, "[p:b] before -A")
	assert.Equal(t, "kubernetes service portals", pre.Rules[0].Comment())
	assert.Equal(t, &Target{Name: "KUBE-SERVICES", Chain: true}, pre.Rules[0].Target)

	sep := nat.Chain("KUBE-SVC-VDXCGHLC7LJVQSZ7")
	assert.False(t, sep.BuiltIn())
	assert.Equal(t, "", sep.Policy)
	first := sep.Rules[0]
	assert.Equal(t, "default/nginx-nlb-service -> 192.168.1.248:7777", first.Comment())
	stat := first.Match("statistic")
	require.NotNil(t, stat)
	assert.Equal(t, "random", stat.Option("mode").Arg())
	assert.Equal(t, "0.33333333349", stat.Option("probability").Arg())

	svc := nat.Chain("KUBE-SERVICES").Rules[1]
	assert.Equal(t, &AddressMatch{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.100.30.185/32")}}, svc.Destination)
	assert.Equal(t, &ProtocolMatch{Name: "tcp"}, svc.Protocol)
	assert.Equal(t, "7777", svc.Match("tcp").Option("dport").Arg())

	snat := nat.Chain("AWS-SNAT-CHAIN-0").Rules[1]
	assert.Equal(t, &InterfaceMatch{Negated: true, Name: "vlan+"}, snat.OutInterface)
	dstType := snat.Match("addrtype").Option("dst-type")
	assert.Equal(t, &Option{Name: "dst-type", Negated: true, Args: []string{"LOCAL"}}, dstType)
	assert.Equal(t, "SNAT", snat.Target.Name)
	assert.Equal(t, "192.168.1.118", snat.Target.Option("to-source").Arg())
	assert.NotNil(t, snat.Target.Option("random-fully"))

	mangle := d.Table("mangle").Chain("PREROUTING").Rules
	assert.NotNil(t, mangle[0].Match("addrtype").Option("limit-iface-in"))
	restore := mangle[1].Target
	assert.Equal(t, "CONNMARK", restore.Name)
	assert.NotNil(t, restore.Option("restore-mark"))
	assert.Equal(t, "0x80", restore.Option("nfmask").Arg())

	fw := d.Table("filter").Chain("KUBE-FIREWALL").Rules[0]
	assert.True(t, fw.Source.Negated)
	ct := fw.Match("conntrack").Option("ctstate")
	assert.Equal(t, &Option{Name: "ctstate", Negated: true, Args: []string{"RELATED,ESTABLISHED,DNAT"}}, ct)
}

func TestParseRestoreInput(t *testing.T) {
	d := parseFile(t, "kube-proxy-restore.rules")
	nat := d.Table("nat")
	assert.Nil(t, nat.Chain("KUBE-SEP-STALE0000000000"), "-X deletes the chain")
	assert.Nil(t, nat.Chain("PREROUTING"), "built-in chains appear only when used")

	svc := nat.Chain("KUBE-SERVICES").Rules[0]
	assert.Equal(t, "10.96.100.10/32", svc.Destination.Prefixes[0].String(), "a bare address is a /32")
	require.NotNil(t, svc.Match("tcp"))
	assert.Equal(t, "80", svc.Match("tcp").Option("dport").Arg(), "--dport after -d belongs to -m tcp")

	masq := nat.Chain("KUBE-SVC-2CMXP7HKUVJN7L6M").Rules[0]
	assert.True(t, masq.Source.Negated)

	mark := nat.Chain("KUBE-POSTROUTING").Rules[0].Match("mark").Option("mark")
	m, err := ParseMark(mark.Arg())
	require.NoError(t, err)
	assert.Equal(t, Mark{Value: 0x4000, Mask: 0x4000}, m)
	assert.True(t, mark.Negated)

	prob := nat.Chain("KUBE-SVC-2CMXP7HKUVJN7L6M").Rules[1].Match("statistic").Option("probability")
	threshold, err := ParseProbability(prob.Arg())
	require.NoError(t, err)
	assert.Equal(t, uint32(715827883), threshold, "0.3333333333 rounds to the same threshold as the saved 0.33333333349")

	sep := nat.Chain("KUBE-SEP-QEUVR6UIWCNPPGR2").Rules[0]
	assert.Equal(t, "default/nginx", sep.Comment(), "unquoted comment")
}

func TestParseRuleOptions(t *testing.T) {
	const head = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:MY-CHAIN - [0:0]\n"
	parseOne := func(t *testing.T, rule string) *Rule {
		t.Helper()
		d := parseText(t, head+rule+"\nCOMMIT\n")
		for _, c := range d.Table("filter").Chains {
			if len(c.Rules) > 0 {
				return c.Rules[0]
			}
		}
		t.Fatal("no rule parsed")
		return nil
	}

	t.Run("interfaces and negation", func(t *testing.T) {
		r := parseOne(t, `-A FORWARD -i eni+ ! -o docker0 -j ACCEPT`)
		assert.Equal(t, &InterfaceMatch{Name: "eni+"}, r.InInterface)
		assert.True(t, r.InInterface.Matches("eni8ea2c11fe35"))
		assert.False(t, r.InInterface.Matches("eth0"))
		assert.True(t, r.OutInterface.Matches("eth0"))
		assert.False(t, r.OutInterface.Matches("docker0"))
	})
	t.Run("old-style negation after the option", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -s ! 10.0.0.0/8 -p tcp --dport ! 22 -j DROP`)
		assert.True(t, r.Source.Negated)
		assert.True(t, r.Match("tcp").Option("dport").Negated, "implicit tcp module from -p tcp")
	})
	t.Run("multiport and port ranges", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -m tcp --sport 1024: -j ACCEPT`)
		ports, err := ParsePortList(r.Match("multiport").Option("dports").Arg())
		require.NoError(t, err)
		assert.Equal(t, []PortRange{{80, 80}, {443, 443}, {8000, 8080}}, ports)
		sport, err := ParsePortRange(r.Match("tcp").Option("sport").Arg())
		require.NoError(t, err)
		assert.Equal(t, PortRange{1024, 65535}, sport)
	})
	t.Run("escaped quotes in a comment", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m comment --comment "say \"hi\" \\ back" -j ACCEPT`)
		assert.Equal(t, `say "hi" \ back`, r.Comment())
	})
	t.Run("option-like text inside quotes", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m comment --comment '-j DROP' -j ACCEPT`)
		assert.Equal(t, "-j DROP", r.Comment())
		assert.Equal(t, "ACCEPT", r.Target.Name)
	})
	t.Run("counters inside the rule", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -c 7 420 -j ACCEPT`)
		assert.Equal(t, &Counters{Packets: 7, Bytes: 420}, r.Counters)
	})
	t.Run("goto", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -g MY-CHAIN`)
		assert.Equal(t, &Target{Name: "MY-CHAIN", Goto: true, Chain: true}, r.Target)
	})
	t.Run("no target", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -s 10.0.0.1/32`)
		assert.Nil(t, r.Target)
	})
	t.Run("fragment", func(t *testing.T) {
		r := parseOne(t, `-A INPUT ! -f -j ACCEPT`)
		assert.Equal(t, &FragmentMatch{Negated: true}, r.Fragment)
	})
	t.Run("state, mark, connmark", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m state --state NEW,ESTABLISHED -m mark ! --mark 0x1/0xf -m connmark --mark 0x80/0x80 -j ACCEPT`)
		assert.Equal(t, "NEW,ESTABLISHED", r.Match("state").Option("state").Arg())
		assert.True(t, r.Match("mark").Option("mark").Negated)
		assert.Equal(t, "0x80/0x80", r.Match("connmark").Option("mark").Arg())
	})
	t.Run("statistic nth", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m statistic --mode nth --every 3 --packet 0 -j ACCEPT`)
		assert.Equal(t, "3", r.Match("statistic").Option("every").Arg())
	})
	t.Run("recent", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j ACCEPT`)
		m := r.Match("recent")
		assert.NotNil(t, m.Option("rcheck"))
		assert.Equal(t, "KUBE-SEP-X", m.Option("name").Arg())
	})
	t.Run("set and physdev", func(t *testing.T) {
		r := parseOne(t, `-A FORWARD -m physdev --physdev-is-bridged -m set ! --match-set blocked src,dst -j DROP`)
		assert.NotNil(t, r.Match("physdev").Option("physdev-is-bridged"))
		set := r.Match("set").Option("match-set")
		assert.Equal(t, &Option{Name: "match-set", Negated: true, Args: []string{"blocked", "src,dst"}}, set)
	})
	t.Run("a module without an option table keeps its options", func(t *testing.T) {
		r := parseOne(t, `-A INPUT -m time --weekdays Mon,Tue --kerneltz -p tcp -m tcp --dport 80 -j ACCEPT`)
		assert.Equal(t, &Match{Module: "time", Options: []*Option{{Name: "weekdays", Args: []string{"Mon,Tue"}}, {Name: "kerneltz"}}}, r.Match("time"))
		assert.Equal(t, "80", r.Match("tcp").Option("dport").Arg())
	})
	t.Run("target options", func(t *testing.T) {
		cases := map[string][2]string{
			`-A INPUT -p tcp -j REJECT --reject-with tcp-reset`:            {"reject-with", "tcp-reset"},
			`-A INPUT -j LOG --log-prefix "dropped: " --log-level 4`:       {"log-prefix", "dropped: "},
			`-A INPUT -j MARK --set-xmark 0x4000/0x4000`:                   {"set-xmark", "0x4000/0x4000"},
			`-A INPUT -j MARK --and-mark 0xffffbfff`:                       {"and-mark", "0xffffbfff"},
			`-A INPUT -j CONNMARK --save-mark --nfmask 0x80 --ctmask 0x80`: {"nfmask", "0x80"},
			`-A INPUT -j NFQUEUE --queue-num 3`:                            {"queue-num", "3"},
		}
		for rule, want := range cases {
			r := parseOne(t, rule)
			o := r.Target.Option(want[0])
			require.NotNil(t, o, rule)
			assert.Equal(t, want[1], o.Arg(), rule)
		}
	})
}

func TestParseNATTargets(t *testing.T) {
	d := parseText(t, `*nat
:POSTROUTING ACCEPT [0:0]
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A PREROUTING -p udp -j REDIRECT --to-ports 5353
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -p tcp -j MASQUERADE --to-ports 1024-65535 --random-fully
-A POSTROUTING -p udp -j SNAT --to-source 10.0.0.1-10.0.0.9:1000-2000
COMMIT
`)
	nat := d.Table("nat")
	to, err := ParseNATRange(nat.Chain("PREROUTING").Rules[0].Target.Option("to-destination").Arg())
	require.NoError(t, err)
	assert.True(t, to.Single())
	assert.Equal(t, netip.MustParseAddr("172.17.0.2"), to.FirstAddr)
	assert.Equal(t, uint16(80), to.FirstPort)
	assert.Equal(t, "5353", nat.Chain("PREROUTING").Rules[1].Target.Option("to-ports").Arg())
	post := nat.Chain("POSTROUTING").Rules
	assert.Equal(t, "1024-65535", post[0].Target.Option("to-ports").Arg())
	snat, err := ParseNATRange(post[1].Target.Option("to-source").Arg())
	require.NoError(t, err)
	assert.False(t, snat.Single())
	assert.Equal(t, NATRange{
		FirstAddr: netip.MustParseAddr("10.0.0.1"), LastAddr: netip.MustParseAddr("10.0.0.9"),
		FirstPort: 1000, LastPort: 2000,
	}, snat)
}

func TestParseChainCommands(t *testing.T) {
	d := parseText(t, `*filter
:INPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -s 10.0.0.1 -j ACCEPT
-A INPUT -s 10.0.0.3 -j ACCEPT
-I INPUT 2 -s 10.0.0.2 -j ACCEPT
-I INPUT -s 10.0.0.0 -j ACCEPT
-A A -j DROP
-F A
-X B
-N C
-P INPUT DROP
COMMIT
`)
	filter := d.Table("filter")
	var sources []string
	for _, r := range filter.Chain("INPUT").Rules {
		sources = append(sources, r.Source.Prefixes[0].Addr().String())
	}
	assert.Equal(t, []string{"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"}, sources)
	assert.Empty(t, filter.Chain("A").Rules)
	assert.Nil(t, filter.Chain("B"))
	assert.NotNil(t, filter.Chain("C"))
	assert.Equal(t, "DROP", filter.Chain("INPUT").Policy)
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name  string
		input string
		line  int
		msg   string
	}{
		{"not iptables", "hello world\n", 1, "not iptables-save output"},
		{"json", `{"schemaVersion": 1}` + "\n", 1, "not iptables-save output"},
		{"rule outside a table", "# c\n-A INPUT -j ACCEPT\n", 2, "outside a table"},
		{"unknown table", "*bogus\nCOMMIT\n", 1, `unknown table "bogus"`},
		{"missing COMMIT", "*nat\n:PREROUTING ACCEPT [0:0]\n", 2, "no COMMIT"},
		{"nested table", "*nat\n*filter\n", 2, "before table nat"},
		{"undeclared chain", "*nat\n-A KUBE-SERVICES -j ACCEPT\nCOMMIT\n", 2, "KUBE-SERVICES: chain not declared"},
		{"jump to nowhere", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-NOWHERE\nCOMMIT\n", 3, "no such chain or target"},
		{"jump to a built-in chain", "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j OUTPUT\nCOMMIT\n", 4, "cannot jump to a built-in chain"},
		{"goto a target", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -g ACCEPT\nCOMMIT\n", 3, "no such chain"},
		{"bad address", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j DROP\nCOMMIT\n", 3, `invalid address "10.0.0.300"`},
		{"non-contiguous mask", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/255.0.255.0 -j DROP\nCOMMIT\n", 3, "not contiguous"},
		{"bad port", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 99999 -j DROP\nCOMMIT\n", 3, `invalid port "99999"`},
		{"bad mark", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m mark --mark 0xzz -j DROP\nCOMMIT\n", 3, "invalid mark"},
		{"bad probability", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m statistic --mode random --probability 1.5 -j ACCEPT\nCOMMIT\n", 3, "invalid probability"},
		{"bad state", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate NEWISH -j DROP\nCOMMIT\n", 3, `unknown value "NEWISH"`},
		{"bad NAT range", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3:80\nCOMMIT\n", 3, "invalid NAT address"},
		{"unterminated quote", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"oops -j DROP\nCOMMIT\n", 3, "unterminated"},
		{"unknown option", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dportx 80 -j DROP\nCOMMIT\n", 3, "unknown option --dportx"},
		{"missing argument", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s\nCOMMIT\n", 3, "-s needs an argument"},
		{"dangling negation", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP !\nCOMMIT\n", 3, `"!" at the end`},
		{"stray word", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT DROP\nCOMMIT\n", 3, `unexpected "DROP"`},
		{"duplicate chain", "*filter\n:A - [0:0]\n:A - [0:0]\nCOMMIT\n", 3, "declared twice (first at line 2)"},
		{"policy on user chain", "*filter\n:A ACCEPT [0:0]\nCOMMIT\n", 2, "cannot have policy"},
		{"bad policy", "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", 2, "neither ACCEPT nor DROP"},
		{"bad counters", "*filter\n:INPUT ACCEPT [x:0]\nCOMMIT\n", 2, "invalid counters"},
		{"deleted chain still used", "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -j A\n-X A\nCOMMIT\n", 6, "rule at line 4 jumps to chain A, which was deleted"},
		{"COMMIT alone", "COMMIT\n", 1, "COMMIT without a table"},
		{"NAT port without a protocol", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n", 3, "a port needs -p tcp, udp, sctp or dccp before the target"},
		{"protocol after the NAT target", "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE --to-ports 1024-2000 -p tcp\nCOMMIT\n", 3, "a port needs -p"},
		{"unknown match module", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m c -j DROP\nCOMMIT\n", 3, "-m c: no such match module"},
		{"unknown match module after others", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment x -m fancy --level 3 -j ACCEPT\nCOMMIT\n", 3, "-m fancy: no such match module"},
		{"unsupported command", "*filter\n:INPUT ACCEPT [0:0]\n-D INPUT 1\nCOMMIT\n", 3, `unsupported command "-D"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.input))
			require.Error(t, err)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "error %v is not a *ParseError", err)
			assert.Equal(t, c.line, pe.Line, err.Error())
			assert.Contains(t, err.Error(), c.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "line "), err.Error())
		})
	}
}

func TestParseEmptyInput(t *testing.T) {
	_, err := Parse(strings.NewReader("# Generated by iptables-save\n\n"))
	assert.ErrorIs(t, err, ErrNoTables)
}

func TestParseMergesRepeatedTables(t *testing.T) {
	d := parseText(t, "*nat\n:A - [0:0]\n-A A -j ACCEPT\nCOMMIT\n*nat\n:B - [0:0]\n-A B -j A\nCOMMIT\n")
	require.Len(t, d.Tables, 1)
	assert.Len(t, d.Table("nat").Chain("A").Rules, 1, "a chain not redeclared keeps its rules")
	assert.Len(t, d.Table("nat").Chain("B").Rules, 1)
}

// Every line iptables-restore would refuse is reported, not only the first,
// and the lines around them are still read.
func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse(strings.NewReader(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -m c
-A KUBE-SERVICES -d 10.0.0.300 -j ACCEPT
-A KUBE-SERVICES -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.1.1.1:80
-A KUBE-NOWHERE -j ACCEPT
COMMIT
*bogus
-A X -j Y
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 99999 -j ACCEPT
`))
	var pes *ParseErrors
	require.True(t, errors.As(err, &pes), "%v", err)
	var lines []int
	for _, e := range pes.Errs {
		lines = append(lines, e.Line)
	}
	assert.Equal(t, []int{5, 6, 8, 10, 15, 15}, lines, err.Error())
	assert.False(t, pes.Truncated)
	var first *ParseError
	require.True(t, errors.As(err, &first))
	assert.Equal(t, 5, first.Line)
	assert.Equal(t, strings.Join([]string{
		"line 5: -m c: no such match module",
		`line 6: -d: invalid address "10.0.0.300"`,
		"line 8: -A KUBE-NOWHERE: chain not declared",
		`line 10: unknown table "bogus"`,
		`line 15: --dport: invalid port "99999"`,
		"line 15: table filter (line 13) has no COMMIT",
	}, "\n"), err.Error())
}

func TestParseStopsAfterTwentyErrors(t *testing.T) {
	text := "*filter\n:INPUT ACCEPT [0:0]\n" + strings.Repeat("-A INPUT -m c\n", 30) + "COMMIT\n"
	_, err := Parse(strings.NewReader(text))
	var pes *ParseErrors
	require.True(t, errors.As(err, &pes))
	assert.Len(t, pes.Errs, MaxParseErrors)
	assert.True(t, pes.Truncated)
	assert.Contains(t, err.Error(), "(stopped after 20 errors)")
}

// A NAT range iptables-save printed as ":0" (a rule it could not decode)
// is well formed: kept for the evaluator, which cannot follow it.
func TestParseKeepsAnEmptyNATRange(t *testing.T) {
	d := parseText(t, "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DNAT --to-destination :0 --persistent\nCOMMIT\n")
	o := d.Table("nat").Chain("PREROUTING").Rules[0].Target.Option("to-destination")
	assert.Equal(t, ":0", o.Arg())
	_, err := ParseNATRange(o.Arg())
	assert.ErrorIs(t, err, ErrEmptyNATRange)
}

func TestWithout(t *testing.T) {
	d := parseText(t, "*nat\n:PREROUTING ACCEPT [0:0]\n:AWS-SNAT - [0:0]\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j AWS-SNAT\n-A PREROUTING -j KUBE-SERVICES\n-A AWS-SNAT -j RETURN\nCOMMIT\n")
	w := d.Without(func(table, chain string) bool { return strings.HasPrefix(chain, "AWS-") })
	nat := w.Table("nat")
	assert.Nil(t, nat.Chain("AWS-SNAT"))
	require.NotNil(t, nat.Chain("KUBE-SERVICES"))
	require.Len(t, nat.Chain("PREROUTING").Rules, 1)
	assert.Equal(t, "KUBE-SERVICES", nat.Chain("PREROUTING").Rules[0].Target.Name)
	assert.Len(t, d.Table("nat").Chain("PREROUTING").Rules, 2, "the original is kept")
}
