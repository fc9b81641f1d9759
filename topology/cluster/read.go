// Package cluster reads a real cluster's objects, as
// `kubectl get nodes,services,endpointslices,pods -A -o yaml` (or -o json)
// writes them, into nlbsim's world: nodes with their addresses, zones and
// instance types, pods, Services, and each Service's endpoints as its
// EndpointSlices list them, with their conditions and nodes. Optionally a
// kube-proxy ConfigMap (EKS's kube-proxy-config, kubeadm's kube-proxy)
// gives kube-proxy's configuration.
//
// Status fields are read as they are, never recomputed: a Service's
// endpoints are its slices', not the pods its selector would match; a
// node's readiness is its Ready condition. Objects and fields nlbsim does
// not model are listed once as warnings, never silently dropped, and never
// fatal. Input that cannot be a cluster's objects (not a List or object, a
// truncated file, a Node without an address) is an *InputError naming the
// file, the line and the object.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/nlbsim/nlbsim/topology"
)

// InputError is one problem of the input, at a file, a line when known, and
// an object when there is one (kind namespace/name).
type InputError struct {
	File    string
	Line    int
	Object  string
	Message string
}

func (e InputError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if e.Object != "" {
		where += ": " + e.Object
	}
	return where + ": " + e.Message
}

// InputErrors are every problem of the input, one a line.
type InputErrors []InputError

func (e InputErrors) Error() string {
	lines := make([]string, len(e))
	for i, m := range e {
		lines[i] = m.Error()
	}
	return strings.Join(lines, "\n")
}

// Cluster is what was read: the world and what was left out of it.
type Cluster struct {
	World *topology.World
	// Warnings list, once each, the objects and fields nlbsim does not
	// model, in the order they were met.
	Warnings []string
	// KubeProxyConfig names where kube-proxy's configuration came from
	// ("kube-system/kube-proxy-config"), "" when the input had none.
	KubeProxyConfig string
	// files names the input; objects finds each object's place in it by
	// the name an error gives it ("Node ip-…", "Service shop/web").
	files   string
	objects map[string]item
}

// item is one object of the input with where it came from.
type item struct {
	file string
	line int
	kind string // group/version Kind, e.g. "v1 Node"
	name string // namespace/name or name
	raw  []byte // the object as JSON
}

func (it item) ref() string {
	_, kind, _ := strings.Cut(it.kind, " ")
	return kind + " " + it.name
}

// Read reads the objects of every manifest (topology.ReadManifests reads
// files, directories and standard input) into a world named name.
func Read(name string, ms []topology.Manifest) (*Cluster, error) {
	r := &reader{warned: map[string]bool{}}
	var items []item
	for _, m := range ms {
		items = append(items, r.documents(m)...)
	}
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	files := make([]string, len(ms))
	for i, m := range ms {
		files[i] = m.Name
	}
	c := r.build(name, strings.Join(files, ", "), items)
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return c, nil
}

type reader struct {
	errs     InputErrors
	warnings []string
	warned   map[string]bool
}

// warn records a warning once.
func (r *reader) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if !r.warned[msg] {
		r.warned[msg] = true
		r.warnings = append(r.warnings, msg)
	}
}

func (r *reader) fail(it item, format string, a ...any) {
	r.errs = append(r.errs, InputError{File: it.file, Line: it.line, Object: it.ref(), Message: fmt.Sprintf(format, a...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// documents splits one file into objects: each document is a List
// (kubectl's v1 List, or a typed list such as NodeList) or one object.
func (r *reader) documents(m topology.Manifest) []item {
	var out []item
	dec := yaml.NewDecoder(strings.NewReader(m.Data))
	docs := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := InputError{File: m.Name, Message: "not YAML or JSON (a truncated file?): " + strings.TrimPrefix(err.Error(), "yaml: ")}
			if g := yamlLine.FindStringSubmatch(err.Error()); g != nil {
				e.Line, _ = strconv.Atoi(g[1])
				e.Message = "not YAML or JSON (a truncated file?): " + g[2]
			}
			r.errs = append(r.errs, e)
			return nil
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		docs++
		out = append(out, r.document(m.Name, doc.Content[0])...)
	}
	if docs == 0 {
		r.errs = append(r.errs, InputError{File: m.Name, Message: "empty: no List and no object (want `kubectl get nodes,services,endpointslices,pods -A -o yaml`)"})
	}
	return out
}

func (r *reader) document(file string, root *yaml.Node) []item {
	if root.Kind != yaml.MappingNode {
		r.errs = append(r.errs, InputError{File: file, Line: root.Line, Message: "not a List or a Kubernetes object (want `kubectl get … -o yaml` output)"})
		return nil
	}
	head := struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}{}
	_ = root.Decode(&head)
	items := mappingValue(root, "items")
	switch {
	case head.Kind == "" && items != nil:
		r.errs = append(r.errs, InputError{File: file, Line: root.Line,
			Message: "a list without its kind: a truncated file? (kubectl writes `kind: List` after the items)"})
		return nil
	case head.Kind == "" || head.APIVersion == "":
		r.errs = append(r.errs, InputError{File: file, Line: root.Line, Message: "not a List or a Kubernetes object: apiVersion and kind are not set"})
		return nil
	case strings.HasSuffix(head.Kind, "List"):
		if items == nil || (items.Kind != yaml.SequenceNode && items.Tag != "!!null") {
			r.errs = append(r.errs, InputError{File: file, Line: root.Line, Message: head.Kind + " without items"})
			return nil
		}
		var out []item
		for _, n := range items.Content {
			out = append(out, r.object(file, n)...)
		}
		return out
	}
	return r.object(file, root)
}

// object turns one object's node into an item.
func (r *reader) object(file string, n *yaml.Node) []item {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		r.errs = append(r.errs, InputError{File: file, Line: n.Line, Message: "a List's item must be a Kubernetes object"})
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		r.errs = append(r.errs, InputError{File: file, Line: n.Line, Message: err.Error()})
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		r.errs = append(r.errs, InputError{File: file, Line: n.Line, Message: err.Error()})
		return nil
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &meta)
	it := item{file: file, line: n.Line, kind: meta.APIVersion + " " + meta.Kind, name: meta.Metadata.Name, raw: raw}
	if meta.Metadata.Namespace != "" {
		it.name = meta.Metadata.Namespace + "/" + meta.Metadata.Name
	}
	switch {
	case meta.Kind == "" || meta.APIVersion == "":
		r.errs = append(r.errs, InputError{File: file, Line: n.Line, Message: "an item without apiVersion or kind (a truncated file?)"})
		return nil
	case meta.Metadata.Name == "":
		r.fail(it, "no metadata.name (a truncated file?)")
		return nil
	}
	return []item{it}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decode reads an item into its API type. Unknown fields (from a newer API
// than nlbsim's) are warnings; wrong types are errors.
func (r *reader) decode(it item, into any) bool {
	strict, err := sigsjson.UnmarshalStrict(it.raw, into)
	if err != nil {
		r.fail(it, "%v", err)
		return false
	}
	for _, e := range strict {
		_, kind, _ := strings.Cut(it.kind, " ")
		r.warn("%s: field unknown to nlbsim's API types, ignored: %v", kind, e)
	}
	return true
}

// objects are the decoded items by kind, in input order, without repeats
// (a later copy of the same object replaces an earlier one).
type objects struct {
	nodes      []*corev1.Node
	pods       []*corev1.Pod
	services   []*corev1.Service
	slices     []*discoveryv1.EndpointSlice
	configMaps []*corev1.ConfigMap
	where      map[any]item
}

func (r *reader) sort(items []item) *objects {
	o := &objects{where: map[any]item{}}
	seen := map[string]int{}
	var kept []item
	for _, it := range items {
		key := it.kind + "/" + it.name
		if i, ok := seen[key]; ok {
			kept[i] = it
			continue
		}
		seen[key] = len(kept)
		kept = append(kept, it)
	}
	notModelled := map[string]int{}
	var order []string
	for _, it := range kept {
		switch it.kind {
		case "v1 Node":
			n := &corev1.Node{}
			if r.decode(it, n) {
				o.nodes = append(o.nodes, n)
				o.where[n] = it
			}
		case "v1 Pod":
			p := &corev1.Pod{}
			if r.decode(it, p) {
				o.pods = append(o.pods, p)
				o.where[p] = it
			}
		case "v1 Service":
			s := &corev1.Service{}
			if r.decode(it, s) {
				o.services = append(o.services, s)
				o.where[s] = it
			}
		case "discovery.k8s.io/v1 EndpointSlice":
			s := &discoveryv1.EndpointSlice{}
			if r.decode(it, s) {
				o.slices = append(o.slices, s)
				o.where[s] = it
			}
		case "v1 ConfigMap":
			c := &corev1.ConfigMap{}
			if r.decode(it, c) {
				o.configMaps = append(o.configMaps, c)
				o.where[c] = it
			}
		default:
			_, kind, _ := strings.Cut(it.kind, " ")
			if notModelled[kind] == 0 {
				order = append(order, kind)
			}
			notModelled[kind]++
		}
	}
	for _, kind := range order {
		why := "not modelled"
		if kind == "Endpoints" {
			why = "not read: kube-proxy reads EndpointSlices, and so does nlbsim"
		}
		r.warn("%d %s object(s) %s; left out", notModelled[kind], kind, why)
	}
	return o
}
