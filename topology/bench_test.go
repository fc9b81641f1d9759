package topology

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBenchServices(t *testing.T) {
	spec := DefaultSpec()
	spec.Services, spec.EndpointsPerService = 2000, 10
	w := assertBenchServices(t, spec, "192.168.128.0/17")
	svc, ok := w.Service(AppNamespace, "nginx-nlb-service")
	require.True(t, ok)
	assert.Equal(t, "10.100.30.185", svc.ClusterIP.String(), "the walkthrough's Service keeps its address")

	again, err := Build(spec)
	require.NoError(t, err)
	assert.Equal(t, w.Services, again.Services, "deterministic")

	// /18 subnets take 192.168.64.0–255.255: the endpoints move below.
	spec.SubnetPrefixLength = 18
	assertBenchServices(t, spec, "192.168.32.0/19")
}

// assertBenchServices builds spec's world and checks its bench Services:
// distinct ClusterIPs, 10 endpoints each in endpoints (a block outside every
// subnet), none a host's.
func assertBenchServices(t *testing.T, spec Spec, endpoints string) *World {
	t.Helper()
	w, err := Build(spec)
	require.NoError(t, err)
	block := netip.MustParsePrefix(endpoints)
	for _, s := range w.Subnets {
		require.False(t, block.Overlaps(s.CIDR), "%s overlaps %s", block, s.CIDR)
	}
	clusterIPs := map[string]bool{}
	hosts := map[string]bool{}
	for _, h := range w.Hosts() {
		hosts[h.IP.String()] = true
	}
	bench := 0
	for _, s := range w.Services {
		require.False(t, clusterIPs[s.ClusterIP.String()], "ClusterIP %s twice", s.ClusterIP)
		clusterIPs[s.ClusterIP.String()] = true
		if s.Namespace != BenchNamespace {
			continue
		}
		bench++
		require.True(t, w.Cluster.ServiceCIDR.Contains(s.ClusterIP))
		eps := w.Endpoints(s, s.Ports[0])
		require.Len(t, eps, 10)
		for _, e := range eps {
			assert.True(t, block.Contains(e.IP), "%s", e.IP)
			assert.False(t, hosts[e.IP.String()], "%s belongs to a host", e.IP)
			assert.Equal(t, 8080, e.Port)
		}
	}
	assert.Equal(t, 2000, bench)
	assert.Equal(t, "default/nginx-nlb-service", w.ProbeService)
	return w
}

func TestBenchServicesValidation(t *testing.T) {
	for _, c := range []struct {
		services, endpoints int
		want                string
	}{
		{-1, 10, "Services: -1 is out of range"},
		{MaxBenchServices + 1, 10, "Services: 50001 is out of range"},
		{10, -1, "EndpointsPerService: -1 is out of range"},
		{10, MaxBenchEndpoints + 1, "EndpointsPerService: 101 is out of range"},
	} {
		spec := DefaultSpec()
		spec.Services, spec.EndpointsPerService = c.services, c.endpoints
		_, err := Build(spec)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.want)
	}
}
