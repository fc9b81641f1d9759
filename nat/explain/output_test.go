package explain

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteTable(t *testing.T) {
	d := loadDump(t, "upstream-services.rules")
	r := walkFrom(t, d, nodeOptions("192.168.0.2"), "203.0.113.2", "192.168.99.33:80", "tcp", FromExternal)
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	want := `tcp 203.0.113.2 -> 192.168.99.33:80, from external: 2 outcome(s)
interfaces: in eth0 (default), out by route (else eth0)

PROBABILITY  VERDICT  TARGET         SOURCE                     OUT   PATH
50.0000%     DNAT     10.180.0.4:80  masquerade to 192.168.0.2  eth0  PREROUTING -> KUBE-SERVICES -> KUBE-EXT-4SW47YFZTEDKD3PK -> KUBE-MARK-MASQ -> KUBE-EXT-4SW47YFZTEDKD3PK -> KUBE-SVC-4SW47YFZTEDKD3PK -> KUBE-SEP-UKSFD7AGPMPPLUHC -> FORWARD -> KUBE-FORWARD -> POSTROUTING -> KUBE-POSTROUTING
50.0000%     DNAT     10.180.0.5:80  masquerade to 192.168.0.2  eth0  PREROUTING -> KUBE-SERVICES -> KUBE-EXT-4SW47YFZTEDKD3PK -> KUBE-MARK-MASQ -> KUBE-EXT-4SW47YFZTEDKD3PK -> KUBE-SVC-4SW47YFZTEDKD3PK -> KUBE-SEP-C6EBXVWJJZMIWKLZ -> FORWARD -> KUBE-FORWARD -> POSTROUTING -> KUBE-POSTROUTING
`
	assert.Equal(t, want, b.String())
}

func TestWriteTableListsUnmodelledRules(t *testing.T) {
	d := parseDump(t, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0 -j DROP\nCOMMIT\n")
	r := walkFrom(t, d, nodeOptions("10.0.0.1"), "", "10.0.0.1:22", "tcp", FromNode)
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	assert.Contains(t, b.String(), "interfaces: sent by the node, out by route (else eth0)\n")
	assert.Contains(t, b.String(), "100.0000%    ACCEPT   -       kept    -    OUTPUT -> POSTROUTING -> PREROUTING -> INPUT\n")
	assert.Contains(t, b.String(), "Not modelled (these rules were treated as not matching):\n"+
		"  line 3, filter INPUT: -m owner: the sending socket's owner is not known\n"+
		"    -A INPUT -m owner --uid-owner 0 -j DROP\n")
}

func TestJSONShape(t *testing.T) {
	d := loadDump(t, "upstream-services.rules")
	r := walkFrom(t, d, Options{}, "10.0.0.2", "172.30.0.46:80", "tcp", FromPod)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"schemaVersion":1,
		"packet":{"src":"10.0.0.2","dst":"172.30.0.46:80","proto":"tcp","from":"pod"},
		"interfaces":{"in":"eni0","inSource":"default","out":"","outSource":"routed","uplink":"eth0","routes":[]},
		"outcomes":[{"verdict":"REJECT","target":null,"probability":1,"masquerade":false,"snat":null,
			"path":["PREROUTING","FORWARD","KUBE-SERVICES"],"outInterface":"eth0"}],
		"notModelled":[]}`, string(b))
}

func TestDistribution(t *testing.T) {
	d := loadDump(t, "docker.rules")
	p, err := ParsePacket("198.51.100.7", "192.168.0.10:8080", "tcp", "external")
	require.NoError(t, err)
	dist, err := Distribution(d, p, nodeOptions("192.168.0.10"))
	require.NoError(t, err)
	assert.Empty(t, dist, "a DNAT that is dropped later reaches no target")

	d = loadDump(t, "eks-node-1.rules")
	p, err = ParsePacket("192.168.1.51", "192.168.1.118:32392", "tcp", "external")
	require.NoError(t, err)
	dist, err = Distribution(d, p, nodeOptions("192.168.1.118"))
	require.NoError(t, err)
	rest := (1 - 715827883.0/(1<<31)) / 2
	assert.Equal(t, map[netip.AddrPort]float64{
		netip.MustParseAddrPort("192.168.1.248:7777"): 715827883.0 / (1 << 31),
		netip.MustParseAddrPort("192.168.2.206:7777"): rest,
		netip.MustParseAddrPort("192.168.3.111:7777"): rest,
	}, dist)
}
