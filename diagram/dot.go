package diagram

import (
	"fmt"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// Dot draws the same picture as Mermaid in Graphviz's dot language: one
// cluster per box (VPC, AZ, node), the same vertices, edges and colours.
// Render it with `dot -Tsvg`.
func Dot(w *topology.World, targets []topology.TargetHealth) string {
	g := build(w, targets)
	var b strings.Builder
	b.WriteString("digraph nlbsim {\n")
	fmt.Fprintf(&b, "    graph [label=%s, labelloc=t, rankdir=LR, newrank=true, fontname=\"Helvetica\", fontsize=12];\n", dotQuote(g.title))
	b.WriteString("    node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\"];\n")
	b.WriteString("    edge [fontname=\"Helvetica\", fontsize=9];\n")
	writeDotGroup(&b, g.vpc, 1)
	for _, e := range g.edges {
		fmt.Fprintf(&b, "    %s -> %s [label=%s, %s];\n", dotQuote(e.from), dotQuote(e.to), dotQuote(e.label), dotEdgeStyle(e.kind))
	}
	b.WriteString("}\n")
	return b.String()
}

func writeDotGroup(b *strings.Builder, grp *group, depth int) {
	indent := strings.Repeat("    ", depth)
	fmt.Fprintf(b, "%ssubgraph %s {\n", indent, dotQuote("cluster_"+grp.id))
	fmt.Fprintf(b, "%s    label=%s;\n", indent, dotQuote(grp.label))
	if grp.kind == kindNode {
		fmt.Fprintf(b, "%s    style=\"dashed,rounded\"; color=\"#6a1b9a\";\n", indent)
	} else {
		fmt.Fprintf(b, "%s    style=rounded; color=\"#78909c\";\n", indent)
	}
	for _, v := range grp.vertices {
		fmt.Fprintf(b, "%s    %s [label=%s, %s];\n", indent, dotQuote(v.id), dotQuote(strings.Join(v.lines, "\n")), dotVertexStyle(v.kind))
	}
	for _, sub := range grp.groups {
		writeDotGroup(b, sub, depth+1)
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

func dotVertexStyle(k kind) string {
	switch k {
	case kindClient:
		return `shape=box, fillcolor="#e3f2fd", color="#1565c0"`
	case kindVPC:
		return `shape=cylinder, style=filled, fillcolor="#eceff1", color="#546e7a"`
	case kindNLB:
		return `shape=hexagon, style=filled, fillcolor="#ffe0b2", color="#e65100"`
	case kindNode:
		return `shape=box3d, style=filled, fillcolor="#f3e5f5", color="#6a1b9a"`
	case kindPod:
		return `fillcolor="#e8f5e9", color="#2e7d32"`
	case kindControlPlane:
		return `fillcolor="#fafafa", color="#9e9e9e"`
	}
	return `fillcolor="#ffebee", color="#c62828", style="rounded,filled,dashed"`
}

func dotEdgeStyle(k edgeKind) string {
	switch k {
	case edgeClient:
		return `color="#1565c0", fontcolor="#1565c0", style=dotted`
	case edgeHealthy:
		return `color="#2e7d32", fontcolor="#2e7d32", penwidth=2`
	case edgeUnhealthy:
		return `color="#c62828", fontcolor="#c62828", penwidth=2`
	case edgeKubeProxy:
		return `color="#6a1b9a", fontcolor="#6a1b9a", style=dashed`
	}
	return `color="#9e9e9e", fontcolor="#616161", style=dashed, penwidth=2`
}

// dotQuote is a dot ID in double quotes; a newline becomes dot's centred
// line break.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
