package kubectl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// Output formats of Get, as -o takes them; jsonpath and jsonpath-as-json
// take a template after "=".
const (
	OutputTable          = "table"
	OutputWide           = "wide"
	OutputJSON           = "json"
	OutputYAML           = "yaml"
	OutputName           = "name"
	OutputJSONPath       = "jsonpath"
	OutputJSONPathAsJSON = "jsonpath-as-json"
)

// GetOutputs are the formats Get accepts.
var GetOutputs = []string{OutputJSON, OutputJSONPath, OutputJSONPathAsJSON, OutputName, OutputTable, OutputWide, OutputYAML}

// ValidateOutput checks an -o value against the allowed formats (Get's when
// none are given) before anything else runs. "" is the default table.
// Template formats (jsonpath) need "=TEMPLATE" and the template must parse.
// Every error is a *UsageError.
func ValidateOutput(format string, allowed ...string) error {
	if len(allowed) == 0 {
		allowed = GetOutputs
	}
	if format == "" {
		return nil
	}
	name, template, hasTemplate := strings.Cut(format, "=")
	if !slices.Contains(allowed, name) {
		return &UsageError{Problem: fmt.Sprintf("unable to match a printer suitable for the output format %q", format), Valid: sorted(allowed)}
	}
	switch name {
	case OutputJSONPath, OutputJSONPathAsJSON:
		if template == "" {
			return &UsageError{Problem: fmt.Sprintf("-o %s: template format specified but no template given (use -o %s='{.metadata.name}')", name, name)}
		}
		if err := jsonpath.New("get").Parse(template); err != nil {
			return &UsageError{Problem: fmt.Sprintf("error parsing jsonpath %s, %v", template, err)}
		}
	default:
		if hasTemplate {
			return &UsageError{Problem: fmt.Sprintf("-o %s takes no template", name), Valid: sorted(allowed)}
		}
	}
	return nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

type tableOptions struct {
	wide          bool
	withNamespace bool // -A: a NAMESPACE column for namespaced resources
	withKind      bool // several resource types: names as pod/NAME
	now           time.Time
}

// newTabWriter aligns columns as kubectl does: padding 3, minimum width 6.
func newTabWriter(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)
}

// printTables writes one table per non-empty section, separated by a blank
// line, and returns the number of rows written.
func printTables(out io.Writer, sections []section, opt tableOptions) (int, error) {
	rows := 0
	for _, s := range sections {
		if len(s.items) == 0 {
			continue
		}
		if rows > 0 {
			if _, err := io.WriteString(out, "\n"); err != nil {
				return rows, err
			}
		}
		rt := s.resource
		header := slices.Clone(rt.columns)
		if opt.wide {
			header = append(header, rt.wide...)
		}
		namespaced := opt.withNamespace && rt.namespaced
		if namespaced {
			header = append([]string{"NAMESPACE"}, header...)
		}
		tw := newTabWriter(out)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, item := range s.items {
			cells := item.cells(opt.now)
			if !opt.wide {
				cells = cells[:len(rt.columns)]
			}
			if opt.withKind {
				cells[0] = rt.kindName() + "/" + cells[0]
			}
			if namespaced {
				cells = append([]string{item.meta.GetNamespace()}, cells...)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
			rows++
		}
		if err := tw.Flush(); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// printNames is -o name: kind[.group]/name per line.
func printNames(out io.Writer, sections []section) error {
	for _, s := range sections {
		for _, item := range s.items {
			if _, err := fmt.Fprintf(out, "%s/%s\n", s.resource.kindName(), item.meta.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

// list is kubectl's v1 List of every selected object.
func list(sections []section) map[string]any {
	items := []any{}
	for _, s := range sections {
		for _, item := range s.items {
			items = append(items, item.obj)
		}
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      items,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
}

// printDocument writes an object or List as JSON (kubectl's 4-space
// indent, keys sorted), YAML or through a jsonpath template.
func printDocument(out io.Writer, doc any, format, template string, allowMissingKeys bool) error {
	data, err := toUnstructured(doc)
	if err != nil {
		return err
	}
	switch format {
	case OutputJSON:
		b, err := json.MarshalIndent(data, "", "    ")
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	case OutputYAML:
		b, err := yaml.Marshal(data)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	jp := jsonpath.New("get").AllowMissingKeys(allowMissingKeys)
	jp.EnableJSONOutput(format == OutputJSONPathAsJSON)
	if err := jp.Parse(template); err != nil {
		return &UsageError{Problem: fmt.Sprintf("error parsing jsonpath %s, %v", template, err)}
	}
	var buf bytes.Buffer
	if err := jp.Execute(&buf, data); err != nil {
		return fmt.Errorf("error executing jsonpath %q: Error executing template: %v", template, err)
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// toUnstructured is the JSON form of an object as kubectl holds it:
// maps, slices, strings, bools, int64 for whole numbers, float64 otherwise.
func toUnstructured(obj any) (any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return nil, err
	}
	return numbers(data), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
