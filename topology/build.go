package topology

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// The walkthrough's fixed values.
const (
	Region            = "ap-northeast-2"
	KubernetesVersion = "v1.30.4-eks-a737599"
	osImage           = "Amazon Linux 2"
	kernelVersion     = "5.10.226-214.880.amzn2.x86_64"
	containerRuntime  = "containerd://1.7.22"

	AppNamespace  = "default"
	AppDeployment = "nginx-deployment"
	AppService    = "nginx-nlb-service"
	AppPort       = 7777
	AppNodePort   = 32392

	addonNamespace = "kube-system"
)

var (
	vpcCIDR     = netip.MustParsePrefix("192.168.0.0/16")
	serviceCIDR = netip.MustParsePrefix("10.100.0.0/16")
	resolverIP  = netip.MustParseAddr("192.168.0.2")
	azLetters   = []string{"a", "b", "c"}

	walkthroughNodes = []netip.Addr{ip("192.168.1.118"), ip("192.168.2.146"), ip("192.168.3.137")}
	walkthroughPods  = []netip.Addr{ip("192.168.1.248"), ip("192.168.2.206"), ip("192.168.3.111")}
	corednsIPs       = []netip.Addr{ip("192.168.3.62"), ip("192.168.3.202")}
	corednsNames     = []string{"coredns-699d8c5988-mtpc4", "coredns-699d8c5988-t42hz"}
	controlPlaneIPs  = []netip.Addr{ip("192.168.2.40"), ip("192.168.3.12")}
	bastionIP        = ip("192.168.1.100")
	nlbIPs           = []netip.Addr{ip("192.168.1.51"), ip("192.168.2.149"), ip("192.168.3.171")}
	externalIPs      = []netip.Addr{ip("203.0.113.154"), ip("203.0.113.124"), ip("203.0.113.40")}
	awsNodePods      = []string{"aws-node-mwktx", "aws-node-tgjrb", "aws-node-tl76m"}
	kubeProxyPods    = []string{"kube-proxy-m2bxm", "kube-proxy-r68rf", "kube-proxy-d9qds"}

	appClusterIP     = ip("10.100.30.185")
	kubernetesSvcIP  = ip("10.100.0.1")
	kubeDNSClusterIP = ip("10.100.0.10")
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// epoch is the creation time of every built world, so that output is
// deterministic; a running cluster records its real start in World.Created.
var epoch = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)

// Default is the walkthrough's world, value for value.
func Default() *World {
	w, err := Build(DefaultSpec())
	if err != nil {
		panic(err) // the default spec is valid by construction
	}
	return w
}

// InvalidError says that a spec, a manifest or an option is wrong: bad
// input, not a failure of the machine. Field, when set, names the Go field
// that is wrong (Spec.Nodes is "Nodes"), so that a CLI can name its flag.
type InvalidError struct {
	Field string
	Err   error
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid returns an *InvalidError for a field.
func Invalid(field, format string, a ...any) *InvalidError {
	return &InvalidError{Field: field, Err: fmt.Errorf(format, a...)}
}

// Build turns a spec into a validated, fully addressed world. Every error it
// returns is an *InvalidError.
func Build(spec Spec) (*World, error) {
	w, err := build(spec)
	var (
		invalid *InvalidError
		full    *SubnetFullError
	)
	switch {
	case err == nil:
		return w, nil
	case errors.As(err, &invalid) && invalid == err:
		return nil, err
	case errors.As(err, &full):
		bits := full.Subnet.CIDR.Bits()
		return nil, Invalid("SubnetPrefixLength", "%v: the world needs more addresses than /%d subnets hold (%d each for nodes, pods and NLB nodes); ask for larger subnets, with a prefix length below %d",
			err, bits, 1<<(32-bits)-firstDynamicHost-1, bits)
	}
	return nil, &InvalidError{Err: err}
}

func build(spec Spec) (*World, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if len(spec.From) > 0 {
		return nil, Invalid("From", "a real cluster's objects are read by topology/cluster (cluster.Build), not by topology.Build")
	}
	if spec.SubnetPrefixLength == DefaultSubnetPrefixLength {
		spec.SubnetPrefixLength = 0 // one world, however it was asked for
	}
	w := &World{
		Spec: spec,
		Cluster: Cluster{
			Name: spec.Name, Region: Region, KubernetesVersion: KubernetesVersion,
			VPC: vpcCIDR, ServiceCIDR: serviceCIDR, Resolver: resolverIP,
			KubeProxy: KubeProxyConfig{MasqueradeBit: 14, RandomFully: true,
				SyncPeriod: 30 * time.Second, MinSyncPeriod: time.Second, HealthzPort: 10256},
		},
		Created:     epoch,
		NextAddress: map[string]int{},
	}
	w.Subnets = azSubnets(cmp.Or(spec.SubnetPrefixLength, DefaultSubnetPrefixLength))
	alloc := newAllocator(w)
	for _, fixed := range [][]netip.Addr{{bastionIP}, walkthroughNodes, walkthroughPods, corednsIPs, controlPlaneIPs, nlbIPs} {
		alloc.reserve(w.placedAll(fixed)...)
	}
	bastion, err := w.placedOr(alloc, bastionIP, "the bastion")
	if err != nil {
		return nil, err
	}
	w.Bastion = Host{Name: "bastion", IP: bastion, AZ: w.Subnets[0].AZ}
	if err := w.addNodes(alloc, spec); err != nil {
		return nil, err
	}
	if !spec.Minimal {
		for i, a := range controlPlaneIPs {
			name := fmt.Sprintf("control-plane-%d", i+1)
			ip, err := w.placedOr(alloc, a, name)
			if err != nil {
				return nil, err
			}
			w.ControlPlane = append(w.ControlPlane, Host{Name: name, IP: ip, AZ: w.subnetOf(ip).AZ})
		}
		w.addAddons()
	}
	var objs *manifestObjects
	if len(spec.Manifests) > 0 {
		var err error
		if objs, err = parseManifests(spec.Manifests); err != nil {
			return nil, err
		}
		if !objs.hasWorkloads() {
			// Only a KubeProxyConfiguration (or kinds without effect): the
			// walkthrough's Deployment and Service stay.
			w.addApp(spec)
		} else if err := w.addManifests(objs, spec); err != nil {
			return nil, err
		}
	} else {
		w.addApp(spec)
	}
	w.setProxyMode(spec, objs)
	if err := w.schedule(alloc); err != nil {
		return nil, err
	}
	w.addBenchServices(spec)
	if err := w.addLoadBalancers(alloc, spec); err != nil {
		if objs != nil {
			return nil, objs.locate(err)
		}
		return nil, err
	}
	for i := range w.Pods {
		w.InjectReadinessGates(&w.Pods[i])
	}
	if objs != nil {
		w.Warnings = append(objs.warnings, w.endpointWarnings(objs)...)
	}
	alloc.save()
	return w, nil
}

func (w *World) addNodes(alloc *allocator, spec Spec) error {
	for i := 0; i < spec.Nodes; i++ {
		sub := w.Subnets[i%len(w.Subnets)]
		var addr netip.Addr
		if i < len(walkthroughNodes) {
			addr = w.placed(walkthroughNodes[i])
		}
		if !addr.IsValid() {
			var err error
			if addr, err = alloc.next(sub, fmt.Sprintf("node %d", i+1)); err != nil {
				return err
			}
		}
		ext := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
		if i < len(externalIPs) {
			ext = externalIPs[i]
		}
		w.Nodes = append(w.Nodes, Node{
			Host:         Host{Name: fmt.Sprintf("node-%d", i+1), IP: addr, AZ: sub.AZ},
			NodeName:     NodeNameFor(addr, Region),
			ExternalIP:   ext,
			InstanceType: spec.InstanceType,
			InstanceID:   "i-0" + hexHash(16, spec.Name, "instance", addr.String()),
			OSImage:      osImage, KernelVersion: kernelVersion, ContainerRuntime: containerRuntime,
		})

	}
	return nil
}

// placedOr is where a walkthrough's fixed address lives in the world's
// subnets (placed), else the next free address of the same AZ's subnet.
func (w *World) placedOr(alloc *allocator, a netip.Addr, what string) (netip.Addr, error) {
	if p := w.placed(a); p.IsValid() {
		return p, nil
	}
	return alloc.next(w.Subnets[a.As4()[2]-1], what)
}

// NodeNameFor is EC2's private DNS name for an address: ip-192-168-1-118.<region>.compute.internal.
func NodeNameFor(a netip.Addr, region string) string {
	b := a.As4()
	return fmt.Sprintf("ip-%d-%d-%d-%d.%s.compute.internal", b[0], b[1], b[2], b[3], region)
}

// addAddons adds what every EKS cluster carries: the API server's Service,
// CoreDNS behind kube-dns, and the host-network DaemonSet pods.
func (w *World) addAddons() {
	w.Deployments = append(w.Deployments, Deployment{
		Name: "coredns", Namespace: addonNamespace, Replicas: 2, TemplateHash: "699d8c5988",
		Labels: map[string]string{"k8s-app": "kube-dns"}, Serves: ServesDNS, Addon: true,
		Ports: []ContainerPort{{Name: "dns", Port: 53, Protocol: "UDP"}, {Name: "dns-tcp", Port: 53, Protocol: "TCP"}, {Name: "metrics", Port: 9153, Protocol: "TCP"}},
	})
	w.Services = append(w.Services,
		Service{Name: "kubernetes", Namespace: "default", Type: "ClusterIP", ClusterIP: kubernetesSvcIP,
			Ports:           []ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: "443"}},
			SessionAffinity: "None", Addon: true, ManualEndpoints: []netip.Addr{w.ControlPlane[0].IP, w.ControlPlane[1].IP}},
		Service{Name: "kube-dns", Namespace: addonNamespace, Type: "ClusterIP", ClusterIP: kubeDNSClusterIP,
			Ports: []ServicePort{{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: "53"},
				{Name: "dns-tcp", Protocol: "TCP", Port: 53, TargetPort: "53"},
				{Name: "metrics", Protocol: "TCP", Port: 9153, TargetPort: "9153"}},
			Selector: map[string]string{"k8s-app": "kube-dns"}, SessionAffinity: "None", Addon: true},
	)
}

// The walkthrough's image, and the API server's default grace period.
const (
	appImage           = "nginx:1.21"
	defaultGracePeriod = 30 * time.Second
)

// addApp adds the walkthrough's nginx Deployment and its LoadBalancer Service.
func (w *World) addApp(spec Spec) {
	w.Deployments = append(w.Deployments, Deployment{
		Name: AppDeployment, Namespace: AppNamespace, Replicas: spec.Replicas, TemplateHash: "67dd5f77ff",
		Labels: map[string]string{"app": "nginx"}, Serves: ServesHTTP,
		Ports:                  []ContainerPort{{Port: AppPort, Protocol: "TCP"}},
		Containers:             []Container{{Name: "nginx", Image: appImage}},
		TerminationGracePeriod: defaultGracePeriod,
	})
	svc := Service{
		Name: AppService, Namespace: AppNamespace, Type: "LoadBalancer", ClusterIP: appClusterIP,
		Ports:                 []ServicePort{{Protocol: "TCP", Port: AppPort, TargetPort: fmt.Sprint(AppPort), NodePort: AppNodePort}},
		Selector:              map[string]string{"app": "nginx"},
		ExternalTrafficPolicy: cmp.Or(spec.ExternalTrafficPolicy, PolicyCluster),
		SessionAffinity:       "None",
		Annotations: map[string]string{
			AnnotationType:       "external",
			AnnotationTargetType: string(cmp.Or(spec.Mode, TargetIP)),
			AnnotationScheme:     "internet-facing",
		},
	}
	if svc.ExternalTrafficPolicy == PolicyLocal {
		svc.HealthCheckNodePort = w.allocateNodePort(svc.Key() + "/healthCheckNodePort")
	}
	w.Services = append(w.Services, svc)
}

// What a pod runs.
const (
	ServesHTTP = "http" // nlbsim's echo server on every container port
	ServesDNS  = "dns"  // CoreDNS
	ServesNone = "none" // host-network pods listed only
)

// schedule creates every Deployment's pods and places them on nodes
// round-robin, within each node's VPC CNI pod limit. Pods that do not fit stay
// Pending with the scheduler's reason.
func (w *World) schedule(alloc *allocator) error {
	limit := InstanceTypes[w.Spec.InstanceType].MaxPods()
	load := make([]int, len(w.Nodes))
	if !w.Spec.Minimal {
		for i, n := range w.Nodes {
			for _, ds := range []struct {
				names      []string
				prefix     string
				containers int
			}{
				{awsNodePods, "aws-node", 2}, {kubeProxyPods, "kube-proxy", 1}} {
				name := ds.prefix + "-" + podSuffix(w.Spec.Name, ds.prefix, i)
				if i < len(ds.names) {
					name = ds.names[i]
				}
				w.HostNetworkPods = append(w.HostNetworkPods, Pod{
					Name: name, Namespace: addonNamespace, Node: n.Name, IP: n.IP, HostNetwork: true,
					Containers: ds.containers, Owner: ds.prefix, Phase: PhaseRunning, Serves: ServesNone,
					Labels: map[string]string{"k8s-app": ds.prefix}, Created: w.Created,
				})
				load[i]++
			}
		}
	}
	for _, d := range w.Deployments {
		for r := 0; r < d.Replicas; r++ {
			pod := Pod{
				Namespace: d.Namespace, Labels: d.Labels, Ports: d.Ports, Containers: max(1, len(d.Containers)),
				Owner: d.Name, TemplateHash: d.TemplateHash, Serves: d.Serves, Created: w.Created,
			}
			var want int
			var fixed netip.Addr
			switch {
			case d.Addon && d.Name == "coredns":
				want = min(2, len(w.Nodes)-1)
				if want == 2 && r < len(corednsIPs) {
					fixed = w.placed(corednsIPs[r])
				}
				pod.Name = corednsNames[r%len(corednsNames)]
				if r >= len(corednsNames) {
					pod.Name = d.Name + "-" + d.TemplateHash + "-" + podSuffix(w.Spec.Name, d.Namespace+"/"+d.Name, r)
				}
			default:
				want = r % len(w.Nodes)
				if d.Name == AppDeployment && d.Namespace == AppNamespace && r < len(walkthroughPods) && want == r {
					fixed = w.placed(walkthroughPods[r])
				}
				pod.Name = podName(d, podSuffix(w.Spec.Name, d.Namespace+"/"+d.Name, r))
			}
			node := -1
			for k := 0; k < len(w.Nodes); k++ {
				if c := (want + k) % len(w.Nodes); load[c] < limit {
					node = c
					break
				}
			}
			if node < 0 {
				pod.Phase = PhasePending
				pod.Reason = fmt.Sprintf("0/%d nodes are available: %d Too many pods.", len(w.Nodes), len(w.Nodes))
				w.Pods = append(w.Pods, pod)
				continue
			}
			load[node]++
			n := w.Nodes[node]
			pod.Node, pod.Phase = n.Name, PhaseRunning
			if fixed.IsValid() && node == want {
				pod.IP = fixed
			} else {
				var err error
				if pod.IP, err = alloc.next(w.subnetOf(n.IP), "pod "+pod.Name); err != nil {
					return err
				}
			}
			w.Pods = append(w.Pods, pod)
		}
	}
	sort.SliceStable(w.Pods, func(i, j int) bool {
		a, b := w.Pods[i], w.Pods[j]
		if na, nb := w.nodeIndex(a.Node), w.nodeIndex(b.Node); na != nb {
			return na < nb
		}
		return a.Name < b.Name
	})
	return nil
}

// podName names a Deployment's pod as the ReplicaSet controller does: the
// ReplicaSet's name and a dash, cut to 58 characters, then the suffix.
func podName(d Deployment, suffix string) string {
	return truncate(d.Name+"-"+d.TemplateHash+"-", 58) + suffix
}

func (w *World) nodeIndex(host string) int {
	for i, n := range w.Nodes {
		if n.Name == host {
			return i
		}
	}
	return len(w.Nodes) // Pending pods last
}

func (w *World) subnetOf(a netip.Addr) Subnet {
	for _, s := range w.Subnets {
		if s.CIDR.Contains(a) {
			return s
		}
	}
	return Subnet{}
}

// SubnetOf returns the AZ subnet holding a, if any.
func (w *World) SubnetOf(a netip.Addr) (Subnet, bool) {
	s := w.subnetOf(a)
	return s, s.CIDR.IsValid()
}
