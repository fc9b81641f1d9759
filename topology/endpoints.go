package topology

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Endpoint is one backend of a Service port, as an EndpointSlice lists it.
type Endpoint struct {
	Pod   string     `json:"pod,omitempty"`
	IP    netip.Addr `json:"ip"`
	Port  int        `json:"port"`
	Node  string     `json:"node,omitempty"` // host name of the endpoint's node
	Ready bool       `json:"ready"`
	// Serving and Terminating are the EndpointSlice conditions: a pod that
	// is shutting down keeps serving while it terminates.
	Serving     bool `json:"serving"`
	Terminating bool `json:"terminating,omitempty"`
}

// String is the endpoint as kube-proxy names it: ip:port.
func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, uint16(e.Port)).String() }

// Endpoints lists the endpoints of one port of a Service, sorted as
// kube-proxy sorts them: by "ip:port" as strings.
func (w *World) Endpoints(svc Service, port ServicePort) []Endpoint {
	var out []Endpoint
	if svc.FromSlices {
		for _, e := range svc.SliceEndpoints {
			if e.PortName == port.Name && e.Protocol == port.Protocol {
				if ep, ok := w.livingSliceEndpoint(svc, e.Endpoint); ok {
					out = append(out, ep)
				}
			}
		}
		sortByString(out)
		return out
	}
	if svc.Selector == nil {
		target, _ := strconv.Atoi(port.TargetPort)
		out = make([]Endpoint, 0, len(svc.ManualEndpoints))
		for _, a := range svc.ManualEndpoints {
			out = append(out, Endpoint{IP: a, Port: target, Ready: true, Serving: true})
		}
	}
	for _, p := range w.Pods {
		if svc.Selector == nil || p.Namespace != svc.Namespace || !p.Running() || !matches(svc.Selector, p.Labels) {
			continue
		}
		target, ok := resolveTargetPort(port, p)
		if !ok {
			continue
		}
		serving := !p.NotReady && p.GatesMet() // the pod's Ready condition
		out = append(out, Endpoint{Pod: p.Name, IP: p.IP, Port: target, Node: p.Node,
			Ready: serving && !p.Terminating, Serving: serving, Terminating: p.Terminating})
	}
	sortByString(out)
	return out
}

// sortByString sorts endpoints by "ip:port" as text, stably, formatting
// each once rather than at every comparison.
func sortByString(eps []Endpoint) {
	type keyed struct {
		key string
		ep  Endpoint
	}
	k := make([]keyed, len(eps))
	for i, ep := range eps {
		k[i] = keyed{ep.String(), ep}
	}
	slices.SortStableFunc(k, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for i := range k {
		eps[i] = k[i].ep
	}
}

// resolveTargetPort turns a numeric or named targetPort into the pod's port.
func resolveTargetPort(port ServicePort, p Pod) (int, bool) {
	if n, err := strconv.Atoi(port.TargetPort); err == nil {
		return n, true
	}
	for _, c := range p.Ports {
		if c.Name == port.TargetPort && c.Protocol == port.Protocol {
			return c.Port, true
		}
	}
	return 0, false
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Service returns a Service by namespace and name.
func (w *World) Service(namespace, name string) (Service, bool) {
	for _, s := range w.Services {
		if s.Namespace == namespace && s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}
