package sim

import (
	"fmt"
	"strings"
)

// RetainedError is a failed first Up whose cluster was kept for debugging
// (Options.Retain): Down removes it.
type RetainedError struct {
	Cluster string
	Err     error
}

func (e *RetainedError) Error() string {
	return fmt.Sprintf("%v (cluster %q kept for debugging)", e.Err, e.Cluster)
}
func (e *RetainedError) Unwrap() error { return e.Err }

// LeftoverError says a cluster has namespaces but no state, as an
// interrupted run may leave: Down removes them.
type LeftoverError struct {
	Cluster    string
	Namespaces int
}

func (e *LeftoverError) Error() string {
	return fmt.Sprintf("cluster %q has %d namespaces but no state (an interrupted run?)", e.Cluster, e.Namespaces)
}

// RebuildError says a running cluster cannot take a change in place: the
// named Spec fields need a new cluster. It is bad input.
type RebuildError struct {
	Cluster string
	Fields  []string // of topology.Spec: Nodes, Replicas, Minimal, InstanceType, Services, EndpointsPerService
}

func (e *RebuildError) Error() string {
	return fmt.Sprintf("cluster %q is running: changing %s needs a new cluster", e.Cluster, strings.Join(e.Fields, ", "))
}
