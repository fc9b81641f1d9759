package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
)

// NodeRules is what one node's kube-proxy does with the load-balanced
// Services: per Service port, the endpoints it may choose, each with its
// probability and the number of connections that chose it so far.
type NodeRules struct {
	Node      string         `json:"node"`
	ProxyMode string         `json:"proxyMode"`
	Services  []ServiceRules `json:"services"`
	Error     string         `json:"error,omitempty"`
}

// ServiceRules is one Service port's spread over its endpoints.
type ServiceRules struct {
	Service   string         `json:"service"` // namespace/name:port
	Chain     string         `json:"chain"`   // KUBE-SVC-… (the nftables mode will name its map)
	Endpoints []EndpointRule `json:"endpoints"`
}

// EndpointRule is one endpoint of a Service chain. Probability is the
// rule's own (--probability, 1 for the last); Share is the part of new
// connections it gets; Packets counts the connections that took it (the
// nat table sees a connection's first packet only).
type EndpointRule struct {
	Chain       string  `json:"chain"` // KUBE-SEP-…
	Endpoint    string  `json:"endpoint"`
	Probability float64 `json:"probability"`
	Share       float64 `json:"share"`
	Packets     uint64  `json:"packets"`
}

// proxySource reads the Service rules of one kube-proxy mode from a node.
// iptables is the only mode nlbsim models today; another mode (nftables)
// is another source.
type proxySource interface {
	mode() string
	serviceRules(b Backend, w *topology.World, node string) ([]ServiceRules, error)
}

// proxySourceFor picks the source for a world's kube-proxy mode.
func proxySourceFor(w *topology.World) proxySource {
	switch mode := w.Cluster.KubeProxy.Mode; mode {
	case "", "iptables":
		return iptablesSource{}
	default:
		return unshownSource(mode)
	}
}

// unshownSource is a kube-proxy mode the page cannot show yet.
type unshownSource string

func (m unshownSource) mode() string { return string(m) }

func (m unshownSource) serviceRules(Backend, *topology.World, string) ([]ServiceRules, error) {
	return nil, fmt.Errorf("kube-proxy's %s mode: its rules are not shown yet", string(m))
}

// readNodeRules reads every node's Service rules; a node that cannot be
// read (stopped, gone) carries its error.
func readNodeRules(b Backend, w *topology.World) []NodeRules {
	src := proxySourceFor(w)
	out := make([]NodeRules, 0, len(w.Nodes))
	for _, n := range w.Nodes {
		nr := NodeRules{Node: n.Name, ProxyMode: src.mode(), Services: []ServiceRules{}}
		svcs, err := src.serviceRules(b, w, n.Name)
		if err != nil {
			nr.Error = err.Error()
		} else {
			nr.Services = svcs
		}
		out = append(out, nr)
	}
	return out
}

// iptablesSource reads KUBE-SVC and KUBE-SEP chains from iptables-save.
type iptablesSource struct{}

func (iptablesSource) mode() string { return "iptables" }

func (iptablesSource) serviceRules(b Backend, w *topology.World, node string) ([]ServiceRules, error) {
	if b.NeedsRoot() {
		return nil, errors.New("reading a node's rules needs root (run nlbsim ui with sudo)")
	}
	text, err := b.SaveRules(w, node)
	if err != nil {
		return nil, err
	}
	return parseServiceRules(w, text)
}

// parseServiceRules finds each load-balanced Service port's KUBE-SVC chain
// (and KUBE-SVL, with externalTrafficPolicy Local) in an iptables-save dump
// and reads its jumps to KUBE-SEP chains.
func parseServiceRules(w *topology.World, text string) ([]ServiceRules, error) {
	dump, err := ruleset.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := []ServiceRules{}
	natTable := dump.Table("nat")
	for _, svc := range loadBalanced(w) {
		for _, port := range svc.Ports {
			name := svc.Key() + ":" + strconv.Itoa(port.Port)
			cluster := nat.ServiceChainName(nat.ServicePortName(svc, port), port.Protocol)
			out = append(out, ServiceRules{Service: name, Chain: cluster, Endpoints: chainEndpoints(natTable, cluster)})
			// externalTrafficPolicy Local: what arrives from outside takes
			// the node's own endpoints, in the KUBE-SVL chain.
			local := "KUBE-SVL-" + strings.TrimPrefix(cluster, "KUBE-SVC-")
			if natTable != nil && natTable.Chain(local) != nil {
				out = append(out, ServiceRules{Service: name + " (external, local endpoints)", Chain: local, Endpoints: chainEndpoints(natTable, local)})
			}
		}
	}
	return out, nil
}

// chainEndpoints reads a Service chain's endpoints; none when the node
// has no such chain.
func chainEndpoints(t *ruleset.Table, name string) []EndpointRule {
	if t == nil || t.Chain(name) == nil {
		return []EndpointRule{}
	}
	return endpointRules(t, t.Chain(name))
}

// endpointRules reads a Service chain's jumps to endpoint chains: the
// share of each is its probability times what the rules before it left.
func endpointRules(t *ruleset.Table, chain *ruleset.Chain) []EndpointRule {
	eps := []EndpointRule{}
	left := 1.0
	for _, r := range chain.Rules {
		if r.Target == nil || !strings.HasPrefix(r.Target.Name, "KUBE-SEP-") {
			continue
		}
		p := 1.0
		if m := r.Match("statistic"); m != nil {
			if v, err := strconv.ParseFloat(m.Option("probability").Arg(), 64); err == nil {
				p = v
			}
		}
		e := EndpointRule{Chain: r.Target.Name, Probability: p, Share: left * p}
		left -= e.Share
		if r.Counters != nil {
			e.Packets = r.Counters.Packets
		}
		if sep := t.Chain(r.Target.Name); sep != nil {
			for _, sr := range sep.Rules {
				if sr.Target != nil && sr.Target.Name == "DNAT" {
					e.Endpoint = sr.Target.Option("to-destination").Arg()
				}
			}
		}
		eps = append(eps, e)
	}
	return eps
}

// loadBalanced lists the Services that an NLB fronts.
func loadBalanced(w *topology.World) []topology.Service {
	var out []topology.Service
	for _, lb := range w.LoadBalancers {
		for _, s := range w.Services {
			if s.Key() == lb.Service {
				out = append(out, s)
			}
		}
	}
	return out
}
