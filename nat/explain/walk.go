package explain

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// maxBranches bounds the random forks of one walk. A kube-proxy service
// forks once per endpoint; only a crafted ruleset comes near this.
const maxBranches = 1 << 16

// ErrTooManyBranches is returned when the random choices of a ruleset
// multiply beyond maxBranches.
var ErrTooManyBranches = errors.New("too many random branches to explore")

// Walk follows packet p through the rules of dump d on the node described
// by opts and returns every outcome with its probability.
func Walk(d *ruleset.Dump, p Packet, opts Options) (*Report, error) {
	if d == nil {
		return nil, errors.New("no ruleset")
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	n, err := newNode(opts)
	if err != nil {
		return nil, err
	}
	if !p.Src.IsValid() {
		if p.From != FromNode || len(n.ips) == 0 {
			return nil, fmt.Errorf("src: missing (only packets from the node default to the first node IP)")
		}
		p.Src = n.ips[0]
	}
	if err := checkLoops(d); err != nil {
		return nil, err
	}
	ifaces := resolveInterfaces(d, &p, n, opts)
	w := &walker{dump: d, node: n, packet: p, interfaces: ifaces, outcomeIndex: map[string]int{}, seen: map[string]bool{}}
	if err := w.journey(w.firstFlow(), w.hopsFrom(p.From)); err != nil {
		return nil, err
	}
	return w.report(), nil
}

type walker struct {
	dump       *ruleset.Dump
	node       *node
	packet     Packet
	interfaces Interfaces

	outcomes     []Outcome
	outcomeIndex map[string]int
	notModelled  []NotModelled
	seen         map[string]bool
	branches     int
}

func (w *walker) firstFlow() *flow {
	p := w.packet
	return &flow{
		weight:  big.NewRat(1, 1),
		src:     p.Src.Unmap(),
		srcPort: p.SrcPort,
		dst:     p.Dst.Addr().Unmap(),
		dstPort: p.Dst.Port(),
		inIface: w.interfaces.In,
	}
}

// hop is one netfilter hook on the packet's way, with its tables in the
// kernel's priority order.
type hop struct {
	hook   string
	tables []string
	// arrive sets the interfaces the hook sees; nil keeps them.
	arrive func(*flow)
	// then is the routing decision after the hook: the hops that follow.
	then func(*flow) []hop
}

func (w *walker) hopsFrom(from Origin) []hop {
	if from == FromNode {
		return []hop{{
			hook:   "OUTPUT",
			tables: []string{"raw", "mangle", "nat", "filter", "security"},
			arrive: func(f *flow) { f.outIface = w.node.outInterface(f.dst) },
			then:   w.afterOutput,
		}}
	}
	return []hop{{hook: "PREROUTING", tables: []string{"raw", "mangle", "nat"}, then: w.afterPrerouting}}
}

// afterPrerouting is the input routing decision: deliver locally or forward.
func (w *walker) afterPrerouting(f *flow) []hop {
	if w.node.isLocal(f.dst) {
		return []hop{{hook: "INPUT", tables: []string{"mangle", "filter", "security", "nat"}}}
	}
	return []hop{
		{hook: "FORWARD", tables: []string{"mangle", "filter", "security"},
			arrive: func(f *flow) { f.outIface = w.node.outInterface(f.dst) }},
		postrouting,
	}
}

var postrouting = hop{hook: "POSTROUTING", tables: []string{"mangle", "nat"}}

// afterOutput sends a locally generated packet out, or, when it is for the
// node itself, around through lo and up the input path. Its NAT is already
// set up, so nat is not consulted again.
func (w *walker) afterOutput(f *flow) []hop {
	if !w.node.isLocal(f.dst) {
		return []hop{postrouting}
	}
	return []hop{
		postrouting,
		{hook: "PREROUTING", tables: []string{"raw", "mangle"},
			arrive: func(f *flow) { f.inIface, f.outIface = "lo", "" }},
		{hook: "INPUT", tables: []string{"mangle", "filter", "security"}},
	}
}

// journey takes f through the remaining hops; every end is an outcome.
func (w *walker) journey(f *flow, hops []hop) error {
	if len(hops) == 0 {
		verdict := VerdictAccept
		if f.dnat != nil {
			verdict = VerdictDNAT
		}
		w.finish(f, verdict)
		return nil
	}
	h := hops[0]
	if h.arrive != nil {
		h.arrive(f)
	}
	f.path = append(f.path, h.hook)
	return w.tables(f, h, 0, hops[1:])
}

// tables runs the tables of hop h from index i on, then the rest.
func (w *walker) tables(f *flow, h hop, i int, rest []hop) error {
	if i == len(h.tables) {
		if h.then != nil {
			rest = append(h.then(f), rest...)
		}
		return w.journey(f, rest)
	}
	name := h.tables[i]
	table := w.dump.Table(name)
	next := func(g *flow) error {
		if h.hook == "OUTPUT" && name == "nat" { // reroute after DNAT
			g.outIface = w.node.outInterface(g.dst)
		}
		return w.tables(g, h, i+1, rest)
	}
	if table == nil || (name == "nat" && f.untracked) {
		return next(f)
	}
	return w.traverse(f, table, h.hook, next)
}

// finish records an outcome, merging it with an equal one.
func (w *walker) finish(f *flow, v Verdict) {
	o := Outcome{Verdict: v, Target: f.dnat, Masquerade: f.masquerade, SNAT: f.snat, Path: f.path, OutInterface: f.outIface}
	key := fmt.Sprint(v, "|", addrPortText(o.Target), "|", o.Masquerade, "|", addrText(o.SNAT), "|", strings.Join(o.Path, " "), "|", o.OutInterface)
	if i, ok := w.outcomeIndex[key]; ok {
		w.outcomes[i].Exact.Add(w.outcomes[i].Exact, f.weight)
		return
	}
	o.Exact = new(big.Rat).Set(f.weight)
	w.outcomeIndex[key] = len(w.outcomes)
	w.outcomes = append(w.outcomes, o)
}

// skip records a rule that could not be evaluated and is taken as not
// matching.
func (w *walker) skip(table string, r *ruleset.Rule, reason string) {
	key := fmt.Sprint(table, r.Line, reason)
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	w.notModelled = append(w.notModelled, NotModelled{Table: table, Chain: r.Chain, Line: r.Line, Rule: r.Text, Reason: reason})
}

func (w *walker) report() *Report {
	return newReport(w.packet, w.interfaces, w.outcomes, w.notModelled)
}

// newReport is a walk's Report: empty lists rather than null, and each
// outcome's probability as a float beside its exact value.
func newReport(p Packet, ifaces Interfaces, outcomes []Outcome, notModelled []NotModelled) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Packet:        PacketSummary{Src: p.Src.String(), Dst: p.Dst.String(), Proto: p.Proto, From: p.From},
		Interfaces:    ifaces,
		Outcomes:      outcomes,
		NotModelled:   notModelled,
	}
	if r.Outcomes == nil {
		r.Outcomes = []Outcome{}
	}
	if r.NotModelled == nil {
		r.NotModelled = []NotModelled{}
	}
	for i := range r.Outcomes {
		r.Outcomes[i].Probability, _ = r.Outcomes[i].Exact.Float64()
	}
	return r
}

func addrPortText(a *netip.AddrPort) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func addrText(a *netip.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// resolveInterfaces settles the packet's interfaces: those the caller named,
// then (with Options.InferInterfaces) those the dump's CNI chains show, then
// the defaults. It adds inferred routes to the node and records where each
// came from.
func resolveInterfaces(d *ruleset.Dump, p *Packet, n *node, opts Options) Interfaces {
	ifs := Interfaces{Uplink: n.uplink, Routes: []RouteSummary{}}
	for _, r := range opts.Routes {
		ifs.Routes = append(ifs.Routes, RouteSummary{Prefix: r.Prefix.String(), Interface: r.Interface, Source: SourceOption})
	}
	var inf Inference
	if opts.InferInterfaces {
		inf = InferInterfaces(d)
		ifs.CNI, ifs.Evidence, ifs.Note = inf.CNI, inf.Evidence, inf.Note
		for _, r := range inf.Routes {
			n.routes = append(n.routes, r)
			ifs.Routes = append(ifs.Routes, RouteSummary{Prefix: r.Prefix.String(), Interface: r.Interface, Source: SourceInferred})
		}
	}
	switch {
	case p.From == FromNode:
		ifs.InSource = SourceNone
	case p.InInterface != "":
		ifs.In, ifs.InSource = p.InInterface, SourceOption
	case p.From == FromPod && inf.PodInterface != "":
		ifs.In, ifs.InSource = inf.PodInterface, SourceInferred
	case p.From == FromPod:
		ifs.In, ifs.InSource = DefaultPodInterface, SourceDefault
	default:
		ifs.In, ifs.InSource = n.uplink, SourceDefault
	}
	if p.OutInterface != "" {
		n.out = p.OutInterface
		ifs.Out, ifs.OutSource = p.OutInterface, SourceOption
	} else {
		ifs.OutSource = SourceRouted
	}
	return ifs
}
