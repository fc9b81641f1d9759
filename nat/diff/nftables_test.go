package diff

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/topology"
)

// The committed listings are `nft list ruleset` and `nft -j list ruleset`
// of a scratch network namespace that holds what node-1 of the fixture
// cluster holds in nftables mode: nlbsim's kube-proxy table (nft -f) and
// kubelet's and the VPC CNI's iptables rules (iptables-nft).
// TestNFTListedFormAgrees makes them again (NLBSIM_UPDATE_FIXTURES=1
// rewrites them).
const (
	nftListing     = "testdata/node-1.nft"
	nftListingJSON = "testdata/node-1.nft.json"
)

func nftWorld(t testing.TB) *topology.World {
	w := world(t)
	w.Cluster.KubeProxy.Mode = "nftables"
	return w
}

func compareNFT(t *testing.T, w *topology.World, host, text string) *Report {
	t.Helper()
	rs, err := explain.ParseNFT(text)
	require.NoError(t, err)
	r, err := CompareNFT(w, host, rs)
	require.NoError(t, err)
	return r
}

func readFixture(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestNFTOwnRulesAgree(t *testing.T) {
	w := nftWorld(t)
	for _, host := range []string{"node-1", "node-2", "node-3"} {
		text, err := nat.NFTablesText(w, host)
		require.NoError(t, err)
		r := compareNFT(t, w, host, text)
		assert.True(t, r.Agree, dump(t, r))
		assert.Equal(t, ModeNFTables, r.Mode)
	}
	for _, fixture := range []string{nftListing, nftListingJSON} {
		r := compareNFT(t, w, "node-1", readFixture(t, fixture))
		assert.True(t, r.Agree, "%s: %s", fixture, dump(t, r))
		var comps []string
		for _, ig := range r.Ignored {
			comps = append(comps, ig.Component)
		}
		assert.Equal(t, []string{"kubelet", "VPC CNI (aws-node)"}, comps, fixture)
		assert.Empty(t, r.Unrecognised, fixture)
	}
}

// Each planted fault in the listed form is found, named, and is all that
// is reported.
func TestNFTPlantedFaults(t *testing.T) {
	const host = "node-1"
	base := nftWorld(t)
	text := readFixture(t, nftListing)

	t.Run("an endpoint removed from the slices only", func(t *testing.T) {
		w := base.Clone()
		dropSliceEndpoint(w, "shop/api", "192.168.2.122")
		r := compareNFT(t, w, host, text)
		require.False(t, r.Agree)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, "shop/api", d.Service)
		assert.Equal(t, StatusDiffers, d.Status)
		assert.Equal(t, []string{KindEndpointNotServing, KindEndpointNotServing}, kinds(d), dump(t, r))
		assert.Equal(t, "192.168.2.122:8080", d.Findings[0].Endpoint)
		assert.Equal(t, "shop/api:http", d.Findings[0].Port)
		assert.Contains(t, d.Findings[0].Message, "no EndpointSlice of the Service lists it")
		assert.Equal(t, "192.168.2.122:9090", d.Findings[1].Endpoint)
		assert.Empty(t, r.NodeFindings, dump(t, r))
		require.NotEmpty(t, d.Packets)
		assert.False(t, d.Packets[0].Agree, "the real rules still send a third of the packets there")
	})

	t.Run("a Service deleted but its chains and elements left", func(t *testing.T) {
		r := compareNFT(t, withoutService(base, "shop/api"), host, text)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, "shop/api", d.Service)
		assert.Equal(t, StatusStale, d.Status)
		assert.Equal(t, []string{KindStaleService}, kinds(d))
		assert.Contains(t, d.Findings[0].Message, "element(s) in service-ips")
		assert.Empty(t, r.NodeFindings, dump(t, r))
		var dsts []string
		for _, p := range d.Packets {
			dsts = append(dsts, p.Packet.Dst)
			assert.False(t, p.Agree, p.Packet.Dst)
		}
		assert.ElementsMatch(t, []string{"10.100.70.30:80", "10.100.70.30:9090", "192.168.1.50:30080", "192.168.1.50:30090"}, dsts)
	})

	t.Run("a map element pointing to a wrong port", func(t *testing.T) {
		edited := editLine(t, text, "goto service-", "10.100.70.30 . tcp . 80 :", "10.100.70.30 . tcp . 81 :")
		r := compareNFT(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, "shop/api", d.Service)
		assert.Equal(t, []string{KindWrongElement}, kinds(d), dump(t, r))
		assert.Equal(t, "shop/api:http", d.Findings[0].Port)
		assert.Equal(t, "service-ips", d.Findings[0].Chain)
		assert.Contains(t, d.Findings[0].Message, "under 10.100.70.30 . tcp . 81; kube-proxy writes it under 10.100.70.30 . tcp . 80")
		assert.Empty(t, r.NodeFindings, dump(t, r))
		require.NotEmpty(t, d.Packets)
		assert.False(t, d.Packets[0].Agree)
	})

	t.Run("an endpoint chain pointing to a wrong port", func(t *testing.T) {
		edited := editLine(t, text, "dnat to", "192.168.1.121:8080", "192.168.1.121:8081")
		r := compareNFT(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, []string{KindEndpointTarget}, kinds(d), dump(t, r))
		assert.True(t, strings.HasPrefix(d.Findings[0].Chain, "endpoint-"), d.Findings[0].Chain)
		assert.Contains(t, d.Findings[0].Message, "DNATs to 192.168.1.121:8081, but the slices list the endpoint as 192.168.1.121:8080")
		assert.Empty(t, r.NodeFindings)
	})

	t.Run("an element removed from the service-ips map", func(t *testing.T) {
		lines := strings.Split(text, "\n")
		n := 0
		for i, l := range lines {
			if strings.Contains(l, "10.100.70.30 . tcp . 9090 : goto service-") {
				lines[i] = strings.Replace(l, "10.100.70.30 . tcp . 9090 : goto "+strings.Fields(strings.SplitN(l, "goto ", 2)[1])[0], "", 1)
				n++
			}
		}
		require.Equal(t, 1, n)
		edited := strings.Join(lines, "\n")
		r := compareNFT(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, "shop/api", d.Service)
		assert.Equal(t, []string{KindMissingElement}, kinds(d), dump(t, r))
		assert.Equal(t, "shop/api:metrics", d.Findings[0].Port)
		assert.Contains(t, d.Findings[0].Message, "missing from service-ips: { 10.100.70.30 . tcp . 9090 : goto service-")
		assert.Empty(t, r.NodeFindings)
		var clusterIP *PacketComparison
		for i, p := range d.Packets {
			if p.Packet.Dst == "10.100.70.30:9090" {
				clusterIP = &d.Packets[i]
			}
		}
		require.NotNil(t, clusterIP)
		assert.False(t, clusterIP.Agree)
		assert.Equal(t, explain.Verdict("REJECT"), clusterIP.Real[0].Verdict, "cluster-ips-check rejects a ClusterIP port kube-proxy does not serve")
	})

	t.Run("numgen's shares edited", func(t *testing.T) {
		edited := editLine(t, text, "numgen random mod 3 vmap", "192.168.1.121/8080", "192.168.1.121/8080")
		edited = strings.Replace(edited, "numgen random mod 3 vmap { 0 : goto endpoint-WCHIGEV3", "numgen random mod 4 vmap { 0 : goto endpoint-WCHIGEV3", 1)
		require.NotEqual(t, text, edited)
		r := compareNFT(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, []string{KindProbability, KindProbability, KindProbability}, kinds(d), dump(t, r))
		assert.Contains(t, d.Findings[0].Message, "sends 1/4 of new connections to 192.168.1.121:8080 (numgen random mod 4); kube-proxy sends 1/3 (mod 3) for 3 endpoints")
	})
}

// A chain or set kube-proxy does not write is the node's finding; iptables
// mode's chains left in iptables-nft's tables are named as leftovers.
func TestNFTChainsNobodyOwns(t *testing.T) {
	w := nftWorld(t)
	text := readFixture(t, nftListing)
	text = strings.Replace(text, "table ip kube-proxy {\n", "table ip kube-proxy {\n\tchain KUBE-SERVICES-OLD {\n\t}\n", 1)
	text += "table ip nat {\n\tchain KUBE-SERVICES {\n\t}\n}\n"
	r := compareNFT(t, w, "node-1", text)
	assert.False(t, r.Agree)
	assert.Empty(t, r.Services)
	var got []string
	for _, f := range r.NodeFindings {
		got = append(got, f.Kind+" "+f.Table+" "+f.Chain)
	}
	assert.ElementsMatch(t, []string{"unowned-chain kube-proxy KUBE-SERVICES-OLD", "unowned-chain ip nat KUBE-SERVICES"}, got, dump(t, r))
}

// The listed forms (text and JSON) of the rules the kernel holds agree with
// the objects; the committed listings are made here.
func TestNFTListedFormAgrees(t *testing.T) {
	run := scratchNamespace(t, "it loads the rules into a scratch network namespace", "nft", "iptables-restore")

	w := nftWorld(t)
	const host = "node-1"
	text, err := nat.NFTablesText(w, host)
	require.NoError(t, err)
	run(text, "nft", "-f", "-")
	others := nodeRules(t, w, host) // kubelet's and the VPC CNI's, beside kube-proxy's table
	var keep []string
	for _, l := range strings.Split(others, "\n") {
		if strings.Contains(l, "KUBE-") && !strings.Contains(l, "KUBE-FIREWALL") && !strings.Contains(l, "KUBE-KUBELET-CANARY") &&
			!strings.Contains(l, "KUBE-IPTABLES-HINT") && !strings.Contains(l, "KUBE-MARK-DROP") {
			continue
		}
		keep = append(keep, l)
	}
	run(strings.Join(keep, "\n"), "iptables-restore")
	listing, listingJSON := run("", "nft", "list", "ruleset"), run("", "nft", "-j", "list", "ruleset")
	for _, form := range []string{listing, listingJSON} {
		r := compareNFT(t, w, host, form)
		assert.True(t, r.Agree, dump(t, r))
		assert.Len(t, r.Ignored, 2)
	}
	if os.Getenv("NLBSIM_UPDATE_FIXTURES") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(nftListing, []byte(listing), 0o644))
		require.NoError(t, os.WriteFile(nftListingJSON, []byte(listingJSON), 0o644))
	}
}

// The JSON listing gives the same findings as the text one.
func TestNFTJSONFindings(t *testing.T) {
	base := nftWorld(t)
	w := withoutService(base, "shop/cart")
	dropSliceEndpoint(w, "shop/api", "192.168.2.122")
	text, js := compareNFT(t, w, "node-1", readFixture(t, nftListing)), compareNFT(t, w, "node-1", readFixture(t, nftListingJSON))
	require.Len(t, text.Services, 2, dump(t, text))
	assert.Equal(t, []string{KindEndpointNotServing, KindEndpointNotServing}, kinds(text.Services[0]))
	assert.Equal(t, []string{KindStaleService}, kinds(text.Services[1]))
	for _, r := range []*Report{text, js} {
		for i := range r.Services {
			for j := range r.Services[i].Findings {
				r.Services[i].Findings[j].Line, r.Services[i].Findings[j].Rule = 0, ""
			}
		}
	}
	assert.Equal(t, text, js)
}

func TestNFTWriteTable(t *testing.T) {
	w := nftWorld(t)
	edited := editLine(t, readFixture(t, nftListing), "dnat to", "192.168.1.121:8080", "192.168.1.121:8081")
	r := compareNFT(t, w, "node-1", edited)
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	out := b.String()
	assert.Contains(t, out, "node ip-192-168-1-50.ap-northeast-2.compute.internal (192.168.1.50): 1 Service(s) and 0 node finding(s) differ")
	assert.Contains(t, out, "\nshop/api: differs\n  endpoint-target       endpoint-WCHIGEV3-shop/api/tcp/http__192.168.1.121/8080 (line ")
	assert.Contains(t, out, "  packet tcp 192.168.1.81 -> 10.100.70.30:80 from pod: DIFFERENT outcomes\n    real:     33.3333% DNAT 192.168.1.121:8081")
	assert.Contains(t, out, "left out (other components' chains): kubelet (5) VPC CNI (aws-node) (2)")
}

// The objects hold no ServiceCIDR; a real v1.33 node drops traffic to the
// unallocated addresses of the ones kube-proxy watches. diff takes the
// node's CIDR when it holds every ClusterIP, says so, and agrees; one that
// does not hold them all is a difference.
func TestNFTServiceCIDRFromTheNode(t *testing.T) {
	w := nftWorld(t)
	require.False(t, w.Cluster.ServiceCIDR.IsValid())
	text := readFixture(t, nftListing)
	drop := "\t\tip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n"
	require.Contains(t, text, drop)
	with := func(cidr string) string {
		return strings.Replace(text, drop, drop+"\t\tip daddr "+cidr+" drop comment \"Drop traffic to unallocated ClusterIPs\"\n", 1)
	}
	r := compareNFT(t, w, "node-1", with("10.100.0.0/16"))
	assert.True(t, r.Agree, dump(t, r))
	require.Len(t, r.Assumed, 1)
	assert.Contains(t, r.Assumed[0], "ServiceCIDR 10.100.0.0/16, from the node's cluster-ips-check")

	r = compareNFT(t, w, "node-1", with("10.100.0.0/24"))
	assert.False(t, r.Agree)
	assert.Empty(t, r.Assumed)
	require.Len(t, r.NodeFindings, 1, dump(t, r))
	assert.Equal(t, KindExtraRule, r.NodeFindings[0].Kind)
}

// Every endpoint of a Service (with an unnamed port) gone from the slices:
// the endpoints are the findings; the chains and elements kube-proxy then
// writes otherwise (no service- chain, no-endpoint-services instead of
// service-ips) follow from them.
func TestNFTAllEndpointsGone(t *testing.T) {
	w := nftWorld(t)
	for i := range w.Services {
		if w.Services[i].Key() == "shop/cart" {
			w.Services[i].SliceEndpoints = nil
		}
	}
	r := compareNFT(t, w, "node-1", readFixture(t, nftListing))
	require.Len(t, r.Services, 1, dump(t, r))
	d := r.Services[0]
	assert.Equal(t, []string{KindEndpointNotServing, KindEndpointNotServing}, kinds(d), dump(t, r))
	assert.Equal(t, "shop/cart", d.Findings[0].Port, "kube-proxy's name of an unnamed port")
	assert.Contains(t, d.Findings[0].Message, "no EndpointSlice of the Service lists it")
	assert.Empty(t, r.NodeFindings)
	require.Len(t, d.Packets, 1)
	assert.Equal(t, []Outcome{{Verdict: "REJECT", Probability: 1}}, d.Packets[0].Expected)
}
