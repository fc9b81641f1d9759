package explain

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Small rulesets, one kernel behaviour each; the node is 10.0.0.1 and the
// packet comes from outside to 10.0.0.1:80 unless a case says otherwise.
func TestKernelSemantics(t *testing.T) {
	opts := nodeOptions("10.0.0.1")
	cases := []struct {
		name  string
		rules string
		dst   string
		want  []expect
	}{
		{"a built-in chain's policy decides at its end", `*filter
:INPUT DROP [0:0]
-A INPUT -p udp -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "INPUT"}}}},
		{"RETURN from a built-in chain applies its policy", `*filter
:INPUT DROP [0:0]
-A INPUT -j RETURN
-A INPUT -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1}}},
		{"a user chain falls through back to its caller", `*filter
:INPUT ACCEPT [0:0]
:A - [0:0]
-A INPUT -j A
-A INPUT -j DROP
-A A -p udp -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1, path: []string{"PREROUTING", "INPUT"}}}},
		{"goto does not come back to the chain that jumped", `*filter
:INPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -j A
-A INPUT -j DROP
-A A -g B
-A A -j ACCEPT
-A B -p udp -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1}}},
		{"goto from a built-in chain ends in its policy", `*filter
:INPUT DROP [0:0]
:B - [0:0]
-A INPUT -g B
-A INPUT -j ACCEPT
-A B -p udp -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1}}},
		{"marks set in mangle are tested in filter", `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j MARK --set-xmark 0x10/0xff
COMMIT
*filter
:INPUT ACCEPT [0:0]
:MARKED - [0:0]
-A INPUT -m mark --mark 0x1/0x1 -j ACCEPT
-A INPUT -m mark --mark 0x10/0xf0 -j MARKED
-A MARKED -j REJECT --reject-with tcp-reset
COMMIT`, "", []expect{{verdict: VerdictReject, p: 1, path: []string{"PREROUTING", "INPUT", "MARKED"}}}},
		{"or-mark, and-mark and xor-mark", `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --or-mark 0x7
-A PREROUTING -j MARK --and-mark 0x6
-A PREROUTING -j MARK --xor-mark 0x2
-A PREROUTING -m mark ! --mark 0x4 -j DROP
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"CONNMARK saves the packet mark and restores it", `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-mark 0x81
-A PREROUTING -j CONNMARK --save-mark --nfmask 0x80 --ctmask 0x80
-A PREROUTING -j MARK --set-xmark 0x0/0xffffffff
-A PREROUTING -m connmark --mark 0x1/0x1 -j DROP
-A PREROUTING -j CONNMARK --restore-mark --mask 0xff
-A PREROUTING -m mark --mark 0x80 -j ACCEPT
-A PREROUTING -j DROP
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"a first packet is NEW, never ESTABLISHED or INVALID", `*filter
:INPUT DROP [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j DROP
-A INPUT -m state --state INVALID -j DROP
-A INPUT -m conntrack ! --ctstate NEW -j DROP
-A INPUT -p tcp -m tcp --syn -m conntrack --ctstate NEW --ctdir ORIGINAL -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"ctstate DNAT holds after DNAT, with the original tuple", `*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j DNAT --to-destination 10.9.0.5:8080
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 10.0.0.1 --ctorigdstport 80 --ctreplsrc 10.9.0.5 --ctreplsrcport 8080 -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictDNAT, target: "10.9.0.5:8080", p: 1}}},
		{"DNAT may keep the address and change the port", `*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j DNAT --to-destination :8080
COMMIT`, "", []expect{{verdict: VerdictDNAT, target: "10.0.0.1:8080", p: 1, path: []string{"PREROUTING", "INPUT"}}}},
		{"REDIRECT sends to the uplink's address", `*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -d 198.51.100.1 -j REDIRECT --to-ports 3128
COMMIT`, "198.51.100.1:80", []expect{{verdict: VerdictDNAT, target: "10.0.0.1:3128", p: 1}}},
		{"untracked packets skip nat", `*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j CT --notrack
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j DNAT --to-destination 10.9.0.5
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"random branches multiply and equal outcomes merge", `*filter
:INPUT ACCEPT [0:0]
:COIN - [0:0]
-A INPUT -m statistic --mode random --probability 0.5 -j COIN
-A INPUT -m statistic --mode random --probability 0.5 -j DROP
-A COIN -m statistic --mode random --probability 0.25 -j DROP
COMMIT`, "", []expect{
			{verdict: VerdictDrop, p: 0.125, path: []string{"PREROUTING", "INPUT", "COIN"}},
			// (COIN missed, then DROP) + (COIN not taken, then DROP)
			{verdict: VerdictDrop, p: 0.5*0.75*0.5 + 0.5*0.5, path: []string{"PREROUTING", "INPUT"}},
			{verdict: VerdictAccept, p: 0.5*0.75*0.5 + 0.5*0.5, path: []string{"PREROUTING", "INPUT"}},
		}},
		{"a negated probability is the complement", `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m statistic --mode random ! --probability 0.25 -j DROP
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 0.75}, {verdict: VerdictAccept, p: 0.25}}},
		{"nth is weighted by 1/every", `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m statistic --mode nth --every 3 --packet 0 -j DROP
COMMIT`, "", []expect{{verdict: VerdictDrop, p: 1.0 / 3}, {verdict: VerdictAccept, p: 2.0 / 3}}},
		{"recent --set is seen by a later --rcheck of the same packet", `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m recent --rcheck --name SEEN -j DROP
-A INPUT -m recent --set --name SEEN
-A INPUT -m recent --update --name OTHER -j DROP
-A INPUT -m recent --rcheck --name SEEN -j REJECT
COMMIT`, "", []expect{{verdict: VerdictReject, p: 1}}},
		{"addrtype --limit-iface-in: the node IP is local to eth0 only", `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j MARK --set-mark 0x1
-A PREROUTING -m addrtype --src-type UNICAST --dst-type LOCAL -j MARK --or-mark 0x2
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -m mark --mark 0x3 -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"multiport, port ranges and negated ports", `*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m multiport ! --dports 80,443 -j REJECT
-A INPUT -p tcp -m tcp --dport 1:79 -j REJECT
-A INPUT -p tcp -m multiport --dports 22,70:90 -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"iprange and pkttype", `*filter
:INPUT DROP [0:0]
-A INPUT -m iprange --src-range 203.0.113.1-203.0.113.9 -m pkttype --pkt-type unicast -j ACCEPT
COMMIT`, "", []expect{{verdict: VerdictAccept, p: 1}}},
		{"SNAT in POSTROUTING of forwarded traffic", `*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j SNAT --to-source 10.0.0.99
COMMIT`, "198.51.100.1:80", []expect{{verdict: VerdictAccept, p: 1, snat: "10.0.0.99", path: []string{"PREROUTING", "FORWARD", "POSTROUTING"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := c.dst
			if dst == "" {
				dst = "10.0.0.1:80"
			}
			r := walkFrom(t, parseDump(t, c.rules+"\n"), opts, "203.0.113.5", dst, "tcp", FromExternal)
			assertOutcomes(t, r, c.want)
			assert.Empty(t, r.NotModelled)
		})
	}
}

func TestLoopsAreRefused(t *testing.T) {
	d := parseDump(t, `*filter
:INPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -j A
-A A -g B
-A B -j A
COMMIT
`)
	p, err := ParsePacket("203.0.113.5", "10.0.0.1:80", "tcp", "external")
	require.NoError(t, err)
	_, err = Walk(d, p, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table filter: chains jump in a loop: A -> B -> A")
}

func TestTooManyBranchesIsAnError(t *testing.T) {
	text := "*filter\n:INPUT ACCEPT [0:0]\n"
	for i := 0; i < 20; i++ {
		text += "-A INPUT -m statistic --mode random --probability 0.5 -j MARK --xor-mark 0x1\n"
	}
	d := parseDump(t, text+"COMMIT\n")
	p, err := ParsePacket("203.0.113.5", "10.0.0.1:80", "tcp", "external")
	require.NoError(t, err)
	_, err = Walk(d, p, nodeOptions("10.0.0.1"))
	assert.ErrorIs(t, err, ErrTooManyBranches)
}
