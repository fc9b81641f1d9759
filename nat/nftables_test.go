package nat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// The hashes upstream's tests use (proxier_test.go, v1.33.13).
func TestNFTChainNames(t *testing.T) {
	assert.Equal(t, "ULMVA6XW-ns1/svc1/tcp/p80", NFTServiceChainBase("ns1", "svc1", "TCP", "p80"))
	assert.Equal(t, "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80", NFTEndpointChainBase("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80))
	assert.Equal(t, "P4ZYZVCF-testing/service/tcp/http", NFTServiceChainBase("testing", "service", "tcp", "http"))
	assert.Equal(t, "U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80",
		NFTEndpointChainBase("testing", "service", "tcp", "http", "fd80:abcd:12::a1b2:c3d4:e5f6:9999", 80))
	long := nftHashAndTruncate(strings.Repeat("a", 300))
	assert.Len(t, long, 240)
	assert.True(t, strings.HasSuffix(long, "..."))
}

// The walkthrough's Service in nftables mode: a numgen vmap over its three
// pods, in kube-proxy's (string) order, the NodePort through external-.
func TestNFTDefaultWorld(t *testing.T) {
	text, err := NFTablesText(buildWorld(t, nil), "node-2")
	require.NoError(t, err)
	for _, want := range []string{
		"add table ip kube-proxy { comment \"rules for kube-proxy\" ; }",
		"add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
		"add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00004000",
		"add rule ip kube-proxy cluster-ips-check ip daddr { 10.100.0.0/16 } drop comment \"Drop traffic to unallocated ClusterIPs\"",
		"add element ip kube-proxy nodeport-ips { 192.168.2.146 }",
		"add element ip kube-proxy service-ips { 10.100.30.185 . tcp . 7777 : goto service-UZX5NTXH-default/nginx-nlb-service/tcp/ }",
		"add element ip kube-proxy service-nodeports { tcp . 32392 : goto external-UZX5NTXH-default/nginx-nlb-service/tcp/ }",
		"add rule ip kube-proxy service-UZX5NTXH-default/nginx-nlb-service/tcp/ numgen random mod 3 vmap { 0 : goto endpoint-4IIXFS4A-default/nginx-nlb-service/tcp/__192.168.1.248/7777 , 1 : goto endpoint-QQLCDLQ6-default/nginx-nlb-service/tcp/__192.168.2.206/7777 , 2 : goto endpoint-HWUGEZVY-default/nginx-nlb-service/tcp/__192.168.3.111/7777 }",
		"add rule ip kube-proxy endpoint-QQLCDLQ6-default/nginx-nlb-service/tcp/__192.168.2.206/7777 meta l4proto tcp dnat to 192.168.2.206:7777",
	} {
		assert.Contains(t, text, want+"\n")
	}
	// No ClusterIP masquerade rule (no detect-local on EKS), no health-check
	// node port rule, no counters.
	assert.NotContains(t, text, "ip daddr 10.100.30.185 tcp dport")
	assert.NotContains(t, text, "counter")
}

// Operation counts as upstream's TestSyncProxyRulesRepeated has them: no
// change sends nothing, a new Service with one endpoint 10 operations (9
// here: EKS has no detect-local, so no ClusterIP masquerade rule), a
// deleted one 4; the chains of a deleted endpoint are flushed at once and
// deleted a second later in a transaction of their own.
func TestNFTIncrementalSyncs(t *testing.T) {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	p := NewNFTProxier("node-1")
	p.KeepDump()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sync := func(w *topology.World) *NFTSync {
		now = now.Add(10 * time.Millisecond)
		s, err := p.Sync(w, NFTSyncOptions{Now: now}, nil)
		require.NoError(t, err)
		return s
	}
	first := sync(w)
	assert.True(t, first.Full)
	assert.Zero(t, sync(w).Operations, "a sync with no change")

	w1 := copyWorld(w)
	addPods(t, w1, "ns9", "extra", webPort, "192.168.1.77")
	w1.Services = append(w1.Services, clusterIPService("ns9", "extra", "10.100.90.9", tcpPort("p80", 80, "8080", 0)))
	s := sync(w1)
	assert.False(t, s.Full)
	assert.Equal(t, 9, s.Operations, s.Text())

	w2 := copyWorld(w1)
	w2.Services = w.Services
	s = sync(w2)
	assert.Equal(t, 4, s.Operations, s.Text())
	assert.Contains(t, s.Text(), "flush chain ip kube-proxy endpoint-")
	assert.Contains(t, s.Text(), "delete element ip kube-proxy cluster-ips { 10.100.90.9 }\n")

	now = now.Add(2 * time.Second)
	s = sync(w2)
	require.Len(t, s.Transactions, 2, s.Text())
	assert.Contains(t, s.Transactions[0], "delete chain ip kube-proxy endpoint-")
	assert.Zero(t, s.Operations)
	assert.NotContains(t, p.Dump(), "ns9/extra")
}

// On a node in nftables mode the iptables ruleset is kubelet's and the VPC
// CNI's alone.
func TestIPTablesInNFTablesMode(t *testing.T) {
	w := buildWorld(t, func(s *topology.Spec) { s.ProxyMode = topology.ProxyNFTables })
	rs, err := KubeProxy(w, "node-1")
	require.NoError(t, err)
	text := rs.RestoreText()
	assert.NotContains(t, text, "KUBE-SERVICES")
	assert.NotContains(t, text, "KUBE-MARK-MASQ")
	assert.Contains(t, text, "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\"")
	assert.Contains(t, text, "AWS-SNAT-CHAIN-0")
	for _, r := range rs.Rules {
		assert.NotEqual(t, OwnerKubeProxy, r.Owner, r.String())
	}
}

// A transaction the kernel refuses makes the next sync full, as upstream's
// does; the record of the table keeps what the kernel has.
func TestNFTFailedSyncIsFollowedByAFullOne(t *testing.T) {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	p := NewNFTProxier("node-1")
	p.KeepDump()
	_, err := p.Sync(w, NFTSyncOptions{}, nil)
	require.NoError(t, err)
	before := p.Dump()

	w1 := copyWorld(w)
	addPods(t, w1, "ns9", "extra", webPort, "192.168.1.77")
	w1.Services = append(w1.Services, clusterIPService("ns9", "extra", "10.100.90.9", tcpPort("p80", 80, "8080", 0)))
	refused := errors.New("nft: refused")
	s, err := p.Sync(w1, NFTSyncOptions{}, func(string) error { return refused })
	require.ErrorIs(t, err, refused)
	assert.False(t, s.Full)
	assert.Equal(t, before, p.Dump(), "a refused transaction changes nothing")

	s, err = p.Sync(w1, NFTSyncOptions{}, nil)
	require.NoError(t, err)
	assert.True(t, s.Full, "the sync after a failure is full")
	assert.Contains(t, p.Dump(), "ns9/extra")
}
