package observe

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/nlbsim/nlbsim/topology"
)

// Destinations of traffic and trace (TrafficOptions.To).
const (
	ToDNS       = "dns"       // the first NLB's DNS name, resolved per connection as a client would
	ToClusterIP = "clusterip" // the first LoadBalancer Service's ClusterIP:port
	ToNodePort  = "nodeport"  // every node's IP:NodePort in turn
)

// TrafficOptions are traffic's flags.
type TrafficOptions struct {
	Requests    int
	Concurrency int
	From        string // a host; default bastion
	To          string // dns, clusterip, nodeport or IP:PORT
	KeepAlive   bool   // reuse connections: kube-proxy balances connections, not requests
	Timeout     time.Duration
	// Progress, when set, is called after each request.
	Progress func(done, total int)
	// Chaos, when set, changes the cluster once its share of the requests
	// has been sent; errors are then reported over time.
	Chaos *Chaos
}

// TrafficReport is traffic's report; -o json prints it (schemaVersion 1).
type TrafficReport struct {
	SchemaVersion int                `json:"schemaVersion"`
	Mode          string             `json:"mode"`
	From          string             `json:"from"`
	To            string             `json:"to"`
	Requests      int                `json:"requests"`
	Errors        int                `json:"errors"`
	ErrorsByKind  map[string]int     `json:"errorsByKind"`
	ByPod         map[string]int     `json:"byPod"`
	ByNode        map[string]int     `json:"byNode"`
	ByNLBAddress  map[string]int     `json:"byNLBAddress"`
	BySourceSeen  map[string]int     `json:"bySourceSeen"`
	Expected      map[string]float64 `json:"expected"`
	ChiSquare     *float64           `json:"chiSquare"`
	PValue        *float64           `json:"pValue"`
	RulesChanged  bool               `json:"rulesChanged"`
	LatencyMs     Latency            `json:"latencyMs"`
	// With Chaos: what happened when, and failed requests per tenth of
	// the run (in request order).
	Chaos          string `json:"chaos,omitempty"`
	ErrorsOverTime []int  `json:"errorsOverTime,omitempty"`
	// PortAllocationErrors counts, when an NLB translates the client's
	// source (client IP preservation off), the connections its nodes
	// could not give a source port during the run (AWS's
	// PortAllocationErrorCount); absent when none translates.
	PortAllocationErrors *uint64 `json:"portAllocationErrors,omitempty"`
}

// Latency summarises request times.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Error kinds of the report.
const (
	ErrTimeout = "timeout"
	ErrRefused = "refused"
	ErrReset   = "reset"
	ErrOther   = "other"
)

// destination is where each connection goes: a fixed address, or an NLB
// name resolved per connection.
type destination struct {
	name  string // the DNS name, when resolved per connection
	fixed []netip.AddrPort
	port  uint16
}

// resolveDestination turns --to into addresses, refusing what the client
// cannot reach.
func resolveDestination(w *topology.World, client topology.HostRef, to string) (destination, error) {
	var lbSvc topology.Service
	var lb topology.NLB
	if len(w.LoadBalancers) > 0 {
		lb = w.LoadBalancers[0]
		ns, name, _ := strings.Cut(lb.Service, "/")
		lbSvc, _ = w.Service(ns, name)
	}
	switch to {
	case "", ToDNS:
		if lb.Name == "" {
			return destination{}, topology.Invalid("To", "dns: the cluster has no NLB")
		}
		return destination{name: lb.DNSName, port: uint16(lbSvc.Ports[0].Port)}, nil
	case ToClusterIP:
		if client.Kind == topology.KindBastion || client.Kind == topology.KindNLB || client.Kind == topology.KindVPC {
			return destination{}, topology.Invalid("To", "clusterip: a ClusterIP is not routable from %s, outside the cluster; send from a pod or node", client.Name)
		}
		if lb.Name == "" {
			return destination{}, topology.Invalid("To", "clusterip: the cluster has no LoadBalancer Service")
		}
		return destination{fixed: []netip.AddrPort{netip.AddrPortFrom(lbSvc.ClusterIP, uint16(lbSvc.Ports[0].Port))}}, nil
	case ToNodePort:
		if lb.Name == "" || lbSvc.Ports[0].NodePort == 0 {
			return destination{}, topology.Invalid("To", "nodeport: the cluster has no NodePort Service")
		}
		var d destination
		for _, n := range w.Nodes {
			d.fixed = append(d.fixed, netip.AddrPortFrom(n.IP, uint16(lbSvc.Ports[0].NodePort)))
		}
		return d, nil
	}
	ap, err := netip.ParseAddrPort(to)
	if err != nil {
		return destination{}, topology.Invalid("To", "%q is neither dns, clusterip, nodeport nor IP:PORT", to)
	}
	return destination{fixed: []netip.AddrPort{ap}}, nil
}

// openClient resolves --from and --to, applying their defaults, and opens
// the client's namespace.
func openClient(w *topology.World, opts *TrafficOptions) (topology.HostRef, destination, netns.Handle, error) {
	opts.From = cmp.Or(opts.From, "bastion")
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	client, err := w.Lookup(opts.From)
	if err != nil {
		return client, destination{}, netns.Handle(-1), &topology.InvalidError{Field: "From", Err: err}
	}
	dest, err := resolveDestination(w, client, opts.To)
	if err != nil {
		return client, dest, netns.Handle(-1), err
	}
	ns, err := netns.Open(client.Namespace)
	return client, dest, ns, err
}

// pick returns the i-th connection's address.
func (d destination) pick(ctx context.Context, r *resolver, i int) (netip.AddrPort, error) {
	if d.name == "" {
		return d.fixed[i%len(d.fixed)], nil
	}
	a, err := r.first(ctx, d.name)
	return netip.AddrPortFrom(a, d.port), err
}

// resolver asks a host's name server as glibc would, and takes the first
// answer; with a /32 host address glibc keeps the server's order.
type resolver struct {
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	server string
}

func newResolver(w *topology.World, client topology.HostRef, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *resolver {
	server := w.Cluster.Resolver.String()
	if client.Kind == topology.KindPod {
		if s, ok := w.Service("kube-system", "kube-dns"); ok {
			server = s.ClusterIP.String()
		}
	}
	return &resolver{dial: dial, server: net.JoinHostPort(server, "53")}
}

func (r *resolver) first(ctx context.Context, name string) (netip.Addr, error) {
	conn, err := r.dial(ctx, "udp4", r.server)
	if err != nil {
		return netip.Addr{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	co := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		return netip.Addr{}, err
	}
	resp, err := co.ReadMsg()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: no address (rcode %s)", name, dns.RcodeToString[resp.Rcode])
}

// result is one request's outcome.
type result struct {
	dst     netip.AddrPort
	local   netip.AddrPort // the client's end of the connection
	reply   echo.Reply
	err     error
	latency time.Duration
}

// Traffic sends N HTTP GETs from a host of a running world and reports
// where they went, read from the replies and the kernel, against the
// distribution the installed rules predict.
func Traffic(ctx context.Context, w *topology.World, backend nat.Backend, opts TrafficOptions) (*TrafficReport, error) {
	if opts.Requests < 1 || opts.Concurrency < 1 {
		return nil, topology.Invalid("Requests", "requests and concurrency must be at least 1 (got %d, %d)", opts.Requests, opts.Concurrency)
	}
	client, dest, ns, err := openClient(w, &opts)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	// The expectation comes from the rules installed when the run starts;
	// if they differ at its end, the fit is withheld.
	walker := newRuleWalker(backend, w)
	if err := walker.readAll(); err != nil {
		return nil, err
	}
	portsBefore, err := portAllocationFailures(w)
	if err != nil {
		return nil, err
	}
	results, err := runRequests(ctx, ns, w, client, dest, opts)
	if err != nil {
		return nil, err
	}
	portsAfter, err := portAllocationFailures(w)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	report := summarise(w, client, opts, results)
	if len(portsAfter) > 0 {
		var n uint64
		for node, v := range portsAfter {
			n += v - portsBefore[node]
		}
		report.PortAllocationErrors = &n
	}
	if opts.Chaos != nil {
		report.Chaos = opts.Chaos.Spec
		report.ErrorsOverTime = make([]int, 10)
		for i, res := range results {
			if res.err != nil {
				report.ErrorsOverTime[i*10/len(results)]++
			}
		}
	}
	if err := report.attributeNodes(w, results); err != nil {
		return nil, err
	}
	if err := report.fit(w, walker, client, results); err != nil {
		return nil, err
	}
	return report, nil
}

// runRequests sends the requests, opts.Concurrency at a time. Each worker
// locks its OS thread inside the client's namespace for its whole life, so
// every socket it makes (DNS queries, connections) starts from the client;
// the thread ends with the worker, never handed back in the wrong namespace.
func runRequests(ctx context.Context, ns netns.Handle, w *topology.World, client topology.HostRef, dest destination, opts TrafficOptions) ([]result, error) {
	results := make([]result, opts.Requests)
	next := make(chan int)
	var done int
	var chaos *chaosTrigger
	if opts.Chaos != nil {
		chaos = &chaosTrigger{c: *opts.Chaos, cluster: w.Cluster.Name, total: opts.Requests}
		chaos.observe(ctx, 0)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, opts.Concurrency)
	for c := 0; c < opts.Concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			if err := netns.Enter(ns); err != nil {
				errs <- fmt.Errorf("entering %s: %w", client.Name, err)
				for range next {
				}
				return
			}
			d := &net.Dialer{Timeout: opts.Timeout}
			res := newResolver(w, client, d.DialContext)
			wk := &echoWorker{dial: d.DialContext, timeout: opts.Timeout, keepAlive: opts.KeepAlive}
			defer wk.close()
			for i := range next {
				var r result
				if opts.KeepAlive && wk.conn != nil {
					r.dst = wk.dst // a kept connection keeps its address
				} else {
					r.dst, r.err = dest.pick(ctx, res, i)
				}
				if r.err == nil {
					r.reply, r.local, r.latency, r.err = wk.get(ctx, r.dst)
				}
				results[i] = r
				mu.Lock()
				done++
				if opts.Progress != nil {
					opts.Progress(done, opts.Requests)
				}
				chaos.observe(ctx, done)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < opts.Requests && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if chaos != nil && chaos.err != nil {
		return nil, fmt.Errorf("chaos %s: %w", chaos.c.Spec, chaos.err)
	}
	return results, nil
}

// echoWorker speaks just enough HTTP/1.1 to GET a pod's echo reply, on a
// new connection per request or, with keepAlive, on one kept connection.
type echoWorker struct {
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout   time.Duration
	keepAlive bool
	conn      net.Conn
	br        *bufio.Reader
	dst       netip.AddrPort
}

func (wk *echoWorker) close() {
	if wk.conn != nil {
		wk.conn.Close()
		wk.conn = nil
	}
}

func (wk *echoWorker) get(ctx context.Context, dst netip.AddrPort) (reply echo.Reply, local netip.AddrPort, latency time.Duration, err error) {
	start := time.Now()
	defer func() {
		latency = time.Since(start)
		if err != nil || !wk.keepAlive {
			wk.close()
		}
	}()
	if wk.conn == nil {
		if wk.conn, err = wk.dial(ctx, "tcp4", dst.String()); err != nil {
			return reply, local, 0, err
		}
		wk.br, wk.dst = bufio.NewReader(wk.conn), dst
	}
	local, _ = netip.ParseAddrPort(wk.conn.LocalAddr().String())
	wk.conn.SetDeadline(start.Add(wk.timeout))
	// The client closes each connection itself once it has the reply, as
	// curl does: TIME_WAIT then stays on the client (which reuses such
	// ports), not on the pod, where the NLB's translated source ports would
	// collide with it.
	if _, err = fmt.Fprintf(wk.conn, "GET / HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n\r\n", dst); err != nil {
		return reply, local, 0, err
	}
	resp, err := http.ReadResponse(wk.br, nil)
	if err != nil {
		return reply, local, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return reply, local, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return reply, local, 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return reply, local, 0, json.Unmarshal(body, &reply)
}

// errorKind sorts a failed request into the report's kinds.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrReset
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrOther
}

func summarise(w *topology.World, client topology.HostRef, opts TrafficOptions, results []result) *TrafficReport {
	mode := ""
	if len(w.LoadBalancers) > 0 {
		mode = string(w.LoadBalancers[0].TargetType)
	}
	r := &TrafficReport{
		SchemaVersion: 1, Mode: mode, From: client.Name, To: cmp.Or(opts.To, ToDNS), Requests: len(results),
		ErrorsByKind: map[string]int{ErrTimeout: 0, ErrRefused: 0, ErrReset: 0, ErrOther: 0},
		ByPod:        map[string]int{}, ByNode: map[string]int{}, ByNLBAddress: map[string]int{}, BySourceSeen: map[string]int{},
		Expected: map[string]float64{},
	}
	var latencies []float64
	nlbAddrs := map[netip.Addr]bool{}
	for _, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			nlbAddrs[n.IP] = true
		}
	}
	for _, res := range results {
		if nlbAddrs[res.dst.Addr()] {
			r.ByNLBAddress[res.dst.Addr().String()]++
		}
		if res.err != nil {
			r.Errors++
			r.ErrorsByKind[errorKind(res.err)]++
			continue
		}
		r.ByPod[res.reply.Pod]++
		if peer, err := netip.ParseAddrPort(res.reply.Peer); err == nil {
			r.BySourceSeen[peer.Addr().String()]++
		}
		latencies = append(latencies, float64(res.latency)/float64(time.Millisecond))
	}
	sort.Float64s(latencies)
	if len(latencies) > 0 {
		r.LatencyMs = Latency{P50: round3(stat.Quantile(0.5, stat.Empirical, latencies, nil)), P99: round3(stat.Quantile(0.99, stat.Empirical, latencies, nil))}
	}
	return r
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// attributeNodes counts, in instance mode, the node that received each
// connection from the NLB, read from the NLB nodes' conntrack tables.
func (r *TrafficReport) attributeNodes(w *topology.World, results []result) error {
	if r.Mode != string(topology.TargetInstance) {
		return nil
	}
	tables := conntrackTables{w: w, flows: map[string]map[[2]netip.AddrPort]netns.Flow{}}
	for _, res := range results {
		h, ok := w.HostByIP(res.dst.Addr())
		if !ok || h.Kind != topology.KindNLB || !res.local.IsValid() {
			continue
		}
		f, found, err := tables.find(h.Name, res.local, res.dst)
		if err != nil {
			return err
		}
		if node, ok := w.HostByIP(f.ReplySrc.Addr()); found && ok {
			n, _ := w.Node(node.Name)
			r.ByNode[n.NodeName]++
		}
	}
	return nil
}

// fit computes the distribution the installed rules predict for these
// connections' entry addresses, and a chi-square goodness of fit of the
// pods' counts against it. When the rules changed during the run, the fit
// is withheld.
func (r *TrafficReport) fit(w *topology.World, walker *ruleWalker, client topology.HostRef, results []result) error {
	entries := map[netip.AddrPort]int{}
	for _, res := range results {
		if res.dst.IsValid() {
			entries[res.dst]++
		}
	}
	for dst, n := range entries {
		first, from, err := walker.firstHop(client, dst)
		if err != nil {
			return err
		}
		share := float64(n) / float64(len(results))
		if err := walker.pods(first, client.IP, dst, from, share, r.Expected); err != nil {
			return err
		}
	}
	changed, err := walker.changedSince()
	if err != nil {
		return err
	}
	r.RulesChanged = changed
	for pod := range r.ByPod {
		if _, ok := r.Expected[pod]; !ok {
			r.Expected[pod] = 0 // a pod the rules never send to
		}
	}
	if changed {
		return nil
	}
	if chi, p, ok := ChiSquareFit(r.ByPod, r.Expected); ok {
		chi, p = roundSig(chi), roundSig(p)
		r.ChiSquare, r.PValue = &chi, &p
	}
	return nil
}

// ChiSquareFit tests observed counts against an expected distribution
// (probabilities, normalised over the keys that have one) with Pearson's
// chi-square: the statistic and its p-value. A key observed but never
// expected makes the fit fail. ok is false with fewer than two categories
// or no observations.
func ChiSquareFit(counts map[string]int, expected map[string]float64) (chi, p float64, ok bool) {
	var total float64
	served := 0
	for _, q := range expected {
		total += q
	}
	for _, n := range counts {
		served += n
	}
	var obs, exp []float64
	for key, q := range expected {
		if q > 0 {
			obs = append(obs, float64(counts[key]))
			exp = append(exp, q/total*float64(served))
		}
	}
	for key, n := range counts {
		if expected[key] == 0 && n > 0 {
			obs = append(obs, float64(n))
			exp = append(exp, 1e-9) // never expected: the fit rejects
		}
	}
	if len(exp) < 2 || served == 0 {
		return 0, 0, false
	}
	chi = stat.ChiSquare(obs, exp)
	return chi, distuv.ChiSquared{K: float64(len(exp) - 1)}.Survival(chi), true
}

func roundSig(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return v
}
