package explain

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadNFT(t testing.TB, name string) *NFTRuleset {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	rs, err := ParseNFT(string(b))
	require.NoError(t, err)
	return rs
}

// nftDiffers are the upstream flows where kube-proxy's nftables mode does
// something else than its iptables mode, by design (upstream's nftables
// proxier tests say so: TestClusterIPGeneral, and localhost NodePorts are
// not supported in nftables mode).
var nftDiffers = map[string][]expect{
	"wrong port is not translated": {{verdict: VerdictReject, p: 1, path: []string{
		"filter-prerouting-pre-dnat", "firewall-check", "nat-prerouting", "services", "filter-forward",
		"service-endpoints-check", "cluster-ips-check"}}},
	"wrong protocol is not translated":                                     {{verdict: VerdictReject, p: 1}},
	"eTP=Local: localhost to NodePort reaches every endpoint, masqueraded": {{verdict: VerdictAccept, p: 1}},
}

// The explainer's upstream packet flows, re-expressed for nftables: the
// fixture as kube-proxy v1.33's nftables proxier writes it (testdata
// upstream-services.nft, listed by nft) walked by WalkNFT gives the outcomes
// the iptables walker gives on the iptables fixture — verdict, DNAT target,
// exact probability, masquerade and source — except where nftables mode
// differs by design (nftDiffers).
func TestUpstreamPacketFlowsNFT(t *testing.T) {
	rs := loadNFT(t, "upstream-services.nft")
	d := loadDump(t, "upstream-services.rules")
	opts := nodeOptions(upstreamNode)
	for _, c := range upstreamCases() {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePacket(c.src, c.dst, c.proto, string(c.from))
			require.NoError(t, err)
			got, err := WalkNFT(rs, p, opts)
			require.NoError(t, err)
			assert.Empty(t, got.NotModelled)
			if want, ok := nftDiffers[c.name]; ok {
				assertOutcomes(t, got, want)
				return
			}
			ipt := walkFrom(t, d, opts, c.src, c.dst, c.proto, c.from)
			assert.Equal(t, outcomeSet(ipt), outcomeSet(got), "nftables:\n%s\niptables:\n%s", describe(got), describe(ipt))
		})
	}
}

// The same fixture as `nft -j list table ip kube-proxy` prints it (JSON)
// walks to the same outcomes, paths included, as the text listing.
func TestUpstreamPacketFlowsNFTJSON(t *testing.T) {
	text := loadNFT(t, "upstream-services.nft")
	js := loadNFT(t, "upstream-services.nft.json")
	opts := nodeOptions(upstreamNode)
	for _, c := range upstreamCases() {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePacket(c.src, c.dst, c.proto, string(c.from))
			require.NoError(t, err)
			want, err := WalkNFT(text, p, opts)
			require.NoError(t, err)
			got, err := WalkNFT(js, p, opts)
			require.NoError(t, err)
			assert.Empty(t, got.NotModelled)
			assert.Equal(t, outcomeSet(want), outcomeSet(got))
			require.Len(t, got.Outcomes, len(want.Outcomes))
			for i := range want.Outcomes {
				assert.Equal(t, want.Outcomes[i].Path, got.Outcomes[i].Path)
			}
		})
	}
}

// outcomeSet is a report's outcomes without their paths, sorted.
func outcomeSet(r *Report) []string {
	var out []string
	for _, o := range r.Outcomes {
		out = append(out, strings.Join([]string{string(o.Verdict), addrPortText(o.Target), o.Exact.RatString(),
			map[bool]string{true: "masquerade", false: ""}[o.Masquerade], addrText(o.SNAT)}, "|"))
	}
	sort.Strings(out)
	return out
}

// Paths name the nft chains that decided, and numgen splits exactly.
func TestWalkNFTPaths(t *testing.T) {
	rs := loadNFT(t, "upstream-services.nft")
	opts := nodeOptions(upstreamNode)
	p, err := ParsePacket("203.0.113.2", upstreamNode+":3004", "tcp", "external")
	require.NoError(t, err)
	r, err := WalkNFT(rs, p, opts)
	require.NoError(t, err)
	require.Len(t, r.Outcomes, 2)
	for i, ep := range []string{"10.180.0.4:80", "10.180.0.5:80"} {
		o := r.Outcomes[i]
		assert.Equal(t, "1/2", o.Exact.RatString())
		assert.Equal(t, ep, addrPortText(o.Target))
		assert.True(t, o.Masquerade)
		assert.Contains(t, o.Path, "external-LAUZTJTB-ns4/svc4/tcp/p80")
		assert.Contains(t, o.Path, "service-LAUZTJTB-ns4/svc4/tcp/p80")
		assert.Contains(t, o.Path, "masquerading")
	}
	assert.Contains(t, r.Outcomes[0].Path, "endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80")
}

// nft -f input (add lines, as `nlbsim rules --proxy-mode nftables` prints
// them) and the kernel's listing of the same table walk alike.
func TestParseNFTForms(t *testing.T) {
	listed := loadNFT(t, "upstream-services.nft")
	assert.Len(t, listed.Sets["service-ips"], 11)
	assert.Equal(t, "goto reject-chain", listed.Sets["no-endpoint-services"]["172.30.0.46 . tcp . 80"])
	assert.Equal(t, -110, listed.Chains["filter-prerouting-pre-dnat"].Priority)
	cmds, err := ParseNFT(`add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy services
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add chain ip kube-proxy service-A-ns/a/tcp/
add chain ip kube-proxy endpoint-1
add chain ip kube-proxy endpoint-2
add chain ip kube-proxy endpoint-3
add element ip kube-proxy service-ips { 10.0.0.1 . tcp . 80 : goto service-A-ns/a/tcp/ }
add rule ip kube-proxy service-A-ns/a/tcp/ numgen random mod 3 vmap { 0 : goto endpoint-1 , 1 : goto endpoint-2 , 2 : goto endpoint-3 }
add rule ip kube-proxy endpoint-1 meta l4proto tcp dnat to 10.1.0.1:80
add rule ip kube-proxy endpoint-2 meta l4proto tcp dnat to 10.1.0.2:80
add rule ip kube-proxy endpoint-3 meta l4proto tcp dnat to 10.1.0.3:80
`)
	require.NoError(t, err)
	p, err := ParsePacket("10.2.0.9", "10.0.0.1:80", "tcp", "pod")
	require.NoError(t, err)
	r, err := WalkNFT(cmds, p, nodeOptions("192.168.0.2"))
	require.NoError(t, err)
	require.Len(t, r.Outcomes, 3)
	for _, o := range r.Outcomes {
		assert.Equal(t, "1/3", o.Exact.RatString(), "numgen random mod 3: a third each")
		assert.Equal(t, VerdictDNAT, o.Verdict)
	}
}
