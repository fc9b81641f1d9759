package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// CheckInPlace says whether a running world can become another in place, as
// applying manifests asks: the Deployments (and so the pods) must stay as
// they are, and so must the set of Services, their ClusterIPs and which of
// them have an NLB (and so the hosts). Services' ports, selectors,
// annotations and policies, and the NLBs' settings, may change. The error
// is an *InvalidError naming what would need a new cluster.
func CheckInPlace(old, new *World) error {
	var why []string
	deps := func(w *World) map[string]deploymentShape {
		out := map[string]deploymentShape{}
		for _, d := range w.Deployments {
			out[d.Namespace+"/"+d.Name] = shapeOf(d)
		}
		return out
	}
	before, after := deps(old), deps(new)
	for _, k := range slices.Sorted(maps.Keys(after)) {
		b, ok := before[k]
		a := after[k]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("deployment %s is new", k))
		case b.Replicas != a.Replicas:
			why = append(why, fmt.Sprintf("deployment %s would go from %d to %d replicas", k, b.Replicas, a.Replicas))
		case !sameJSON(a, b):
			why = append(why, fmt.Sprintf("deployment %s has a new pod template", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[k]; !ok {
			why = append(why, fmt.Sprintf("deployment %s would be gone", k))
		}
	}
	for _, s := range new.Services {
		o, ok := old.Service(s.Namespace, s.Name)
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("service %s is new", s.Key()))
		case o.ClusterIP != s.ClusterIP:
			why = append(why, fmt.Sprintf("service %s would move from ClusterIP %s to %s", s.Key(), o.ClusterIP, s.ClusterIP))
		case o.HasNLB() && !s.HasNLB():
			why = append(why, fmt.Sprintf("service %s would lose its NLB", s.Key()))
		case !o.HasNLB() && s.HasNLB():
			why = append(why, fmt.Sprintf("service %s would get an NLB", s.Key()))
		}
	}
	for _, o := range old.Services {
		if _, ok := new.Service(o.Namespace, o.Name); !ok {
			why = append(why, fmt.Sprintf("service %s would be gone", o.Key()))
		}
	}
	if len(why) == 0 {
		return nil
	}
	name := old.Cluster.Name
	return &InvalidError{Err: fmt.Errorf("cluster %q is running and changes in place only the Services' settings and the NLBs: %s; that needs a new cluster (nlbsim down --name %s, then up)",
		name, strings.Join(why, "; "), name)}
}

// deploymentShape is what a Deployment's manifest sets.
type deploymentShape struct {
	Replicas               int
	Labels, Selector       map[string]string
	TemplateHash           string
	Ports                  []ContainerPort
	Containers             []Container
	ReadinessProbe         *Probe
	PreStop                *Hook
	TerminationGracePeriod time.Duration
}

func shapeOf(d Deployment) deploymentShape {
	return deploymentShape{d.Replicas, d.Labels, d.Selector, d.TemplateHash, d.Ports, d.Containers,
		d.ReadinessProbe, d.PreStop, d.TerminationGracePeriod}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// WithSettingsOf returns a copy of a living world that takes another
// world's in-place settings (the spec, the cluster's configuration — kube-
// proxy's mode and the Kubernetes version with it — the Services and the
// NLBs, and the nodes' software, which follows the version), keeping what
// the cluster's life made of it: nodes, pods, Deployments' replicas and
// templates, addresses handed out. A change in place is this, never a
// freshly built world, which would bring back pods that are gone.
func (w *World) WithSettingsOf(o *World) *World {
	c := w.Clone()
	c.Spec = o.Spec
	c.Cluster = o.Cluster
	c.ProbeService = o.ProbeService
	for i := range c.Nodes {
		for _, n := range o.Nodes {
			if n.Name == c.Nodes[i].Name {
				c.Nodes[i].OSImage, c.Nodes[i].KernelVersion, c.Nodes[i].ContainerRuntime = n.OSImage, n.KernelVersion, n.ContainerRuntime
			}
		}
	}
	c.Services = append([]Service(nil), o.Services...)
	c.LoadBalancers = append([]NLB(nil), o.LoadBalancers...)
	c.NamespaceLabels = o.NamespaceLabels
	c.Warnings = o.Warnings
	return c
}
