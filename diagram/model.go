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
	b := &builder{w: w, ids: idMaker{used: map[string]bool{}}, vertexOf: map[string]*vertex{},
		azGroup: map[string]*group{}, seen: map[edge]bool{}}
	b.g = &graph{title: title(w)}
	b.g.vpc = &group{id: b.ids.make("vpc"), kind: kindVPC,
		label: fmt.Sprintf("VPC %s · %s · %s", w.Cluster.VPC, w.Cluster.Name, w.Cluster.Region)}
	b.hosts()
	b.nodesAndPods()
	b.loadBalancerEdges(targetsByNLB(w, targets))
	return b.g
}

// builder makes one graph: the boxes and vertices first, then the edges.
type builder struct {
	w        *topology.World
	g        *graph
	ids      idMaker
	vertexOf map[string]*vertex // host name → vertex
	azGroup  map[string]*group  // AZ → its box
	seen     map[edge]bool
	hops     []edge // the nodes' kube-proxy edges, drawn after the NLB's
}

func (b *builder) add(grp *group, host string, v *vertex) {
	v.host = host
	grp.vertices = append(grp.vertices, v)
	b.vertexOf[host] = v
}

// in is a host's AZ box, or the VPC's when its AZ is not one of the
// subnets.
func (b *builder) in(az string) *group {
	if grp, ok := b.azGroup[az]; ok {
		return grp
	}
	return b.g.vpc
}

func (b *builder) addEdge(e edge) {
	if !b.seen[e] {
		b.seen[e] = true
		b.g.edges = append(b.g.edges, e)
	}
}

// hosts draws the VPC router, an AZ box per subnet, the bastion, the NLB
// nodes and the control plane's ENIs.
func (b *builder) hosts() {
	w, ids := b.w, &b.ids
	if w.Cluster.Resolver.IsValid() {
		b.add(b.g.vpc, topology.VPCHost, &vertex{id: ids.make("vpc_router"), kind: kindVPC,
			lines: []string{"VPC router", "resolver " + w.Cluster.Resolver.String()}})
	}
	for _, s := range w.Subnets {
		grp := &group{id: ids.make("az_" + s.Letter), kind: kindVPC, label: fmt.Sprintf("%s · %s", s.AZ, s.CIDR)}
		b.azGroup[s.AZ] = grp
		b.g.vpc.groups = append(b.g.vpc.groups, grp)
	}
	if w.Bastion.IP.IsValid() {
		b.add(b.in(w.Bastion.AZ), w.Bastion.Name, &vertex{id: ids.make(w.Bastion.Name), kind: kindClient,
			lines: []string{w.Bastion.Name + " (client)", w.Bastion.IP.String()}})
	}
	for _, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			b.add(b.in(n.AZ), n.Name, &vertex{id: ids.make(n.Name), kind: kindNLB,
				lines: []string{n.Name + " (NLB)", n.IP.String()}})
		}
	}
	for _, c := range w.ControlPlane {
		b.add(b.in(c.AZ), c.Name, &vertex{id: ids.make(c.Name), kind: kindControlPlane,
			lines: []string{c.Name + " (EKS ENI)", c.IP.String()}})
	}
}

// nodesAndPods draws a box per node with its pods, and one for the pods
// that have no node.
func (b *builder) nodesAndPods() {
	w, ids := b.w, &b.ids
	nodeGroup := map[string]*group{}
	for _, n := range w.Nodes {
		grp := &group{id: ids.make("box_" + n.Name), kind: kindNode, label: n.Name + " · " + n.ShortName()}
		nodeGroup[n.Name] = grp
		b.in(n.AZ).groups = append(b.in(n.AZ).groups, grp)
		b.add(grp, n.Name, &vertex{id: ids.make(n.Name), kind: kindNode,
			lines: []string{n.Name + " " + n.IP.String(), n.InstanceID}})
	}
	var pending []topology.Pod
	for _, p := range w.Pods {
		grp, ok := nodeGroup[p.Node]
		if !p.Running() || !ok {
			pending = append(pending, p)
			continue
		}
		b.add(grp, p.Name, &vertex{id: ids.make(p.Name), kind: kindPod,
			lines: []string{p.Name, p.IP.String()}})
	}
	if len(pending) > 0 {
		grp := &group{id: ids.make("pending"), kind: kindVPC, label: "Pending pods (no node, no address)"}
		for _, p := range pending {
			grp.vertices = append(grp.vertices, &vertex{id: ids.make(p.Name), kind: kindPod,
				lines: []string{p.Name, p.Phase}})
		}
		b.g.vpc.groups = append(b.g.vpc.groups, grp)
	}
}

// loadBalancerEdges draws, per NLB, the client's edges to its nodes, each
// node's edges to the targets it may send to (colored by their state), and
// in instance mode each target node's kube-proxy spread over the pods.
func (b *builder) loadBalancerEdges(byLB map[string][]topology.TargetHealth) {
	w := b.w
	for _, lb := range w.LoadBalancers {
		svc, _ := service(w, lb)
		if client, ok := b.vertexOf[w.Bastion.Name]; ok {
			for _, n := range lb.Nodes {
				b.addEdge(edge{from: client.id, to: b.vertexOf[n.Name].id, kind: edgeClient, label: listeners(svc)})
			}
		}
		for _, t := range byLB[lb.Name] {
			to, ok := b.vertexOf[t.Host]
			if !ok {
				to = &vertex{id: b.ids.make("target_" + t.ID), kind: kindOther,
					lines: []string{"target " + t.ID, "(no such host)"}}
				grp := b.in(t.AZ)
				grp.vertices = append(grp.vertices, to)
				b.vertexOf[t.Host] = to
			}
			for _, n := range lb.Nodes {
				if !lb.CrossZone && n.AZ != t.AZ {
					continue
				}
				b.addEdge(edge{from: b.vertexOf[n.Name].id, to: to.id, kind: stateEdge(t.State), label: targetLabel(t)})
			}
			if lb.TargetType == topology.TargetInstance {
				b.kubeProxyHops(svc, t, to)
			}
		}
	}
	for _, e := range b.hops {
		b.addEdge(e)
	}
}

// kubeProxyHops records a target node's kube-proxy spread: what arrives on
// the NodePort goes to the Service's ready endpoints (its own only, with
// externalTrafficPolicy Local).
func (b *builder) kubeProxyHops(svc topology.Service, t topology.TargetHealth, node *vertex) {
	port, ok := servicePort(svc, t.ListenerPort)
	if !ok {
		return
	}
	var eps []topology.Endpoint
	for _, e := range b.w.Endpoints(svc, port) {
		if e.Ready && (svc.ExternalTrafficPolicy != topology.PolicyLocal || e.Node == t.Node) {
			eps = append(eps, e)
		}
	}
	for _, e := range eps {
		if pv, ok := b.vertexOf[e.Pod]; ok {
			b.hops = append(b.hops, edge{from: node.id, to: pv.id, kind: edgeKubeProxy,
				label: fmt.Sprintf("kube-proxy 1/%d", len(eps))})
		}
	}
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
