// Package diagram draws an nlbsim world as a picture: the VPC, one box per
// AZ subnet, the NLB's node in each AZ with its address, the nodes with their
// pods, and the target registrations of every NLB with their health. It
// renders Mermaid flowcharts (which GitHub shows inline) and Graphviz dot.
//
// The picture shows the path a new connection can take, so that the target
// modes can be compared side by side: in ip mode each NLB node points
// straight at pod IPs; in instance mode it points at the nodes' NodePort, and
// each node points on at the pods kube-proxy may DNAT to.
//
// Rendering is pure: it reads a topology.World and the targets' health and
// never touches the machine.
package diagram

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// kind is what a vertex or a group stands for; it picks its shape and colour.
type kind int

const (
	kindClient kind = iota
	kindVPC
	kindNLB
	kindNode
	kindPod
	kindControlPlane
	kindOther // a target whose host the world no longer has
)

// className is the style class of a kind (not "node" or "cluster", which
// Mermaid uses itself).
func (k kind) className() string {
	switch k {
	case kindClient:
		return "clientHost"
	case kindVPC:
		return "vpcRouter"
	case kindNLB:
		return "nlbNode"
	case kindNode:
		return "k8sNode"
	case kindPod:
		return "k8sPod"
	case kindControlPlane:
		return "eksENI"
	}
	return "goneTarget"
}

// edgeKind is how an edge is drawn.
type edgeKind int

const (
	edgeClient    edgeKind = iota // the client to an NLB node (DNS answer)
	edgeHealthy                   // NLB node to a healthy target
	edgeUnhealthy                 // NLB node to an unhealthy target
	edgeOther                     // NLB node to a target in initial, draining or unused state, or of unknown health
	edgeKubeProxy                 // a node's kube-proxy DNAT to a pod (instance targets)
)

type vertex struct {
	id    string
	host  string   // the host it stands for, as trace and exec name it
	lines []string // the label, one entry per line
	kind  kind
}

type group struct {
	id       string
	label    string
	kind     kind // kindVPC for the VPC and AZ boxes, kindNode for a node's box
	vertices []*vertex
	groups   []*group
}

type edge struct {
	from, to string
	label    string
	kind     edgeKind
}

// graph is the picture, independent of the rendering.
type graph struct {
	title string
	vpc   *group
	edges []edge
}

// build lays out the world. targets is the target groups' health as the
// supervisor last wrote it (sim.LoadTargets); when it holds nothing for an
// NLB, the NLB's registrations are drawn with unknown health.
func build(w *topology.World, targets []topology.TargetHealth) *graph {
	ids := idMaker{used: map[string]bool{}}
	g := &graph{title: title(w)}
	g.vpc = &group{id: ids.make("vpc"), kind: kindVPC,
		label: fmt.Sprintf("VPC %s · %s · %s", w.Cluster.VPC, w.Cluster.Name, w.Cluster.Region)}

	vertexOf := map[string]*vertex{} // host name → vertex
	add := func(grp *group, host string, v *vertex) {
		v.host = host
		grp.vertices = append(grp.vertices, v)
		vertexOf[host] = v
	}

	if w.Cluster.Resolver.IsValid() {
		add(g.vpc, topology.VPCHost, &vertex{id: ids.make("vpc_router"), kind: kindVPC,
			lines: []string{"VPC router", "resolver " + w.Cluster.Resolver.String()}})
	}

	azGroup := map[string]*group{}
	for _, s := range w.Subnets {
		grp := &group{id: ids.make("az_" + s.Letter), kind: kindVPC, label: fmt.Sprintf("%s · %s", s.AZ, s.CIDR)}
		azGroup[s.AZ] = grp
		g.vpc.groups = append(g.vpc.groups, grp)
	}
	// in puts a host into its AZ's box, or into the VPC's when its AZ is
	// not one of the subnets.
	in := func(az string) *group {
		if grp, ok := azGroup[az]; ok {
			return grp
		}
		return g.vpc
	}

	if w.Bastion.IP.IsValid() {
		add(in(w.Bastion.AZ), w.Bastion.Name, &vertex{id: ids.make(w.Bastion.Name), kind: kindClient,
			lines: []string{w.Bastion.Name + " (client)", w.Bastion.IP.String()}})
	}
	for _, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			add(in(n.AZ), n.Name, &vertex{id: ids.make(n.Name), kind: kindNLB,
				lines: []string{n.Name + " (NLB)", n.IP.String()}})
		}
	}
	for _, c := range w.ControlPlane {
		add(in(c.AZ), c.Name, &vertex{id: ids.make(c.Name), kind: kindControlPlane,
			lines: []string{c.Name + " (EKS ENI)", c.IP.String()}})
	}
	nodeGroup := map[string]*group{}
	for _, n := range w.Nodes {
		grp := &group{id: ids.make("box_" + n.Name), kind: kindNode, label: n.Name + " · " + n.ShortName()}
		nodeGroup[n.Name] = grp
		in(n.AZ).groups = append(in(n.AZ).groups, grp)
		add(grp, n.Name, &vertex{id: ids.make(n.Name), kind: kindNode,
			lines: []string{n.Name + " " + n.IP.String(), n.InstanceID}})
	}
	var pending []topology.Pod
	for _, p := range w.Pods {
		grp, ok := nodeGroup[p.Node]
		if !p.Running() || !ok {
			pending = append(pending, p)
			continue
		}
		add(grp, p.Name, &vertex{id: ids.make(p.Name), kind: kindPod,
			lines: []string{p.Name, p.IP.String()}})
	}
	if len(pending) > 0 {
		grp := &group{id: ids.make("pending"), kind: kindVPC, label: "Pending pods (no node, no address)"}
		for _, p := range pending {
			grp.vertices = append(grp.vertices, &vertex{id: ids.make(p.Name), kind: kindPod,
				lines: []string{p.Name, p.Phase}})
		}
		g.vpc.groups = append(g.vpc.groups, grp)
	}

	seen := map[edge]bool{}
	addEdge := func(e edge) {
		if !seen[e] {
			seen[e] = true
			g.edges = append(g.edges, e)
		}
	}
	var hops []edge // the nodes' kube-proxy edges, drawn after the NLB's
	byLB := targetsByNLB(w, targets)
	for _, lb := range w.LoadBalancers {
		svc, _ := service(w, lb)
		if client, ok := vertexOf[w.Bastion.Name]; ok {
			for _, n := range lb.Nodes {
				addEdge(edge{from: client.id, to: vertexOf[n.Name].id, kind: edgeClient, label: listeners(svc)})
			}
		}
		for _, t := range byLB[lb.Name] {
			to, ok := vertexOf[t.Host]
			if !ok {
				to = &vertex{id: ids.make("target_" + t.ID), kind: kindOther,
					lines: []string{"target " + t.ID, "(no such host)"}}
				grp := in(t.AZ)
				grp.vertices = append(grp.vertices, to)
				vertexOf[t.Host] = to
			}
			for _, n := range lb.Nodes {
				if !lb.CrossZone && n.AZ != t.AZ {
					continue
				}
				addEdge(edge{from: vertexOf[n.Name].id, to: to.id, kind: stateEdge(t.State), label: targetLabel(t)})
			}
			if lb.TargetType != topology.TargetInstance {
				continue
			}
			// The node's kube-proxy spreads what arrives on the NodePort
			// over the Service's ready endpoints (its own only, with
			// externalTrafficPolicy Local).
			port, ok := servicePort(svc, t.ListenerPort)
			if !ok {
				continue
			}
			var eps []topology.Endpoint
			for _, e := range w.Endpoints(svc, port) {
				if e.Ready && (svc.ExternalTrafficPolicy != topology.PolicyLocal || e.Node == t.Node) {
					eps = append(eps, e)
				}
			}
			for _, e := range eps {
				if pv, ok := vertexOf[e.Pod]; ok {
					hops = append(hops, edge{from: to.id, to: pv.id, kind: edgeKubeProxy,
						label: fmt.Sprintf("kube-proxy 1/%d", len(eps))})
				}
			}
		}
	}
	for _, e := range hops {
		addEdge(e)
	}
	return g
}

// title sums up the NLBs: name, target type and the settings that change
// the path.
func title(w *topology.World) string {
	if len(w.LoadBalancers) == 0 {
		return w.Cluster.Name + ": no NLB"
	}
	var parts []string
	for _, lb := range w.LoadBalancers {
		cz, pc := "off", "off"
		if lb.CrossZone {
			cz = "on"
		}
		if lb.PreserveClientIP {
			pc = "on"
		}
		s := fmt.Sprintf("NLB %s: %s targets, cross-zone %s, client IP preservation %s", lb.Name, lb.TargetType, cz, pc)
		if svc, ok := service(w, lb); ok && svc.ExternalTrafficPolicy == topology.PolicyLocal {
			s += ", externalTrafficPolicy Local"
		}
		parts = append(parts, s)
	}
	return w.Cluster.Name + " · " + strings.Join(parts, "; ")
}

func service(w *topology.World, lb topology.NLB) (topology.Service, bool) {
	for _, s := range w.Services {
		if s.Key() == lb.Service {
			return s, true
		}
	}
	return topology.Service{}, false
}

func servicePort(svc topology.Service, port int) (topology.ServicePort, bool) {
	for _, p := range svc.Ports {
		if p.Port == port {
			return p, true
		}
	}
	return topology.ServicePort{}, false
}

// listeners is the label of the client's edges: the NLB's listener ports.
func listeners(svc topology.Service) string {
	var ports []string
	for _, p := range svc.Ports {
		ports = append(ports, fmt.Sprintf(":%d", p.Port))
	}
	return "DNS → " + strings.Join(ports, ",")
}

// targetsByNLB sorts the targets' health into their NLBs by target group
// name; an NLB with no health recorded gets its registrations with unknown
// state.
func targetsByNLB(w *topology.World, targets []topology.TargetHealth) map[string][]topology.TargetHealth {
	groupOwner := map[string]string{}
	for _, lb := range w.LoadBalancers {
		svc, _ := service(w, lb)
		for i, p := range svc.Ports {
			groupOwner[topology.TargetGroupName(lb, p, i == 0)] = lb.Name
		}
	}
	out := map[string][]topology.TargetHealth{}
	for _, t := range targets {
		if lb, ok := groupOwner[t.TargetGroup]; ok {
			out[lb] = append(out[lb], t)
		}
	}
	for _, lb := range w.LoadBalancers {
		if len(out[lb.Name]) > 0 {
			continue
		}
		for _, t := range w.Targets(lb) {
			out[lb.Name] = append(out[lb.Name], topology.TargetHealth{Target: t})
		}
	}
	for _, ts := range out {
		sort.SliceStable(ts, func(i, j int) bool {
			if ts[i].TargetGroup != ts[j].TargetGroup {
				return ts[i].TargetGroup < ts[j].TargetGroup
			}
			return ts[i].IP.Less(ts[j].IP)
		})
	}
	return out
}

func stateEdge(s topology.TargetState) edgeKind {
	switch s {
	case topology.TargetHealthy:
		return edgeHealthy
	case topology.TargetUnhealthy:
		return edgeUnhealthy
	}
	return edgeOther
}

// targetLabel is an NLB node's edge to a target: the port traffic goes to
// and the target's state.
func targetLabel(t topology.TargetHealth) string {
	state := string(t.State)
	if state == "" {
		state = "registered"
	}
	return fmt.Sprintf(":%d %s", t.Port, state)
}

// idMaker turns names into identifiers both renderings accept: letters,
// digits and '_', unique within one picture, never a Mermaid keyword, and
// never starting with a digit, 'o' or 'x' (which Mermaid can read as the
// end of an arrow: --o, --x).
type idMaker struct{ used map[string]bool }

var mermaidKeywords = map[string]bool{
	"end": true, "graph": true, "flowchart": true, "subgraph": true, "style": true, "linkstyle": true,
	"classdef": true, "class": true, "click": true, "call": true, "href": true, "direction": true,
	"default": true, "interpolate": true, "acctitle": true, "accdescr": true,
}

func (m idMaker) make(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := b.String()
	if base == "" || strings.ContainsRune("0123456789_oOxX", rune(base[0])) || mermaidKeywords[strings.ToLower(base)] {
		base = "h_" + base
	}
	id := base
	for i := 2; m.used[id]; i++ {
		id = fmt.Sprintf("%s_%d", base, i)
	}
	m.used[id] = true
	return id
}
