package supervisor

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// DNS time-to-lives at AWS and Kubernetes values, before --time-scale.
const (
	// vpcResolverTTL is what the VPC resolver gives an NLB's name.
	vpcResolverTTL = 60 * time.Second
	// coreDNSTTL is the kubernetes plugin's default ttl (also its SOA minimum).
	coreDNSTTL = 5 * time.Second
)

// dnsPort is where every DNS server listens.
const dnsPort = 53

// forwardTimeout bounds one forwarded query, as CoreDNS's forward plugin does
// (its read timeout is 2 s).
const forwardTimeout = 2 * time.Second

// dnsShutdownTimeout bounds how long Stop waits for queries in flight.
const dnsShutdownTimeout = 3 * time.Second

// startVPCResolver serves the VPC resolver in the vpc host at the
// resolver's address, over UDP and TCP; it answers from the live world.
func (s *Supervisor) startVPCResolver(w *topology.World) error {
	rot := &rotation{next: map[string]int{}}
	h := &liveDNS{world: s.world, build: func(w *topology.World) dns.Handler {
		return newVPCResolverRotating(w, s.servingAddresses, scaledTTL(vpcResolverTTL, w.Spec.TimeScale), rot)
	}}
	closers, err := s.serveDNSIn(topology.VPCHost, netip.AddrPortFrom(w.Cluster.Resolver, dnsPort), h)
	for _, c := range closers {
		s.onStop(c)
	}
	return err
}

// startCoreDNS serves CoreDNS in a CoreDNS pod over UDP and TCP, forwarding
// what is not the cluster's to the VPC resolver from the pod's namespace;
// it answers from the live world and stops with the pod.
func (s *Supervisor) startCoreDNS(w *topology.World, pod string) error {
	from, err := s.dialer(pod, 0)
	if err != nil {
		return err
	}
	up := &dnsUpstream{addr: netip.AddrPortFrom(w.Cluster.Resolver, dnsPort).String(), dial: from.DialContext}
	h := &liveDNS{world: s.world, build: func(w *topology.World) dns.Handler {
		return newCoreDNS(w, up, scaledTTL(coreDNSTTL, w.Spec.TimeScale))
	}}
	closers, err := s.serveDNSIn(pod, netip.AddrPortFrom(netip.IPv4Unspecified(), dnsPort), h)
	for _, c := range closers {
		s.onPodStop(pod, c)
	}
	return err
}

// liveDNS answers with a handler built from the live world, built anew
// when the world changes, so that answers follow pods, Services and the
// time scale.
type liveDNS struct {
	world func() *topology.World
	build func(*topology.World) dns.Handler

	mu      sync.Mutex
	builtOf *topology.World // guarded by mu
	handler dns.Handler     // guarded by mu
}

func (l *liveDNS) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	w := l.world()
	l.mu.Lock()
	if l.builtOf != w {
		l.builtOf, l.handler = w, l.build(w)
	}
	h := l.handler
	l.mu.Unlock()
	h.ServeDNS(rw, req)
}

// serveDNSIn serves handler on addr over UDP and TCP inside a host's
// namespace, and returns once both servers read their sockets, with what
// shuts them down.
func (s *Supervisor) serveDNSIn(host string, addr netip.AddrPort, handler dns.Handler) (closers []func(), err error) {
	ns, ok := s.handle(host)
	if !ok {
		return nil, fmt.Errorf("host %s has no namespace handle", host)
	}
	var pc net.PacketConn
	err = netns.In(ns, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on udp %s in %s: %w", addr, host, err)
	}
	stop, err := s.runDNSServer(host, &dns.Server{PacketConn: pc, Handler: handler})
	if err != nil {
		return nil, err
	}
	closers = append(closers, stop)
	l, err := netns.Listen(ns, addr.String())
	if err != nil {
		return closers, fmt.Errorf("listening on tcp %s in %s: %w", addr, host, err)
	}
	stop, err = s.runDNSServer(host, &dns.Server{Listener: l, Handler: handler})
	if err != nil {
		return closers, err
	}
	return append(closers, stop), nil
}

// runDNSServer starts srv, waits until it serves, and returns its shutdown.
// The server's socket is closed whatever happens.
func (s *Supervisor) runDNSServer(host string, srv *dns.Server) (func(), error) {
	started := make(chan struct{})
	done := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		if srv.PacketConn != nil {
			srv.PacketConn.Close()
		}
		if srv.Listener != nil {
			srv.Listener.Close()
		}
		return nil, fmt.Errorf("serving dns in %s: %w", host, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), dnsShutdownTimeout)
		defer cancel()
		srv.ShutdownContext(ctx)
		if err := <-done; err != nil {
			s.log.Printf("dns in %s: %v", host, err)
		}
	}, nil
}

// scaledTTL divides a TTL by --time-scale and rounds it to whole seconds.
func scaledTTL(ttl time.Duration, timeScale float64) uint32 {
	if timeScale < 1 {
		timeScale = 1
	}
	return uint32(math.Round(ttl.Seconds() / timeScale))
}

// vpcResolver answers as AmazonProvidedDNS does inside the VPC: NLB names
// with the nodes that can serve in rotating order, each NLB's per-AZ names,
// and EC2 private DNS names (forward and reverse) of the primary addresses
// of the VPC's network interfaces. Anything else does not exist: there is
// no internet here.
type vpcResolver struct {
	serving func() map[string][]netip.Addr
	ttl     uint32
	// lbNames maps each NLB's canonical name to its DNSName as serving keys it.
	lbNames map[string]string
	// fixed holds the names with one unchanging address: per-AZ NLB names
	// and EC2 private DNS names.
	fixed map[string]netip.Addr
	// ptr maps reverse names to EC2 private DNS names.
	ptr map[string]string
	rot *rotation
}

// rotation is where each NLB name's next answer starts; it outlives the
// resolvers built from one world.
type rotation struct {
	mu   sync.Mutex
	next map[string]int // guarded by mu
}

func newVPCResolver(w *topology.World, serving func() map[string][]netip.Addr, ttl uint32) *vpcResolver {
	return newVPCResolverRotating(w, serving, ttl, &rotation{next: map[string]int{}})
}

func newVPCResolverRotating(w *topology.World, serving func() map[string][]netip.Addr, ttl uint32, rot *rotation) *vpcResolver {
	r := &vpcResolver{serving: serving, ttl: ttl, lbNames: map[string]string{},
		fixed: map[string]netip.Addr{}, ptr: map[string]string{}, rot: rot}
	for _, lb := range w.LoadBalancers {
		r.lbNames[dns.CanonicalName(lb.DNSName)] = lb.DNSName
		for _, n := range lb.Nodes {
			r.fixed[dns.CanonicalName(n.AZ+"."+lb.DNSName)] = n.IP
		}
	}
	for _, h := range w.Hosts() {
		if h.Kind == topology.KindVPC || h.Kind == topology.KindPod {
			continue // the resolver itself; pods hold secondary addresses, which have no name
		}
		name := dns.Fqdn(topology.NodeNameFor(h.IP, w.Cluster.Region))
		r.fixed[name] = h.IP
		if rev, err := dns.ReverseAddr(h.IP.String()); err == nil {
			r.ptr[rev] = name
		}
	}
	return r
}

// ServeDNS answers one query.
func (r *vpcResolver) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	m, ok := checkQuery(req)
	if !ok {
		writeReply(rw, req, m)
		return
	}
	m.RecursionAvailable = true
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	switch {
	case r.lbNames[name] != "":
		if q.Qtype == dns.TypeA {
			for _, a := range r.rotate(name) {
				m.Answer = append(m.Answer, aRecord(q.Name, a, r.ttl))
			}
		}
	case r.fixed[name].IsValid():
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, aRecord(q.Name, r.fixed[name], r.ttl))
		}
	case r.ptr[name] != "":
		if q.Qtype == dns.TypePTR {
			m.Answer = append(m.Answer, ptrRecord(q.Name, r.ptr[name], r.ttl))
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	writeReply(rw, req, m)
}

// rotate returns an NLB name's serving addresses, starting one further than
// the previous answer did.
func (r *vpcResolver) rotate(name string) []netip.Addr {
	addrs := r.serving()[r.lbNames[name]]
	if len(addrs) == 0 {
		return nil
	}
	r.rot.mu.Lock()
	start := r.rot.next[name] % len(addrs)
	r.rot.next[name] = start + 1
	r.rot.mu.Unlock()
	out := make([]netip.Addr, 0, len(addrs))
	out = append(out, addrs[start:]...)
	return append(out, addrs[:start]...)
}

// coreDNS answers as CoreDNS's kubernetes plugin does with EKS's Corefile
// (`pods insecure`, reverse zones with fallthrough): Service names, named
// ports as SRV, pod names and reverse names of ClusterIPs and endpoints, each
// only as a fully qualified name; other names inside the cluster domain do
// not exist, and everything else goes to the upstream resolver.
type coreDNS struct {
	w        *topology.World
	upstream *dnsUpstream
	ttl      uint32
	zone     string // cluster.local.
	soa      *dns.SOA
}

func newCoreDNS(w *topology.World, upstream *dnsUpstream, ttl uint32) *coreDNS {
	zone := dns.Fqdn(topology.ClusterDomain)
	soa := &dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns.dns." + zone, Mbox: "hostmaster." + zone,
		Serial: uint32(w.Created.Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
	return &coreDNS{w: w, upstream: upstream, ttl: ttl, zone: zone, soa: soa}
}

// ServeDNS answers one query.
func (c *coreDNS) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	m, ok := checkQuery(req)
	if !ok {
		writeReply(rw, req, m)
		return
	}
	m.RecursionAvailable = true
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	switch {
	case name == c.zone || strings.HasSuffix(name, "."+c.zone):
		m.Authoritative = true
		c.answerCluster(m, q, strings.TrimSuffix(strings.TrimSuffix(name, c.zone), "."))
	case q.Qtype == dns.TypePTR && c.answerReverse(m, q, name):
		m.Authoritative = true
	default:
		c.forward(rw, req)
		return
	}
	writeReply(rw, req, m)
}

// answerCluster answers a name inside the cluster domain; rel is the name
// without the zone ("nginx-nlb-service.default.svc").
func (c *coreDNS) answerCluster(m *dns.Msg, q dns.Question, rel string) {
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	exists := true
	switch {
	case len(labels) == 0:
		if q.Qtype == dns.TypeSOA {
			m.Answer = append(m.Answer, dns.Copy(c.soa))
		}
	case labels[len(labels)-1] == "svc":
		exists = c.answerService(m, q, labels[:len(labels)-1])
	case labels[len(labels)-1] == "pod":
		exists = c.answerPod(m, q, labels[:len(labels)-1])
	default:
		exists = false
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, dns.Copy(c.soa))
	}
}

// answerService answers <svc>.<ns>.svc and _<port>._<proto>.<svc>.<ns>.svc
// (labels without "svc"); it reports whether the name exists.
func (c *coreDNS) answerService(m *dns.Msg, q dns.Question, labels []string) bool {
	switch len(labels) {
	case 0:
		return true
	case 1:
		return c.namespaceExists(labels[0])
	case 2, 4:
	default:
		return false
	}
	n := len(labels)
	svc, ok := c.w.Service(labels[n-1], labels[n-2])
	if !ok {
		return false
	}
	ports := svc.Ports
	if n == 4 {
		ports = matchingPorts(svc, labels[0], labels[1])
		if len(ports) == 0 {
			return false
		}
	}
	target := svc.Name + "." + svc.Namespace + ".svc." + c.zone
	addrs := c.serviceAddresses(svc)
	switch q.Qtype {
	case dns.TypeA:
		for _, a := range addrs {
			m.Answer = append(m.Answer, aRecord(q.Name, a, c.ttl))
		}
	case dns.TypeSRV:
		weight := uint16(max(1, 100/len(ports)))
		for _, p := range ports {
			m.Answer = append(m.Answer, &dns.SRV{
				Hdr:      dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: c.ttl},
				Priority: 0, Weight: weight, Port: uint16(p.Port), Target: target,
			})
		}
		for _, a := range addrs {
			m.Extra = append(m.Extra, aRecord(target, a, c.ttl))
		}
	}
	return true
}

// matchingPorts returns a Service's named ports that match the labels
// _<port> and _<proto> of an SRV name.
func matchingPorts(svc topology.Service, portLabel, protoLabel string) []topology.ServicePort {
	port, ok1 := strings.CutPrefix(portLabel, "_")
	proto, ok2 := strings.CutPrefix(protoLabel, "_")
	if !ok1 || !ok2 {
		return nil
	}
	var out []topology.ServicePort
	for _, p := range svc.Ports {
		if p.Name != "" && p.Name == port && strings.EqualFold(p.Protocol, proto) {
			out = append(out, p)
		}
	}
	return out
}

// serviceAddresses is a Service's ClusterIP or, for a headless Service, the
// addresses of its ready endpoints.
func (c *coreDNS) serviceAddresses(svc topology.Service) []netip.Addr {
	if svc.ClusterIP.IsValid() {
		return []netip.Addr{svc.ClusterIP}
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, p := range svc.Ports {
		for _, e := range c.w.Endpoints(svc, p) {
			if e.Ready && !seen[e.IP] {
				seen[e.IP] = true
				out = append(out, e.IP)
			}
		}
	}
	return out
}

// answerPod answers <a-b-c-d>.<ns>.pod (labels without "pod") as
// `pods insecure` does: any well-formed address, unchecked.
func (c *coreDNS) answerPod(m *dns.Msg, q dns.Question, labels []string) bool {
	switch len(labels) {
	case 0, 1:
		return true
	case 2:
	default:
		return false
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
	if err != nil || !a.Is4() {
		return false
	}
	if q.Qtype == dns.TypeA {
		m.Answer = append(m.Answer, aRecord(q.Name, a, c.ttl))
	}
	return true
}

func (c *coreDNS) namespaceExists(ns string) bool {
	for _, s := range c.w.Services {
		if s.Namespace == ns {
			return true
		}
	}
	for _, p := range c.w.Pods {
		if p.Namespace == ns {
			return true
		}
	}
	return false
}

// answerReverse answers a PTR query for a ClusterIP (the Service's name) or
// an endpoint's address (<a-b-c-d>.<svc>.<ns>.svc.cluster.local); it reports
// false for any other address, which falls through to the upstream.
func (c *coreDNS) answerReverse(m *dns.Msg, q dns.Question, name string) bool {
	a, ok := addrOfReverse(name)
	if !ok {
		return false
	}
	ptr, ok := c.reverseName(a)
	if ok {
		m.Answer = append(m.Answer, ptrRecord(q.Name, ptr, c.ttl))
	}
	return ok
}

// reverseName names an address: a ClusterIP by its Service, else an
// endpoint by its dashed address under its Service.
func (c *coreDNS) reverseName(a netip.Addr) (string, bool) {
	for _, svc := range c.w.Services {
		if svc.ClusterIP == a {
			return svc.Name + "." + svc.Namespace + ".svc." + c.zone, true
		}
	}
	for _, svc := range c.w.Services {
		for _, p := range svc.Ports {
			for _, e := range c.w.Endpoints(svc, p) {
				if e.IP == a {
					return strings.ReplaceAll(a.String(), ".", "-") + "." + svc.Name + "." + svc.Namespace + ".svc." + c.zone, true
				}
			}
		}
	}
	return "", false
}

// addrOfReverse reads the IPv4 address of a full in-addr.arpa name.
func addrOfReverse(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	octets := strings.Split(rest, ".")
	if len(octets) != 4 {
		return netip.Addr{}, false
	}
	for i, j := 0, len(octets)-1; i < j; i, j = i+1, j-1 {
		octets[i], octets[j] = octets[j], octets[i]
	}
	a, err := netip.ParseAddr(strings.Join(octets, "."))
	return a, err == nil && a.Is4()
}

// forward relays a query to the upstream over the protocol it came in on,
// as the forward plugin does, and answers SERVFAIL when that fails.
func (c *coreDNS) forward(rw dns.ResponseWriter, req *dns.Msg) {
	network := "udp"
	if _, ok := rw.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	resp, err := c.upstream.exchange(ctx, req, network)
	if err != nil {
		m := new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		rw.WriteMsg(m)
		return
	}
	resp.Id = req.Id
	rw.WriteMsg(resp)
}

// dnsUpstream is a resolver that queries are forwarded to, reached through
// dial (from inside the forwarding pod's namespace).
type dnsUpstream struct {
	addr string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// exchange sends req over network (udp or tcp) and returns the answer.
func (u *dnsUpstream) exchange(ctx context.Context, req *dns.Msg, network string) (*dns.Msg, error) {
	conn, err := u.dial(ctx, network+"4", u.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := &dns.Client{Net: network, Timeout: forwardTimeout}
	resp, _, err := client.ExchangeWithConnContext(ctx, req, &dns.Conn{Conn: conn})
	return resp, err
}

// checkQuery starts the reply to a request: a standard query with one
// question of class IN is ok; anything else gets its error reply.
func checkQuery(req *dns.Msg) (*dns.Msg, bool) {
	m := new(dns.Msg)
	switch {
	case req.Opcode != dns.OpcodeQuery:
		return m.SetRcode(req, dns.RcodeNotImplemented), false
	case len(req.Question) != 1:
		return m.SetRcodeFormatError(req), false
	case req.Question[0].Qclass != dns.ClassINET:
		return m.SetRcode(req, dns.RcodeRefused), false
	}
	return m.SetReply(req), true
}

// writeReply sends m, with EDNS0 when the request had it, cut to what a UDP
// client can take.
func writeReply(rw dns.ResponseWriter, req, m *dns.Msg) {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(uint16(size), false)
	}
	if _, ok := rw.RemoteAddr().(*net.UDPAddr); ok {
		m.Truncate(size)
	}
	rw.WriteMsg(m)
}

func aRecord(name string, a netip.Addr, ttl uint32) *dns.A {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: a.AsSlice()}
}

func ptrRecord(name, target string, ttl uint32) *dns.PTR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: target}
}
