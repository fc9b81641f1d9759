package diff

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

const fixtures = "../../topology/cluster/testdata/"

func world(t testing.TB) *topology.World {
	t.Helper()
	ms, err := topology.ReadManifests([]string{fixtures + "eks-cluster.yaml", fixtures + "kube-proxy-config.yaml"})
	require.NoError(t, err)
	c, err := cluster.Read("real", ms)
	require.NoError(t, err)
	return c.World
}

// nodeRules is what nlbsim writes on the node for w: kube-proxy's, kubelet's
// and the VPC CNI's rules, as a real EKS node holds them.
func nodeRules(t testing.TB, w *topology.World, host string) string {
	t.Helper()
	w = w.Clone()
	w.Cluster.VPC = netip.MustParsePrefix("192.168.0.0/16") // the objects do not say; aws-node knows
	rs, err := nat.KubeProxy(w, host)
	require.NoError(t, err)
	return rs.RestoreText()
}

func compare(t *testing.T, w *topology.World, host, text string) *Report {
	t.Helper()
	d, err := ruleset.Parse(strings.NewReader(text))
	require.NoError(t, err)
	r, err := Compare(w, host, d)
	require.NoError(t, err)
	return r
}

func dump(t *testing.T, r *Report) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

func kinds(d ServiceDiff) []string {
	var out []string
	for _, f := range d.Findings {
		out = append(out, f.Kind)
	}
	return out
}

func TestOwnRulesAgree(t *testing.T) {
	w := world(t)
	for _, host := range []string{"node-1", "node-2", "node-3"} {
		r := compare(t, w, host, nodeRules(t, w, host))
		assert.True(t, r.Agree, dump(t, r))
		assert.Empty(t, r.Services)
		assert.Empty(t, r.NodeFindings)
		var comps []string
		for _, ig := range r.Ignored {
			comps = append(comps, ig.Component)
		}
		assert.Equal(t, []string{"kubelet", "VPC CNI (aws-node)"}, comps)
	}
}

// Each planted fault is found, named, and is all that is reported.
// withoutService is a copy of w without the Service key (namespace/name).
func withoutService(w *topology.World, key string) *topology.World {
	w = w.Clone()
	var kept []topology.Service
	for _, s := range w.Services {
		if s.Key() != key {
			kept = append(kept, s)
		}
	}
	w.Services = kept
	return w
}

// dropSliceEndpoint removes the endpoint ip from the slices of the Service
// key in w, leaving everything else as it is.
func dropSliceEndpoint(w *topology.World, key, ip string) {
	for i := range w.Services {
		if w.Services[i].Key() != key {
			continue
		}
		var kept []topology.SliceEndpoint
		for _, e := range w.Services[i].SliceEndpoints {
			if e.IP.String() != ip {
				kept = append(kept, e)
			}
		}
		w.Services[i].SliceEndpoints = kept
	}
}

func TestPlantedFaults(t *testing.T) {
	const host = "node-1"
	base := world(t)
	text := nodeRules(t, base, host)

	t.Run("an endpoint removed from the slices only", func(t *testing.T) {
		w := base.Clone()
		dropSliceEndpoint(w, "shop/api", "192.168.2.122")
		r := compare(t, w, host, text)
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
		assert.Empty(t, r.NodeFindings)
		require.NotEmpty(t, d.Packets)
		assert.False(t, d.Packets[0].Agree, "the real rules still send a third of the packets there")
	})

	t.Run("a Service deleted but its chains left", func(t *testing.T) {
		w := withoutService(base, "shop/cart")
		r := compare(t, w, host, text)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, "shop/cart", d.Service)
		assert.Equal(t, StatusStale, d.Status)
		assert.Equal(t, []string{KindStaleService}, kinds(d))
		assert.Empty(t, r.NodeFindings)
		require.Len(t, d.Packets, 1)
		assert.Equal(t, "10.100.60.20:80", d.Packets[0].Packet.Dst)
		assert.False(t, d.Packets[0].Agree)
	})

	t.Run("a NodePort Service deleted but its chains left", func(t *testing.T) {
		w := withoutService(base, "shop/api")
		r := compare(t, w, host, text)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, StatusStale, d.Status)
		var dsts []string
		for _, p := range d.Packets {
			dsts = append(dsts, p.Packet.Dst)
			assert.False(t, p.Agree)
		}
		assert.ElementsMatch(t, []string{"10.100.70.30:80", "10.100.70.30:9090", "192.168.1.50:30080", "192.168.1.50:30090"}, dsts)
	})

	t.Run("a probability edited", func(t *testing.T) {
		svc := nat.ServiceChainName("shop/api:http", "tcp")
		edited := editLine(t, text, "-A "+svc+" ", "--probability 0.3333333333", "--probability 0.5000000000")
		r := compare(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, []string{KindProbability}, kinds(d), dump(t, r))
		assert.Equal(t, "shop/api:http", d.Findings[0].Port)
		assert.Equal(t, svc, d.Findings[0].Chain)
		assert.Contains(t, d.Findings[0].Message, "probability 0.5000000000; kube-proxy writes 0.3333333333 for 3 endpoints")
		assert.Empty(t, r.NodeFindings)
	})

	t.Run("a KUBE-SEP pointing to a wrong port", func(t *testing.T) {
		edited := editLine(t, text, "-j DNAT --to-destination 192.168.1.121:8080", "192.168.1.121:8080", "192.168.1.121:8081")
		r := compare(t, base, host, edited)
		require.Len(t, r.Services, 1, dump(t, r))
		d := r.Services[0]
		assert.Equal(t, []string{KindEndpointTarget}, kinds(d), dump(t, r))
		assert.Equal(t, nat.EndpointChainName("shop/api:http", "tcp", "192.168.1.121:8080"), d.Findings[0].Chain)
		assert.Contains(t, d.Findings[0].Message, "DNATs to 192.168.1.121:8081, but the slices list the endpoint as 192.168.1.121:8080")
		assert.Empty(t, r.NodeFindings)
	})
}

// editLine replaces old with new on the one line that contains both marker
// and old.
func editLine(t *testing.T, text, marker, old, new string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	n := 0
	for i, l := range lines {
		if strings.Contains(l, marker) && strings.Contains(l, old) {
			lines[i] = strings.Replace(l, old, new, 1)
			n++
			break
		}
	}
	require.Equal(t, 1, n, "no line with %q and %q", marker, old)
	return strings.Join(lines, "\n")
}

func TestWriteTable(t *testing.T) {
	w := world(t)
	edited := editLine(t, nodeRules(t, w, "node-1"), "-j DNAT --to-destination 192.168.1.121:8080", "192.168.1.121:8080", "192.168.1.121:8081")
	r := compare(t, w, "node-1", edited)
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	out := b.String()
	assert.Contains(t, out, "node ip-192-168-1-50.ap-northeast-2.compute.internal (192.168.1.50): 1 Service(s) and 0 node finding(s) differ")
	assert.Contains(t, out, "\nshop/api: differs\n  endpoint-target       KUBE-SEP-")
	assert.Contains(t, out, "  packet tcp 192.168.1.81 -> 10.100.70.30:80 from pod: DIFFERENT outcomes\n    real:     33.3333% DNAT 192.168.1.121:8081")
	assert.Contains(t, out, "left out (other components' chains): kubelet (5) VPC CNI (aws-node) (2)")
}

func TestChainsNobodyOwns(t *testing.T) {
	w := world(t)
	text := nodeRules(t, w, "node-1")
	text = strings.Replace(text, "*nat\n", "*nat\n:KUBE-SEP-ZZZZZZZZZZZZZZZZ - [0:0]\n:KUBE-XLB-AAAAAAAAAAAAAAAA - [0:0]\n", 1)
	text = strings.Replace(text, "COMMIT\n*mangle", "-A KUBE-SEP-ZZZZZZZZZZZZZZZZ -p tcp -m tcp -j DNAT --to-destination 192.168.9.9:80\nCOMMIT\n*mangle", 1)
	r := compare(t, w, "node-1", text)
	assert.False(t, r.Agree)
	assert.Empty(t, r.Services)
	var got []string
	for _, f := range r.NodeFindings {
		got = append(got, f.Kind+" "+f.Chain)
	}
	assert.ElementsMatch(t, []string{"unowned-chain KUBE-XLB-AAAAAAAAAAAAAAAA", "unowned-chain KUBE-SEP-ZZZZZZZZZZZZZZZZ"}, got, dump(t, r))
}

// eTP Local: the removed endpoint was node-2's only local one, so the
// expected rules also lose KUBE-SVL and gain a DROP for external traffic —
// consequences of the one finding, not findings of their own.
func TestEndpointRemovedFromItsOwnNode(t *testing.T) {
	base := world(t)
	text := nodeRules(t, base, "node-2")
	w := base.Clone()
	for i := range w.Services {
		if w.Services[i].Key() != "shop/web" {
			continue
		}
		var kept []topology.SliceEndpoint
		for _, e := range w.Services[i].SliceEndpoints {
			if e.IP.String() != "192.168.2.102" {
				kept = append(kept, e)
			}
		}
		w.Services[i].SliceEndpoints = kept
	}
	r := compare(t, w, "node-2", text)
	require.Len(t, r.Services, 1, dump(t, r))
	assert.Equal(t, []string{KindEndpointNotServing}, kinds(r.Services[0]), dump(t, r))
	assert.Empty(t, r.NodeFindings)
	var nodePort *PacketComparison
	for i, p := range r.Services[0].Packets {
		if p.Packet.From == "external" {
			nodePort = &r.Services[0].Packets[i]
		}
	}
	require.NotNil(t, nodePort)
	assert.Equal(t, []Outcome{{Verdict: "DROP", Probability: 1}}, nodePort.Expected, "no local endpoint left: kube-proxy drops")
	assert.Equal(t, "192.168.2.102:8080", nodePort.Real[0].Target)
}

// A flushed PREROUTING loses kube-proxy's jump: a node finding, no Service's.
func TestMissingJumpIsANodeFinding(t *testing.T) {
	w := world(t)
	text := nodeRules(t, w, "node-1")
	jump := "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	require.Contains(t, text, jump)
	r := compare(t, w, "node-1", strings.Replace(text, jump, "", 1))
	assert.False(t, r.Agree)
	assert.Empty(t, r.Services)
	require.Len(t, r.NodeFindings, 1, dump(t, r))
	f := r.NodeFindings[0]
	assert.Equal(t, KindMissingRule, f.Kind)
	assert.Equal(t, "PREROUTING", f.Chain)
}
