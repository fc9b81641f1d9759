package sim

import (
	"context"
	"fmt"
	"reflect"

	"github.com/nlbsim/nlbsim/sim/internal/control"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// changeableInPlace clears the settings a running cluster can change in
// place, so that what is left must be equal.
func changeableInPlace(s topology.Spec) topology.Spec {
	s.Mode, s.CrossZone, s.PreserveClientIP, s.ExternalTrafficPolicy, s.TimeScale = "", nil, nil, "", 0
	s.ProxyMode = ""
	s.Manifests = nil // compared as worlds: topology.CheckInPlace
	return s
}

// needsRebuild names the Spec fields whose change a running cluster cannot
// take.
func needsRebuild(old, new topology.Spec) []string {
	var fields []string
	if old.Nodes != new.Nodes {
		fields = append(fields, "Nodes")
	}
	if old.Replicas != new.Replicas {
		fields = append(fields, "Replicas")
	}
	if old.Minimal != new.Minimal {
		fields = append(fields, "Minimal")
	}
	if old.InstanceType != new.InstanceType {
		fields = append(fields, "InstanceType")
	}
	if old.Services != new.Services {
		fields = append(fields, "Services")
	}
	if !reflect.DeepEqual(old.From, new.From) {
		fields = append(fields, "From")
	}
	if old.EndpointsPerService != new.EndpointsPerService {
		fields = append(fields, "EndpointsPerService")
	}
	if old.SubnetPrefixLength != new.SubnetPrefixLength {
		fields = append(fields, "SubnetPrefixLength")
	}
	return fields
}

// change applies a new spec to a running cluster in place: node rules are
// re-synced when the Services changed, the state is saved, the supervisor
// re-registers the NLBs' targets, and the cluster is probed as a first up
// is. The living world keeps its nodes and pods; only the settings change.
// A failed change restores the previous settings.
func change(ctx context.Context, c *Cluster, w *topology.World) error {
	old := c.World
	if !reflect.DeepEqual(changeableInPlace(old.Spec), changeableInPlace(w.Spec)) {
		return &topology.InvalidError{Err: &RebuildError{Cluster: old.Cluster.Name, Fields: needsRebuild(old.Spec, w.Spec)}}
	}
	// What the old spec builds, not the living world, is compared: scaling
	// and rollouts do not stand in the way of a change of settings.
	base, err := cluster.Build(old.Spec)
	if err != nil {
		return err
	}
	if err := topology.CheckInPlace(base, w); err != nil {
		return err
	}
	next := old.WithSettingsOf(w)
	err = apply(ctx, c, next)
	if err == nil {
		c.World = next
		if err = c.probe(ctx); err == nil {
			return nil
		}
	}
	c.World = old
	if rerr := apply(context.WithoutCancel(ctx), c, old); rerr != nil {
		return fmt.Errorf("%w; restoring the previous world also failed: %v", err, rerr)
	}
	return fmt.Errorf("%w (the previous settings are back)", err)
}

// apply moves a running cluster to world to: the state is
// saved and the supervisor reloads it (kube-proxy syncs the nodes when the
// Services changed; the NLBs re-register their targets).
func apply(ctx context.Context, c *Cluster, to *topology.World) error {
	if err := state.SaveWorld(to); err != nil {
		return err
	}
	if c.sup != nil {
		return c.sup.Reload(to)
	}
	return control.NewClient(to.Cluster.Name).Reload(ctx)
}
