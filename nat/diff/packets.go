package diff

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/nat/explain"
)

// Outcome is one fate of a packet, summed over the paths that lead to it.
type Outcome struct {
	Verdict     explain.Verdict `json:"verdict"`
	Target      string          `json:"target,omitempty"`
	Probability float64         `json:"probability"`
	Masquerade  bool            `json:"masquerade"`
}

// PacketComparison is one packet walked through the real rules and the
// expected ones.
type PacketComparison struct {
	Packet   explain.PacketSummary `json:"packet"`
	Real     []Outcome             `json:"real"`
	Expected []Outcome             `json:"expected"`
	Agree    bool                  `json:"agree"`
	// Error says why a side could not be walked.
	Error string `json:"error,omitempty"`
}

// externalClient is the source of packets from outside the cluster in the
// walks (a documentation address; no packet is sent).
var externalClient = netip.MustParseAddr("203.0.113.1")

// walkAffected walks, for every affected Service, a packet from a pod to
// each of its ClusterIP ports and from outside to each NodePort, through
// kube-proxy's chains of both sides (other components' chains left out).
func (c *comparison) walkAffected() {
	opts := explain.Options{NodeIPs: []netip.Addr{c.nodeIP}}
	var real, exp walker
	if c.real.nft != nil {
		real = func(p explain.Packet) (*explain.Report, error) { return explain.WalkNFT(c.real.nft, p, opts) }
		exp = func(p explain.Packet) (*explain.Report, error) { return explain.WalkNFT(c.exp.nft, p, opts) }
	} else {
		others := func(table, chain string) bool { return !isKubeProxyChain(table, chain) }
		realDump, expDump := c.real.dump.Without(others), c.exp.dump.Without(others)
		real = func(p explain.Packet) (*explain.Report, error) { return explain.Walk(realDump, p, opts) }
		exp = func(p explain.Packet) (*explain.Report, error) { return explain.Walk(expDump, p, opts) }
	}
	podSrc, from := c.nodeIP, explain.FromNode
	for _, p := range c.w.Pods {
		if p.Node == c.host && p.IP.IsValid() && !p.HostNetwork && p.Running() {
			podSrc, from = p.IP, explain.FromPod
			break
		}
	}
	for i := range c.report.Services {
		d := &c.report.Services[i]
		for _, p := range c.packetsFor(d.Service) {
			if p.From == explain.FromPod {
				p.Src, p.From = podSrc, from
			}
			d.Packets = append(d.Packets, compareWalks(real, exp, p))
		}
	}
}

// packetsFor lists the packets that exercise a Service: to each ClusterIP
// port, and to each NodePort of this node. A stale Service's come from the
// real rules' KUBE-SERVICES matches.
func (c *comparison) packetsFor(key string) []explain.Packet {
	var out []explain.Packet
	if svc, ok := c.service(key); ok {
		for _, p := range svc.Ports {
			proto := strings.ToLower(p.Protocol)
			if svc.ClusterIP.IsValid() {
				out = append(out, explain.Packet{Dst: netip.AddrPortFrom(svc.ClusterIP, uint16(p.Port)), Proto: proto, From: explain.FromPod})
			}
			if p.NodePort != 0 {
				out = append(out, explain.Packet{Src: externalClient, Dst: netip.AddrPortFrom(c.nodeIP, uint16(p.NodePort)), Proto: proto, From: explain.FromExternal})
			}
		}
		return out
	}
	if c.real.nft != nil {
		return c.stalePacketsNFT(key)
	}
	seen := map[string]bool{}
	dport := func(r ruleRef) (uint16, bool) {
		for _, m := range r.rule.Matches {
			if o := m.Option("dport"); o != nil {
				n, err := strconv.Atoi(o.Arg())
				return uint16(n), err == nil
			}
		}
		return 0, false
	}
	for _, r := range rulesOf(c.real, "nat", "KUBE-SERVICES") {
		if c.real.ruleOwner(r.rule) != key || r.rule.Destination == nil || r.rule.Protocol == nil || len(r.rule.Destination.Prefixes) != 1 {
			continue
		}
		if n, ok := dport(r); ok && !seen[r.canon] {
			seen[r.canon] = true
			out = append(out, explain.Packet{Dst: netip.AddrPortFrom(r.rule.Destination.Prefixes[0].Addr(), n), Proto: r.rule.Protocol.Name, From: explain.FromPod})
		}
	}
	for _, r := range rulesOf(c.real, "nat", "KUBE-NODEPORTS") {
		if c.real.ruleOwner(r.rule) != key || r.rule.Protocol == nil {
			continue
		}
		if n, ok := dport(r); ok && !seen[r.canon] {
			seen[r.canon] = true
			out = append(out, explain.Packet{Src: externalClient, Dst: netip.AddrPortFrom(c.nodeIP, n), Proto: r.rule.Protocol.Name, From: explain.FromExternal})
		}
	}
	return out
}

// walker walks a packet through one side's rules.
type walker func(explain.Packet) (*explain.Report, error)

func compareWalks(real, exp walker, p explain.Packet) PacketComparison {
	pc := PacketComparison{Packet: explain.PacketSummary{Src: p.Src.String(), Dst: p.Dst.String(), Proto: p.Proto, From: p.From}}
	r, err1 := real(p)
	e, err2 := exp(p)
	if err1 != nil || err2 != nil {
		pc.Error = fmt.Sprint("real: ", err1, "; expected: ", err2)
		pc.Real, pc.Expected = []Outcome{}, []Outcome{}
		return pc
	}
	pc.Real, pc.Expected = summarize(r), summarize(e)
	pc.Agree = sameOutcomes(pc.Real, pc.Expected)
	return pc
}

func summarize(r *explain.Report) []Outcome {
	index := map[string]int{}
	out := []Outcome{}
	for _, o := range r.Outcomes {
		target := ""
		if o.Target != nil {
			target = o.Target.String()
		}
		key := fmt.Sprint(o.Verdict, target, o.Masquerade)
		if i, ok := index[key]; ok {
			out[i].Probability += o.Probability
			continue
		}
		index[key] = len(out)
		out = append(out, Outcome{Verdict: o.Verdict, Target: target, Probability: o.Probability, Masquerade: o.Masquerade})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Verdict != out[j].Verdict {
			return out[i].Verdict < out[j].Verdict
		}
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return !out[i].Masquerade && out[j].Masquerade
	})
	return out
}

func sameOutcomes(a, b []Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Verdict != y.Verdict || x.Target != y.Target || x.Masquerade != y.Masquerade || math.Abs(x.Probability-y.Probability) > 1e-9 {
			return false
		}
	}
	return true
}
