package diagram

import "github.com/nlbsim/nlbsim/topology"

// Graph is the picture as data, for renderers outside this package (the
// browser view of `nlbsim ui`): the same boxes, vertices and edges that
// Mermaid and Graphviz draw.
type Graph struct {
	Title string `json:"title"`
	VPC   Group  `json:"vpc"`
	Edges []Edge `json:"edges"`
}

// Group is a box: the VPC, an AZ subnet, a node with its pods.
type Group struct {
	ID       string   `json:"id"`
	Label    string   `json:"label"`
	Kind     string   `json:"kind"`
	Vertices []Vertex `json:"vertices"`
	Groups   []Group  `json:"groups"`
}

// Vertex is a host: Host is its name as trace and exec take it (empty for
// a pending pod or a target whose host is gone).
type Vertex struct {
	ID    string   `json:"id"`
	Host  string   `json:"host"`
	Kind  string   `json:"kind"`
	Lines []string `json:"lines"`
}

// Edge is a path a new connection can take; Kind is client, healthy,
// unhealthy, other (initial, draining, unused or unknown) or kube-proxy.
type Edge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label"`
	Kind  string `json:"kind"`
}

// Model lays out the world as Mermaid and Dot do and returns it as data.
func Model(w *topology.World, targets []topology.TargetHealth) Graph {
	g := build(w, targets)
	out := Graph{Title: g.title, VPC: exportGroup(g.vpc), Edges: []Edge{}}
	for _, e := range g.edges {
		out.Edges = append(out.Edges, Edge{From: e.from, To: e.to, Label: e.label, Kind: e.kind.name()})
	}
	return out
}

func exportGroup(g *group) Group {
	out := Group{ID: g.id, Label: g.label, Kind: g.kind.className(), Vertices: []Vertex{}, Groups: []Group{}}
	for _, v := range g.vertices {
		out.Vertices = append(out.Vertices, Vertex{ID: v.id, Host: v.host, Kind: v.kind.className(), Lines: v.lines})
	}
	for _, sub := range g.groups {
		out.Groups = append(out.Groups, exportGroup(sub))
	}
	return out
}

func (k edgeKind) name() string {
	switch k {
	case edgeClient:
		return "client"
	case edgeHealthy:
		return "healthy"
	case edgeUnhealthy:
		return "unhealthy"
	case edgeKubeProxy:
		return "kube-proxy"
	}
	return "other"
}
