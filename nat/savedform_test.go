package nat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Pairs of (what nlbsim writes, what iptables-save printed after
// iptables-restore of it) taken from iptables v1.8.9, nf_tables and legacy.
func TestSavedForm(t *testing.T) {
	for _, tc := range []struct{ written, saved string }{
		{`-A KUBE-SERVICES -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp -p tcp -d 10.100.30.185 --dport 7777 -j KUBE-SVC-VDXCGHLC7LJVQSZ7`,
			`-A KUBE-SERVICES -d 10.100.30.185/32 -p tcp -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp --dport 7777 -j KUBE-SVC-VDXCGHLC7LJVQSZ7`},
		{`-A KUBE-NODEPORTS -m comment --comment default/nginx-nlb-service -m tcp -p tcp --dport 32392 -j KUBE-EXT-VDXCGHLC7LJVQSZ7`,
			`-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nginx-nlb-service" -m tcp --dport 32392 -j KUBE-EXT-VDXCGHLC7LJVQSZ7`},
		{`-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-LHC45K453FK42NFG`,
			`-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-LHC45K453FK42NFG`},
		{`-A KUBE-SEP-LHC45K453FK42NFG -m comment --comment default/nginx-nlb-service -s 192.168.1.248 -j KUBE-MARK-MASQ`,
			`-A KUBE-SEP-LHC45K453FK42NFG -s 192.168.1.248/32 -m comment --comment "default/nginx-nlb-service" -j KUBE-MARK-MASQ`},
		{`-A KUBE-SEP-LHC45K453FK42NFG -m comment --comment default/nginx-nlb-service -m tcp -p tcp -j DNAT --to-destination 192.168.1.248:7777`,
			`-A KUBE-SEP-LHC45K453FK42NFG -p tcp -m comment --comment "default/nginx-nlb-service" -m tcp -j DNAT --to-destination 192.168.1.248:7777`},
		{`-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN`,
			`-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`},
		{`-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000`, `-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0`},
		{`-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000`, `-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000`},
		{`-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
			`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`},
		{`-A PREROUTING -m comment --comment "AWS, primary ENI" -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-mark 0x80/0x80`,
			`-A PREROUTING -i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x80/0x80`},
		{`-A PREROUTING -m comment --comment "AWS, primary ENI" -i eni+ -j CONNMARK --restore-mark --mask 0x80`,
			`-A PREROUTING -i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80`},
		{`-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 192.168.1.118 --random-fully`,
			`-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 192.168.1.118 --random-fully`},
		{`-A KUBE-SVC-X -m comment --comment "shop/sticky -> 192.168.1.31:8080" -m recent --name KUBE-SEP-Y --rcheck --seconds 600 --reap -j KUBE-SEP-Y`,
			`-A KUBE-SVC-X -m comment --comment "shop/sticky -> 192.168.1.31:8080" -m recent --rcheck --seconds 600 --reap --name KUBE-SEP-Y --mask 255.255.255.255 --rsource -j KUBE-SEP-Y`},
		{`-A KUBE-SEP-Y -m comment --comment shop/sticky -m recent --name KUBE-SEP-Y --set -m tcp -p tcp -j DNAT --to-destination 192.168.1.31:8080`,
			`-A KUBE-SEP-Y -p tcp -m comment --comment "shop/sticky" -m recent --set --name KUBE-SEP-Y --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 192.168.1.31:8080`},
		{`-A KUBE-SERVICES -m comment --comment "shop/empty has no endpoints" -m tcp -p tcp -d 10.100.50.5 --dport 80 -j REJECT`,
			`-A KUBE-SERVICES -d 10.100.50.5/32 -p tcp -m comment --comment "shop/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`},
	} {
		assert.Equal(t, tc.saved, savedForm(tc.written))
	}
}

// SavedText: the kernel's layout (built-in chains, user chains sorted, rules
// chain by chain) and forms; TestSavedTextMatchesKernel checks it against
// iptables-save.
func TestSavedText(t *testing.T) {
	rs, err := KubeProxy(servicesWorld(t), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	text := rs.SavedText()
	assert.True(t, strings.HasPrefix(text, "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"), text)
	assert.Contains(t, text, "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n")
	assert.Contains(t, text, "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	assert.Contains(t, text, "--probability 0.33333333349 -j KUBE-SEP-")
	assert.Contains(t, text, "-A KUBE-SERVICES -d 10.100.50.5/32 -p tcp -m comment --comment \"shop/empty has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n")
	assert.True(t, strings.HasSuffix(text, "COMMIT\n"))
	assert.Equal(t, 3, strings.Count(text, "COMMIT\n"))
}
