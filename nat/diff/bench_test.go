package diff

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// bigWorld is the fixture with n more ClusterIP Services of m endpoints
// each, spread over its three nodes.
func bigWorld(b *testing.B, n, m int) *topology.World {
	ms, err := topology.ReadManifests([]string{fixtures + "eks-cluster.yaml"})
	require.NoError(b, err)
	c, err := cluster.Read("big", ms)
	require.NoError(b, err)
	w := c.World
	w.Cluster.VPC = netip.MustParsePrefix("192.168.0.0/16")
	for i := 0; i < n; i++ {
		svc := topology.Service{Name: fmt.Sprintf("svc-%d", i), Namespace: "load", Type: "ClusterIP", SessionAffinity: "None",
			ClusterIP: netip.AddrFrom4([4]byte{10, 101, byte(i >> 8), byte(i)}), FromSlices: true,
			Ports: []topology.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "8080"}}}
		for j := 0; j < m; j++ {
			k := i*m + j
			svc.SliceEndpoints = append(svc.SliceEndpoints, topology.SliceEndpoint{PortName: "http", Protocol: "TCP", Slice: svc.Name,
				Endpoint: topology.Endpoint{IP: netip.AddrFrom4([4]byte{10, 200, byte(k >> 8), byte(k)}), Port: 8080,
					Node: fmt.Sprintf("node-%d", k%3+1), Ready: true, Serving: true}})
		}
		w.Services = append(w.Services, svc)
	}
	return w
}

// BenchmarkCompare diffs a node of 1,000 Services × 10 endpoints (about
// 33,000 rules) against its own rules.
func BenchmarkCompare(b *testing.B) {
	w := bigWorld(b, 1000, 10)
	text := nodeRules(b, w, "node-1")
	d, err := ruleset.Parse(strings.NewReader(text))
	require.NoError(b, err)
	b.ReportMetric(float64(strings.Count(text, "\n-A ")), "rules")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Compare(w, "node-1", d)
		require.NoError(b, err)
		require.True(b, r.Agree)
	}
}
