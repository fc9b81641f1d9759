package cluster

import (
	"cmp"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nlbsim/nlbsim/topology"
)

// Labels the reader takes nodes' zones, regions and instance types from.
const (
	labelZone          = "topology.kubernetes.io/zone"
	labelZoneBeta      = "failure-domain.beta.kubernetes.io/zone"
	labelRegion        = "topology.kubernetes.io/region"
	labelInstanceType  = "node.kubernetes.io/instance-type"
	labelServiceName   = discoveryv1.LabelServiceName
	defaultMasqueraded = 14
)

// build turns the decoded objects into a world.
func (r *reader) build(name, files string, items []item) *Cluster {
	o := r.sort(items)
	if len(r.errs) > 0 {
		return nil
	}
	if len(o.nodes) == 0 {
		r.errs = append(r.errs, InputError{File: files, Message: "no Node in the input: rules are per node (want `kubectl get nodes,services,endpointslices,pods -A -o yaml`)"})
		return nil
	}
	w := &topology.World{
		Spec: topology.Spec{Name: name},
		Cluster: topology.Cluster{Name: name, KubeProxy: topology.KubeProxyConfig{
			MasqueradeBit: defaultMasqueraded, RandomFully: true,
			SyncPeriod: 30 * time.Second, MinSyncPeriod: time.Second, HealthzPort: 10256,
		}},
		NextAddress: map[string]int{},
	}
	c := &Cluster{World: w, files: files, objects: map[string]item{}}
	for _, it := range items {
		c.objects[it.ref()] = it
	}
	hostOf := r.nodes(w, o)
	c.KubeProxyConfig = r.kubeProxyConfig(w, o)
	r.pods(w, o, hostOf)
	r.services(w, o, hostOf)
	c.Warnings = r.warnings
	return c
}

// nodes reads the nodes, sorted by name as kubectl lists them, as hosts
// node-1, node-2, …; it returns the host name of each node name.
func (r *reader) nodes(w *topology.World, o *objects) map[string]string {
	sort.SliceStable(o.nodes, func(i, j int) bool { return o.nodes[i].Name < o.nodes[j].Name })
	hostOf := map[string]string{}
	for i, n := range o.nodes {
		it := o.where[n]
		node := topology.Node{
			Host:             topology.Host{Name: fmt.Sprintf("node-%d", i+1)},
			NodeName:         n.Name,
			InstanceType:     n.Labels[labelInstanceType],
			OSImage:          n.Status.NodeInfo.OSImage,
			KernelVersion:    n.Status.NodeInfo.KernelVersion,
			ContainerRuntime: n.Status.NodeInfo.ContainerRuntimeVersion,
			Labels:           n.Labels,
		}
		for _, t := range n.Spec.Taints {
			node.Taints = append(node.Taints, topology.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
		}
		node.AZ = n.Labels[labelZone]
		if node.AZ == "" {
			node.AZ = n.Labels[labelZoneBeta]
		}
		if id, ok := strings.CutPrefix(n.Spec.ProviderID, "aws:///"); ok {
			_, node.InstanceID, _ = strings.Cut(id, "/")
		}
		for _, a := range n.Status.Addresses {
			addr, err := netip.ParseAddr(a.Address)
			if err != nil || !addr.Is4() {
				continue
			}
			switch a.Type {
			case corev1.NodeInternalIP:
				if !node.IP.IsValid() {
					node.IP = addr
				}
			case corev1.NodeExternalIP:
				if !node.ExternalIP.IsValid() {
					node.ExternalIP = addr
				}
			}
		}
		if !node.IP.IsValid() {
			r.fail(it, "status.addresses has no IPv4 InternalIP: kube-proxy's rules need the node's address")
			continue
		}
		node.NotReady = true
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				node.NotReady = cond.Status != corev1.ConditionTrue
			}
		}
		if i == 0 {
			w.Cluster.Region = n.Labels[labelRegion]
			w.Cluster.KubernetesVersion = n.Status.NodeInfo.KubeletVersion
		}
		w.Nodes = append(w.Nodes, node)
		hostOf[n.Name] = node.Name
	}
	return hostOf
}

// pods reads the pods as they are: address, node, phase, readiness.
func (r *reader) pods(w *topology.World, o *objects, hostOf map[string]string) {
	for _, p := range o.pods {
		pod := topology.Pod{
			Name: p.Name, Namespace: p.Namespace, Labels: p.Labels,
			Node: hostOf[p.Spec.NodeName], HostNetwork: p.Spec.HostNetwork,
			Containers: len(p.Spec.Containers), Phase: string(p.Status.Phase),
			Reason: p.Status.Reason, Serves: topology.ServesNone,
			Terminating: p.DeletionTimestamp != nil, Created: p.CreationTimestamp.Time,
		}
		if len(p.OwnerReferences) > 0 {
			pod.Owner = p.OwnerReferences[0].Name
		}
		pod.TemplateHash = p.Labels["pod-template-hash"]
		if p.Spec.NodeName != "" && pod.Node == "" {
			r.warn("pod %s/%s is on node %s, which is not in the input", p.Namespace, p.Name, p.Spec.NodeName)
		}
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil && a.Is4() {
			pod.IP = a
		}
		pod.NotReady = true
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				pod.NotReady = cond.Status != corev1.ConditionTrue
			}
		}
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				protocol := cmp.Or(port.Protocol, corev1.ProtocolTCP) // the API's default
				pod.Ports = append(pod.Ports, topology.ContainerPort{Name: port.Name, Port: int(port.ContainerPort), Protocol: string(protocol)})
			}
		}
		if pod.HostNetwork {
			w.HostNetworkPods = append(w.HostNetworkPods, pod)
		} else {
			w.Pods = append(w.Pods, pod)
		}
	}
}

// services reads the Services and gives each the endpoints its
// EndpointSlices list.
func (r *reader) services(w *topology.World, o *objects, hostOf map[string]string) {
	index := map[string]int{}
	for _, s := range o.services {
		svc, ok := r.service(o.where[s], s)
		if !ok {
			continue
		}
		index[svc.Key()] = len(w.Services)
		w.Services = append(w.Services, svc)
	}
	sort.SliceStable(o.slices, func(i, j int) bool { return o.slices[i].Name < o.slices[j].Name })
	for _, sl := range o.slices {
		owner := sl.Labels[labelServiceName]
		key := sl.Namespace + "/" + owner
		i, ok := index[key]
		switch {
		case owner == "":
			r.warn("EndpointSlice %s/%s has no %s label: no Service owns it; left out", sl.Namespace, sl.Name, labelServiceName)
			continue
		case !ok:
			r.warn("EndpointSlice %s/%s belongs to Service %s, which is not in the input; left out", sl.Namespace, sl.Name, key)
			continue
		case sl.AddressType != discoveryv1.AddressTypeIPv4:
			r.warn("EndpointSlice %s/%s: addressType %s is not modelled (IPv4 only); left out", sl.Namespace, sl.Name, sl.AddressType)
			continue
		}
		svc := &w.Services[i]
		for _, port := range sl.Ports {
			if port.Port == nil || *port.Port == 0 {
				continue // kube-proxy skips a port without a number
			}
			portName, protocol := "", "TCP"
			if port.Name != nil {
				portName = *port.Name
			}
			if port.Protocol != nil {
				protocol = string(*port.Protocol)
			}
			for _, ep := range sl.Endpoints {
				if len(ep.Addresses) == 0 {
					continue
				}
				addr, err := netip.ParseAddr(ep.Addresses[0])
				if err != nil {
					r.fail(o.where[sl], "endpoint address %q is not an IP address", ep.Addresses[0])
					continue
				}
				e := topology.Endpoint{
					IP: addr, Port: int(*port.Port),
					Ready:       ep.Conditions.Ready == nil || *ep.Conditions.Ready,
					Serving:     ep.Conditions.Serving == nil || *ep.Conditions.Serving,
					Terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
				}
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					e.Pod = ep.TargetRef.Name
				}
				if ep.NodeName != nil {
					e.Node = hostOf[*ep.NodeName]
					if e.Node == "" {
						r.warn("EndpointSlice %s/%s: endpoint %s is on node %s, which is not in the input (taken as on no node)", sl.Namespace, sl.Name, addr, *ep.NodeName)
					}
				}
				if ep.Hints != nil && len(ep.Hints.ForZones) > 0 {
					r.warn("EndpointSlice %s/%s: topology hints are not modelled (kube-proxy may prefer same-zone endpoints)", sl.Namespace, sl.Name)
				}
				svc.SliceEndpoints = append(svc.SliceEndpoints, topology.SliceEndpoint{PortName: portName, Protocol: protocol, Slice: sl.Name, Endpoint: e})
			}
		}
	}
}

// service reads one Service's spec as the API server stored it.
func (r *reader) service(it item, s *corev1.Service) (topology.Service, bool) {
	key := s.Namespace + "/" + s.Name
	svc := topology.Service{
		Name: s.Name, Namespace: s.Namespace, Type: string(s.Spec.Type),
		Selector: s.Spec.Selector, ExternalTrafficPolicy: topology.TrafficPolicy(s.Spec.ExternalTrafficPolicy),
		HealthCheckNodePort: int(s.Spec.HealthCheckNodePort), SessionAffinity: string(s.Spec.SessionAffinity),
		Annotations: s.Annotations, FromSlices: true,
	}
	if svc.Type == "" {
		svc.Type = string(corev1.ServiceTypeClusterIP)
	}
	if svc.SessionAffinity == "" {
		svc.SessionAffinity = string(corev1.ServiceAffinityNone)
	}
	if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		svc.AffinityTimeout = int(*c.ClientIP.TimeoutSeconds)
	}
	if s.Spec.LoadBalancerClass != nil {
		svc.LoadBalancerClass = *s.Spec.LoadBalancerClass
	}
	switch ip := s.Spec.ClusterIP; {
	case svc.Type == string(corev1.ServiceTypeExternalName):
	case ip == "" || ip == corev1.ClusterIPNone:
		// headless: kube-proxy writes nothing
	default:
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			r.fail(it, "spec.clusterIP %q is not an IP address", ip)
			return svc, false
		case !a.Is4():
			r.warn("Service %s: IPv6 ClusterIP %s is not modelled (IPv4 only); no rules for it", key, a)
		default:
			svc.ClusterIP = a
		}
	}
	if len(s.Spec.ClusterIPs) > 1 {
		r.warn("Service %s: dual-stack; only its IPv4 ClusterIP is modelled", key)
	}
	for _, p := range s.Spec.Ports {
		port := topology.ServicePort{Name: p.Name, Protocol: string(p.Protocol), Port: int(p.Port), NodePort: int(p.NodePort)}
		if port.Protocol == "" {
			port.Protocol = string(corev1.ProtocolTCP)
		}
		switch {
		case p.TargetPort.Type == intstr.String:
			port.TargetPort = p.TargetPort.StrVal
		case p.TargetPort.IntVal == 0:
			port.TargetPort = strconv.Itoa(int(p.Port)) // the API's default
		default:
			port.TargetPort = strconv.Itoa(int(p.TargetPort.IntVal))
		}
		svc.Ports = append(svc.Ports, port)
	}
	for _, e := range s.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(e); err == nil {
			svc.ExternalIPs = append(svc.ExternalIPs, a)
		}
	}
	if len(svc.ExternalIPs) > 0 {
		r.warn("Service %s: externalIPs are not modelled; kube-proxy's rules for them are left out", key)
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil && (ing.IPMode == nil || *ing.IPMode == corev1.LoadBalancerIPModeVIP) {
			svc.LoadBalancerIPs = append(svc.LoadBalancerIPs, a)
		}
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.Hostname != "" && svc.IngressHostname == "" {
			svc.IngressHostname = ing.Hostname
		}
	}
	if len(svc.LoadBalancerIPs) > 0 {
		r.warn("Service %s: load-balancer ingress IPs are not modelled; kube-proxy's rules for them are left out", key)
	}
	if len(s.Spec.LoadBalancerSourceRanges) > 0 {
		r.warn("Service %s: loadBalancerSourceRanges are not modelled", key)
	}
	if p := s.Spec.InternalTrafficPolicy; p != nil && *p == corev1.ServiceInternalTrafficPolicyLocal {
		r.warn("Service %s: internalTrafficPolicy Local is not modelled; its rules are those of Cluster", key)
	}
	if s.Spec.TrafficDistribution != nil {
		r.warn("Service %s: trafficDistribution is not modelled", key)
	}
	return svc, true
}
