package diagram

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// Mermaid draws the world as a Mermaid flowchart (left to right) that GitHub
// renders inline: the VPC box holds one box per AZ subnet, which holds the
// bastion, the NLB's node, the control-plane ENIs and one box per node with
// its pods. Edges go from the client to each NLB node, from each NLB node to
// the targets it can send to (its own AZ's, or all with cross-zone on),
// labelled with port and state (green healthy, red unhealthy, grey
// otherwise), and in instance mode from each node to the pods kube-proxy may
// DNAT to (dashed). targets is sim.LoadTargets' answer; nil draws the
// registrations with unknown health.
func Mermaid(w *topology.World, targets []topology.TargetHealth) string {
	g := build(w, targets)
	var b strings.Builder
	fmt.Fprintf(&b, "---\ntitle: %s\n---\n", yamlQuote(g.title))
	b.WriteString("flowchart LR\n")
	writeMermaidGroup(&b, g.vpc, 1)

	var byKind [5][]string
	for i, e := range g.edges {
		arrow := "-->"
		switch e.kind {
		case edgeClient, edgeKubeProxy:
			arrow = "-.->"
		case edgeHealthy:
			arrow = "==>"
		}
		fmt.Fprintf(&b, "    %s %s|\"%s\"| %s\n", e.from, arrow, mermaidText(e.label), e.to)
		byKind[e.kind] = append(byKind[e.kind], strconv.Itoa(i))
	}

	b.WriteString("    classDef clientHost fill:#e3f2fd,stroke:#1565c0,color:#0d47a1\n")
	b.WriteString("    classDef vpcRouter fill:#eceff1,stroke:#546e7a,color:#263238\n")
	b.WriteString("    classDef nlbNode fill:#ffe0b2,stroke:#e65100,color:#3e2723\n")
	b.WriteString("    classDef k8sNode fill:#f3e5f5,stroke:#6a1b9a,color:#4a148c\n")
	b.WriteString("    classDef k8sPod fill:#e8f5e9,stroke:#2e7d32,color:#1b5e20\n")
	b.WriteString("    classDef eksENI fill:#fafafa,stroke:#9e9e9e,color:#424242\n")
	b.WriteString("    classDef goneTarget fill:#ffebee,stroke:#c62828,color:#b71c1c,stroke-dasharray:4 3\n")
	classes := map[string][]string{}
	var order []string
	var collect func(grp *group)
	collect = func(grp *group) {
		for _, v := range grp.vertices {
			c := v.kind.className()
			if _, ok := classes[c]; !ok {
				order = append(order, c)
			}
			classes[c] = append(classes[c], v.id)
		}
		for _, sub := range grp.groups {
			collect(sub)
		}
	}
	collect(g.vpc)
	for _, c := range order {
		fmt.Fprintf(&b, "    class %s %s\n", strings.Join(classes[c], ","), c)
	}
	styles := [5]string{
		edgeClient:    "stroke:#1565c0,stroke-width:1px",
		edgeHealthy:   "stroke:#2e7d32,stroke-width:2px",
		edgeUnhealthy: "stroke:#c62828,stroke-width:2px",
		edgeOther:     "stroke:#9e9e9e,stroke-width:2px,stroke-dasharray:6 4",
		edgeKubeProxy: "stroke:#6a1b9a,stroke-width:1px",
	}
	for k, idx := range byKind {
		if len(idx) > 0 {
			fmt.Fprintf(&b, "    linkStyle %s %s\n", strings.Join(idx, ","), styles[k])
		}
	}
	return b.String()
}

// writeMermaidGroup writes a box and everything in it.
func writeMermaidGroup(b *strings.Builder, grp *group, depth int) {
	indent := strings.Repeat("    ", depth)
	fmt.Fprintf(b, "%ssubgraph %s[\"%s\"]\n", indent, grp.id, mermaidText(grp.label))
	for _, v := range grp.vertices {
		open, closing := mermaidShape(v.kind)
		lines := make([]string, len(v.lines))
		for i, l := range v.lines {
			lines[i] = mermaidText(l)
		}
		fmt.Fprintf(b, "%s    %s%s\"%s\"%s\n", indent, v.id, open, strings.Join(lines, "<br/>"), closing)
	}
	for _, sub := range grp.groups {
		writeMermaidGroup(b, sub, depth+1)
	}
	fmt.Fprintf(b, "%send\n", indent)
	switch grp.kind {
	case kindNode:
		fmt.Fprintf(b, "%sstyle %s fill:#fbf7fc,stroke:#6a1b9a,stroke-dasharray:3 3\n", indent, grp.id)
	default:
		fmt.Fprintf(b, "%sstyle %s fill:#fcfcfc,stroke:#78909c\n", indent, grp.id)
	}
}

func mermaidShape(k kind) (string, string) {
	switch k {
	case kindClient:
		return "([", "])"
	case kindVPC:
		return "[(", ")]"
	case kindNLB:
		return "{{", "}}"
	case kindNode:
		return "[[", "]]"
	case kindPod:
		return "(", ")"
	}
	return "[", "]"
}

// mermaidText makes text safe inside a quoted Mermaid label: quotes, pipes
// and angle brackets become entity codes (the only markup is the <br/> this
// package adds between lines).
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "|", "#124;", "<", "#lt;", ">", "#gt;", "#", "#35;").Replace(s)
}

// yamlQuote is a YAML double-quoted scalar, for the front matter's title.
func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
