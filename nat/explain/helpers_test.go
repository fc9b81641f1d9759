package explain

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadDump(t testing.TB, name string) *ruleset.Dump {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	d, err := ruleset.Parse(f)
	require.NoError(t, err)
	return d
}

func parseDump(t testing.TB, text string) *ruleset.Dump {
	t.Helper()
	d, err := ruleset.Parse(strings.NewReader(text))
	require.NoError(t, err)
	return d
}

// walkFrom explains a packet given as "src", "dst:port", proto and origin.
func walkFrom(t *testing.T, d *ruleset.Dump, opts Options, src, dst, proto string, from Origin) *Report {
	t.Helper()
	p, err := ParsePacket(src, dst, proto, string(from))
	require.NoError(t, err)
	r, err := Walk(d, p, opts)
	require.NoError(t, err)
	return r
}

func nodeOptions(ips ...string) Options {
	var o Options
	for _, ip := range ips {
		o.NodeIPs = append(o.NodeIPs, netip.MustParseAddr(ip))
	}
	return o
}

// expect is an outcome as a test states it; an empty path is not checked.
type expect struct {
	verdict Verdict
	target  string
	p       float64
	masq    bool
	snat    string
	path    []string
}

func assertOutcomes(t *testing.T, r *Report, want []expect) {
	t.Helper()
	require.Len(t, r.Outcomes, len(want), "outcomes: %s", describe(r))
	for i, w := range want {
		got := r.Outcomes[i]
		assert.Equal(t, w.verdict, got.Verdict, "outcome %d verdict", i)
		assert.Equal(t, w.target, addrPortText(got.Target), "outcome %d target", i)
		assert.InDelta(t, w.p, got.Probability, 1e-9, "outcome %d probability", i)
		assert.Equal(t, w.masq, got.Masquerade, "outcome %d masquerade", i)
		assert.Equal(t, w.snat, addrText(got.SNAT), "outcome %d snat", i)
		if w.path != nil {
			assert.Equal(t, w.path, got.Path, "outcome %d path", i)
		}
	}
}

func describe(r *Report) string {
	var b strings.Builder
	_ = r.WriteTable(&b)
	return b.String()
}
