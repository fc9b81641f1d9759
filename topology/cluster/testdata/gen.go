//go:build ignore

// gen writes eks-cluster.yaml and kube-proxy-config.yaml: an EKS-like
// cluster's objects in the form `kubectl get nodes,services,endpointslices,pods
// -A -o yaml` and `kubectl get cm -n kube-system kube-proxy-config -o yaml`
// print them (a v1 List, sigs.k8s.io/yaml as kubectl marshals it, with
// managedFields, resourceVersion, uid and status). Names and addresses are
// invented. Run from the repository: go run ./topology/cluster/testdata/gen.go
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var (
	created = metav1.NewTime(time.Date(2024, 9, 30, 23, 11, 5, 0, time.UTC))
	version = 41000
)

func uid(s string) types.UID {
	h := sha256.Sum256([]byte(s))
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

func meta(ns, name, manager string, labels map[string]string, fields string) metav1.ObjectMeta {
	version += 17
	return metav1.ObjectMeta{
		Name: name, Namespace: ns, Labels: labels, UID: uid(ns + "/" + name),
		ResourceVersion: fmt.Sprint(version), CreationTimestamp: created,
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time: &created, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)},
		}},
	}
}

func ptr[T any](v T) *T { return &v }

type nodeDef struct{ name, ip, ext, zone, id string }

var nodes = []nodeDef{
	{"ip-192-168-1-50.ap-northeast-2.compute.internal", "192.168.1.50", "203.0.113.50", "ap-northeast-2a", "i-0a1b2c3d4e5f60001"},
	{"ip-192-168-2-60.ap-northeast-2.compute.internal", "192.168.2.60", "203.0.113.60", "ap-northeast-2b", "i-0a1b2c3d4e5f60002"},
	{"ip-192-168-3-70.ap-northeast-2.compute.internal", "192.168.3.70", "203.0.113.70", "ap-northeast-2c", "i-0a1b2c3d4e5f60003"},
}

func node(d nodeDef) *corev1.Node {
	short := d.name[:len("ip-192-168-1-50")]
	n := &corev1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: meta("", d.name, "kubelet", map[string]string{
			"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": "m5.large", "beta.kubernetes.io/os": "linux",
			"eks.amazonaws.com/capacityType": "ON_DEMAND", "eks.amazonaws.com/nodegroup": "ng-1",
			"failure-domain.beta.kubernetes.io/region": "ap-northeast-2", "failure-domain.beta.kubernetes.io/zone": d.zone,
			"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": d.name, "kubernetes.io/os": "linux",
			"node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/region": "ap-northeast-2",
			"topology.kubernetes.io/zone": d.zone,
		}, `{"f:metadata":{"f:annotations":{".":{},"f:alpha.kubernetes.io/provided-node-ip":{}}},"f:spec":{"f:providerID":{}}}`),
		Spec: corev1.NodeSpec{ProviderID: "aws:///" + d.zone + "/" + d.id},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: d.ip}, {Type: corev1.NodeExternalIP, Address: d.ext},
				{Type: corev1.NodeInternalDNS, Address: d.name}, {Type: corev1.NodeHostName, Address: d.name},
				{Type: corev1.NodeExternalDNS, Address: "ec2-" + d.ext + ".ap-northeast-2.compute.amazonaws.com"},
			},
			Allocatable: corev1.ResourceList{}, Capacity: corev1.ResourceList{},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: created, LastTransitionTime: created},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: created, LastTransitionTime: created},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				Architecture: "amd64", BootID: string(uid(d.name + "boot")), ContainerRuntimeVersion: "containerd://1.7.22",
				KernelVersion: "5.10.226-214.880.amzn2.x86_64", KubeProxyVersion: "v1.30.4-eks-a737599", KubeletVersion: "v1.30.4-eks-a737599",
				MachineID: fmt.Sprintf("%x", sha256.Sum256([]byte(short)))[:32], OperatingSystem: "linux", OSImage: "Amazon Linux 2",
				SystemUUID: string(uid(d.id)),
			},
		},
	}
	return n
}

type podDef struct {
	ns, name, node, ip, owner string
	labels                    map[string]string
	ports                     []corev1.ContainerPort
	hostNetwork, terminating  bool
}

func pod(d podDef) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: meta(d.ns, d.name, "kubelet", d.labels, `{"f:status":{"f:conditions":{},"f:podIP":{},"f:podIPs":{}}}`),
		Spec: corev1.PodSpec{
			NodeName: nodes[nodeIndex(d.node)].name, HostNetwork: d.hostNetwork,
			Containers: []corev1.Container{{Name: "main", Image: "public.ecr.aws/example/" + d.owner + ":1.0", Ports: d.ports}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: d.ip, PodIPs: []corev1.PodIP{{IP: d.ip}}, HostIP: nodes[nodeIndex(d.node)].ip,
			StartTime: &created, QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: created}},
		},
	}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.owner, UID: uid(d.owner), Controller: ptr(true)}}
	if d.terminating {
		p.DeletionTimestamp = ptr(metav1.NewTime(created.Add(time.Hour)))
		p.DeletionGracePeriodSeconds = ptr(int64(30))
		p.Status.Conditions[0].Status = corev1.ConditionFalse
	}
	return p
}

func nodeIndex(n string) int { return int(n[0] - '1') }

type epDef struct {
	ip, node, pod               string
	ready, serving, terminating bool
}

func slice(ns, name, svc string, ports []discoveryv1.EndpointPort, eps []epDef) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: meta(ns, name, "kube-controller-manager", map[string]string{
			"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": svc,
		}, `{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{}},"f:ports":{}}`),
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	s.ManagedFields[0].APIVersion = "discovery.k8s.io/v1"
	s.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": created.Format(time.RFC3339)}
	s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc, UID: uid(ns + "/" + svc), Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{
			Ready: ptr(e.ready), Serving: ptr(e.serving), Terminating: ptr(e.terminating)}}
		if e.node != "" {
			ep.NodeName = ptr(nodes[nodeIndex(e.node)].name)
			ep.Zone = ptr(nodes[nodeIndex(e.node)].zone)
		}
		if e.pod != "" {
			ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod, UID: uid(ns + "/" + e.pod)}
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

func port(name string, p int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	ep := discoveryv1.EndpointPort{Port: ptr(p), Protocol: ptr(proto)}
	ep.Name = ptr(name)
	return ep
}

func service(ns, name string, spec corev1.ServiceSpec, annotations map[string]string, status corev1.ServiceStatus) *corev1.Service {
	s := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(ns, name, "kubectl-client-side-apply", nil, `{"f:spec":{"f:ports":{},"f:selector":{},"f:type":{}}}`),
		Spec:       spec, Status: status,
	}
	s.Annotations = annotations
	if s.Spec.SessionAffinity == "" {
		s.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicySingleStack)
	s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyCluster)
	return s
}

func main() {
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, node(n))
	}
	http := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	pods := []podDef{
		{ns: "kube-system", name: "aws-node-4xk2p", node: "1", ip: "192.168.1.50", owner: "aws-node", hostNetwork: true, labels: map[string]string{"k8s-app": "aws-node"}},
		{ns: "kube-system", name: "aws-node-9wq7d", node: "2", ip: "192.168.2.60", owner: "aws-node", hostNetwork: true, labels: map[string]string{"k8s-app": "aws-node"}},
		{ns: "kube-system", name: "aws-node-tz5mb", node: "3", ip: "192.168.3.70", owner: "aws-node", hostNetwork: true, labels: map[string]string{"k8s-app": "aws-node"}},
		{ns: "kube-system", name: "coredns-5b8cc885bc-7hj2k", node: "1", ip: "192.168.1.81", owner: "coredns-5b8cc885bc", labels: map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5b8cc885bc"},
			ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP}}},
		{ns: "kube-system", name: "coredns-5b8cc885bc-q8n4v", node: "2", ip: "192.168.2.92", owner: "coredns-5b8cc885bc", labels: map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5b8cc885bc"},
			ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP}}},
		{ns: "kube-system", name: "kube-proxy-6rt8s", node: "1", ip: "192.168.1.50", owner: "kube-proxy", hostNetwork: true, labels: map[string]string{"k8s-app": "kube-proxy"}},
		{ns: "kube-system", name: "kube-proxy-f2x9l", node: "2", ip: "192.168.2.60", owner: "kube-proxy", hostNetwork: true, labels: map[string]string{"k8s-app": "kube-proxy"}},
		{ns: "kube-system", name: "kube-proxy-lm3wc", node: "3", ip: "192.168.3.70", owner: "kube-proxy", hostNetwork: true, labels: map[string]string{"k8s-app": "kube-proxy"}},
		{ns: "shop", name: "api-8f7e6d5c4-b2c3d", node: "1", ip: "192.168.1.121", owner: "api-8f7e6d5c4", labels: map[string]string{"app": "api"}, ports: append(http, corev1.ContainerPort{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})},
		{ns: "shop", name: "api-8f7e6d5c4-f5g6h", node: "2", ip: "192.168.2.122", owner: "api-8f7e6d5c4", labels: map[string]string{"app": "api"}, ports: append(http, corev1.ContainerPort{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})},
		{ns: "shop", name: "api-8f7e6d5c4-k8l9m", node: "3", ip: "192.168.3.123", owner: "api-8f7e6d5c4", labels: map[string]string{"app": "api"}, ports: append(http, corev1.ContainerPort{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})},
		{ns: "shop", name: "cart-7c6d5f4b9-n2p3q", node: "2", ip: "192.168.2.111", owner: "cart-7c6d5f4b9", labels: map[string]string{"app": "cart"}, ports: []corev1.ContainerPort{{ContainerPort: 9000, Protocol: corev1.ProtocolTCP}}},
		{ns: "shop", name: "cart-7c6d5f4b9-r4s5t", node: "3", ip: "192.168.3.112", owner: "cart-7c6d5f4b9", labels: map[string]string{"app": "cart"}, ports: []corev1.ContainerPort{{ContainerPort: 9000, Protocol: corev1.ProtocolTCP}}},
		{ns: "shop", name: "web-6d9f7c8b5d-2x7yz", node: "1", ip: "192.168.1.101", owner: "web-6d9f7c8b5d", labels: map[string]string{"app": "web"}, ports: http},
		{ns: "shop", name: "web-6d9f7c8b5d-8c4vb", node: "1", ip: "192.168.1.104", owner: "web-6d9f7c8b5d", labels: map[string]string{"app": "web"}, ports: http, terminating: true},
		{ns: "shop", name: "web-6d9f7c8b5d-h6j7k", node: "2", ip: "192.168.2.102", owner: "web-6d9f7c8b5d", labels: map[string]string{"app": "web"}, ports: http},
		{ns: "shop", name: "web-6d9f7c8b5d-w3e4r", node: "3", ip: "192.168.3.103", owner: "web-6d9f7c8b5d", labels: map[string]string{"app": "web"}, ports: http},
	}
	lbc := map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-type":            "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":          "internet-facing",
	}
	tcp := corev1.ProtocolTCP
	objs = append(objs,
		service("default", "kubernetes", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.100.0.1",
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: tcp, TargetPort: intstr.FromInt32(443)}}}, nil, corev1.ServiceStatus{}),
		service("kube-system", "kube-dns", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.100.0.10", Selector: map[string]string{"k8s-app": "kube-dns"},
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: tcp, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: tcp, TargetPort: intstr.FromInt32(9153)}}},
			map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}, corev1.ServiceStatus{}),
		service("shop", "api", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.100.70.30", Selector: map[string]string{"app": "api"},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: tcp, TargetPort: intstr.FromString("http"), NodePort: 30080},
				{Name: "metrics", Port: 9090, Protocol: tcp, TargetPort: intstr.FromInt32(9090), NodePort: 30090}}}, nil, corev1.ServiceStatus{}),
		service("shop", "cart", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.100.60.20", Selector: map[string]string{"app": "cart"},
			SessionAffinity:       corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(3600))}},
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: tcp, TargetPort: intstr.FromInt32(9000)}}}, nil, corev1.ServiceStatus{}),
		service("shop", "orders", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.100.80.40", Selector: map[string]string{"app": "orders"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: tcp, TargetPort: intstr.FromString("http")}}}, nil, corev1.ServiceStatus{}),
		service("shop", "web", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.100.50.10", Selector: map[string]string{"app": "web"},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, HealthCheckNodePort: 32080,
			AllocateLoadBalancerNodePorts: ptr(true),
			Ports:                         []corev1.ServicePort{{Name: "http", Port: 80, Protocol: tcp, TargetPort: intstr.FromString("http"), NodePort: 31080}}},
			lbc, corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{Hostname: "k8s-shop-web-5d1c3a9e7b-0f1e2d3c4b5a6978.elb.ap-northeast-2.amazonaws.com"}}}}),
	)
	objs = append(objs,
		slice("default", "kubernetes", "kubernetes", []discoveryv1.EndpointPort{port("https", 443, tcp)},
			[]epDef{{ip: "192.168.2.40", ready: true, serving: true}, {ip: "192.168.3.12", ready: true, serving: true}}),
		slice("kube-system", "kube-dns-x7q2m", "kube-dns", []discoveryv1.EndpointPort{port("dns-tcp", 53, tcp), port("dns", 53, corev1.ProtocolUDP), port("metrics", 9153, tcp)},
			[]epDef{{ip: "192.168.1.81", node: "1", pod: "coredns-5b8cc885bc-7hj2k", ready: true, serving: true}, {ip: "192.168.2.92", node: "2", pod: "coredns-5b8cc885bc-q8n4v", ready: true, serving: true}}),
		slice("shop", "api-5kq8w", "api", []discoveryv1.EndpointPort{port("http", 8080, tcp), port("metrics", 9090, tcp)},
			[]epDef{{ip: "192.168.1.121", node: "1", pod: "api-8f7e6d5c4-b2c3d", ready: true, serving: true}, {ip: "192.168.2.122", node: "2", pod: "api-8f7e6d5c4-f5g6h", ready: true, serving: true}}),
		slice("shop", "api-zr4tn", "api", []discoveryv1.EndpointPort{port("http", 8080, tcp), port("metrics", 9090, tcp)},
			[]epDef{{ip: "192.168.3.123", node: "3", pod: "api-8f7e6d5c4-k8l9m", ready: true, serving: true}}),
		slice("shop", "cart-9d3fh", "cart", []discoveryv1.EndpointPort{port("", 9000, tcp)},
			[]epDef{{ip: "192.168.2.111", node: "2", pod: "cart-7c6d5f4b9-n2p3q", ready: true, serving: true}, {ip: "192.168.3.112", node: "3", pod: "cart-7c6d5f4b9-r4s5t", ready: true, serving: true}}),
		slice("shop", "orders-b6m1x", "orders", nil, nil),
		slice("shop", "web-2hd8c", "web", []discoveryv1.EndpointPort{port("http", 8080, tcp)},
			[]epDef{{ip: "192.168.1.101", node: "1", pod: "web-6d9f7c8b5d-2x7yz", ready: true, serving: true}, {ip: "192.168.2.102", node: "2", pod: "web-6d9f7c8b5d-h6j7k", ready: true, serving: true}}),
		slice("shop", "web-v9p4l", "web", []discoveryv1.EndpointPort{port("http", 8080, tcp)},
			[]epDef{{ip: "192.168.1.104", node: "1", pod: "web-6d9f7c8b5d-8c4vb", ready: false, serving: true, terminating: true}, {ip: "192.168.3.103", node: "3", pod: "web-6d9f7c8b5d-w3e4r", ready: true, serving: true}}),
	)
	// kubectl lists the kinds in the order asked: nodes, services,
	// endpointslices, pods.
	for _, p := range pods {
		objs = append(objs, pod(p))
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objs, "metadata": map[string]any{"resourceVersion": ""}}
	write("topology/cluster/testdata/eks-cluster.yaml", list)

	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta("kube-system", "kube-proxy-config", "eks", map[string]string{"eks.amazonaws.com/component": "kube-proxy", "k8s-app": "kube-proxy"}, `{"f:data":{".":{},"f:config":{}}}`),
		Data: map[string]string{"config": `apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
clientConnection:
  acceptContentTypes: ""
  burst: 10
  contentType: application/vnd.kubernetes.protobuf
  kubeconfig: /var/lib/kube-proxy/kubeconfig
  qps: 5
clusterCIDR: ""
configSyncPeriod: 15m0s
conntrack:
  maxPerCore: 32768
  min: 131072
  tcpCloseWaitTimeout: 1h0m0s
  tcpEstablishedTimeout: 24h0m0s
enableProfiling: false
healthzBindAddress: 0.0.0.0:10256
hostnameOverride: ""
iptables:
  masqueradeAll: false
  masqueradeBit: 14
  minSyncPeriod: 0s
  syncPeriod: 30s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  syncPeriod: 30s
kind: KubeProxyConfiguration
metricsBindAddress: 0.0.0.0:10249
mode: "iptables"
nodePortAddresses: null
oomScoreAdj: -998
portRange: ""
udpIdleTimeout: 250ms
`},
	}
	write("topology/cluster/testdata/kube-proxy-config.yaml", cm)
}

func write(name string, v any) {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		panic(err)
	}
}
