package topology

import (
	"net/netip"
	"time"
)

// World is a fully addressed cluster: everything nlbsim builds, by value.
// It serialises to JSON as the state of a running cluster.
type World struct {
	Spec            Spec           `json:"spec"`
	Cluster         Cluster        `json:"cluster"`
	Subnets         []Subnet       `json:"subnets"`
	Bastion         Host           `json:"bastion"`
	Nodes           []Node         `json:"nodes"`
	Pods            []Pod          `json:"pods"`
	HostNetworkPods []Pod          `json:"hostNetworkPods"`
	ControlPlane    []Host         `json:"controlPlane"`
	Deployments     []Deployment   `json:"deployments"`
	Services        []Service      `json:"services"`
	LoadBalancers   []NLB          `json:"loadBalancers"`
	Created         time.Time      `json:"created"`
	NextAddress     map[string]int `json:"nextAddress"`
	// ProbeService ("namespace/name") is the Service kube-proxy's
	// KUBE-SERVICES lists last in a big world (Spec.Services).
	ProbeService string `json:"probeService,omitempty"`
	// NamespaceLabels are the labels of the manifests' Namespace objects.
	NamespaceLabels map[string]map[string]string `json:"namespaceLabels,omitempty"`
	// Warnings are what building the world found questionable but valid
	// (a Service selecting no pod, an ignored kind); they are not saved.
	Warnings []string `json:"-"`
}

// ClusterDomain is the cluster's DNS domain, as kubelet's --cluster-domain
// gives it to pods and CoreDNS serves it.
const ClusterDomain = "cluster.local"

// Cluster holds the EKS cluster's identity and its fixed ranges.
type Cluster struct {
	Name              string          `json:"name"`
	Region            string          `json:"region"`
	KubernetesVersion string          `json:"kubernetesVersion"`
	VPC               netip.Prefix    `json:"vpc"`
	ServiceCIDR       netip.Prefix    `json:"serviceCIDR"`
	Resolver          netip.Addr      `json:"resolver"`
	KubeProxy         KubeProxyConfig `json:"kubeProxy"`
}

// KubeProxyConfig is the part of kube-proxy's configuration that shapes rules.
type KubeProxyConfig struct {
	MasqueradeBit int           `json:"masqueradeBit"`
	RandomFully   bool          `json:"randomFully"`
	SyncPeriod    time.Duration `json:"syncPeriod"`
	MinSyncPeriod time.Duration `json:"minSyncPeriod"`
	HealthzPort   int           `json:"healthzPort"`
	// Mode is kube-proxy's mode (iptables, nftables, ipvs); empty means
	// iptables. Read from a real cluster's KubeProxyConfiguration.
	Mode string `json:"mode,omitempty"`
	// ClusterCIDR is the KubeProxyConfiguration's clusterCIDR (detect-local
	// by cluster CIDR); invalid when none, as on EKS.
	ClusterCIDR netip.Prefix `json:"clusterCIDR,omitzero"`
}

// Subnet is one AZ's subnet.
type Subnet struct {
	AZ      string       `json:"az"`     // ap-northeast-2a
	Letter  string       `json:"letter"` // a
	CIDR    netip.Prefix `json:"cidr"`
	Gateway netip.Addr   `json:"gateway"` // the VPC router's address in this subnet (.1)
}

// Host is a machine that gets its own network namespace.
type Host struct {
	Name string     `json:"name"` // as exec takes it: bastion, node-1, a pod's name
	IP   netip.Addr `json:"ip"`
	AZ   string     `json:"az"`
}

// Node is an EKS worker node.
type Node struct {
	Host
	NodeName         string     `json:"nodeName"`   // ip-192-168-1-118.ap-northeast-2.compute.internal
	ExternalIP       netip.Addr `json:"externalIP"` // shown only, never assigned
	InstanceType     string     `json:"instanceType"`
	InstanceID       string     `json:"instanceID"`
	OSImage          string     `json:"osImage"`
	KernelVersion    string     `json:"kernelVersion"`
	ContainerRuntime string     `json:"containerRuntime"`
	// Stopped is set while the EC2 instance is stopped; NotReady once the
	// node controller has noticed (after the node-monitor grace period).
	Stopped  bool `json:"stopped,omitempty"`
	NotReady bool `json:"notReady,omitempty"`
	// Labels and Taints are what was set on the node beyond what EKS
	// sets (label node, taint node; a real cluster's nodes).
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
}

// Taint is a node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"` // NoSchedule, PreferNoSchedule, NoExecute
}

// ShortName is the node name without its domain: ip-192-168-1-118.
func (n Node) ShortName() string {
	for i := 0; i < len(n.NodeName); i++ {
		if n.NodeName[i] == '.' {
			return n.NodeName[:i]
		}
	}
	return n.NodeName
}

// ContainerPort is a port a pod's container declares.
type ContainerPort struct {
	Name     string `json:"name,omitempty"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"` // TCP or UDP
}

// Pod is a pod. Pods with HostNetwork share their node's address and get no
// namespace of their own; Pending pods have no node and no address.
type Pod struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Node        string            `json:"node"` // the node's host name (node-1); empty while Pending
	IP          netip.Addr        `json:"ip"`
	Ports       []ContainerPort   `json:"ports"`
	HostNetwork bool              `json:"hostNetwork,omitempty"`
	Containers  int               `json:"containers"`
	Owner       string            `json:"owner"` // the Deployment or DaemonSet that made it
	// TemplateHash is the pod-template-hash of the ReplicaSet that made it.
	TemplateHash string `json:"templateHash,omitempty"`
	Phase        string `json:"phase"` // Running or Pending
	Reason       string `json:"reason,omitempty"`
	Serves       string `json:"serves"` // http (echo server), dns, none
	// NotReady is set while the pod's readiness fails or its node is NotReady.
	NotReady bool `json:"notReady,omitempty"`
	// Terminating is set from deletion until the pod is gone.
	Terminating bool `json:"terminating,omitempty"`
	// Failing is how its server fails on purpose: refuse or hang.
	Failing string `json:"failing,omitempty"`
	// ReadinessGates are the pod's readiness gate conditions and their
	// status (the Load Balancer Controller's target-health gates).
	ReadinessGates map[string]bool `json:"readinessGates,omitempty"`
	Created        time.Time       `json:"created"`
}

// Running reports whether the pod has a node and an address.
func (p Pod) Running() bool { return p.Phase == PhaseRunning }

const (
	PhaseRunning = "Running"
	PhasePending = "Pending"
)

// Deployment is a set of identical pods.
type Deployment struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Replicas  int               `json:"replicas"`
	Labels    map[string]string `json:"labels"` // the pod template's labels
	// Selector is spec.selector.matchLabels when it is not Labels itself.
	Selector     map[string]string `json:"selector,omitempty"`
	TemplateHash string            `json:"templateHash"`
	Ports        []ContainerPort   `json:"ports"` // every container's, in order
	Serves       string            `json:"serves"`
	Addon        bool              `json:"addon,omitempty"`
	// Containers name the pod template's containers and images; the pods
	// run nlbsim's echo server whatever the image. Empty for the add-ons.
	Containers             []Container   `json:"containers,omitempty"`
	ReadinessProbe         *Probe        `json:"readinessProbe,omitempty"` // the first container's that has one
	PreStop                *Hook         `json:"preStop,omitempty"`        // the first container's that has one
	TerminationGracePeriod time.Duration `json:"terminationGracePeriod,omitempty"`
	// NextPod counts the pods made after the world was built, for names.
	NextPod int `json:"nextPod,omitempty"`
}

// Container is one container of a Deployment's pod template.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image,omitempty"`
}

// Probe is a readiness probe, with the API server's defaults filled in.
type Probe struct {
	Handler          string        `json:"handler"`        // httpGet, tcpSocket, grpc or exec
	Port             string        `json:"port,omitempty"` // a number or a container port name
	Path             string        `json:"path,omitempty"`
	InitialDelay     time.Duration `json:"initialDelay,omitempty"`
	Period           time.Duration `json:"period"`
	Timeout          time.Duration `json:"timeout"`
	SuccessThreshold int           `json:"successThreshold"`
	FailureThreshold int           `json:"failureThreshold"`
}

// Hook is a container lifecycle hook (preStop).
type Hook struct {
	Handler string        `json:"handler"` // exec, httpGet, tcpSocket or sleep
	Command []string      `json:"command,omitempty"`
	Port    string        `json:"port,omitempty"`
	Path    string        `json:"path,omitempty"`
	Sleep   time.Duration `json:"sleep,omitempty"` // the sleep action's duration
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol"` // TCP, UDP
	Port       int    `json:"port"`
	TargetPort string `json:"targetPort"` // a number or a container port name
	NodePort   int    `json:"nodePort,omitempty"`
}

// Service is a Kubernetes Service.
type Service struct {
	Name                  string            `json:"name"`
	Namespace             string            `json:"namespace"`
	Type                  string            `json:"type"` // ClusterIP, NodePort, LoadBalancer
	ClusterIP             netip.Addr        `json:"clusterIP"`
	Ports                 []ServicePort     `json:"ports"`
	Selector              map[string]string `json:"selector"`
	ExternalTrafficPolicy TrafficPolicy     `json:"externalTrafficPolicy,omitempty"`
	HealthCheckNodePort   int               `json:"healthCheckNodePort,omitempty"`
	SessionAffinity       string            `json:"sessionAffinity"` // None or ClientIP
	AffinityTimeout       int               `json:"affinityTimeoutSeconds,omitempty"`
	// LoadBalancerClass picks the controller of a LoadBalancer Service:
	// empty or service.k8s.aws/nlb is the Load Balancer Controller.
	LoadBalancerClass string            `json:"loadBalancerClass,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Addon             bool              `json:"addon,omitempty"`
	// Endpoints of a Service without a selector (default/kubernetes).
	ManualEndpoints []netip.Addr `json:"manualEndpoints,omitempty"`
	// FromSlices is set for a Service read from a real cluster: its
	// endpoints are SliceEndpoints, as its EndpointSlices list them (with
	// their conditions and nodes), never derived from pods.
	FromSlices     bool            `json:"fromSlices,omitempty"`
	SliceEndpoints []SliceEndpoint `json:"sliceEndpoints,omitempty"`
	// ExternalIPs and LoadBalancerIPs (status.loadBalancer.ingress[].ip) of
	// a Service read from a real cluster; kept to be reported, since
	// nlbsim's kube-proxy writes no rules for them yet.
	ExternalIPs     []netip.Addr `json:"externalIPs,omitempty"`
	LoadBalancerIPs []netip.Addr `json:"loadBalancerIPs,omitempty"`
	// IngressHostname is status.loadBalancer.ingress[0].hostname of a
	// Service read from a real cluster: its NLB's DNS name.
	IngressHostname string `json:"ingressHostname,omitempty"`
}

// SliceEndpoint is one endpoint of one port of an EndpointSlice: the port
// it serves (by the slice port's name and protocol) and the endpoint with
// its conditions.
type SliceEndpoint struct {
	PortName string `json:"portName,omitempty"`
	Protocol string `json:"protocol"` // TCP, UDP, SCTP
	// Slice is the EndpointSlice's name.
	Slice string `json:"slice"`
	Endpoint
}

// Key is the Service's "namespace/name".
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// HealthCheck is a target group's health check.
type HealthCheck struct {
	Protocol string `json:"protocol"` // TCP or HTTP
	Port     string `json:"port"`     // traffic-port or a number
	Path     string `json:"path,omitempty"`
	// SuccessCodes are the HTTP codes that pass ("200-399", "200,202").
	SuccessCodes       string        `json:"successCodes,omitempty"`
	Interval           time.Duration `json:"interval"`
	Timeout            time.Duration `json:"timeout"`
	HealthyThreshold   int           `json:"healthyThreshold"`
	UnhealthyThreshold int           `json:"unhealthyThreshold"`
}

// NLBNode is the NLB's presence in one AZ.
type NLBNode struct {
	Host
	Letter string `json:"letter"`
}

// NLB is a Network Load Balancer made by the Load Balancer Controller for one
// LoadBalancer Service.
type NLB struct {
	Name             string     `json:"name"`
	DNSName          string     `json:"dnsName"`
	Service          string     `json:"service"` // namespace/name
	Scheme           string     `json:"scheme"`
	TargetType       TargetType `json:"targetType"`
	CrossZone        bool       `json:"crossZone"`
	PreserveClientIP bool       `json:"preserveClientIP"`
	// DeregistrationDelay is how long a deregistered target drains.
	DeregistrationDelay time.Duration `json:"deregistrationDelay"`
	// DeregistrationTermination closes a drained target's connections at
	// the end of the delay (deregistration_delay.connection_termination.enabled).
	DeregistrationTermination bool `json:"deregistrationTermination,omitempty"`
	// UnhealthyKeepsConnections is target_health_state.unhealthy.
	// connection_termination.enabled=false: an unhealthy target is
	// unhealthy.draining for UnhealthyDrainingInterval, keeping its
	// connections, before they are reset.
	UnhealthyKeepsConnections bool          `json:"unhealthyKeepsConnections,omitempty"`
	UnhealthyDrainingInterval time.Duration `json:"unhealthyDrainingInterval,omitempty"`
	HealthCheck               HealthCheck   `json:"healthCheck"`
	Nodes                     []NLBNode     `json:"nodes"`
	// TargetNodeLabels, from the target-node-labels annotation, limit
	// instance targets to nodes with these labels (an empty value: the
	// label exists).
	TargetNodeLabels map[string]string `json:"targetNodeLabels,omitempty"`
}

// SetCreated stamps the world and its pods with the time the cluster came up.
func (w *World) SetCreated(t time.Time) {
	w.Created = t
	for i := range w.Pods {
		w.Pods[i].Created = t
	}
	for i := range w.HostNetworkPods {
		w.HostNetworkPods[i].Created = t
	}
}
