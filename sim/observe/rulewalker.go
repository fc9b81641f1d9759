package observe

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// ruleWalker computes where new connections go from the rules installed in
// the hosts' kernels at this moment: each host's iptables-save, read once,
// walked by the explainer with exact probabilities.
type ruleWalker struct {
	backend nat.Backend
	w       *topology.World
	saved   map[string]string // host → iptables-save text without counters
	dumps   map[string]*ruleset.Dump
	// nftables mode: a node's kube-proxy table (nft list table ip
	// kube-proxy), walked instead of its iptables rules.
	nftText map[string]string
	nft     map[string]*explain.NFTRuleset
}

func newRuleWalker(backend nat.Backend, w *topology.World) *ruleWalker {
	return &ruleWalker{backend: backend, w: w, saved: map[string]string{}, dumps: map[string]*ruleset.Dump{},
		nftText: map[string]string{}, nft: map[string]*explain.NFTRuleset{}}
}

// nftTable reads a node's kube-proxy table once.
func (r *ruleWalker) nftTable(host string) (*explain.NFTRuleset, error) {
	if t, ok := r.nft[host]; ok {
		return t, nil
	}
	text, err := ListKubeProxyTable(r.w, host)
	if err != nil {
		return nil, err
	}
	t, err := explain.ParseNFT(text)
	if err != nil {
		return nil, fmt.Errorf("kube-proxy's table on %s: %w", host, err)
	}
	r.nftText[host], r.nft[host] = text, t
	return t, nil
}

// ListKubeProxyTable is `nft list table ip kube-proxy` on a host.
func ListKubeProxyTable(w *topology.World, host string) (string, error) {
	h, err := w.Lookup(host)
	if err != nil {
		return "", err
	}
	return nat.ListNFT(netns.RunIn(h.Namespace), "list", "table", "ip", nat.NFTTable)
}

var saveNoise = regexp.MustCompile(`(?m)^#.*\n|\[\d+:\d+\]`)

func (r *ruleWalker) dump(host string) (*ruleset.Dump, error) {
	if d, ok := r.dumps[host]; ok {
		return d, nil
	}
	text, err := SaveRules(r.backend, r.w, host)
	if err != nil {
		return nil, err
	}
	d, err := ruleset.Parse(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("rules of %s: %w", host, err)
	}
	r.saved[host] = saveNoise.ReplaceAllString(text, "")
	r.dumps[host] = d
	return d, nil
}

// readAll reads the rules of every host that translates: NLB nodes and nodes.
func (r *ruleWalker) readAll() error {
	for _, h := range r.w.Hosts() {
		if h.Kind == topology.KindNLB || h.Kind == topology.KindNode {
			if _, err := r.dump(h.Name); err != nil {
				return err
			}
		}
		if h.Kind == topology.KindNode && r.w.NFTables() {
			if _, err := r.nftTable(h.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// changedSince reports whether any host's rules differ from what the walker read.
func (r *ruleWalker) changedSince() (bool, error) {
	for host, before := range r.saved {
		now, err := SaveRules(r.backend, r.w, host)
		if err != nil {
			return false, err
		}
		if saveNoise.ReplaceAllString(now, "") != before {
			return true, nil
		}
	}
	for host, before := range r.nftText {
		now, err := ListKubeProxyTable(r.w, host)
		if err != nil {
			return false, err
		}
		if now != before {
			return true, nil
		}
	}
	return false, nil
}

// hostOwning returns the host a destination address belongs to: a pod, a
// node, an NLB node.
func (r *ruleWalker) hostOwning(a netip.Addr) (topology.HostRef, bool) {
	return r.w.HostByIP(a)
}

// pods adds to out the probability that a new connection from src, seen by
// host (entering as from), ends at each pod, scaled by weight.
func (r *ruleWalker) pods(host topology.HostRef, src netip.Addr, dst netip.AddrPort, from explain.Origin, weight float64, out map[string]float64) error {
	if h, ok := r.hostOwning(dst.Addr()); ok && h.Kind == topology.KindPod {
		out[h.Name] += weight
		return nil
	}
	var report *explain.Report
	packet, opts := explain.Packet{Src: src, Dst: dst, Proto: "tcp", From: from}, explain.Options{NodeIPs: []netip.Addr{host.IP}}
	if host.Kind == topology.KindNode && r.w.NFTables() {
		t, err := r.nftTable(host.Name)
		if err != nil {
			return err
		}
		if report, err = explain.WalkNFT(t, packet, opts); err != nil {
			return fmt.Errorf("walking %s's nftables rules: %w", host.Name, err)
		}
	} else {
		d, err := r.dump(host.Name)
		if err != nil {
			return err
		}
		if report, err = explain.Walk(d, packet, opts); err != nil {
			return fmt.Errorf("walking %s's rules: %w", host.Name, err)
		}
	}
	for _, o := range report.Outcomes {
		if o.Verdict != explain.VerdictDNAT || o.Target == nil {
			continue // dropped, rejected or not translated: no pod
		}
		next, ok := r.hostOwning(o.Target.Addr())
		if !ok {
			continue
		}
		nextSrc := src
		if o.SNAT != nil {
			nextSrc = *o.SNAT
		} else if o.Masquerade {
			nextSrc = host.IP
		}
		if err := r.pods(next, nextSrc, *o.Target, explain.FromExternal, weight*o.Probability, out); err != nil {
			return err
		}
	}
	return nil
}

// firstHop is the host whose rules decide a client's connection to dst: the
// NLB node or node that owns dst, or — for a ClusterIP — the client's node.
func (r *ruleWalker) firstHop(client topology.HostRef, dst netip.AddrPort) (topology.HostRef, explain.Origin, error) {
	if h, ok := r.hostOwning(dst.Addr()); ok {
		return h, explain.FromExternal, nil
	}
	switch client.Kind {
	case topology.KindPod:
		n, err := r.w.Lookup(client.Node)
		return n, explain.FromPod, err
	case topology.KindNode:
		return client, explain.FromNode, nil
	}
	return topology.HostRef{}, "", fmt.Errorf("%s is not routable from %s", dst.Addr(), client.Name)
}

// SaveRules returns a host's live iptables-save text, counters included.
func SaveRules(backend nat.Backend, w *topology.World, host string) (string, error) {
	h, err := w.Lookup(host)
	if err != nil {
		return "", err
	}
	return nat.Save(backend, netns.RunIn(h.Namespace))
}
