package diagram

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// world builds the walkthrough's world with changes to the spec.
func world(t *testing.T, change func(*topology.Spec)) *topology.World {
	t.Helper()
	spec := topology.DefaultSpec()
	if change != nil {
		change(&spec)
	}
	w, err := topology.Build(spec)
	require.NoError(t, err)
	return w
}

// health registers the world's targets with one state, then applies
// per-target overrides (by target ID).
func health(w *topology.World, state topology.TargetState, override map[string]topology.TargetState) []topology.TargetHealth {
	var out []topology.TargetHealth
	for _, lb := range w.LoadBalancers {
		for _, t := range w.Targets(lb) {
			s := state
			if o, ok := override[t.ID]; ok {
				s = o
			}
			out = append(out, topology.TargetHealth{Target: t, State: s})
		}
	}
	return out
}

func instance(s *topology.Spec) { s.Mode = topology.TargetInstance }

// mermaidGraph is what checkMermaid reads back from a flowchart.
type mermaidGraph struct {
	vertices map[string]string // id → label
	groups   map[string]string // subgraph id → label
	parent   map[string]string // vertex or subgraph id → enclosing subgraph id
	edges    []edge            // with the label as written
	arrows   []string
	styles   map[int]string // edge index → linkStyle
}

var (
	mermaidID     = `[A-Za-z][A-Za-z0-9_]*`
	reSubgraph    = regexp.MustCompile(`^subgraph (` + mermaidID + `)\["([^"]*)"\]$`)
	reVertex      = regexp.MustCompile(`^(` + mermaidID + `)(\(\[|\[\(|\{\{|\[\[|\(|\[)"([^"]*)"(\]\)|\)\]|\}\}|\]\]|\)|\])$`)
	reEdge        = regexp.MustCompile(`^(` + mermaidID + `) (-->|==>|-\.->)\|"([^"|]*)"\| (` + mermaidID + `)$`)
	reClassDef    = regexp.MustCompile(`^classDef (` + mermaidID + `) \S+(?: \S+)*$`)
	reClass       = regexp.MustCompile(`^class (` + mermaidID + `(?:,` + mermaidID + `)*) (` + mermaidID + `)$`)
	reLinkStyle   = regexp.MustCompile(`^linkStyle ([0-9]+(?:,[0-9]+)*) (\S+(?: \S+)*)$`)
	reStyle       = regexp.MustCompile(`^style (` + mermaidID + `) \S+(?: \S+)*$`)
	shapesMatched = map[string]string{"([": "])", "[(": ")]", "{{": "}}", "[[": "]]", "(": ")", "[": "]"}
)

// checkMermaid checks that out is a well-formed flowchart as this package
// writes it (every line one of the known statements, subgraphs balanced,
// identifiers declared once and never a keyword, edges between declared
// vertices, every edge styled once) and returns what it declares.
func checkMermaid(t *testing.T, out string) mermaidGraph {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	require.Equal(t, "---", lines[0])
	require.Regexp(t, `^title: "[^"\\]*"$`, lines[1])
	require.Equal(t, "---", lines[2])
	require.Equal(t, "flowchart LR", lines[3])

	g := mermaidGraph{vertices: map[string]string{}, groups: map[string]string{}, parent: map[string]string{}, styles: map[int]string{}}
	classDefs := map[string]bool{}
	declared := map[string]bool{}
	declare := func(id string) {
		require.False(t, declared[id], "%s declared twice", id)
		require.False(t, mermaidKeywords[strings.ToLower(id)], "%s is a keyword", id)
		require.NotContains(t, "oOxX", id[:1], "%s starts like an arrow head", id)
		declared[id] = true
	}
	var stack []string
	top := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1]
	}
	for i, raw := range lines[4:] {
		line := strings.TrimSpace(raw)
		where := fmt.Sprintf("line %d: %q", i+5, raw)
		switch {
		case line == "end":
			require.NotEmpty(t, stack, where)
			stack = stack[:len(stack)-1]
		case reSubgraph.MatchString(line):
			m := reSubgraph.FindStringSubmatch(line)
			declare(m[1])
			g.groups[m[1]], g.parent[m[1]] = m[2], top()
			stack = append(stack, m[1])
		case reEdge.MatchString(line):
			m := reEdge.FindStringSubmatch(line)
			require.Empty(t, stack, "edges come after every subgraph: %s", where)
			require.Contains(t, g.vertices, m[1], where)
			require.Contains(t, g.vertices, m[4], where)
			g.edges = append(g.edges, edge{from: m[1], to: m[4], label: m[3]})
			g.arrows = append(g.arrows, m[2])
		case reVertex.MatchString(line):
			m := reVertex.FindStringSubmatch(line)
			require.Equal(t, shapesMatched[m[2]], m[4], "shape brackets match: %s", where)
			require.NotEmpty(t, stack, "every vertex is in a box: %s", where)
			declare(m[1])
			g.vertices[m[1]], g.parent[m[1]] = m[3], top()
		case reClassDef.MatchString(line):
			classDefs[reClassDef.FindStringSubmatch(line)[1]] = true
		case reClass.MatchString(line):
			m := reClass.FindStringSubmatch(line)
			require.True(t, classDefs[m[2]], "class %s defined before use: %s", m[2], where)
			require.NotContains(t, []string{"node", "cluster", "default"}, m[2], "Mermaid's own class names")
			for _, id := range strings.Split(m[1], ",") {
				require.Contains(t, g.vertices, id, where)
			}
		case reLinkStyle.MatchString(line):
			m := reLinkStyle.FindStringSubmatch(line)
			for _, s := range strings.Split(m[1], ",") {
				n, err := strconv.Atoi(s)
				require.NoError(t, err)
				require.Less(t, n, len(g.edges), where)
				require.NotContains(t, g.styles, n, "edge %d styled twice", n)
				g.styles[n] = m[2]
			}
		case reStyle.MatchString(line):
			require.Contains(t, g.groups, reStyle.FindStringSubmatch(line)[1], where)
		default:
			t.Fatalf("not a statement this package writes: %s", where)
		}
	}
	require.Empty(t, stack, "every subgraph ends")
	require.Len(t, g.styles, len(g.edges), "every edge has a linkStyle")
	return g
}

// vertexWith finds the one vertex whose label contains s.
func (g mermaidGraph) vertexWith(t *testing.T, s string) string {
	t.Helper()
	var found []string
	for id, label := range g.vertices {
		if strings.Contains(label, s) {
			found = append(found, id)
		}
	}
	require.Len(t, found, 1, "vertices labelled %q", s)
	return found[0]
}

// edgesFrom lists the edges leaving a vertex as "label → target id".
func (g mermaidGraph) edgesFrom(id string) []string {
	var out []string
	for _, e := range g.edges {
		if e.from == id {
			out = append(out, e.label+" → "+e.to)
		}
	}
	return out
}

// azOf is the AZ box a vertex sits in, however deep.
func (g mermaidGraph) azOf(id string) string {
	for p := g.parent[id]; p != ""; p = g.parent[p] {
		if strings.HasPrefix(g.groups[p], "ap-northeast-2") {
			return g.groups[p]
		}
	}
	return ""
}

func TestMermaidIPMode(t *testing.T) {
	w := world(t, nil)
	out := Mermaid(w, health(w, topology.TargetHealthy, nil))
	g := checkMermaid(t, out)

	assert.Contains(t, out, "ip targets, cross-zone off, client IP preservation off")
	for az, want := range map[string]string{
		"ap-northeast-2a · 192.168.1.0/24": "192.168.1.51",
		"ap-northeast-2b · 192.168.2.0/24": "192.168.2.149",
		"ap-northeast-2c · 192.168.3.0/24": "192.168.3.171",
	} {
		nlb := g.vertexWith(t, want)
		assert.Equal(t, az, g.azOf(nlb), "the NLB node %s sits in its AZ", want)
	}
	assert.Equal(t, "VPC 192.168.0.0/16 · myeks · ap-northeast-2", g.groups["vpc"])

	// Each NLB node goes straight to the pod of its AZ: no node in between.
	nlbB, pod2 := g.vertexWith(t, "192.168.2.149"), g.vertexWith(t, "192.168.2.206")
	assert.Equal(t, []string{":7777 healthy → " + pod2}, g.edgesFrom(nlbB))
	assert.Equal(t, "ap-northeast-2b · 192.168.2.0/24", g.azOf(pod2))
	assert.Equal(t, "node-2 · ip-192-168-2-146", g.groups[g.parent[pod2]], "pods sit in their node's box")
	for _, ip := range []string{"192.168.1.118", "192.168.2.146", "192.168.3.137"} {
		assert.Empty(t, g.edgesFrom(g.vertexWith(t, ip)), "no node forwards in ip mode")
	}
	bastion := g.vertexWith(t, "192.168.1.100")
	assert.Len(t, g.edgesFrom(bastion), 3, "the client reaches every NLB node through DNS")
	assert.Len(t, g.edges, 6)
	for i, e := range g.edges {
		if strings.Contains(e.label, "healthy") {
			assert.Equal(t, "==>", g.arrows[i])
			assert.Contains(t, g.styles[i], "#2e7d32", "healthy edges are green")
		}
	}
}

func TestMermaidInstanceMode(t *testing.T) {
	w := world(t, instance)
	out := Mermaid(w, health(w, topology.TargetHealthy, nil))
	g := checkMermaid(t, out)

	assert.Contains(t, out, "instance targets, cross-zone off, client IP preservation on")
	nlbB, node2 := g.vertexWith(t, "192.168.2.149"), g.vertexWith(t, "192.168.2.146")
	assert.Equal(t, []string{":32392 healthy → " + node2}, g.edgesFrom(nlbB), "NLB node → node:NodePort")
	assert.Contains(t, g.vertices[node2], "i-", "instance targets are instances")
	var pods []string
	for _, ip := range []string{"192.168.1.248", "192.168.2.206", "192.168.3.111"} {
		pods = append(pods, "kube-proxy 1/3 → "+g.vertexWith(t, ip))
	}
	assert.ElementsMatch(t, pods, g.edgesFrom(node2), "the node spreads over every pod, on any node")
	assert.Len(t, g.edges, 3+3+9)
	for i, e := range g.edges {
		if strings.HasPrefix(e.label, "kube-proxy") {
			assert.Equal(t, "-.->", g.arrows[i])
		}
	}
}

func TestMermaidStates(t *testing.T) {
	w := world(t, nil)
	out := Mermaid(w, health(w, topology.TargetHealthy, map[string]topology.TargetState{
		"192.168.1.248": topology.TargetUnhealthy,
		"192.168.2.206": topology.TargetInitial,
		"192.168.3.111": topology.TargetDraining,
	}))
	g := checkMermaid(t, out)
	want := map[string]string{
		":7777 unhealthy": "#c62828",
		":7777 initial":   "stroke-dasharray",
		":7777 draining":  "stroke-dasharray",
	}
	found := 0
	for i, e := range g.edges {
		if style, ok := want[e.label]; ok {
			found++
			assert.Contains(t, g.styles[i], style, e.label)
		}
	}
	assert.Equal(t, 3, found)
}

func TestMermaidWithoutHealth(t *testing.T) {
	w := world(t, nil)
	g := checkMermaid(t, Mermaid(w, nil))
	labels := 0
	for _, e := range g.edges {
		if e.label == ":7777 registered" {
			labels++
		}
	}
	assert.Equal(t, 3, labels, "registrations are drawn without a state")
}

func TestMermaidCrossZone(t *testing.T) {
	on := true
	w := world(t, func(s *topology.Spec) { s.CrossZone = &on })
	out := Mermaid(w, health(w, topology.TargetHealthy, nil))
	g := checkMermaid(t, out)
	assert.Contains(t, out, "cross-zone on")
	nlbA := g.vertexWith(t, "192.168.1.51")
	assert.Len(t, g.edgesFrom(nlbA), 3, "with cross-zone on, every NLB node sends to every AZ")
}

func TestMermaidLocalPolicy(t *testing.T) {
	w := world(t, func(s *topology.Spec) {
		s.Mode = topology.TargetInstance
		s.ExternalTrafficPolicy = topology.PolicyLocal
	})
	out := Mermaid(w, health(w, topology.TargetHealthy, nil))
	g := checkMermaid(t, out)
	assert.Contains(t, out, "externalTrafficPolicy Local")
	node2, pod2 := g.vertexWith(t, "192.168.2.146"), g.vertexWith(t, "192.168.2.206")
	assert.Equal(t, []string{"kube-proxy 1/1 → " + pod2}, g.edgesFrom(node2), "Local keeps traffic on the node")
}

func TestMermaidText(t *testing.T) {
	assert.Equal(t, "a#quot;b#124;c#lt;br/#gt;#35;1", mermaidText(`a"b|c<br/>#1`))
	ids := idMaker{used: map[string]bool{}}
	assert.Equal(t, "h_end", ids.make("end"))
	assert.Equal(t, "h_orders_1", ids.make("orders-1"))
	assert.Equal(t, "h_x", ids.make("x"))
	assert.Equal(t, "h_1a", ids.make("1a"))
	assert.Equal(t, "a_b", ids.make("a-b"))
	assert.Equal(t, "a_b_2", ids.make("a.b"))
}

// dotGraph checks out as dot text this package writes (braces and quotes
// balanced, a cluster per box, edges between declared vertices) and returns
// the edges as "from -> to label".
func checkDot(t *testing.T, out string) []string {
	t.Helper()
	require.True(t, strings.HasPrefix(out, "digraph nlbsim {\n"))
	require.True(t, strings.HasSuffix(out, "}\n"))
	reQuoted := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reVertexLine := regexp.MustCompile(`^("(?:[^"\\]|\\.)*") \[label=`)
	reEdgeLine := regexp.MustCompile(`^("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*") \[label=("(?:[^"\\]|\\.)*"),`)
	declared := map[string]bool{}
	var edges []string
	depth := 0
	for _, raw := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		line := strings.TrimSpace(raw)
		bare := reQuoted.ReplaceAllString(line, `""`)
		require.NotContains(t, bare, `"""`, raw)
		depth += strings.Count(bare, "{") - strings.Count(bare, "}")
		require.GreaterOrEqual(t, depth, 0, raw)
		switch {
		case strings.HasPrefix(line, "subgraph "):
			require.Regexp(t, `^subgraph "cluster_[A-Za-z0-9_]+" \{$`, line)
		case reEdgeLine.MatchString(line):
			m := reEdgeLine.FindStringSubmatch(line)
			require.True(t, declared[m[1]], raw)
			require.True(t, declared[m[2]], raw)
			edges = append(edges, m[1]+" -> "+m[2]+" "+m[3])
		case reVertexLine.MatchString(line):
			id := reVertexLine.FindStringSubmatch(line)[1]
			require.False(t, declared[id], "%s declared twice", id)
			declared[id] = true
		}
	}
	require.Zero(t, depth, "braces balance")
	return edges
}

func TestDot(t *testing.T) {
	for _, mode := range []topology.TargetType{topology.TargetIP, topology.TargetInstance} {
		t.Run(string(mode), func(t *testing.T) {
			w := world(t, func(s *topology.Spec) { s.Mode = mode })
			out := Dot(w, health(w, topology.TargetHealthy, map[string]topology.TargetState{"192.168.1.248": topology.TargetUnhealthy}))
			edges := checkDot(t, out)
			for _, ip := range []string{"192.168.1.51", "192.168.2.149", "192.168.3.171"} {
				assert.Contains(t, out, `NLB)\n`+ip+`"`)
			}
			assert.Equal(t, 1+3+3, strings.Count(out, `subgraph "cluster_`), "VPC, three AZs, three nodes")
			switch mode {
			case topology.TargetIP:
				assert.Contains(t, edges, `"nlb_b" -> "nginx_deployment_67dd5f77ff_`+podSuffix(w, "192.168.2.206")+`" ":7777 healthy"`)
				assert.Contains(t, out, `":7777 unhealthy", color="#c62828"`)
				assert.Len(t, edges, 6)
			case topology.TargetInstance:
				assert.Contains(t, edges, `"nlb_b" -> "node_2" ":32392 healthy"`)
				assert.Len(t, edges, 15)
			}
			renderDot(t, out)
		})
	}
}

// podSuffix is the identifier tail of the pod with an address.
func podSuffix(w *topology.World, ip string) string {
	for _, p := range w.Pods {
		if p.IP.String() == ip {
			return p.Name[strings.LastIndex(p.Name, "-")+1:]
		}
	}
	return "?"
}

// renderDot runs Graphviz on the output. It skips where dot is missing,
// except in CI (CI set), which provisions graphviz.
func renderDot(t *testing.T, out string) {
	t.Helper()
	dot, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dot (graphviz) is missing; scripts/provision.sh installs it")
		}
		t.Skip("dot (graphviz) is not installed; apt install graphviz to render")
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	require.NoError(t, err, "dot -Tsvg: %s", stderr.String())
	assert.Empty(t, stderr.String(), "dot warns")
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "192.168.2.149")
}

// TestMermaidParses runs Mermaid's own parser over both modes' pictures when
// NLBSIM_MERMAID_DIR names a directory where `npm install mermaid jsdom`
// ran; it is not part of CI (no browser, no npm packages there).
func TestMermaidParses(t *testing.T) {
	dir := os.Getenv("NLBSIM_MERMAID_DIR")
	if dir == "" {
		t.Skip("set NLBSIM_MERMAID_DIR to a directory with node_modules/mermaid and jsdom to run Mermaid's parser")
	}
	script, err := filepath.Abs("testdata/mermaid-parse.mjs")
	require.NoError(t, err)
	var files []string
	for _, change := range []func(*topology.Spec){nil, instance} {
		w := world(t, change)
		f := filepath.Join(t.TempDir(), "world.mmd")
		require.NoError(t, os.WriteFile(f, []byte(Mermaid(w, health(w, topology.TargetHealthy, nil))), 0o644))
		files = append(files, f)
	}
	cmd := exec.Command("node", append([]string{script}, files...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// Model gives the same picture as data, each host's vertex carrying its
// name, so that a browser can place trace hops on it.
func TestModelNamesHosts(t *testing.T) {
	w, err := topology.Build(topology.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	g := Model(w, nil)
	hosts := map[string]string{}
	var walk func(Group)
	walk = func(grp Group) {
		for _, v := range grp.Vertices {
			hosts[v.Host] = v.Kind
		}
		for _, sub := range grp.Groups {
			walk(sub)
		}
	}
	walk(g.VPC)
	for host, kind := range map[string]string{"bastion": "clientHost", "nlb-a": "nlbNode", "node-2": "k8sNode", w.Pods[0].Name: "k8sPod"} {
		if hosts[host] != kind {
			t.Errorf("host %s: kind %q, want %q", host, hosts[host], kind)
		}
	}
	if len(g.Edges) == 0 {
		t.Error("no edges")
	}
}
