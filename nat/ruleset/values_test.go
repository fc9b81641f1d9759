package ruleset

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The thresholds iptables stores for kube-proxy's probabilities
// (the statistic match's kernel form): lround(2^31 * p).
func TestParseProbabilityMatchesKernel(t *testing.T) {
	cases := map[string]uint32{
		"0.5000000000": 1073741824, "0.50000000000": 1073741824,
		"0.3333333333": 715827883, "0.33333333349": 715827883,
		"0.2500000000": 536870912,
		"0.2000000000": 429496730, "0.20000000019": 429496730,
		"0.1428571429": 306783378, "0.14285714272": 306783378,
		"0.1000000000": 214748365, "0.10000000009": 214748365,
		"0.0000100000": 21475, "1": 1 << 31, "0": 0,
	}
	for text, want := range cases {
		got, err := ParseProbability(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
	for _, bad := range []string{"-0.1", "1.01", "half", "NaN"} {
		_, err := ParseProbability(bad)
		assert.Error(t, err, bad)
	}
}

func TestParsePortRange(t *testing.T) {
	cases := map[string]PortRange{
		"80": {80, 80}, "1000:2000": {1000, 2000}, ":1024": {0, 1024}, "1024:": {1024, 65535},
	}
	for text, want := range cases {
		got, err := ParsePortRange(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
	for _, bad := range []string{"", "http", "65536", "2000:1000", "-1"} {
		_, err := ParsePortRange(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseMark(t *testing.T) {
	cases := map[string]Mark{
		"0x4000/0x4000":         {0x4000, 0x4000},
		"0x00004000/0x00004000": {0x4000, 0x4000},
		"0x4000":                {0x4000, 0xffffffff},
		"16384/0":               {16384, 0},
	}
	for text, want := range cases {
		got, err := ParseMark(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
	for _, bad := range []string{"", "0x1/", "0x100000000", "mark"} {
		_, err := ParseMark(bad)
		assert.Error(t, err, bad)
	}
}

func TestParsePrefix(t *testing.T) {
	cases := map[string]string{
		"10.0.0.1": "10.0.0.1/32", "10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8",
		"192.168.0.0/255.255.0.0": "192.168.0.0/16", "fd00::1": "fd00::1/128", "0.0.0.0/0": "0.0.0.0/0",
	}
	for text, want := range cases {
		got, err := ParsePrefix(text)
		require.NoError(t, err, text)
		assert.Equal(t, netip.MustParsePrefix(want), got, text)
	}
	for _, bad := range []string{"", "example.com", "10.0.0.0/33", "10.0.0.0/255.0.255.0", "010.0.0.1"} {
		_, err := ParsePrefix(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseNATRange(t *testing.T) {
	r, err := ParseNATRange(":8080")
	require.NoError(t, err)
	assert.False(t, r.FirstAddr.IsValid())
	assert.Equal(t, uint16(8080), r.FirstPort)
	r, err = ParseNATRange("[fd00::1]:443")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("fd00::1"), r.FirstAddr)
	assert.Equal(t, uint16(443), r.FirstPort)
	for _, bad := range []string{"", "x:80", "10.0.0.2-10.0.0.1", "10.0.0.1:90-80"} {
		_, err := ParseNATRange(bad)
		assert.Error(t, err, bad)
	}
}

func TestAddressAndProtocolMatches(t *testing.T) {
	m := &AddressMatch{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}}
	assert.True(t, m.Matches(netip.MustParseAddr("192.168.1.1")))
	assert.False(t, m.Matches(netip.MustParseAddr("172.16.0.1")))
	neg := &AddressMatch{Negated: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	assert.True(t, neg.Matches(netip.MustParseAddr("172.16.0.1")))

	assert.True(t, (&ProtocolMatch{Name: "all"}).Matches("udp"))
	assert.False(t, (&ProtocolMatch{Name: "tcp", Negated: true}).Matches("tcp"))
	assert.Equal(t, "tcp", normalProtocol("6"))
	assert.Equal(t, "udp", normalProtocol("UDP"))
}
