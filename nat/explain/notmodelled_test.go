package explain

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnmodelledRulesAreSkippedAndListed(t *testing.T) {
	d := parseDump(t, `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
-A INPUT -m set --match-set blocked src -j DROP
-A INPUT -m physdev --physdev-is-bridged -j DROP
-A INPUT -p udp -m set --match-set never-reached src -j DROP
-A INPUT -p tcp -m tcp --sport 1024:65535 -j DROP
-A INPUT -m limit --limit 5/sec -j LOG --log-prefix "in: "
-A INPUT -p tcp -j NFQUEUE --queue-num 1
-A INPUT -m recent --rcheck --name KUBE-SEP-X --seconds 10800 --reap -j DROP
-A INPUT -m string --algo bm --string "GET /" -j DROP
COMMIT
`)
	r := walkFrom(t, d, nodeOptions("10.0.0.1"), "203.0.113.5", "10.0.0.1:80", "tcp", FromExternal)
	assertOutcomes(t, r, []expect{{verdict: VerdictAccept, p: 1, path: []string{"PREROUTING", "INPUT"}}})
	var lines []int
	var reasons []string
	for _, n := range r.NotModelled {
		lines = append(lines, n.Line)
		reasons = append(reasons, n.Reason)
		assert.Equal(t, "filter", n.Table)
		assert.Equal(t, "INPUT", n.Chain)
	}
	assert.Equal(t, []int{4, 5, 7, 8, 9, 11}, lines, "the udp rule is never reached, recent --rcheck is modelled")
	assert.Equal(t, []string{
		"-m set: ipset contents are not in the dump",
		"-m physdev: bridge ports are not modelled",
		"--sport: the source port is not known (set the packet's source port)",
		"-m limit: rate-limit state is not in the dump",
		"target NFQUEUE is not modelled",
		"-m string: payload is not modelled",
	}, reasons)
	assert.Equal(t, "-A INPUT -m set --match-set blocked src -j DROP", r.NotModelled[0].Rule)
}

func TestSourcePortIsModelledWhenGiven(t *testing.T) {
	d := parseDump(t, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --sport 1024:65535 -j DROP\nCOMMIT\n")
	p, err := ParsePacket("203.0.113.5", "10.0.0.1:80", "tcp", "external")
	require.NoError(t, err)
	p.SrcPort = 40000
	r, err := Walk(d, p, nodeOptions("10.0.0.1"))
	require.NoError(t, err)
	assertOutcomes(t, r, []expect{{verdict: VerdictDrop, p: 1}})
	assert.Empty(t, r.NotModelled)
}
