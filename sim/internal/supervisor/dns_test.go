package supervisor

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// The walkthrough's NLB name and its nodes.
const nlbName = "k8s-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com."

var nlbNodes = []netip.Addr{
	netip.MustParseAddr("192.168.1.51"), netip.MustParseAddr("192.168.2.149"), netip.MustParseAddr("192.168.3.171"),
}

// loopbackDNS serves handler on 127.0.0.1 over network (udp or tcp) at a
// random port until the test ends, and returns its address.
func loopbackDNS(t *testing.T, network string, handler dns.Handler) string {
	t.Helper()
	started := make(chan struct{})
	srv := &dns.Server{Handler: handler, NotifyStartedFunc: func() { close(started) }}
	if network == "tcp" {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		srv.Listener = l
	} else {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		srv.PacketConn = pc
	}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	if srv.Listener != nil {
		return srv.Listener.Addr().String()
	}
	return srv.PacketConn.LocalAddr().String()
}

// ask sends one query for name and type over network to addr.
func ask(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg).SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, addr)
	require.NoError(t, err, "%s %s", dns.TypeToString[qtype], name)
	return r
}

// addrsOf lists the A records of an answer, in order.
func addrsOf(t *testing.T, r *dns.Msg) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, rr := range r.Answer {
		a, ok := rr.(*dns.A)
		require.True(t, ok, "an A record: %v", rr)
		addr, _ := netip.AddrFromSlice(a.A)
		out = append(out, addr.Unmap())
	}
	return out
}

// allServing answers every NLB name with all its nodes, as when every AZ
// has a healthy target.
func allServing(w *topology.World) func() map[string][]netip.Addr {
	return func() map[string][]netip.Addr {
		out := map[string][]netip.Addr{}
		for _, lb := range w.LoadBalancers {
			for _, n := range lb.Nodes {
				out[lb.DNSName] = append(out[lb.DNSName], n.IP)
			}
		}
		return out
	}
}

func vpcResolverOnLoopback(t *testing.T, network string, serving func() map[string][]netip.Addr) string {
	w := topology.Default()
	if serving == nil {
		serving = allServing(w)
	}
	return loopbackDNS(t, network, newVPCResolver(w, serving, scaledTTL(vpcResolverTTL, w.Spec.TimeScale)))
}

func TestVPCResolverRotatesTheNLBNodes(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "udp", nil)
	for i := 0; i < 6; i++ {
		r := ask(t, "udp", addr, nlbName, dns.TypeA)
		require.Equal(t, dns.RcodeSuccess, r.Rcode)
		assert.True(t, r.RecursionAvailable)
		want := append(append([]netip.Addr{}, nlbNodes[i%3:]...), nlbNodes[:i%3]...)
		assert.Equal(t, want, addrsOf(t, r), "query %d starts one further", i+1)
		for _, rr := range r.Answer {
			assert.Equal(t, uint32(60), rr.Header().Ttl)
			assert.Equal(t, nlbName, rr.Header().Name)
		}
	}
}

func TestVPCResolverAnswersOnlyServingNodes(t *testing.T) {
	w := topology.Default()
	serving := func() map[string][]netip.Addr {
		return map[string][]netip.Addr{w.LoadBalancers[0].DNSName: {nlbNodes[0], nlbNodes[2]}}
	}
	addr := vpcResolverOnLoopback(t, "udp", serving)
	first := addrsOf(t, ask(t, "udp", addr, nlbName, dns.TypeA))
	second := addrsOf(t, ask(t, "udp", addr, nlbName, dns.TypeA))
	assert.Equal(t, []netip.Addr{nlbNodes[0], nlbNodes[2]}, first)
	assert.Equal(t, []netip.Addr{nlbNodes[2], nlbNodes[0]}, second)
}

func TestVPCResolverNames(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "udp", nil)
	for name, want := range map[string]string{
		"ap-northeast-2a." + nlbName:                                                         "192.168.1.51",
		"ap-northeast-2b." + nlbName:                                                         "192.168.2.149",
		"ap-northeast-2c." + nlbName:                                                         "192.168.3.171",
		"ip-192-168-1-118.ap-northeast-2.compute.internal.":                                  "192.168.1.118",
		"IP-192-168-3-137.AP-NORTHEAST-2.compute.internal.":                                  "192.168.3.137",
		"ip-192-168-1-100.ap-northeast-2.compute.internal.":                                  "192.168.1.100",
		"K8S-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com.": "",
	} {
		r := ask(t, "udp", addr, name, dns.TypeA)
		require.Equal(t, dns.RcodeSuccess, r.Rcode, name)
		got := addrsOf(t, r)
		require.NotEmpty(t, got, name)
		if want != "" {
			assert.Equal(t, []netip.Addr{netip.MustParseAddr(want)}, got, name)
			assert.Equal(t, uint32(60), r.Answer[0].Header().Ttl, name)
		}
		assert.Equal(t, name, r.Answer[0].Header().Name, "the owner name keeps the query's case")
	}
}

func TestVPCResolverReverse(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "udp", nil)
	r := ask(t, "udp", addr, "118.1.168.192.in-addr.arpa.", dns.TypePTR)
	require.Len(t, r.Answer, 1)
	assert.Equal(t, "ip-192-168-1-118.ap-northeast-2.compute.internal.", r.Answer[0].(*dns.PTR).Ptr)
	r = ask(t, "udp", addr, "248.1.168.192.in-addr.arpa.", dns.TypePTR)
	assert.Equal(t, dns.RcodeNameError, r.Rcode, "a pod's secondary address has no EC2 name")
}

func TestVPCResolverKnowsNothingElse(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "udp", nil)
	for _, name := range []string{
		"example.com.", "nginx-nlb-service.default.svc.cluster.local.",
		"ip-192-168-1-248.ap-northeast-2.compute.internal.", "ap-northeast-2d." + nlbName,
	} {
		r := ask(t, "udp", addr, name, dns.TypeA)
		assert.Equal(t, dns.RcodeNameError, r.Rcode, name)
		assert.Empty(t, r.Answer, name)
	}
}

func TestVPCResolverHasNoIPv6(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "udp", nil)
	for _, name := range []string{nlbName, "ip-192-168-1-118.ap-northeast-2.compute.internal."} {
		r := ask(t, "udp", addr, name, dns.TypeAAAA)
		assert.Equal(t, dns.RcodeSuccess, r.Rcode, name)
		assert.Empty(t, r.Answer, name)
	}
}

func TestVPCResolverOverTCP(t *testing.T) {
	addr := vpcResolverOnLoopback(t, "tcp", nil)
	assert.ElementsMatch(t, nlbNodes, addrsOf(t, ask(t, "tcp", addr, nlbName, dns.TypeA)))
}

func TestDNSTTLFollowsTheTimeScale(t *testing.T) {
	assert.Equal(t, uint32(60), scaledTTL(vpcResolverTTL, 1))
	assert.Equal(t, uint32(6), scaledTTL(vpcResolverTTL, 10))
	assert.Equal(t, uint32(1), scaledTTL(coreDNSTTL, 5))
	assert.Equal(t, uint32(0), scaledTTL(coreDNSTTL, 1000))
}

// networkRecorder passes queries on and remembers the protocol of each.
type networkRecorder struct {
	next     dns.Handler
	mu       sync.Mutex
	networks []string
}

func (n *networkRecorder) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	n.mu.Lock()
	n.networks = append(n.networks, rw.RemoteAddr().Network())
	n.mu.Unlock()
	n.next.ServeDNS(rw, req)
}

// coreDNSOnLoopback serves CoreDNS for the default world on network,
// forwarding to upstreamAddr.
func coreDNSOnLoopback(t *testing.T, network, upstreamAddr string) string {
	w := topology.Default()
	up := &dnsUpstream{addr: upstreamAddr, dial: (&net.Dialer{}).DialContext}
	return loopbackDNS(t, network, newCoreDNS(w, up, scaledTTL(coreDNSTTL, w.Spec.TimeScale)))
}

// clusterDNS is CoreDNS on UDP with a VPC resolver upstream.
func clusterDNS(t *testing.T) string {
	return coreDNSOnLoopback(t, "udp", vpcResolverOnLoopback(t, "udp", nil))
}

func TestCoreDNSServiceNames(t *testing.T) {
	addr := clusterDNS(t)
	for name, want := range map[string]string{
		"nginx-nlb-service.default.svc.cluster.local.": "10.100.30.185",
		"Nginx-NLB-Service.Default.svc.cluster.local.": "10.100.30.185",
		"kubernetes.default.svc.cluster.local.":        "10.100.0.1",
		"kube-dns.kube-system.svc.cluster.local.":      "10.100.0.10",
	} {
		r := ask(t, "udp", addr, name, dns.TypeA)
		require.Equal(t, dns.RcodeSuccess, r.Rcode, name)
		assert.True(t, r.Authoritative, name)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr(want)}, addrsOf(t, r), name)
		assert.Equal(t, uint32(5), r.Answer[0].Header().Ttl, name)
	}
}

func TestCoreDNSNamesThatDoNotExist(t *testing.T) {
	addr := clusterDNS(t)
	for _, name := range []string{
		"nosuch.default.svc.cluster.local.", "nginx-nlb-service.nosuch.svc.cluster.local.",
		"nosuch.svc.cluster.local.", "nginx-nlb-service.cluster.local.", "x.nginx-nlb-service.default.svc.cluster.local.",
		"node.cluster.local.", "a-b-c-d.default.pod.cluster.local.",
	} {
		r := ask(t, "udp", addr, name, dns.TypeA)
		assert.Equal(t, dns.RcodeNameError, r.Rcode, name)
		require.Len(t, r.Ns, 1, "%s: NXDOMAIN carries the zone's SOA", name)
		assert.Equal(t, "cluster.local.", r.Ns[0].Header().Name)
	}
}

func TestCoreDNSEmptyAnswers(t *testing.T) {
	addr := clusterDNS(t)
	for name, qtype := range map[string]uint16{
		"nginx-nlb-service.default.svc.cluster.local.": dns.TypeAAAA,
		"default.svc.cluster.local.":                   dns.TypeA,
		"svc.cluster.local.":                           dns.TypeA,
		"cluster.local.":                               dns.TypeA,
	} {
		r := ask(t, "udp", addr, name, qtype)
		assert.Equal(t, dns.RcodeSuccess, r.Rcode, name)
		assert.Empty(t, r.Answer, name)
		assert.Len(t, r.Ns, 1, name)
	}
	r := ask(t, "udp", addr, "cluster.local.", dns.TypeSOA)
	require.Len(t, r.Answer, 1)
	assert.Equal(t, "ns.dns.cluster.local.", r.Answer[0].(*dns.SOA).Ns)
}

func TestCoreDNSSRV(t *testing.T) {
	addr := clusterDNS(t)
	for name, port := range map[string]uint16{
		"_dns._udp.kube-dns.kube-system.svc.cluster.local.":     53,
		"_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.": 53,
		"_metrics._tcp.kube-dns.kube-system.svc.cluster.local.": 9153,
		"_https._tcp.kubernetes.default.svc.cluster.local.":     443,
	} {
		r := ask(t, "udp", addr, name, dns.TypeSRV)
		require.Equal(t, dns.RcodeSuccess, r.Rcode, name)
		require.Len(t, r.Answer, 1, name)
		srv := r.Answer[0].(*dns.SRV)
		assert.Equal(t, port, srv.Port, name)
		assert.Equal(t, uint16(100), srv.Weight, name)
		require.Len(t, r.Extra, 1, "%s: the target's address comes along", name)
		assert.Equal(t, srv.Target, r.Extra[0].Header().Name)
	}
	r := ask(t, "udp", addr, "_dns._udp.kube-dns.kube-system.svc.cluster.local.", dns.TypeSRV)
	assert.Equal(t, "kube-dns.kube-system.svc.cluster.local.", r.Answer[0].(*dns.SRV).Target)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.100.0.10")}, addrsOf(t, &dns.Msg{Answer: r.Extra}))

	r = ask(t, "udp", addr, "kube-dns.kube-system.svc.cluster.local.", dns.TypeSRV)
	assert.Len(t, r.Answer, 3, "the bare Service name lists every port")

	for _, name := range []string{
		"_dns._tcp.kube-dns.kube-system.svc.cluster.local.",       // dns is UDP
		"_http._tcp.nginx-nlb-service.default.svc.cluster.local.", // its port is unnamed
	} {
		assert.Equal(t, dns.RcodeNameError, ask(t, "udp", addr, name, dns.TypeSRV).Rcode, name)
	}
}

func TestCoreDNSPodNames(t *testing.T) {
	addr := clusterDNS(t)
	r := ask(t, "udp", addr, "192-168-1-248.default.pod.cluster.local.", dns.TypeA)
	require.Equal(t, dns.RcodeSuccess, r.Rcode)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.168.1.248")}, addrsOf(t, r))
	r = ask(t, "udp", addr, "10-9-8-7.other.pod.cluster.local.", dns.TypeA)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.9.8.7")}, addrsOf(t, r), "pods insecure answers unchecked")
}

func TestCoreDNSReverse(t *testing.T) {
	addr := clusterDNS(t)
	for name, want := range map[string]string{
		"185.30.100.10.in-addr.arpa.": "nginx-nlb-service.default.svc.cluster.local.",
		"248.1.168.192.in-addr.arpa.": "192-168-1-248.nginx-nlb-service.default.svc.cluster.local.",
		"40.2.168.192.in-addr.arpa.":  "192-168-2-40.kubernetes.default.svc.cluster.local.",
		// Not the cluster's: falls through to the VPC resolver.
		"118.1.168.192.in-addr.arpa.": "ip-192-168-1-118.ap-northeast-2.compute.internal.",
	} {
		r := ask(t, "udp", addr, name, dns.TypePTR)
		require.Len(t, r.Answer, 1, name)
		assert.Equal(t, want, r.Answer[0].(*dns.PTR).Ptr, name)
	}
}

func TestCoreDNSForwardsEverythingElse(t *testing.T) {
	addr := clusterDNS(t)
	r := ask(t, "udp", addr, nlbName, dns.TypeA)
	require.Equal(t, dns.RcodeSuccess, r.Rcode)
	assert.False(t, r.Authoritative)
	assert.ElementsMatch(t, nlbNodes, addrsOf(t, r))
	assert.Equal(t, uint32(60), r.Answer[0].Header().Ttl, "the upstream's TTL")
	second := addrsOf(t, ask(t, "udp", addr, nlbName, dns.TypeA))
	assert.NotEqual(t, addrsOf(t, r)[0], second[0], "the upstream's rotation comes through")

	// Search-path candidates outside the cluster domain are the upstream's.
	for _, name := range []string{"nginx-nlb-service.default.", "nginx-nlb-service.ap-northeast-2.compute.internal.", "example.com."} {
		assert.Equal(t, dns.RcodeNameError, ask(t, "udp", addr, name, dns.TypeA).Rcode, name)
	}
}

func TestCoreDNSForwardsOverTheClientsProtocol(t *testing.T) {
	w := topology.Default()
	rec := &networkRecorder{next: newVPCResolver(w, allServing(w), 60)}
	upUDP := loopbackDNS(t, "udp", rec)
	// The same port over TCP: bind TCP where the UDP server is.
	l, err := net.Listen("tcp4", upUDP)
	require.NoError(t, err)
	started := make(chan struct{})
	tcpSrv := &dns.Server{Listener: l, Handler: rec, NotifyStartedFunc: func() { close(started) }}
	go tcpSrv.ActivateAndServe()
	<-started
	t.Cleanup(func() { tcpSrv.Shutdown() })

	overUDP := coreDNSOnLoopback(t, "udp", upUDP)
	overTCP := coreDNSOnLoopback(t, "tcp", upUDP)
	require.Len(t, ask(t, "udp", overUDP, nlbName, dns.TypeA).Answer, 3)
	require.Len(t, ask(t, "tcp", overTCP, nlbName, dns.TypeA).Answer, 3)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"udp", "tcp"}, rec.networks)
}

func TestCoreDNSAnswersServfailWithoutUpstream(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	dead := pc.LocalAddr().String()
	pc.Close() // nothing listens there now
	addr := coreDNSOnLoopback(t, "udp", dead)
	r := ask(t, "udp", addr, "example.com.", dns.TypeA)
	assert.Equal(t, dns.RcodeServerFailure, r.Rcode)
}

func TestDNSRefusesWhatIsNotAQuery(t *testing.T) {
	addr := clusterDNS(t)
	m := new(dns.Msg).SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
	m.Opcode = dns.OpcodeUpdate
	r, err := dns.Exchange(m, addr)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeNotImplemented, r.Rcode)
	m = new(dns.Msg).SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, err = dns.Exchange(m, addr)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeRefused, r.Rcode)
}
