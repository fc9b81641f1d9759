package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func buildWithPrefix(t *testing.T, bits int, edit func(*Spec)) *World {
	t.Helper()
	spec := DefaultSpec()
	spec.SubnetPrefixLength = bits
	if edit != nil {
		edit(&spec)
	}
	w, err := Build(spec)
	require.NoError(t, err)
	return w
}

// Asking for /24 subnets is asking for the default world: the same world,
// value for value, with the spec saved the same way.
func TestSubnetPrefix24IsTheDefaultWorld(t *testing.T) {
	assert.Equal(t, Default(), buildWithPrefix(t, 24, nil))
	assert.Zero(t, buildWithPrefix(t, 24, nil).Spec.SubnetPrefixLength)
}

// The three AZ subnets are blocks 1–3 of the VPC cut into /N blocks (block
// 0 holds the resolver): inside the VPC, disjoint, router at base+1.
func TestSubnetLayout(t *testing.T) {
	for bits, want := range map[int][]string{
		18: {"192.168.64.0/18", "192.168.128.0/18", "192.168.192.0/18"},
		19: {"192.168.32.0/19", "192.168.64.0/19", "192.168.96.0/19"},
		20: {"192.168.16.0/20", "192.168.32.0/20", "192.168.48.0/20"},
		24: {"192.168.1.0/24", "192.168.2.0/24", "192.168.3.0/24"},
		25: {"192.168.0.128/25", "192.168.1.0/25", "192.168.1.128/25"},
		28: {"192.168.0.16/28", "192.168.0.32/28", "192.168.0.48/28"},
	} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			w := buildWithPrefix(t, bits, func(s *Spec) { s.Nodes, s.Replicas = 3, 0; s.Minimal = bits > 26 })
			var got []string
			for i, s := range w.Subnets {
				got = append(got, s.CIDR.String())
				assert.Equal(t, "ap-northeast-2"+azLetters[i], s.AZ)
				assert.Equal(t, s.CIDR.Addr().Next(), s.Gateway)
				assert.True(t, w.Cluster.VPC.Contains(s.CIDR.Addr()) && s.CIDR.Bits() > w.Cluster.VPC.Bits())
				assert.False(t, s.CIDR.Contains(w.Cluster.Resolver))
				for _, o := range w.Subnets[i+1:] {
					assert.False(t, s.CIDR.Overlaps(o.CIDR))
				}
			}
			assert.Equal(t, want, got)
			assert.Equal(t, "192.168.0.0/16", w.Cluster.VPC.String())
			assert.Equal(t, "192.168.0.2", w.Cluster.Resolver.String())
		})
	}
}

// hostAddrs maps every host of a world to its address.
func hostAddrs(w *World) map[string]string {
	out := map[string]string{}
	for _, h := range w.Hosts() {
		if h.Kind != KindVPC {
			out[h.Name] = h.IP.String()
		}
	}
	return out
}

// In subnets of /24 or larger the walkthrough's hosts keep their host part
// in their AZ's subnet.
func TestLargerSubnetsKeepTheWalkthroughsHostParts(t *testing.T) {
	w := buildWithPrefix(t, 19, nil)
	d := Default()
	got := hostAddrs(w)
	want := map[string]string{
		"bastion": "192.168.32.100", "node-1": "192.168.32.118", "node-2": "192.168.64.146", "node-3": "192.168.96.137",
		d.Pods[0].Name: "192.168.32.248", d.Pods[1].Name: "192.168.64.206", d.Pods[4].Name: "192.168.96.111",
		"coredns-699d8c5988-mtpc4": "192.168.96.62", "coredns-699d8c5988-t42hz": "192.168.96.202",
		"nlb-a": "192.168.32.51", "nlb-b": "192.168.64.149", "nlb-c": "192.168.96.171",
		"control-plane-1": "192.168.64.40", "control-plane-2": "192.168.96.12",
	}
	assert.Equal(t, want, got)
	k, ok := w.Service("default", "kubernetes")
	require.True(t, ok)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.168.64.40"), netip.MustParseAddr("192.168.96.12")}, k.ManualEndpoints)
	// Names follow addresses, as EC2's do.
	assert.Equal(t, "ip-192-168-32-118.ap-northeast-2.compute.internal", w.Nodes[0].NodeName)
}

// Subnets smaller than /24 cannot hold the walkthrough's host parts: every
// host gets the next free address of its AZ's subnet, none of AWS's
// reserved ones, none twice.
func TestSmallerSubnetsAllocateEveryHost(t *testing.T) {
	w := buildWithPrefix(t, 26, nil)
	seen := map[netip.Addr]string{}
	for _, h := range w.Hosts() {
		if h.Kind == KindVPC {
			continue
		}
		s, ok := w.SubnetOf(h.IP)
		require.True(t, ok, "%s %s", h.Name, h.IP)
		assert.Equal(t, h.AZ, s.AZ, h.Name)
		off := h.IP.As4()[3] - s.CIDR.Addr().As4()[3]
		assert.True(t, off >= 4 && int(off) < 63, "%s %s is one of AWS's reserved addresses", h.Name, h.IP)
		assert.Empty(t, seen[h.IP], "%s and %s share %s", h.Name, seen[h.IP], h.IP)
		seen[h.IP] = h.Name
	}
	assert.Equal(t, "192.168.0.74", w.Bastion.IP.String(), "the first address the allocator hands out in 192.168.0.64/26")
}

// 200 nodes × 2,000 pods fit /20 subnets (eksctl's are /19): every pod runs
// in its node's subnet, addresses unique, past the subnets' first /24.
// The walkthrough's /24s refuse it, naming the setting to change.
func TestBigWorldNeedsLargerSubnets(t *testing.T) {
	big := func(s *Spec) { s.Nodes, s.Replicas = 200, 2000 }
	w := buildWithPrefix(t, 20, big)
	seen := map[netip.Addr]bool{}
	beyond := 0
	for _, p := range w.Pods {
		require.True(t, p.Running(), p.Name)
		n, _ := w.Node(p.Node)
		s, _ := w.SubnetOf(n.IP)
		require.True(t, s.CIDR.Contains(p.IP), "%s %s in %s", p.Name, p.IP, s.CIDR)
		require.False(t, seen[p.IP], "%s twice", p.IP)
		seen[p.IP] = true
		if p.IP.As4()[2] != s.CIDR.Addr().As4()[2] {
			beyond++
		}
	}
	assert.Len(t, w.Pods, 2002)
	assert.Greater(t, beyond, 1000)

	spec := DefaultSpec()
	big(&spec)
	_, err := Build(spec)
	var invalid *InvalidError
	require.True(t, errors.As(err, &invalid), "%v", err)
	assert.Equal(t, "SubnetPrefixLength", invalid.Field)
	assert.Contains(t, err.Error(), "has no free address left for pod")
	assert.Contains(t, err.Error(), "more addresses than /24 subnets hold (245 each")
}

func TestSubnetPrefixValidation(t *testing.T) {
	for bits, want := range map[int]string{
		16: "SubnetPrefixLength: 16 is out of range (18–28",
		17: "fit the VPC 192.168.0.0/16 from /18 on",
		29: "SubnetPrefixLength: 29 is out of range",
		-1: "SubnetPrefixLength: -1 is out of range",
	} {
		spec := DefaultSpec()
		spec.SubnetPrefixLength = bits
		_, err := Build(spec)
		assert.ErrorContains(t, err, want)
	}
	spec := DefaultSpec()
	spec.SubnetPrefixLength, spec.From = 20, []Manifest{{Name: "cluster.yaml"}}
	var invalid *InvalidError
	require.ErrorAs(t, spec.Validate(), &invalid)
	assert.Equal(t, "SubnetPrefixLength", invalid.Field)
	assert.ErrorContains(t, invalid, "a real cluster's subnets come from its nodes' and pods' addresses")
}
