package kubectl

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/topology"
)

// DefaultNamespace is the namespace of a Request that names none.
const DefaultNamespace = "default"

// Request is one `get`, with kubectl's arguments and flags.
type Request struct {
	// Resource is a kubectl resource name, plural, singular or short
	// (pods, pod, po; services, svc; nodes, no; endpoints, ep; deployments,
	// deploy; replicasets, rs; daemonsets, ds) or "all". "svc/NAME" also
	// names the object.
	Resource      string
	Name          string // optional: one object
	Namespace     string // empty: DefaultNamespace
	AllNamespaces bool   // -A
	// Output is -o: "" or table, wide, json, yaml, name,
	// jsonpath=TEMPLATE, jsonpath-as-json=TEMPLATE.
	Output string
	Now    time.Time // the time AGE counts to; zero: time.Now()
	// AllowMissingTemplateKeys makes jsonpath print nothing for a missing
	// key instead of failing (kubectl's --allow-missing-template-keys).
	AllowMissingTemplateKeys bool
}

// section is the objects of one resource type that a request selected.
type section struct {
	resource *resourceType
	items    []listed
}

// Get writes what `kubectl get` shows for req to out. Nothing selected by
// a table listing returns a *Notice; a missing named object a
// *NotFoundError; bad arguments a *UsageError.
func Get(out io.Writer, w *topology.World, req Request) error {
	if err := ValidateOutput(req.Output); err != nil {
		return err
	}
	resource, name := req.Resource, req.Name
	if typ, n, ok := strings.Cut(resource, "/"); ok {
		if name != "" {
			return &UsageError{Problem: "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form"}
		}
		resource, name = typ, n
	}
	types, err := lookupResource(resource)
	if err != nil {
		return err
	}
	if name != "" && len(types) > 1 {
		return &UsageError{Problem: fmt.Sprintf("a name cannot be given with %q: name one resource type, as in svc/NAME", resource)}
	}
	if name != "" && req.AllNamespaces && types[0].namespaced {
		return &UsageError{Problem: "a resource cannot be retrieved by name across all namespaces"}
	}
	namespace := cmp.Or(req.Namespace, DefaultNamespace)
	objects := Convert(w)
	var sections []section
	for _, rt := range types {
		items := selectItems(rt, objects, namespace, req.AllNamespaces)
		if name != "" {
			i := slices.IndexFunc(items, func(l listed) bool { return l.meta.GetName() == name })
			if i < 0 {
				return &NotFoundError{Resource: rt.qualified(), Name: name}
			}
			items = items[i : i+1]
		}
		sections = append(sections, section{resource: rt, items: items})
	}

	format, template, _ := strings.Cut(req.Output, "=")
	switch format {
	case "name":
		return printNames(out, sections)
	case "json", "yaml", "jsonpath", "jsonpath-as-json":
		var doc any
		if name != "" {
			doc = sections[0].items[0].obj
		} else {
			doc = list(sections)
		}
		return printDocument(out, doc, format, template, req.AllowMissingTemplateKeys)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	printed, err := printTables(out, sections, tableOptions{
		wide:          format == "wide",
		withNamespace: req.AllNamespaces,
		withKind:      len(types) > 1,
		now:           now,
	})
	if err != nil || printed > 0 {
		return err
	}
	for _, rt := range types {
		if !rt.namespaced || req.AllNamespaces {
			return &Notice{Message: "No resources found"}
		}
	}
	return &Notice{Message: fmt.Sprintf("No resources found in %s namespace.", namespace)}
}

// selectItems lists a resource's objects in namespace (every namespace
// with all), ordered as the API server lists them: by namespace, then name.
// Pods in one namespace keep the world's order (by node, then name), the
// order pod-N aliases follow.
func selectItems(rt *resourceType, o *Objects, namespace string, all bool) []listed {
	items := rt.list(o)
	if rt.namespaced && !all {
		items = slices.DeleteFunc(items, func(l listed) bool { return l.meta.GetNamespace() != namespace })
	}
	if rt.keepOrder && rt.namespaced && !all {
		return items
	}
	slices.SortStableFunc(items, func(a, b listed) int {
		return cmp.Or(cmp.Compare(a.meta.GetNamespace(), b.meta.GetNamespace()), cmp.Compare(a.meta.GetName(), b.meta.GetName()))
	})
	return items
}
