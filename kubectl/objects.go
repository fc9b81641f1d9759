// Package kubectl shows an nlbsim world the way kubectl shows a real
// cluster: it converts a *topology.World into Kubernetes v1 objects
// (Nodes, Pods, Services, Endpoints, Deployments, ReplicaSets, DaemonSets)
// and prints them with kubectl get's columns, or as JSON, YAML, jsonpath or
// names. It never needs root.
package kubectl

//lint:file-ignore SA1019 kubectl still shows v1 Endpoints (the walkthrough's `kubectl get endpoints`) and a node's kubeProxyVersion, both deprecated upstream.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nlbsim/nlbsim/topology"
)

// Objects is a world as the Kubernetes API holds it. Items keep the world's
// order: nodes and Services in creation order, pods by node then name.
type Objects struct {
	Nodes       []corev1.Node
	Pods        []corev1.Pod
	Services    []corev1.Service
	Endpoints   []corev1.Endpoints
	Deployments []appsv1.Deployment
	ReplicaSets []appsv1.ReplicaSet
	DaemonSets  []appsv1.DaemonSet
}

// Convert turns a world into its Kubernetes objects.
func Convert(w *topology.World) *Objects {
	o := &Objects{}
	for _, n := range w.Nodes {
		o.Nodes = append(o.Nodes, Node(w, n))
	}
	for _, p := range podsInOrder(w) {
		o.Pods = append(o.Pods, Pod(w, p))
	}
	for _, s := range w.Services {
		o.Services = append(o.Services, Service(w, s))
		if s.Selector != nil || len(s.ManualEndpoints) > 0 {
			o.Endpoints = append(o.Endpoints, Endpoints(w, s))
		}
	}
	for _, d := range w.Deployments {
		o.Deployments = append(o.Deployments, Deployment(w, d))
		o.ReplicaSets = append(o.ReplicaSets, ReplicaSet(w, d))
	}
	for _, ds := range daemonSetsOf(w) {
		o.DaemonSets = append(o.DaemonSets, DaemonSet(w, ds.namespace, ds.name))
	}
	return o
}

// podsInOrder lists every pod, host-network ones included, by node (in
// creation order, Pending pods last) then name: the order of `get pods`.
func podsInOrder(w *topology.World) []topology.Pod {
	nodeIndex := map[string]int{}
	for i, n := range w.Nodes {
		nodeIndex[n.Name] = i
	}
	index := func(p topology.Pod) int {
		if i, ok := nodeIndex[p.Node]; ok {
			return i
		}
		return len(w.Nodes)
	}
	pods := slices.Concat(w.Pods, w.HostNetworkPods)
	slices.SortStableFunc(pods, func(a, b topology.Pod) int {
		return cmp.Or(cmp.Compare(index(a), index(b)), cmp.Compare(a.Name, b.Name))
	})
	return pods
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func objectMeta(w *topology.World, kind, namespace, name string, created time.Time) metav1.ObjectMeta {
	if created.IsZero() {
		created = w.Created
	}
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         namespace,
		UID:               uidFor(w, kind, namespace, name),
		CreationTimestamp: metav1.NewTime(created),
	}
}

// nodeName is the Kubernetes name of the node with host name host ("" if none).
func nodeName(w *topology.World, host string) string {
	if n, ok := w.Node(host); ok {
		return n.NodeName
	}
	return ""
}

// Node is a node as EKS registers it.
func Node(w *topology.World, n topology.Node) corev1.Node {
	capacity, allocatable := nodeResources(n.InstanceType)
	since := metav1.NewTime(w.Created)
	meta := objectMeta(w, "Node", "", n.NodeName, w.Created)
	meta.Labels = n.EKSLabels()
	maps.Copy(meta.Labels, n.Labels)
	meta.Annotations = map[string]string{
		"alpha.kubernetes.io/provided-node-ip":                   n.IP.String(),
		"node.alpha.kubernetes.io/ttl":                           "0",
		"volumes.kubernetes.io/controller-managed-attach-detach": "true",
	}
	addresses := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP.String()}}
	if n.ExternalIP.IsValid() {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: n.ExternalIP.String()})
	}
	addresses = append(addresses,
		corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: n.NodeName},
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: n.NodeName})
	condition := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: since, LastTransitionTime: since, Reason: reason, Message: message}
	}
	conditions := []corev1.NodeCondition{
		condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
	var taints []corev1.Taint
	for _, t := range n.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	if n.NotReady {
		// The node lifecycle controller's view of a kubelet that stopped
		// posting status: every condition Unknown, the node unreachable.
		for i := range conditions {
			conditions[i].Status, conditions[i].Reason, conditions[i].Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
		}
		taints = append(taints,
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	}
	return corev1.Node{
		TypeMeta:   typeMeta("v1", "Node"),
		ObjectMeta: meta,
		Spec:       corev1.NodeSpec{ProviderID: fmt.Sprintf("aws:///%s/%s", n.AZ, n.InstanceID), Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:        capacity,
			Allocatable:     allocatable,
			Conditions:      conditions,
			Addresses:       addresses,
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               hexID(32, w.Cluster.Name, "machine", n.InstanceID),
				SystemUUID:              "ec2" + hexID(29, w.Cluster.Name, "system", n.InstanceID),
				BootID:                  string(uidFor(w, "boot", "", n.NodeName)),
				KernelVersion:           n.KernelVersion,
				OSImage:                 n.OSImage,
				ContainerRuntimeVersion: n.ContainerRuntime,
				KubeletVersion:          w.Cluster.KubernetesVersion,
				KubeProxyVersion:        w.Cluster.KubernetesVersion,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
		},
	}
}

// owner is the controller that made a pod.
type owner struct {
	kind       string // ReplicaSet or DaemonSet; empty for a bare pod
	name       string
	deployment *topology.Deployment
}

func ownerOf(w *topology.World, p topology.Pod) owner {
	for i, d := range w.Deployments {
		if d.Namespace == p.Namespace && d.Name == p.Owner {
			return owner{kind: "ReplicaSet", name: replicaSetName(d), deployment: &w.Deployments[i]}
		}
	}
	if p.HostNetwork && p.Owner != "" {
		return owner{kind: "DaemonSet", name: p.Owner}
	}
	return owner{}
}

func replicaSetName(d topology.Deployment) string { return d.Name + "-" + d.TemplateHash }

func controllerRef(w *topology.World, kind, namespace, name string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name,
		UID: uidFor(w, kind, namespace, name), Controller: &yes, BlockOwnerDeletion: &yes}
}

// daemonSetRevision is the controller-revision-hash of a DaemonSet's pods.
func daemonSetRevision(w *topology.World, namespace, name string) string {
	return revisionHash(w.Cluster.Name, "daemonset", namespace, name)
}

// Pod is a pod as the API server holds it; Pending pods carry the
// scheduler's Unschedulable condition.
func Pod(w *topology.World, p topology.Pod) corev1.Pod {
	own := ownerOf(w, p)
	meta := objectMeta(w, "Pod", p.Namespace, p.Name, p.Created)
	meta.Labels = maps.Clone(p.Labels)
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	switch own.kind {
	case "ReplicaSet":
		meta.Labels["pod-template-hash"] = own.deployment.TemplateHash
		meta.GenerateName = own.name + "-"
	case "DaemonSet":
		meta.Labels["controller-revision-hash"] = daemonSetRevision(w, p.Namespace, own.name)
		meta.Labels["pod-template-generation"] = "1"
		meta.GenerateName = own.name + "-"
	}
	if own.kind != "" {
		meta.OwnerReferences = []metav1.OwnerReference{controllerRef(w, own.kind, p.Namespace, own.name)}
	}
	wl := workloadFor(w, p.Namespace, p.Owner, p.Ports, p.Containers, p.HostNetwork)
	spec := podSpec(wl, p.HostNetwork, own.kind == "DaemonSet")
	spec.NodeName = nodeName(w, p.Node)

	created := meta.CreationTimestamp
	status := corev1.PodStatus{Phase: corev1.PodPhase(p.Phase), QOSClass: qosClass(wl.containers)}
	if !p.Running() {
		status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			LastTransitionTime: created, Reason: corev1.PodReasonUnschedulable, Message: p.Reason}}
		return corev1.Pod{TypeMeta: typeMeta("v1", "Pod"), ObjectMeta: meta, Spec: spec, Status: status}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
		corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: created}
		switch {
		case t == corev1.PodReady && !p.Ready():
			c.Status, c.Reason = corev1.ConditionFalse, "ReadinessGatesNotReady"
			if p.NotReady {
				c.Reason = "ContainersNotReady"
			}
		case t == corev1.ContainersReady && p.NotReady:
			c.Status, c.Reason = corev1.ConditionFalse, "ContainersNotReady"
		}
		status.Conditions = append(status.Conditions, c)
	}
	// The Load Balancer Controller's readiness gates and their conditions.
	for _, g := range slices.Sorted(maps.Keys(p.ReadinessGates)) {
		spec.ReadinessGates = append(spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(g)})
		c := corev1.PodCondition{Type: corev1.PodConditionType(g), Status: corev1.ConditionFalse, LastTransitionTime: created}
		if p.ReadinessGates[g] {
			c.Status = corev1.ConditionTrue
		}
		status.Conditions = append(status.Conditions, c)
	}
	if n, ok := w.Node(p.Node); ok {
		status.HostIP = n.IP.String()
		status.HostIPs = []corev1.HostIP{{IP: status.HostIP}}
	}
	if p.IP.IsValid() {
		status.PodIP = p.IP.String()
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	}
	status.StartTime = &created
	started := true
	for _, c := range wl.containers {
		status.ContainerStatuses = append(status.ContainerStatuses, corev1.ContainerStatus{
			Name:         c.Name,
			State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: created}},
			Ready:        !p.NotReady,
			RestartCount: 0,
			Image:        c.Image,
			ImageID:      imageID(c.Image),
			ContainerID:  "containerd://" + hexID(64, w.Cluster.Name, "container", p.Namespace, p.Name, c.Name),
			Started:      &started,
		})
	}
	return corev1.Pod{TypeMeta: typeMeta("v1", "Pod"), ObjectMeta: meta, Spec: spec, Status: status}
}

// imageID is a digest reference for an image: the repository with a
// deterministic sha256 in place of the tag.
func imageID(image string) string {
	repo := image
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		repo = image[:i]
	}
	if !strings.Contains(repo, "/") {
		repo = "docker.io/library/" + repo
	}
	return repo + "@sha256:" + hexID(64, "image", image)
}

// podSpec is the spec every pod of a workload shares (nodeName aside).
func podSpec(wl workload, hostNetwork, daemon bool) corev1.PodSpec {
	grace := int64(30)
	links := true
	preempt := corev1.PreemptLowerPriority
	spec := corev1.PodSpec{
		Containers:                    wl.containers,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: &grace,
		DNSPolicy:                     corev1.DNSClusterFirst,
		ServiceAccountName:            wl.serviceAccount,
		HostNetwork:                   hostNetwork,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 corev1.DefaultSchedulerName,
		EnableServiceLinks:            &links,
		PreemptionPolicy:              &preempt,
	}
	if wl.priorityClass != "" {
		value := priorityValues[wl.priorityClass]
		spec.PriorityClassName, spec.Priority = wl.priorityClass, &value
	} else {
		zero := int32(0)
		spec.Priority = &zero
	}
	if daemon {
		spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	} else {
		wait := int64(300)
		spec.Tolerations = []corev1.Toleration{
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &wait},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &wait},
		}
	}
	return spec
}

// addonServiceLabels are the labels EKS puts on its own Services.
var addonServiceLabels = map[string]map[string]string{
	"default/kubernetes": {"component": "apiserver", "provider": "kubernetes"},
	"kube-system/kube-dns": {"eks.amazonaws.com/component": "kube-dns", "k8s-app": "kube-dns",
		"kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
}

// Service is a Service as the API server and the Load Balancer Controller
// leave it: a LoadBalancer Service with an NLB has the NLB's DNS name in
// status.loadBalancer.ingress[0].hostname.
func Service(w *topology.World, s topology.Service) corev1.Service {
	meta := objectMeta(w, "Service", s.Namespace, s.Name, w.Created)
	if s.Addon {
		meta.Labels = maps.Clone(addonServiceLabels[s.Key()])
	}
	meta.Annotations = maps.Clone(s.Annotations)
	typ := corev1.ServiceType(cmp.Or(s.Type, string(corev1.ServiceTypeClusterIP)))
	cluster := corev1.ServiceInternalTrafficPolicyCluster
	spec := corev1.ServiceSpec{
		Type:                  typ,
		Selector:              maps.Clone(s.Selector),
		SessionAffinity:       corev1.ServiceAffinity(cmp.Or(s.SessionAffinity, string(corev1.ServiceAffinityNone))),
		IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
		InternalTrafficPolicy: &cluster,
	}
	single := corev1.IPFamilyPolicySingleStack
	spec.IPFamilyPolicy = &single
	if s.ClusterIP.IsValid() {
		spec.ClusterIP = s.ClusterIP.String()
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	for _, p := range s.Ports {
		spec.Ports = append(spec.Ports, corev1.ServicePort{
			Name:       p.Name,
			Protocol:   corev1.Protocol(p.Protocol),
			Port:       int32(p.Port),
			TargetPort: intstr.Parse(p.TargetPort),
			NodePort:   int32(p.NodePort),
		})
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		timeout := int32(cmp.Or(s.AffinityTimeout, int(corev1.DefaultClientIPServiceAffinitySeconds)))
		spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
	if typ == corev1.ServiceTypeNodePort || typ == corev1.ServiceTypeLoadBalancer {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(cmp.Or(string(s.ExternalTrafficPolicy), string(topology.PolicyCluster)))
	}
	var status corev1.ServiceStatus
	if typ == corev1.ServiceTypeLoadBalancer {
		allocate := true
		spec.AllocateLoadBalancerNodePorts = &allocate
		spec.HealthCheckNodePort = int32(s.HealthCheckNodePort)
		if lb, ok := w.LoadBalancerFor(s.Key()); ok {
			class := "service.k8s.aws/nlb"
			spec.LoadBalancerClass = &class
			meta.Finalizers = []string{"service.k8s.aws/resources"}
			status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: lb.DNSName}}
		}
	}
	return corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta, Spec: spec, Status: status}
}

// Endpoints is a Service's v1 Endpoints as the endpoints controller writes
// them: addresses with the same ports share a subset, sorted by IP.
func Endpoints(w *topology.World, s topology.Service) corev1.Endpoints {
	meta := objectMeta(w, "Endpoints", s.Namespace, s.Name, w.Created)
	if s.Selector == nil {
		meta.Labels = map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
	} else if s.Addon {
		meta.Labels = maps.Clone(addonServiceLabels[s.Key()])
	}
	type address struct {
		addr  corev1.EndpointAddress
		ready bool
		ports []corev1.EndpointPort
	}
	var order []string
	byKey := map[string]*address{}
	for _, sp := range s.Ports {
		for _, e := range w.Endpoints(s, sp) {
			key := e.IP.String() + "/" + e.Pod
			a, ok := byKey[key]
			if !ok {
				a = &address{addr: corev1.EndpointAddress{IP: e.IP.String()}, ready: e.Ready}
				if name := nodeName(w, e.Node); name != "" {
					a.addr.NodeName = &name
				}
				if e.Pod != "" {
					a.addr.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: s.Namespace, Name: e.Pod,
						UID: uidFor(w, "Pod", s.Namespace, e.Pod)}
				}
				byKey[key] = a
				order = append(order, key)
			}
			a.ports = append(a.ports, corev1.EndpointPort{Name: sp.Name, Port: int32(e.Port), Protocol: corev1.Protocol(sp.Protocol)})
		}
	}
	var subsets []corev1.EndpointSubset
	subsetOf := map[string]int{}
	for _, key := range order {
		a := byKey[key]
		signature := fmt.Sprint(a.ports)
		i, ok := subsetOf[signature]
		if !ok {
			i = len(subsets)
			subsetOf[signature] = i
			subsets = append(subsets, corev1.EndpointSubset{Ports: a.ports})
		}
		if a.ready {
			subsets[i].Addresses = append(subsets[i].Addresses, a.addr)
		} else {
			subsets[i].NotReadyAddresses = append(subsets[i].NotReadyAddresses, a.addr)
		}
	}
	for i := range subsets {
		byIP := func(list []corev1.EndpointAddress) {
			sort.SliceStable(list, func(a, b int) bool { return list[a].IP < list[b].IP })
		}
		byIP(subsets[i].Addresses)
		byIP(subsets[i].NotReadyAddresses)
	}
	return corev1.Endpoints{TypeMeta: typeMeta("v1", "Endpoints"), ObjectMeta: meta, Subsets: subsets}
}

// podsOf lists the pods a Deployment made and how many of them run.
func podsOf(w *topology.World, d topology.Deployment) (total, running int) {
	for _, p := range w.Pods {
		if p.Namespace == d.Namespace && p.Owner == d.Name {
			total++
			if p.Running() {
				running++
			}
		}
	}
	return total, running
}

// podTemplate is the template of a workload's pods.
func podTemplate(wl workload, labels map[string]string, hostNetwork, daemon bool) corev1.PodTemplateSpec {
	spec := podSpec(wl, hostNetwork, daemon)
	spec.Priority, spec.PreemptionPolicy, spec.EnableServiceLinks = nil, nil, nil // set by admission on pods only
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
}

func deploymentWorkload(w *topology.World, d topology.Deployment) workload {
	return workloadFor(w, d.Namespace, d.Name, d.Ports, 1, false)
}

// Deployment is a Deployment with its rollout complete.
func Deployment(w *topology.World, d topology.Deployment) appsv1.Deployment {
	total, running := podsOf(w, d)
	meta := objectMeta(w, "Deployment", d.Namespace, d.Name, w.Created)
	meta.Generation = 1
	meta.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
	if d.Addon && d.Name == "coredns" {
		meta.Labels = map[string]string{"eks.amazonaws.com/component": "coredns", "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
	}
	replicas := int32(d.Replicas)
	quarter := intstr.FromString("25%")
	revisions, deadline := int32(10), int32(600)
	available, progressing := corev1.ConditionTrue, corev1.ConditionTrue
	availableReason, availableMessage := "MinimumReplicasAvailable", "Deployment has minimum availability."
	if running < d.Replicas-d.Replicas/4 {
		available = corev1.ConditionFalse
		availableReason, availableMessage = "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	}
	since := metav1.NewTime(w.Created)
	return appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(d.Labels)},
			Template: podTemplate(deploymentWorkload(w, d), maps.Clone(d.Labels), false, false),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &quarter, MaxSurge: &quarter}},
			RevisionHistoryLimit:    &revisions,
			ProgressDeadlineSeconds: &deadline,
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration:  1,
			Replicas:            int32(total),
			UpdatedReplicas:     int32(total),
			ReadyReplicas:       int32(running),
			AvailableReplicas:   int32(running),
			UnavailableReplicas: int32(total - running),
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: available, LastUpdateTime: since, LastTransitionTime: since,
					Reason: availableReason, Message: availableMessage},
				{Type: appsv1.DeploymentProgressing, Status: progressing, LastUpdateTime: since, LastTransitionTime: since,
					Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", replicaSetName(d))},
			},
		},
	}
}

// ReplicaSet is the ReplicaSet a Deployment's only revision runs.
func ReplicaSet(w *topology.World, d topology.Deployment) appsv1.ReplicaSet {
	total, running := podsOf(w, d)
	name := replicaSetName(d)
	labels := maps.Clone(d.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["pod-template-hash"] = d.TemplateHash
	meta := objectMeta(w, "ReplicaSet", d.Namespace, name, w.Created)
	meta.Generation = 1
	meta.Labels = labels
	meta.OwnerReferences = []metav1.OwnerReference{controllerRef(w, "Deployment", d.Namespace, d.Name)}
	meta.Annotations = map[string]string{
		"deployment.kubernetes.io/desired-replicas": strconv.Itoa(d.Replicas),
		"deployment.kubernetes.io/max-replicas":     strconv.Itoa(d.Replicas + (d.Replicas+3)/4),
		"deployment.kubernetes.io/revision":         "1",
	}
	replicas := int32(d.Replicas)
	return appsv1.ReplicaSet{
		TypeMeta:   typeMeta("apps/v1", "ReplicaSet"),
		ObjectMeta: meta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(labels)},
			Template: podTemplate(deploymentWorkload(w, d), maps.Clone(labels), false, false),
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             int32(total),
			FullyLabeledReplicas: int32(total),
			ReadyReplicas:        int32(running),
			AvailableReplicas:    int32(running),
			ObservedGeneration:   1,
		},
	}
}

type daemonSetRef struct{ namespace, name string }

// daemonSetsOf lists the DaemonSets behind the host-network pods, in the
// order their first pod appears.
func daemonSetsOf(w *topology.World) []daemonSetRef {
	var out []daemonSetRef
	for _, p := range w.HostNetworkPods {
		ref := daemonSetRef{p.Namespace, p.Owner}
		if p.Owner != "" && !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	return out
}

// DaemonSet is a host-network DaemonSet (aws-node, kube-proxy) with one
// ready pod per node it runs on.
func DaemonSet(w *topology.World, namespace, name string) appsv1.DaemonSet {
	var pods []topology.Pod
	for _, p := range w.HostNetworkPods {
		if p.Namespace == namespace && p.Owner == name {
			pods = append(pods, p)
		}
	}
	labels := map[string]string{"k8s-app": name}
	containers := 1
	var ports []topology.ContainerPort
	if len(pods) > 0 {
		labels = maps.Clone(pods[0].Labels)
		containers, ports = pods[0].Containers, pods[0].Ports
	}
	ready := 0
	for _, p := range pods {
		if p.Running() {
			ready++
		}
	}
	meta := objectMeta(w, "DaemonSet", namespace, name, w.Created)
	meta.Generation = 1
	meta.Labels = maps.Clone(labels)
	meta.Annotations = map[string]string{"deprecated.daemonset.template.generation": "1"}
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	history := int32(10)
	wl := workloadFor(w, namespace, name, ports, containers, true)
	return appsv1.DaemonSet{
		TypeMeta:   typeMeta("apps/v1", "DaemonSet"),
		ObjectMeta: meta,
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(labels)},
			Template: podTemplate(wl, maps.Clone(labels), true, true),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero}},
			RevisionHistoryLimit: &history,
		},
		Status: appsv1.DaemonSetStatus{
			CurrentNumberScheduled: int32(len(pods)),
			DesiredNumberScheduled: int32(len(pods)),
			NumberReady:            int32(ready),
			UpdatedNumberScheduled: int32(len(pods)),
			NumberAvailable:        int32(ready),
			ObservedGeneration:     1,
		},
	}
}
