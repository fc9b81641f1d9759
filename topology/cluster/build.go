package cluster

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nlbsim/nlbsim/topology"
)

// Build builds the world of a spec: with spec.From, the real cluster those
// objects describe (read here, completed by topology.FromCluster, with
// the reader's warnings first in World.Warnings); without, topology.Build's.
// `up --from` reaches sim through it as `up -f` does through
// topology.Build: the spec carries the files' text. Its errors are
// *topology.InvalidError; one about the input names the file, the line and
// the object.
func Build(spec topology.Spec) (*topology.World, error) {
	if len(spec.From) == 0 {
		return topology.Build(spec)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	c, err := Read(spec.Name, spec.From)
	if err != nil {
		return nil, &topology.InvalidError{Err: err}
	}
	switch m := c.World.Cluster.KubeProxy.Mode; {
	case spec.ProxyMode != "", m == "", m == string(topology.ProxyIPTables), m == string(topology.ProxyNFTables):
	default:
		return nil, c.locate(&topology.ObjectError{Object: "ConfigMap " + c.KubeProxyConfig,
			Err: fmt.Errorf("kube-proxy runs in %s mode, which nlbsim does not model (--proxy-mode iptables or nftables rebuilds the cluster in one of those)", m)})
	}
	w, err := topology.FromCluster(c.World, spec)
	if err != nil {
		return nil, c.locate(err)
	}
	w.Warnings = append(slices.Clone(c.Warnings), w.Warnings...)
	return w, nil
}

// locate puts an error about one object at its place in the input.
func (c *Cluster) locate(err error) error {
	var (
		obj *topology.ObjectError
		ann *topology.AnnotationError
		e   InputError
	)
	switch {
	case errors.As(err, &obj):
		e = InputError{File: c.files, Object: obj.Object, Message: obj.Err.Error()}
	case errors.As(err, &ann):
		e = InputError{File: c.files, Object: "Service " + ann.Service, Message: fmt.Sprintf("annotation %s: %v", ann.Annotation, ann.Err)}
	default:
		return err
	}
	if it, ok := c.objects[e.Object]; ok {
		e.File, e.Line = it.file, it.line
	}
	return &topology.InvalidError{Err: InputErrors{e}}
}
