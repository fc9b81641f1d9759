package observe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/topology"
)

// Hop is a host a request passed through, with the addresses as the packet
// left it (as it arrived, for the last). NAT hops come from that host's
// conntrack table; hosts that only forward have no NAT.
type Hop struct {
	Host string `json:"host"`
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	NAT  *NAT   `json:"nat"`
}

// NAT says how a host translated the packet and which rule did it.
type NAT struct {
	Kind string `json:"kind"` // DNAT, SNAT or DNAT+SNAT
	By   string `json:"by"`
}

// TracedRequest is one request's path.
type TracedRequest struct {
	ID    int    `json:"id"`
	Pod   string `json:"pod"`
	Error string `json:"error,omitempty"`
	Hops  []Hop  `json:"hops"`
}

// TraceReport is trace's report; -o json prints it (schemaVersion 1).
type TraceReport struct {
	SchemaVersion int             `json:"schemaVersion"`
	Requests      []TracedRequest `json:"requests"`
}

// Trace sends N new requests one after another and reconstructs each one's
// path hop by hop from the hosts' conntrack tables and the sockets' own
// addresses.
func Trace(ctx context.Context, w *topology.World, opts TrafficOptions) (*TraceReport, error) {
	if opts.Requests < 1 {
		return nil, topology.Invalid("Requests", "must be at least 1 (got %d)", opts.Requests)
	}
	client, dest, ns, err := openClient(w, &opts)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	dialer := netns.NewDialer(ns, opts.Timeout)
	res := newResolver(w, client, dialer.DialContext)
	wk := &echoWorker{dial: dialer.DialContext, timeout: opts.Timeout}
	targets, _ := state.LoadTargets(w.Cluster.Name)

	// Send every request first, then read each host's conntrack table once:
	// closed connections stay there in TIME_WAIT for two minutes.
	type sent struct {
		dst, local netip.AddrPort
		reply      echo.Reply
	}
	report := &TraceReport{SchemaVersion: 1, Requests: make([]TracedRequest, opts.Requests)}
	requests := make([]sent, opts.Requests)
	for i := range requests {
		req := &report.Requests[i]
		req.ID = i + 1
		dst, err := dest.pick(ctx, res, i)
		var reply echo.Reply
		var local netip.AddrPort
		if err == nil {
			reply, local, _, err = wk.get(ctx, dst)
		}
		if err != nil {
			req.Error = err.Error()
			continue
		}
		req.Pod, requests[i] = reply.Pod, sent{dst, local, reply}
	}
	tables := conntrackTables{w: w, flows: map[string]map[[2]netip.AddrPort]netns.Flow{}}
	for i, r := range requests {
		req := &report.Requests[i]
		if req.Error != "" {
			continue
		}
		var err error
		if req.Hops, err = tracePath(&tables, targets, client, r.local, r.dst, r.reply); err != nil {
			if errors.Is(err, errNoFlow) {
				req.Error = err.Error() // this request only: its entry is gone
				continue
			}
			return nil, err
		}
	}
	return report, nil
}

// errNoFlow says a translating host has no conntrack entry for a request
// any more (expired, or replaced by a later connection from the same port).
var errNoFlow = errors.New("no conntrack entry")

// conntrackTables reads each host's conntrack table once, indexed by the
// tuple that opened each netns.Flow.
type conntrackTables struct {
	w     *topology.World
	flows map[string]map[[2]netip.AddrPort]netns.Flow
}

func (c *conntrackTables) find(host string, src, dst netip.AddrPort) (netns.Flow, bool, error) {
	table, ok := c.flows[host]
	if !ok {
		flows, err := netns.Conntrack(c.w, host)
		if err != nil {
			return netns.Flow{}, false, err
		}
		table = make(map[[2]netip.AddrPort]netns.Flow, len(flows))
		for _, f := range flows {
			table[[2]netip.AddrPort{f.OrigSrc, f.OrigDst}] = f
		}
		c.flows[host] = table
	}
	f, found := table[[2]netip.AddrPort{src, dst}]
	return f, found, nil
}

// tracePath follows one connection from the client to the pod: at each host
// on the way, the conntrack entry it opened (if the host translates) gives
// the packet's addresses as it left.
func tracePath(tables *conntrackTables, targets []topology.TargetHealth, client topology.HostRef, src, dst netip.AddrPort, reply echo.Reply) ([]Hop, error) {
	w := tables.w
	hops := []Hop{{Host: client.Name, Src: src.String(), Dst: dst.String()}}
	at := client
	for range 8 {
		next, ok := nextHost(w, at, dst.Addr())
		if !ok {
			return hops, fmt.Errorf("no host owns %s", dst.Addr())
		}
		if next.Kind == topology.KindPod && next.IP == dst.Addr() {
			return append(hops, Hop{Host: next.Name, Src: reply.Peer, Dst: reply.Local}), nil
		}
		hop := Hop{Host: next.Name, Src: src.String(), Dst: dst.String()}
		if next.Kind == topology.KindNLB || next.Kind == topology.KindNode {
			f, found, err := tables.find(next.Name, src, dst)
			if err != nil {
				return nil, err
			}
			if !found && next.Kind == topology.KindNLB {
				return hops, fmt.Errorf("%w on %s for %s → %s", errNoFlow, next.Name, src, dst)
			}
			if found && (f.DNAT() || f.SNAT()) {
				src, dst = f.Translated()
				hop.Src, hop.Dst = src.String(), dst.String()
				hop.NAT = &NAT{Kind: natKind(f), By: translatedBy(w, targets, next, f)}
			}
		}
		hops = append(hops, hop)
		at = next
	}
	return hops, fmt.Errorf("path to %s is longer than 8 hosts", dst)
}

// nextHost is where a packet at host goes for dst: the host owning dst, or
// first the node of a pod that is not on this host.
func nextHost(w *topology.World, at topology.HostRef, dst netip.Addr) (topology.HostRef, bool) {
	owner, ok := w.HostByIP(dst)
	if !ok { // a ClusterIP: the client's node translates it
		switch at.Kind {
		case topology.KindPod:
			node, err := w.Lookup(at.Node)
			return node, err == nil
		case topology.KindNode:
			return at, true
		}
		return owner, false
	}
	if owner.Kind == topology.KindPod && at.Name != owner.Node {
		node, err := w.Lookup(owner.Node)
		return node, err == nil
	}
	return owner, true
}

func natKind(f netns.Flow) string {
	switch {
	case f.DNAT() && f.SNAT():
		return "DNAT+SNAT"
	case f.DNAT():
		return "DNAT"
	}
	return "SNAT"
}

// translatedBy names what translated a netns.Flow: the NLB's target group, or
// the KUBE-SEP chain of the endpoint (and KUBE-POSTROUTING for masquerade);
// in nftables mode the endpoint- chain (and masquerading).
func translatedBy(w *topology.World, targets []topology.TargetHealth, host topology.HostRef, f netns.Flow) string {
	if host.Kind == topology.KindNLB {
		for _, t := range targets {
			if t.Addr() == f.ReplySrc {
				return "target group " + t.TargetGroup
			}
		}
		return "NLB"
	}
	var by []string
	if f.DNAT() {
		by = append(by, endpointChain(w, f.OrigDst, f.ReplySrc))
	}
	if f.SNAT() {
		if w.NFTables() {
			by = append(by, "masquerading")
		} else {
			by = append(by, "KUBE-POSTROUTING")
		}
	}
	return strings.Join(by, ", ")
}

// endpointChain names the KUBE-SEP chain that DNATs a Service address
// (ClusterIP:port or node:NodePort) to an endpoint.
func endpointChain(w *topology.World, svcAddr, endpoint netip.AddrPort) string {
	for _, svc := range w.Services {
		for _, p := range svc.Ports {
			if (svc.ClusterIP == svcAddr.Addr() && p.Port == int(svcAddr.Port())) || (p.NodePort != 0 && p.NodePort == int(svcAddr.Port())) {
				if w.NFTables() {
					return "endpoint-" + nat.NFTEndpointChainBase(svc.Namespace, svc.Name, p.Protocol, p.Name, endpoint.Addr().String(), int(endpoint.Port()))
				}
				return nat.EndpointChainName(nat.ServicePortName(svc, p), p.Protocol, endpoint.String())
			}
		}
	}
	return "kube-proxy"
}
