package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// Manifest is one file of Kubernetes objects, kept as text.
type Manifest struct {
	Name string `json:"name"` // the path as given; STDIN for -
	Data string `json:"data"`
}

// ReadManifests reads what `-f` names, as kubectl does: a file, a
// directory (its .yaml, .yml and .json files, sorted), or - for standard
// input. Its errors are *InvalidError.
func ReadManifests(paths []string) ([]Manifest, error) {
	var out []Manifest
	read := func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		out = append(out, Manifest{Name: name, Data: string(b)})
		return nil
	}
	for _, p := range paths {
		if p == "-" {
			if err := read("STDIN", os.Stdin); err != nil {
				return nil, &InvalidError{Err: err}
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("the path %q does not exist", p)
			}
			return nil, &InvalidError{Err: err}
		}
		files := []string{p}
		if fi.IsDir() {
			files = nil
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, &InvalidError{Err: err}
			}
			for _, e := range entries {
				switch strings.ToLower(filepath.Ext(e.Name())) {
				case ".yaml", ".yml", ".json":
					if !e.IsDir() {
						files = append(files, filepath.Join(p, e.Name()))
					}
				}
			}
			if len(files) == 0 {
				return nil, &InvalidError{Err: fmt.Errorf("%s: no .yaml, .yml or .json file in this directory", p)}
			}
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return nil, &InvalidError{Err: err}
			}
			err = read(name, f)
			f.Close()
			if err != nil {
				return nil, &InvalidError{Err: err}
			}
		}
	}
	return out, nil
}

// ManifestError is one problem of a manifest, at a file and line, worded as
// the API server or the Load Balancer Controller would word it.
type ManifestError struct {
	File    string
	Line    int // 0 when the problem has no line
	Message string
}

func (e ManifestError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Message
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
}

// ManifestErrors are every problem found in a set of manifests, one a line.
type ManifestErrors []ManifestError

func (e ManifestErrors) Error() string {
	lines := make([]string, len(e))
	for i, m := range e {
		lines[i] = m.Error()
	}
	return strings.Join(lines, "\n")
}

// source is where an object came from: its file, its first line, and the
// line of each of its fields by path (spec.ports[0].nodePort; map entries
// as both metadata.annotations.KEY and metadata.annotations[KEY]).
type source struct {
	file  string
	line  int
	lines map[string]int
	kinds map[string]string // JSON kind of each value: string, number, bool, object, array, null
	texts map[string]string // the text of each scalar
}

// lineOf is the line of path, or of its closest parent that has one.
func (s source) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return s.line
}

func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

func (s source) errorAt(path, format string, a ...any) ManifestError {
	return ManifestError{File: s.file, Line: s.lineOf(path), Message: fmt.Sprintf(format, a...)}
}

// object is one Kubernetes object of a manifest, decoded into its API type.
type object struct {
	src        source
	apiVersion string
	kind       string
	namespace  string // defaulted to "default" for namespaced kinds
	name       string
	ns         *corev1.Namespace
	dep        *appsv1.Deployment
	svc        *corev1.Service
	kpc        *kubeProxyConfiguration
	ignored    bool // a kind without effect on networking
}

// key identifies an object as kubectl apply does: group, kind, namespace, name.
func (o *object) key() string {
	group, _, _ := strings.Cut(o.apiVersion, "/")
	if !strings.Contains(o.apiVersion, "/") {
		group = ""
	}
	return group + "/" + o.kind + "/" + o.namespace + "/" + o.name
}

// ref is how kubectl apply names an object in its output: deployment.apps/web.
func (o *object) ref() string {
	kind := strings.ToLower(o.kind)
	if group, _, ok := strings.Cut(o.apiVersion, "/"); ok {
		kind += "." + group
	}
	return kind + "/" + o.name
}

// Kinds nlbsim reads, and kinds it accepts and ignores because they change
// nothing on the network, by group/Kind.
var (
	ignoredKinds = map[string]bool{
		"/ConfigMap": true, "/Secret": true, "/ServiceAccount": true, "/PersistentVolumeClaim": true,
		"/PersistentVolume": true, "/LimitRange": true, "/ResourceQuota": true, "/PodTemplate": true,
		"rbac.authorization.k8s.io/Role": true, "rbac.authorization.k8s.io/RoleBinding": true,
		"rbac.authorization.k8s.io/ClusterRole": true, "rbac.authorization.k8s.io/ClusterRoleBinding": true,
		"policy/PodDisruptionBudget": true, "autoscaling/HorizontalPodAutoscaler": true,
		"scheduling.k8s.io/PriorityClass": true, "storage.k8s.io/StorageClass": true,
	}
	// Kinds that change the network but that nlbsim does not model.
	unmodelledKinds = map[string]bool{
		"/Pod": true, "/ReplicationController": true, "/Endpoints": true,
		"apps/ReplicaSet": true, "apps/StatefulSet": true, "apps/DaemonSet": true,
		"batch/Job": true, "batch/CronJob": true, "discovery.k8s.io/EndpointSlice": true,
		"networking.k8s.io/Ingress": true, "networking.k8s.io/IngressClass": true,
		"networking.k8s.io/NetworkPolicy": true, "gateway.networking.k8s.io/Gateway": true,
		"gateway.networking.k8s.io/HTTPRoute": true, "elbv2.k8s.aws/TargetGroupBinding": true,
	}
)

// decoded is the outcome of reading manifests: objects in file order, with
// the later of two objects of the same key replacing the earlier (kubectl
// apply applies in order), warnings, and errors.
type decoded struct {
	objects  []*object
	warnings []string
	errs     ManifestErrors
}

// decodeManifests reads every document of every manifest into API objects,
// strictly: invalid YAML, unknown fields, wrong types, unknown kinds and
// versions are errors. It does not validate values.
func decodeManifests(ms []Manifest) *decoded {
	d := &decoded{}
	index := map[string]int{}
	count := 0
	for _, m := range ms {
		dec := yaml.NewDecoder(strings.NewReader(m.Data))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				d.errs = append(d.errs, yamlError(m.Name, err))
				break
			}
			if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
				continue // an empty document
			}
			for _, o := range d.document(m.Name, doc.Content[0]) {
				count++
				if i, dup := index[o.key()]; dup {
					d.objects[i] = o
					continue
				}
				index[o.key()] = len(d.objects)
				d.objects = append(d.objects, o)
			}
		}
	}
	if count == 0 && len(d.errs) == 0 && len(ms) > 0 {
		d.errs = append(d.errs, ManifestError{File: ms[0].Name, Message: "no objects passed to apply"})
	}
	return d
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML parser error into file:line: message.
func yamlError(file string, err error) ManifestError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return ManifestError{File: file, Line: line, Message: "error converting YAML to JSON: " + m[2]}
	}
	return ManifestError{File: file, Message: "error converting YAML to JSON: " + strings.TrimPrefix(msg, "yaml: ")}
}

// document decodes one YAML document: an object, or a List of objects.
func (d *decoded) document(file string, root *yaml.Node) []*object {
	src := source{file: file, line: root.Line, lines: map[string]int{}, kinds: map[string]string{}, texts: map[string]string{}}
	if root.Kind != yaml.MappingNode {
		d.errs = append(d.errs, src.errorAt("", "a document must be a Kubernetes object (a mapping with apiVersion and kind)"))
		return nil
	}
	value, err := convert(root, "", src)
	if err != nil {
		d.errs = append(d.errs, err.(ManifestError))
		return nil
	}
	m := value.(map[string]any)
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	switch {
	case kind == "":
		d.errs = append(d.errs, src.errorAt("kind", "error validating data: kind not set"))
		return nil
	case apiVersion == "":
		d.errs = append(d.errs, src.errorAt("apiVersion", "error validating data: apiVersion not set"))
		return nil
	}
	if apiVersion == "v1" && kind == "List" {
		var out []*object
		items := mappingValue(root, "items")
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil
		}
		for _, item := range items.Content {
			for item.Kind == yaml.AliasNode {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				d.errs = append(d.errs, ManifestError{File: file, Line: item.Line, Message: "a List's item must be a Kubernetes object"})
				continue
			}
			out = append(out, d.document(file, item)...)
		}
		return out
	}

	o := &object{src: src, apiVersion: apiVersion, kind: kind}
	if meta, ok := m["metadata"].(map[string]any); ok {
		o.name, _ = meta["name"].(string)
		o.namespace, _ = meta["namespace"].(string)
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	var into any
	switch {
	case apiVersion == "v1" && kind == "Namespace":
		o.ns = &corev1.Namespace{}
		into = o.ns
		o.namespace = ""
	case apiVersion == "v1" && kind == "Service":
		o.svc = &corev1.Service{}
		into = o.svc
	case apiVersion == "apps/v1" && kind == "Deployment":
		o.dep = &appsv1.Deployment{}
		into = o.dep
	case apiVersion == "kubeproxy.config.k8s.io/v1alpha1" && kind == "KubeProxyConfiguration":
		o.kpc = &kubeProxyConfiguration{}
		into = o.kpc
		o.namespace = ""
		if o.name == "" {
			o.name = "kube-proxy" // a component config has no name of its own
		}
	case ignoredKinds[group+"/"+kind]:
		o.ignored = true
		where := o.name
		if o.namespace != "" {
			where = o.namespace + "/" + o.name
		}
		d.warnings = append(d.warnings, fmt.Sprintf("%s:%d: %s %s has no effect on networking in nlbsim; ignored", file, src.line, kind, where))
		return []*object{o}
	case unmodelledKinds[group+"/"+kind]:
		d.errs = append(d.errs, src.errorAt("kind", "kind %s is not modelled by nlbsim (it reads Namespace, Deployment and Service; kinds without effect on networking are ignored)", kind))
		return nil
	default:
		d.errs = append(d.errs, src.errorAt("apiVersion", "resource mapping not found for name: %q: no matches for kind %q in version %q", o.name, kind, apiVersion))
		return nil
	}
	if o.dep != nil || o.svc != nil {
		if o.namespace == "" {
			o.namespace = "default"
		}
	}
	data, err := json.Marshal(value)
	if err != nil {
		d.errs = append(d.errs, src.errorAt("", "%v", err))
		return nil
	}
	strict, err := sigsjson.UnmarshalStrict(data, into)
	if err != nil {
		d.errs = append(d.errs, typeError(src, err))
		return nil
	}
	if len(strict) > 0 {
		for _, e := range strict {
			path := ""
			var fe sigsjson.FieldError
			if errors.As(e, &fe) {
				path = fe.FieldPath()
			}
			d.errs = append(d.errs, src.errorAt(path, "strict decoding error: %v", e))
		}
		return nil
	}
	return []*object{o}
}

// mappingValue returns the value node of key in a mapping node.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// convert turns a YAML node into the value JSON would hold, recording the
// line and JSON kind of every field path in src.
func convert(n *yaml.Node, path string, src source) (any, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		src.kinds[path] = "object"
		out := map[string]any{}
		first := map[string]int{}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, ManifestError{File: src.file, Line: k.Line, Message: "error converting YAML to JSON: a mapping key must be a scalar"}
			}
			if at, dup := first[k.Value]; dup {
				return nil, ManifestError{File: src.file, Line: k.Line, Message: fmt.Sprintf("error converting YAML to JSON: mapping key %q already defined at line %d", k.Value, at)}
			}
			first[k.Value] = k.Line
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
				src.lines[path+"["+k.Value+"]"] = k.Line
			}
			src.lines[child] = k.Line
			val, err := convert(v, child, src)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		// Merge keys (<<: *anchor): the mapping's own keys win.
		for _, mv := range merges {
			for mv.Kind == yaml.AliasNode {
				mv = mv.Alias
			}
			sources := []*yaml.Node{mv}
			if mv.Kind == yaml.SequenceNode {
				sources = mv.Content
			}
			for _, s := range sources {
				val, err := convert(s, path, src)
				if err != nil {
					return nil, err
				}
				mm, ok := val.(map[string]any)
				if !ok {
					return nil, ManifestError{File: src.file, Line: s.Line, Message: "error converting YAML to JSON: map merge requires a map"}
				}
				for k, v := range mm {
					if _, own := out[k]; !own {
						out[k] = v
					}
				}
			}
		}
		return out, nil
	case yaml.SequenceNode:
		src.kinds[path] = "array"
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			child := path + "[" + strconv.Itoa(i) + "]"
			src.lines[child] = item.Line
			val, err := convert(item, child, src)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	case yaml.ScalarNode:
		src.texts[path] = n.Value
		var v any
		switch n.Tag {
		case "!!timestamp", "!!binary":
			v = n.Value
		default:
			if err := n.Decode(&v); err != nil {
				return nil, ManifestError{File: src.file, Line: n.Line, Message: "error converting YAML to JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}
			}
		}
		switch x := v.(type) {
		case nil:
			src.kinds[path] = "null"
		case string:
			src.kinds[path] = "string"
		case bool:
			src.kinds[path] = "bool"
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return nil, ManifestError{File: src.file, Line: n.Line, Message: fmt.Sprintf("error converting YAML to JSON: %s is not a JSON number", n.Value)}
			}
			src.kinds[path] = "number"
		default:
			src.kinds[path] = "number"
		}
		return v, nil
	}
	return nil, ManifestError{File: src.file, Line: n.Line, Message: "error converting YAML to JSON: unsupported YAML node"}
}

var typeErrorField = regexp.MustCompile(`^json: cannot unmarshal (\w+) into Go struct field \w+\.(\S+) of type (\S+)$`)

// typeError places a JSON type error ("cannot unmarshal string into …
// spec.replicas of type int32") at the field's line. Go names the field
// without list indexes, so the first field of that name whose value has
// the wrong kind is the one.
func typeError(src source, err error) ManifestError {
	m := typeErrorField.FindStringSubmatch(err.Error())
	if m == nil {
		return src.errorAt("", "%v", err)
	}
	jsonKind, goPath, goType := m[1], m[2], m[3]
	noIndex := regexp.MustCompile(`\[\d+\]`)
	var paths []string
	for p := range src.kinds {
		if noIndex.ReplaceAllString(p, "") == goPath && src.kinds[p] == jsonKind {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return src.lineOf(paths[i]) < src.lineOf(paths[j]) })
	path := goPath
	if len(paths) > 0 {
		path = paths[0]
	}
	value := jsonKind
	if t, ok := src.texts[path]; ok && jsonKind == "string" {
		value = strconv.Quote(t)
	} else if ok {
		value = t
	}
	return src.errorAt(path, "%s: Invalid value: %s: must be of type %s", path, value, goType)
}
