//lint:file-ignore SA1019 kubectl still shows v1 Endpoints (the walkthrough's `kubectl get endpoints`) and a node's kubeProxyVersion, both deprecated upstream.

package kubectl

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
)

// resourceType is one resource `get` knows: its names, its table and how to
// list its objects. The NLB's targets are not one: GetTargets shows them.
type resourceType struct {
	plural     string   // pods
	aliases    []string // pod, po
	kind       string   // Pod
	group      string   // "" for the core group, apps
	namespaced bool
	keepOrder  bool // listed in the world's order within a namespace, not by name
	columns    []string
	wide       []string // appended by -o wide
	list       func(o *Objects) []listed
}

// listed is one object of a listing with its table cells (columns then wide).
type listed struct {
	meta  metav1.Object
	obj   any
	cells func(now time.Time) []string
}

// qualified is the plural with the group: deployments.apps.
func (r *resourceType) qualified() string {
	if r.group == "" {
		return r.plural
	}
	return r.plural + "." + r.group
}

// kindName is how -o name and `get all` prefix names: pod, deployment.apps.
func (r *resourceType) kindName() string {
	k := strings.ToLower(r.kind)
	if r.group == "" {
		return k
	}
	return k + "." + r.group
}

// each lists objects with a row function.
func each[T any, PT interface {
	*T
	metav1.Object
}](objects []T, row func(*T, time.Time) []string) []listed {
	out := make([]listed, len(objects))
	for i := range objects {
		obj := &objects[i]
		out[i] = listed{meta: PT(obj), obj: obj, cells: func(now time.Time) []string { return row(obj, now) }}
	}
	return out
}

// resourceTypes lists the resources get knows, in the order usage errors
// name them.
var resourceTypes = []*resourceType{
	{plural: "nodes", aliases: []string{"node", "no"}, kind: "Node",
		columns: []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"},
		wide:    []string{"INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"},
		list:    func(o *Objects) []listed { return each(o.Nodes, nodeRow) }},
	{plural: "pods", aliases: []string{"pod", "po"}, kind: "Pod", namespaced: true, keepOrder: true,
		columns: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
		wide:    []string{"IP", "NODE", "NOMINATED NODE", "READINESS GATES"},
		list:    func(o *Objects) []listed { return each(o.Pods, podRow) }},
	{plural: "services", aliases: []string{"service", "svc"}, kind: "Service", namespaced: true,
		columns: []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"},
		wide:    []string{"SELECTOR"},
		list:    func(o *Objects) []listed { return each(o.Services, serviceRow) }},
	{plural: "endpoints", aliases: []string{"ep"}, kind: "Endpoints", namespaced: true,
		columns: []string{"NAME", "ENDPOINTS", "AGE"},
		list:    func(o *Objects) []listed { return each(o.Endpoints, endpointsRow) }},
	{plural: "deployments", aliases: []string{"deployment", "deploy"}, kind: "Deployment", group: "apps", namespaced: true,
		columns: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		list:    func(o *Objects) []listed { return each(o.Deployments, deploymentRow) }},
	{plural: "replicasets", aliases: []string{"replicaset", "rs"}, kind: "ReplicaSet", group: "apps", namespaced: true,
		columns: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		list:    func(o *Objects) []listed { return each(o.ReplicaSets, replicaSetRow) }},
	{plural: "daemonsets", aliases: []string{"daemonset", "ds"}, kind: "DaemonSet", group: "apps", namespaced: true,
		columns: []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		list:    func(o *Objects) []listed { return each(o.DaemonSets, daemonSetRow) }},
}

// allOrder is the order of `get all`'s sections, as kubectl prints them.
var allOrder = []string{"pods", "services", "daemonsets", "deployments", "replicasets"}

const allResources = "all"

// lookupResource resolves a kubectl resource name or short name; "all"
// gives every resource of `get all`.
func lookupResource(name string) ([]*resourceType, error) {
	name = strings.ToLower(name)
	if name == "" {
		return nil, &UsageError{Problem: "you must specify the type of resource to get", Valid: resourceNames()}
	}
	if name == allResources {
		var out []*resourceType
		for _, plural := range allOrder {
			i := slices.IndexFunc(resourceTypes, func(r *resourceType) bool { return r.plural == plural })
			out = append(out, resourceTypes[i])
		}
		return out, nil
	}
	for _, r := range resourceTypes {
		if name == r.plural || name == r.qualified() || slices.Contains(r.aliases, name) {
			return []*resourceType{r}, nil
		}
	}
	return nil, &UsageError{Problem: fmt.Sprintf("the server doesn't have a resource type %q", name), Valid: resourceNames()}
}

// resourceNames lists the accepted resource names with their short names.
func resourceNames() []string {
	var out []string
	for _, r := range resourceTypes {
		short := r.aliases[len(r.aliases)-1]
		out = append(out, fmt.Sprintf("%s (%s)", r.plural, short))
	}
	return append(out, allResources)
}

// age is kubectl's AGE column.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func nodeRow(n *corev1.Node, now time.Time) []string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	address := func(t corev1.NodeAddressType) string {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				return a.Address
			}
		}
		return "<none>"
	}
	info := n.Status.NodeInfo
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	return []string{n.Name, status, orNone(strings.Join(nodeRoles(n.Labels), ",")), age(n.CreationTimestamp, now), info.KubeletVersion,
		address(corev1.NodeInternalIP), address(corev1.NodeExternalIP), unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion)}
}

// nodeRoles reads node-role.kubernetes.io/<role> and kubernetes.io/role labels.
func nodeRoles(l map[string]string) []string {
	var roles []string
	for k, v := range l {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				roles = append(roles, role)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

func podRow(p *corev1.Pod, now time.Time) []string {
	ready, restarts := 0, 0
	status := string(p.Status.Phase)
	if p.Status.Reason != "" {
		status = p.Status.Reason
	}
	for _, c := range p.Status.ContainerStatuses {
		restarts += int(c.RestartCount)
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			status = c.State.Waiting.Reason
		case c.State.Terminated != nil && c.State.Terminated.Reason != "":
			status = c.State.Terminated.Reason
		case c.Ready && c.State.Running != nil:
			ready++
		}
	}
	if p.DeletionTimestamp != nil {
		status = "Terminating"
	}
	gates := "<none>"
	if n := len(p.Spec.ReadinessGates); n > 0 {
		met := 0
		for _, g := range p.Spec.ReadinessGates {
			for _, c := range p.Status.Conditions {
				if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
					met++
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", met, n)
	}
	return []string{p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), status, strconv.Itoa(restarts), age(p.CreationTimestamp, now),
		orNone(p.Status.PodIP), orNone(p.Spec.NodeName), orNone(p.Status.NominatedNodeName), gates}
}

func serviceRow(s *corev1.Service, now time.Time) []string {
	clusterIP := "<none>"
	if len(s.Spec.ClusterIPs) > 0 {
		clusterIP = s.Spec.ClusterIPs[0]
	}
	ports := make([]string, len(s.Spec.Ports))
	for i, p := range s.Spec.Ports {
		ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	selector := "<none>"
	if len(s.Spec.Selector) > 0 {
		selector = labels.FormatLabels(s.Spec.Selector)
	}
	return []string{s.Name, string(s.Spec.Type), clusterIP, serviceExternalIP(s), orNone(strings.Join(ports, ",")), age(s.CreationTimestamp, now), selector}
}

// serviceExternalIP is the EXTERNAL-IP column as the API server prints it
// (server-side printing never clips load-balancer hostnames).
func serviceExternalIP(s *corev1.Service) string {
	external := slices.Clone(s.Spec.ExternalIPs)
	switch s.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(external, ","))
	case corev1.ServiceTypeLoadBalancer:
		var ingress []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ingress = append(ingress, in.IP)
			} else if in.Hostname != "" {
				ingress = append(ingress, in.Hostname)
			}
		}
		slices.Sort(ingress)
		all := append(slices.Compact(ingress), external...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}

// maxEndpoints is how many endpoints kubectl lists before "+ N more...".
const maxEndpoints = 3

func endpointsRow(e *corev1.Endpoints, now time.Time) []string {
	var list []string
	count := 0
	for _, ss := range e.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < maxEndpoints {
					list = append(list, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < maxEndpoints {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	cell := strings.Join(list, ",")
	switch {
	case len(e.Subsets) == 0:
		cell = "<none>"
	case count > maxEndpoints:
		cell = fmt.Sprintf("%s + %d more...", cell, count-maxEndpoints)
	}
	return []string{e.Name, cell, age(e.CreationTimestamp, now)}
}

// containerColumns are the CONTAINERS and IMAGES columns of a pod template.
func containerColumns(spec corev1.PodSpec) (names, images string) {
	var n, i []string
	for _, c := range spec.Containers {
		n = append(n, c.Name)
		i = append(i, c.Image)
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

func deploymentRow(d *appsv1.Deployment, now time.Time) []string {
	desired := int32(0)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	names, images := containerColumns(d.Spec.Template.Spec)
	return []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired), strconv.Itoa(int(d.Status.UpdatedReplicas)),
		strconv.Itoa(int(d.Status.AvailableReplicas)), age(d.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(d.Spec.Selector)}
}

func replicaSetRow(r *appsv1.ReplicaSet, now time.Time) []string {
	desired := int32(0)
	if r.Spec.Replicas != nil {
		desired = *r.Spec.Replicas
	}
	names, images := containerColumns(r.Spec.Template.Spec)
	return []string{r.Name, strconv.Itoa(int(desired)), strconv.Itoa(int(r.Status.Replicas)), strconv.Itoa(int(r.Status.ReadyReplicas)),
		age(r.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(r.Spec.Selector)}
}

func daemonSetRow(d *appsv1.DaemonSet, now time.Time) []string {
	s := d.Status
	names, images := containerColumns(d.Spec.Template.Spec)
	return []string{d.Name, strconv.Itoa(int(s.DesiredNumberScheduled)), strconv.Itoa(int(s.CurrentNumberScheduled)), strconv.Itoa(int(s.NumberReady)),
		strconv.Itoa(int(s.UpdatedNumberScheduled)), strconv.Itoa(int(s.NumberAvailable)),
		labels.FormatLabels(d.Spec.Template.Spec.NodeSelector), age(d.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(d.Spec.Selector)}
}
