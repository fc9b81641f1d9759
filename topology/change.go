package topology

import (
	"fmt"
	"maps"
	"sort"
	"time"
)

// The world changes as a cluster lives: these edits are what the
// Kubernetes controllers and the scheduler do, as pure data. Each returns a
// new world and leaves the old one as it was.

// Clone returns a deep copy of the world.
func (w *World) Clone() *World {
	c := *w
	c.Nodes = append([]Node(nil), w.Nodes...)
	for i := range c.Nodes {
		if c.Nodes[i].Labels != nil {
			c.Nodes[i].Labels = copyMap(c.Nodes[i].Labels)
		}
		c.Nodes[i].Taints = append([]Taint(nil), c.Nodes[i].Taints...)
	}
	c.Pods = make([]Pod, len(w.Pods))
	for i, p := range w.Pods {
		p.Labels = copyMap(p.Labels)
		p.Ports = append([]ContainerPort(nil), p.Ports...)
		if p.ReadinessGates != nil {
			p.ReadinessGates = maps.Clone(p.ReadinessGates)
		}
		c.Pods[i] = p
	}
	c.HostNetworkPods = append([]Pod(nil), w.HostNetworkPods...)
	c.Deployments = append([]Deployment(nil), w.Deployments...)
	c.Services = append([]Service(nil), w.Services...)
	c.LoadBalancers = append([]NLB(nil), w.LoadBalancers...)
	c.NextAddress = map[string]int{}
	for k, v := range w.NextAddress {
		c.NextAddress[k] = v
	}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Deployment returns a Deployment by namespace and name.
func (w *World) Deployment(namespace, name string) (*Deployment, bool) {
	for i := range w.Deployments {
		if d := &w.Deployments[i]; d.Namespace == namespace && d.Name == name {
			return d, true
		}
	}
	return nil, false
}

// Pod returns a pod by name.
func (w *World) Pod(name string) (*Pod, bool) {
	for i := range w.Pods {
		if w.Pods[i].Name == name {
			return &w.Pods[i], true
		}
	}
	return nil, false
}

// owned lists the pods of a Deployment (of its current template, or any).
func (w *World) owned(d *Deployment, currentOnly bool) []*Pod {
	var out []*Pod
	for i := range w.Pods {
		p := &w.Pods[i]
		if p.Namespace == d.Namespace && p.Owner == d.Name && (!currentOnly || p.TemplateHash == d.TemplateHash) {
			out = append(out, p)
		}
	}
	return out
}

// NewPod creates one more pod of a Deployment and schedules it: on the
// Ready node with room that has the fewest of the Deployment's pods, then
// the fewest pods (the scheduler's spreading), or Pending.
func (w *World) NewPod(namespace, deployment string, now time.Time) (*Pod, error) {
	d, ok := w.Deployment(namespace, deployment)
	if !ok {
		return nil, fmt.Errorf("deployment %s/%s not found", namespace, deployment)
	}
	d.NextPod++
	pod := Pod{
		Name:      podName(*d, podSuffix(w.Spec.Name, d.Namespace+"/"+d.Name+"/"+d.TemplateHash, d.NextPod+1000)),
		Namespace: d.Namespace, Labels: copyMap(d.Labels), Ports: append([]ContainerPort(nil), d.Ports...), Containers: max(1, len(d.Containers)),
		Owner: d.Name, TemplateHash: d.TemplateHash, Serves: d.Serves, Created: now,
	}
	if err := w.place(&pod); err != nil {
		return nil, err
	}
	w.InjectReadinessGates(&pod)
	w.Pods = append(w.Pods, pod)
	w.sortPods()
	p, _ := w.Pod(pod.Name)
	return p, nil
}

// NoSchedule reports whether a taint keeps new pods off the node (the
// Deployments' pods tolerate none of them).
func (n Node) NoSchedule() bool {
	for _, t := range n.Taints {
		if t.Effect == "NoSchedule" || t.Effect == "NoExecute" {
			return true
		}
	}
	return false
}

// place gives a pod a node and an address, or leaves it Pending.
func (w *World) place(pod *Pod) error {
	limit := InstanceTypes[w.Spec.InstanceType].MaxPods()
	load, same := map[string]int{}, map[string]int{}
	for _, p := range w.HostNetworkPods {
		load[p.Node]++
	}
	for _, p := range w.Pods {
		if p.Running() {
			load[p.Node]++
			if p.Owner == pod.Owner && p.Namespace == pod.Namespace && !p.Terminating {
				same[p.Node]++
			}
		}
	}
	best := -1
	for i, n := range w.Nodes {
		if n.Stopped || n.NotReady || n.NoSchedule() || load[n.Name] >= limit {
			continue
		}
		if best < 0 || same[n.Name] < same[w.Nodes[best].Name] ||
			same[n.Name] == same[w.Nodes[best].Name] && load[n.Name] < load[w.Nodes[best].Name] {
			best = i
		}
	}
	if best < 0 {
		pod.Phase, pod.Node, pod.Reason = PhasePending, "", fmt.Sprintf("0/%d nodes are available: %d Too many pods.", len(w.Nodes), len(w.Nodes))
		return nil
	}
	n := w.Nodes[best]
	alloc := newAllocator(w)
	ip, err := alloc.next(w.subnetOf(n.IP), "pod "+pod.Name)
	if err != nil {
		return err
	}
	alloc.save()
	pod.Phase, pod.Node, pod.IP, pod.Reason = PhaseRunning, n.Name, ip, ""
	return nil
}

func (w *World) sortPods() {
	sort.SliceStable(w.Pods, func(i, j int) bool {
		a, b := w.Pods[i], w.Pods[j]
		if na, nb := w.nodeIndex(a.Node), w.nodeIndex(b.Node); na != nb {
			return na < nb
		}
		return a.Name < b.Name
	})
}

// RemovePod takes a pod out of the world (its termination has ended).
func (w *World) RemovePod(name string) {
	for i, p := range w.Pods {
		if p.Name == name {
			w.Pods = append(w.Pods[:i], w.Pods[i+1:]...)
			return
		}
	}
}

// SchedulePending places Pending pods that now fit, oldest first.
func (w *World) SchedulePending() ([]string, error) {
	var placed []string
	for i := range w.Pods {
		p := &w.Pods[i]
		if p.Phase != PhasePending {
			continue
		}
		if err := w.place(p); err != nil {
			return placed, err
		}
		if p.Running() {
			placed = append(placed, p.Name)
		}
	}
	w.sortPods()
	return placed, nil
}

// ScaleDownVictims picks the pods a ReplicaSet deletes to reach replicas:
// Pending first, then not ready, then on the node with the most of its
// pods, newest first.
func (w *World) ScaleDownVictims(d *Deployment, replicas int) []string {
	var live []*Pod
	for _, p := range w.owned(d, false) {
		if !p.Terminating {
			live = append(live, p)
		}
	}
	if len(live) <= replicas {
		return nil
	}
	perNode := map[string]int{}
	for _, p := range live {
		perNode[p.Node]++
	}
	sort.SliceStable(live, func(i, j int) bool {
		a, b := live[i], live[j]
		if (a.Phase == PhasePending) != (b.Phase == PhasePending) {
			return a.Phase == PhasePending
		}
		if a.NotReady != b.NotReady {
			return a.NotReady
		}
		if perNode[a.Node] != perNode[b.Node] {
			return perNode[a.Node] > perNode[b.Node]
		}
		return a.Created.After(b.Created) || a.Created.Equal(b.Created) && a.Name > b.Name
	})
	var out []string
	for _, p := range live[:len(live)-replicas] {
		out = append(out, p.Name)
	}
	return out
}

// LivePods counts a Deployment's pods that are not terminating.
func (w *World) LivePods(d *Deployment) (all, ready, current int) {
	for _, p := range w.owned(d, false) {
		if p.Terminating {
			continue
		}
		all++
		if p.Running() && !p.NotReady {
			ready++
		}
		if p.TemplateHash == d.TemplateHash {
			current++
		}
	}
	return all, ready, current
}

// OldPods lists a Deployment's live pods of an earlier template.
func (w *World) OldPods(d *Deployment) []string {
	var out []string
	for _, p := range w.owned(d, false) {
		if !p.Terminating && p.TemplateHash != d.TemplateHash {
			out = append(out, p.Name)
		}
	}
	return out
}
