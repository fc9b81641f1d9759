package explain

import (
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// FuzzWalk walks packets through whatever the parser accepts: a walk may
// fail with an error, but must not panic, and its outcomes must sum to 1.
func FuzzWalk(f *testing.F) {
	f.Add("*filter\n:INPUT DROP [0:0]\n-A INPUT -m state -j ACCEPT\n-A INPUT -m mark -m pkttype -j ACCEPT\nCOMMIT\n")
	f.Add("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT\n-A PREROUTING -j SNAT\n-A PREROUTING -j REDIRECT --to-ports 1-9\nCOMMIT\n")
	f.Add("*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -m statistic --mode random --probability 0.3 -g A\n-A A -m recent --set -m statistic --mode nth --every 2 -j RETURN\n-A A -m conntrack --ctrepldst 1.2.3.4 --ctorigsrcport 5 -j DROP\nCOMMIT\n")
	files, _ := filepath.Glob("testdata/*.rules")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 8000 {
			f.Add(string(data))
		}
	}
	packets := []Packet{
		{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddrPort("172.30.0.41:80"), Proto: "tcp", From: FromPod},
		{Src: netip.MustParseAddr("203.0.113.2"), Dst: netip.MustParseAddrPort("192.168.0.2:3003"), Proto: "udp", From: FromExternal},
		{Dst: netip.MustParseAddrPort("127.0.0.1:3007"), Proto: "tcp", From: FromNode},
	}
	opts := nodeOptions("192.168.0.2")
	f.Fuzz(func(t *testing.T, input string) {
		d, err := ruleset.Parse(strings.NewReader(input))
		if err != nil {
			return
		}
		for _, p := range packets {
			r, err := Walk(d, p, opts)
			if err != nil {
				continue
			}
			sum := new(big.Rat)
			for _, o := range r.Outcomes {
				sum.Add(sum, o.Exact)
			}
			if sum.Cmp(big.NewRat(1, 1)) != 0 {
				t.Fatalf("outcomes sum to %s", sum.RatString())
			}
		}
	})
}
