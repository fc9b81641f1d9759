package explain

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePacketValidates(t *testing.T) {
	cases := []struct {
		src, dst, proto, from string
		msg                   string
	}{
		{"10.0.0.300", "10.0.0.1:80", "tcp", "pod", `src "10.0.0.300": not an IP address`},
		{"10.0.0.2", "10.0.0.1", "tcp", "pod", `dst "10.0.0.1": want IP:PORT`},
		{"10.0.0.2", "10.0.0.1:99999", "tcp", "pod", `dst "10.0.0.1:99999": want IP:PORT`},
		{"10.0.0.2", "10.0.0.1:0", "tcp", "pod", "port 0 is not a valid destination port"},
		{"10.0.0.2", "10.0.0.1:80", "icmp", "pod", `proto "icmp": want tcp, udp or sctp`},
		{"10.0.0.2", "10.0.0.1:80", "tcp", "internet", `from "internet": want pod, node or external`},
		{"10.0.0.2", "10.0.0.1:80", "tcp", "", "from: missing"},
		{"fd00::2", "10.0.0.1:80", "tcp", "pod", "different IP families"},
	}
	for _, c := range cases {
		_, err := ParsePacket(c.src, c.dst, c.proto, c.from)
		require.Error(t, err, c)
		assert.Contains(t, err.Error(), c.msg)
	}
	p, err := ParsePacket("", "10.0.0.1:80", "TCP", "node")
	require.NoError(t, err)
	assert.Equal(t, Packet{Dst: netip.MustParseAddrPort("10.0.0.1:80"), Proto: "tcp", From: FromNode}, p)
}

func TestWalkValidates(t *testing.T) {
	d := parseDump(t, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
	_, err := Walk(d, Packet{Dst: netip.MustParseAddrPort("10.0.0.1:80"), Proto: "tcp", From: FromPod}, Options{})
	assert.ErrorContains(t, err, "src: missing")
	_, err = Walk(d, Packet{Dst: netip.MustParseAddrPort("10.0.0.1:80"), Proto: "tcp", From: FromNode}, Options{})
	assert.ErrorContains(t, err, "src: missing", "a node packet needs a node IP to default its source")
	_, err = Walk(nil, Packet{}, Options{})
	assert.Error(t, err)
	_, err = Walk(d, Packet{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddrPort("10.0.0.1:80"), Proto: "tcp", From: FromPod},
		Options{Routes: []Route{{Interface: "docker0"}}})
	assert.ErrorContains(t, err, "want a prefix and an interface")

	_, err = ParseNodeIPs([]string{"192.168.1.118", "nope"})
	assert.ErrorContains(t, err, `node-ip "nope": not an IP address`)
	ips, err := ParseNodeIPs([]string{"192.168.1.118"})
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.168.1.118")}, ips)
}
