package topology

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// HostKind says what a host is.
type HostKind string

const (
	KindBastion      HostKind = "bastion"
	KindVPC          HostKind = "vpc"
	KindNLB          HostKind = "nlb"
	KindNode         HostKind = "node"
	KindPod          HostKind = "pod"
	KindControlPlane HostKind = "control-plane"
)

// HostRef is one host of the world with its namespace and aliases.
type HostRef struct {
	Host
	Kind      HostKind
	Namespace string   // nlbsim.<cluster>.<host>
	Aliases   []string // other names exec accepts
	Node      string   // a pod's node host name
}

// NamespacePrefix starts every network namespace nlbsim makes.
const NamespacePrefix = "nlbsim."

// Namespace is the named network namespace of a host of a cluster.
func Namespace(cluster, host string) string { return NamespacePrefix + cluster + "." + host }

// ClusterOfNamespace returns the cluster a namespace name belongs to, if it is nlbsim's.
func ClusterOfNamespace(ns string) (cluster, host string, ok bool) {
	rest, found := strings.CutPrefix(ns, NamespacePrefix)
	if !found {
		return "", "", false
	}
	cluster, host, ok = strings.Cut(rest, ".")
	return cluster, host, ok && cluster != "" && host != ""
}

// VPCHost is the name of the VPC fabric's host (router and resolver).
const VPCHost = "vpc"

// Hosts lists every host that gets a namespace, in creation order: bastion,
// the VPC fabric, NLB nodes, control-plane ENIs, nodes, then pods.
func (w *World) Hosts() []HostRef {
	ns := func(h string) string { return Namespace(w.Cluster.Name, h) }
	out := []HostRef{}
	if w.Bastion.IP.IsValid() {
		out = append(out, HostRef{Host: w.Bastion, Kind: KindBastion, Namespace: ns(w.Bastion.Name)})
	}
	out = append(out, HostRef{Host: Host{Name: VPCHost, IP: w.Cluster.Resolver}, Kind: KindVPC, Namespace: ns(VPCHost)})
	for li, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			r := HostRef{Host: n.Host, Kind: KindNLB, Namespace: ns(n.Name)}
			if li == 0 && n.Letter == "a" {
				r.Aliases = []string{"nlb"}
			}
			out = append(out, r)
		}
	}
	for _, c := range w.ControlPlane {
		out = append(out, HostRef{Host: c, Kind: KindControlPlane, Namespace: ns(c.Name)})
	}
	for _, n := range w.Nodes {
		out = append(out, HostRef{Host: n.Host, Kind: KindNode, Namespace: ns(n.Name), Aliases: []string{n.NodeName, n.ShortName()}})
	}
	alias := 0
	for _, p := range w.Pods {
		if !p.Running() {
			continue
		}
		r := HostRef{Host: Host{Name: p.Name, IP: p.IP, AZ: w.subnetOf(p.IP).AZ}, Kind: KindPod, Namespace: ns(p.Name), Node: p.Node}
		if p.Namespace != addonNamespace {
			alias++
			r.Aliases = []string{fmt.Sprintf("pod-%d", alias)}
		}
		out = append(out, r)
	}
	return out
}

// Lookup finds a host by its name or one of its aliases.
func (w *World) Lookup(name string) (HostRef, error) {
	hosts := w.Hosts()
	for _, h := range hosts {
		if h.Name == name {
			return h, nil
		}
		for _, a := range h.Aliases {
			if a == name {
				return h, nil
			}
		}
	}
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	return HostRef{}, fmt.Errorf("unknown host %q in cluster %q; valid hosts: %s (aliases: nlb, pod-N, node names)", name, w.Cluster.Name, strings.Join(names, ", "))
}

// HostByIP finds the host that owns an address.
func (w *World) HostByIP(a netip.Addr) (HostRef, bool) {
	for _, h := range w.Hosts() {
		if h.IP == a && h.Kind != KindVPC {
			return h, true
		}
	}
	return HostRef{}, false
}

// PodsOn lists the running, namespaced pods of a node, sorted by name.
func (w *World) PodsOn(node string) []Pod {
	var out []Pod
	for _, p := range w.Pods {
		if p.Node == node && p.Running() {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Node returns a node by host name.
func (w *World) Node(host string) (Node, bool) {
	for _, n := range w.Nodes {
		if n.Name == host {
			return n, true
		}
	}
	return Node{}, false
}
