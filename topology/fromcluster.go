package topology

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Limits of a world rebuilt from a real cluster on one machine. Nodes are
// nlbsim's own bound (MaxNodes); every pod with an address of its own is a
// network namespace with a veth pair, a route on its node and one in the
// VPC router, and a server per TCP port in the supervisor; each NLB adds a
// namespace per AZ and health-checks every target from each of them at
// every interval; Services cost only rules (as up --services).
const (
	MaxFromPods          = 1000
	MaxFromServices      = MaxBenchServices
	MaxFromLoadBalancers = 20
	// maxNamespaceName is the kernel's NAME_MAX: a named network namespace
	// is a file in /run/netns.
	maxNamespaceName = 255
)

// ObjectError is bad input about one object of a real cluster, named as
// topology/cluster names objects: "Node ip-…", "Pod shop/web-…",
// "Service shop/web".
type ObjectError struct {
	Object string
	Err    error
}

func (e *ObjectError) Error() string { return e.Object + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

func objectInvalid(object, format string, a ...any) error {
	return &InvalidError{Err: &ObjectError{Object: object, Err: fmt.Errorf(format, a...)}}
}

// FromCluster completes a world read from a real cluster (topology/cluster:
// nodes, pods, Services and their EndpointSlices, as the API server holds
// them) into one nlbsim can build, as Build does for a spec: one subnet per
// zone holding its nodes and their pods, the VPC around them and its
// resolver, the service range around the ClusterIPs, a bastion, the
// control plane's ENIs behind default/kubernetes, and an NLB for each
// LoadBalancer Service of the Load Balancer Controller, with its
// annotations (flags beat them). Every pod with an address of its own runs
// the echo server on its TCP ports (CoreDNS's the DNS server); endpoints
// stay what the slices say. What nlbsim cannot model is refused by name,
// what does not change where traffic goes is a warning (World.Warnings).
// Every error is an *InvalidError; one about an object wraps an
// *ObjectError or an *AnnotationError.
func FromCluster(read *World, spec Spec) (*World, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	w := read.Clone()
	w.Spec, w.Cluster.Name, w.Created = spec, spec.Name, epoch
	// The walkthrough's sizes mean nothing here; the spec says what was read.
	w.Spec.Nodes, w.Spec.Replicas = max(1, len(w.Nodes)), 0
	w.NextAddress = map[string]int{}
	w.Warnings = nil
	if err := w.checkFromLimits(); err != nil {
		return nil, err
	}
	if err := w.fromPods(); err != nil {
		return nil, err
	}
	if err := w.fromSubnets(); err != nil {
		return nil, err
	}
	alloc := newAllocator(w)
	for _, p := range append(slices.Clone(w.Pods), w.HostNetworkPods...) {
		alloc.reserve(p.IP)
	}
	for _, s := range w.Services {
		for _, e := range s.SliceEndpoints {
			alloc.reserve(e.IP)
		}
	}
	for _, s := range w.Subnets {
		alloc.reserve(s.Gateway)
	}
	alloc.reserve(w.Cluster.Resolver)
	bastion, err := alloc.next(w.Subnets[0], "the bastion")
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	w.Bastion = Host{Name: "bastion", IP: bastion, AZ: w.Subnets[0].AZ}
	w.fromControlPlane()
	w.fromEndpointWarnings()
	w.unlinkAbsentPods()
	w.fromTrafficPolicy(spec)
	if err := w.fromLoadBalancers(alloc, spec); err != nil {
		return nil, err
	}
	if spec.ProxyMode != "" {
		w.Cluster.KubeProxy.Mode = string(spec.ProxyMode)
	}
	switch m := w.Cluster.KubeProxy.Mode; m {
	case "", string(ProxyIPTables), string(ProxyNFTables):
	default:
		return nil, Invalid("ProxyMode", "the cluster's kube-proxy runs in %s mode, which nlbsim does not model (give --proxy-mode iptables or nftables to rebuild it in one of those)", m)
	}
	if err := w.checkHostNames(); err != nil {
		return nil, err
	}
	alloc.save()
	return w, nil
}

// checkFromLimits refuses a cluster beyond one machine, naming the first
// object beyond the limit.
func (w *World) checkFromLimits() error {
	if len(w.Nodes) > MaxNodes {
		return objectInvalid("Node "+w.Nodes[MaxNodes].NodeName, "the input has %d Nodes; nlbsim rebuilds at most %d on one machine", len(w.Nodes), MaxNodes)
	}
	pods := 0
	for _, p := range w.Pods {
		if p.Running() {
			if pods++; pods > MaxFromPods {
				return objectInvalid("Pod "+p.Namespace+"/"+p.Name, "more than %d running pods with addresses of their own; nlbsim rebuilds at most %d on one machine (a network namespace each)", MaxFromPods, MaxFromPods)
			}
		}
	}
	if len(w.Services) > MaxFromServices {
		s := w.Services[MaxFromServices]
		return objectInvalid("Service "+s.Key(), "the input has %d Services; nlbsim rebuilds at most %d", len(w.Services), MaxFromServices)
	}
	lbs := 0
	for _, s := range w.Services {
		if s.HasNLB() {
			if lbs++; lbs > MaxFromLoadBalancers {
				return objectInvalid("Service "+s.Key(), "more than %d LoadBalancer Services; nlbsim builds at most %d NLBs on one machine (a namespace per AZ each, health-checking every target)", MaxFromLoadBalancers, MaxFromLoadBalancers)
			}
		}
	}
	return nil
}

// fromPods keeps the pods that can be built: a running pod needs a node of
// the input and an address. It picks what each runs.
func (w *World) fromPods() error {
	nodeIPs := map[netip.Addr]string{}
	for _, n := range w.Nodes {
		if other, ok := nodeIPs[n.IP]; ok {
			return objectInvalid("Node "+n.NodeName, "its InternalIP %s is also node %s's", n.IP, other)
		}
		nodeIPs[n.IP] = n.NodeName
	}
	keep := func(p Pod) bool {
		ref := "pod " + p.Namespace + "/" + p.Name
		switch {
		case p.Running() && p.Node == "":
			w.Warnings = append(w.Warnings, ref+" is on no node of the input: not built")
			return false
		case p.Running() && !p.IP.IsValid():
			w.Warnings = append(w.Warnings, ref+" is Running without an IPv4 address: not built")
			return false
		}
		return true
	}
	var hostNet []Pod
	for _, p := range w.HostNetworkPods {
		if keep(p) {
			if n, ok := w.Node(p.Node); ok {
				p.IP = n.IP // the node's own address, whatever status said
			}
			hostNet = append(hostNet, p)
		}
	}
	w.HostNetworkPods = hostNet
	var pods []Pod
	owner := map[netip.Addr]string{}
	for _, p := range w.Pods {
		if !keep(p) {
			continue
		}
		if p.Running() {
			ref := "Pod " + p.Namespace + "/" + p.Name
			if n, ok := nodeIPs[p.IP]; ok {
				return objectInvalid(ref, "its address %s is node %s's, but it is not a host-network pod", p.IP, n)
			}
			if other, ok := owner[p.IP]; ok {
				return objectInvalid(ref, "its address %s is also pod %s's: two running pods cannot share an address", p.IP, other)
			}
			owner[p.IP] = p.Namespace + "/" + p.Name
			p.Serves = ServesHTTP
			if p.Namespace == addonNamespace && p.Labels["k8s-app"] == "kube-dns" && slices.ContainsFunc(p.Ports, func(c ContainerPort) bool { return c.Port == dnsPort }) {
				p.Serves = ServesDNS
			}
		}
		pods = append(pods, p)
	}
	w.Pods = pods
	sort.SliceStable(w.Pods, func(i, j int) bool {
		a, b := w.Pods[i], w.Pods[j]
		if na, nb := w.nodeIndex(a.Node), w.nodeIndex(b.Node); na != nb {
			return na < nb
		}
		return a.Name < b.Name
	})
	return nil
}

// dnsPort is CoreDNS's.
const dnsPort = 53

var zoneSuffix = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$`)

// fromSubnets gives each zone one subnet: the smallest prefix, /24 or
// wider, around the zone's nodes and their pods (a real subnet may be
// wider; only these addresses live). The VPC is the /16 around them (wider
// when they span more), its resolver at its base+2 as AmazonProvidedDNS;
// the service range the /16 around the ClusterIPs.
func (w *World) fromSubnets() error {
	zoneOf := map[string]string{}
	addrs := map[string][]netip.Addr{}
	var zones []string
	for _, n := range w.Nodes {
		if n.AZ == "" {
			return objectInvalid("Node "+n.NodeName, "no topology.kubernetes.io/zone label: nlbsim places each node in its zone's subnet")
		}
		if _, ok := addrs[n.AZ]; !ok {
			zones = append(zones, n.AZ)
		}
		zoneOf[n.Name] = n.AZ
		addrs[n.AZ] = append(addrs[n.AZ], n.IP)
	}
	for _, p := range w.Pods {
		if p.Running() {
			addrs[zoneOf[p.Node]] = append(addrs[zoneOf[p.Node]], p.IP)
		}
	}
	sort.Strings(zones)
	if w.Cluster.Region == "" {
		w.Cluster.Region = strings.TrimRight(zones[0], "abcdefghijklmnopqrstuvwxyz")
	}
	used := map[string]bool{}
	for i, z := range zones {
		cidr := netip.PrefixFrom(addrs[z][0], 24).Masked()
		for _, a := range addrs[z] {
			for !cidr.Contains(a) {
				cidr = netip.PrefixFrom(cidr.Addr(), cidr.Bits()-1).Masked()
			}
		}
		letter := strings.TrimPrefix(z, w.Cluster.Region)
		if letter == z || !zoneSuffix.MatchString(letter) || used[letter] {
			letter = string(rune('a' + i%26))
		}
		used[letter] = true
		for _, s := range w.Subnets {
			if s.CIDR.Overlaps(cidr) {
				return objectInvalid("Node "+w.firstNodeIn(z), "zones %s and %s share addresses (%s and %s): nlbsim gives each zone one subnet", s.AZ, z, s.CIDR, cidr)
			}
		}
		w.Subnets = append(w.Subnets, Subnet{AZ: z, Letter: letter, CIDR: cidr})
	}
	taken := map[netip.Addr]bool{}
	for _, as := range addrs {
		for _, a := range as {
			taken[a] = true
		}
	}
	for _, s := range w.Services {
		for _, e := range s.SliceEndpoints {
			taken[e.IP] = true
		}
	}
	free := func(from netip.Addr, in netip.Prefix) netip.Addr {
		for a := from; in.Contains(a); a = a.Next() {
			if !taken[a] {
				taken[a] = true
				return a
			}
		}
		return netip.Addr{}
	}
	for i := range w.Subnets {
		s := &w.Subnets[i]
		// The VPC router's address in the subnet: AWS's base+1 unless a real
		// host holds it (the real subnet is wider than the one derived).
		if s.Gateway = free(s.CIDR.Addr().Next(), s.CIDR); !s.Gateway.IsValid() {
			return objectInvalid("Node "+w.firstNodeIn(s.AZ), "zone %s's subnet %s has no free address for the VPC router", s.AZ, s.CIDR)
		}
	}
	vpc := netip.PrefixFrom(w.Subnets[0].CIDR.Addr(), 16).Masked()
	for _, s := range w.Subnets {
		for !vpc.Contains(s.CIDR.Addr()) || vpc.Bits() > s.CIDR.Bits() {
			vpc = netip.PrefixFrom(vpc.Addr(), vpc.Bits()-1).Masked()
		}
	}
	w.Cluster.VPC = vpc
	w.Cluster.Resolver = free(vpc.Addr().Next().Next(), vpc)
	var first netip.Addr
	if s, ok := w.Service("default", "kubernetes"); ok && s.ClusterIP.IsValid() {
		first = s.ClusterIP
	}
	for _, s := range w.Services {
		if !first.IsValid() && s.ClusterIP.IsValid() {
			first = s.ClusterIP
		}
	}
	if !first.IsValid() {
		first = serviceCIDR.Addr()
	}
	svcCIDR := netip.PrefixFrom(first, 16).Masked()
	for _, s := range w.Services {
		for s.ClusterIP.IsValid() && !svcCIDR.Contains(s.ClusterIP) {
			svcCIDR = netip.PrefixFrom(svcCIDR.Addr(), svcCIDR.Bits()-1).Masked()
		}
	}
	if svcCIDR.Overlaps(vpc) {
		return objectInvalid("Service "+w.serviceIn(svcCIDR, vpc), "the ClusterIPs (%s) and the nodes' VPC (%s) overlap: nlbsim keeps them apart", svcCIDR, vpc)
	}
	w.Cluster.ServiceCIDR = svcCIDR
	return nil
}

func (w *World) firstNodeIn(zone string) string {
	for _, n := range w.Nodes {
		if n.AZ == zone {
			return n.NodeName
		}
	}
	return ""
}

// serviceIn names a Service whose ClusterIP is in vpc, else the first.
func (w *World) serviceIn(svcCIDR, vpc netip.Prefix) string {
	for _, s := range w.Services {
		if s.ClusterIP.IsValid() && vpc.Contains(s.ClusterIP) {
			return s.Key()
		}
	}
	return w.Services[0].Key()
}

// fromControlPlane gives the API server's endpoints (default/kubernetes)
// that no pod or node holds an ENI host each, in the subnet that holds
// them.
func (w *World) fromControlPlane() {
	s, ok := w.Service("default", "kubernetes")
	if !ok {
		return
	}
	seen := map[netip.Addr]bool{}
	for _, e := range s.SliceEndpoints {
		if seen[e.IP] {
			continue
		}
		seen[e.IP] = true
		if _, held := w.HostByIP(e.IP); held {
			continue
		}
		sub, ok := w.SubnetOf(e.IP)
		if !ok {
			w.Warnings = append(w.Warnings, fmt.Sprintf("default/kubernetes: the API server's endpoint %s is in no zone's subnet of the nodes: not built (connections to it time out)", e.IP))
			continue
		}
		w.ControlPlane = append(w.ControlPlane, Host{Name: fmt.Sprintf("control-plane-%d", len(w.ControlPlane)+1), IP: e.IP, AZ: sub.AZ})
	}
}

// fromEndpointWarnings names the endpoints that no host of the world holds.
func (w *World) fromEndpointWarnings() {
	for _, s := range w.Services {
		var lost []string
		for _, e := range s.SliceEndpoints {
			if _, held := w.HostByIP(e.IP); !held && !slices.Contains(lost, e.IP.String()) {
				lost = append(lost, e.IP.String())
			}
		}
		if len(lost) > 0 {
			w.Warnings = append(w.Warnings, fmt.Sprintf("Service %s: endpoint(s) %s are no pod or node of the input: nothing answers there (connections time out)", s.Key(), strings.Join(lost, ", ")))
		}
	}
}

// unlinkAbsentPods forgets the pod of each slice endpoint whose pod is not
// in the world (not in the input, or not built), so that livingSliceEndpoint
// tells a pod deleted from the copy from one it never had.
func (w *World) unlinkAbsentPods() {
	for i := range w.Services {
		s := &w.Services[i]
		for j := range s.SliceEndpoints {
			if e := &s.SliceEndpoints[j]; e.Pod != "" {
				if _, ok := w.slicePod(s.Namespace, e.Pod); !ok {
					e.Pod = ""
				}
			}
		}
	}
}

// slicePod finds a pod of the world, host-network pods included.
func (w *World) slicePod(namespace, name string) (Pod, bool) {
	for _, ps := range [][]Pod{w.Pods, w.HostNetworkPods} {
		for _, p := range ps {
			if p.Namespace == namespace && p.Name == name {
				return p, true
			}
		}
	}
	return Pod{}, false
}

// livingSliceEndpoint is an endpoint of a copy of a real cluster (a world
// with Spec.From) as the EndpointSlice controller keeps it while the copy
// lives: once its pod is deleted, not ready and terminating (serving while
// the pod still is), then gone. Read as they are otherwise (rules --from,
// diff), and for endpoints of no pod of the copy.
func (w *World) livingSliceEndpoint(svc Service, e Endpoint) (Endpoint, bool) {
	if len(w.Spec.From) == 0 || e.Pod == "" {
		return e, true
	}
	p, ok := w.slicePod(svc.Namespace, e.Pod)
	switch {
	case !ok:
		return e, false
	case p.Terminating && !e.Terminating:
		e.Ready, e.Terminating, e.Serving = false, true, e.Serving && !p.NotReady
	}
	return e, true
}

// The Load Balancer Controller's annotations nlbsim reads (the rest of
// loadbalancer.go's), and those it does not model, by whether they would
// change where traffic goes.
var (
	lbcAnnotationsModelled = map[string]bool{
		AnnotationType: true, AnnotationTargetType: true, AnnotationScheme: true, AnnotationAttributes: true,
		AnnotationTargetGroupAttrs: true, AnnotationHealthCheckProtocol: true, AnnotationHealthCheckPort: true,
		AnnotationHealthCheckPath: true, AnnotationHealthCheckInterval: true, AnnotationHealthCheckTimeout: true,
		AnnotationHealthCheckHealthy: true, AnnotationHealthCheckUnhealthy: true, AnnotationHealthCheckSuccess: true,
		AnnotationTargetNodeLabels: true, AnnotationProxyProtocol: true, AnnotationCrossZoneDeprecated: true,
		annotationPrefix + "name": true, annotationPrefix + "load-balancer-name": true,
	}
	// lbcAnnotationsRefused change where traffic goes in ways nlbsim does
	// not model.
	lbcAnnotationsRefused = map[string]string{
		annotationPrefix + "subnets":   "the NLB's subnets (nlbsim gives it a node in every zone of the nodes; delete the annotation to try that)",
		annotationPrefix + "ssl-cert":  "TLS listeners",
		annotationPrefix + "ssl-ports": "TLS listeners",
	}
)

// fromLoadBalancers checks each LoadBalancer Service's annotations, then
// builds the NLBs as Build does, named after their real DNS names.
func (w *World) fromLoadBalancers(alloc *allocator, spec Spec) error {
	for _, s := range w.Services {
		if s.Type == "LoadBalancer" && !s.HasNLB() {
			w.Warnings = append(w.Warnings, fmt.Sprintf("Service %s: loadBalancerClass %s is not the Load Balancer Controller's: no NLB built", s.Key(), s.LoadBalancerClass))
			continue
		}
		if !s.HasNLB() {
			continue
		}
		for _, p := range s.Ports {
			if p.Protocol != "TCP" {
				return objectInvalid("Service "+s.Key(), "port %d is %s: nlbsim load-balances TCP only", p.Port, p.Protocol)
			}
		}
		if _, ok := s.Annotations[AnnotationType]; !ok && s.LoadBalancerClass == "" {
			w.Warnings = append(w.Warnings, fmt.Sprintf("Service %s: no %s annotation and no loadBalancerClass (the in-tree controller would make a Classic Load Balancer): built as the Load Balancer Controller's NLB", s.Key(), AnnotationType))
		}
		for _, k := range sortedKeys(s.Annotations) {
			if !strings.HasPrefix(k, annotationPrefix) || lbcAnnotationsModelled[k] {
				continue
			}
			if why, ok := lbcAnnotationsRefused[k]; ok {
				return &InvalidError{Err: &AnnotationError{Service: s.Key(), Annotation: k, Err: fmt.Errorf("not modelled: %s", why)}}
			}
			w.Warnings = append(w.Warnings, fmt.Sprintf("Service %s: annotation %s is not modelled (taken as having no effect on where traffic goes)", s.Key(), k))
		}
	}
	if err := w.addLoadBalancers(alloc, spec); err != nil {
		return &InvalidError{Err: err}
	}
	for i := range w.LoadBalancers {
		lb := &w.LoadBalancers[i]
		svc, _ := w.serviceByKey(lb.Service)
		if svc.IngressHostname != "" {
			lb.DNSName = svc.IngressHostname
			first, _, _ := strings.Cut(svc.IngressHostname, ".")
			if i := strings.LastIndex(first, "-"); i > 0 {
				lb.Name = first[:i]
			}
		} else {
			lb.DNSName = strings.Replace(lb.DNSName, ".elb."+Region+".", ".elb."+w.Cluster.Region+".", 1)
		}
		if n := svc.Annotations[annotationPrefix+"name"]; n != "" {
			lb.Name = n
		}
		if n := svc.Annotations[annotationPrefix+"load-balancer-name"]; n != "" {
			lb.Name = n
		}
	}
	return nil
}

// fromTrafficPolicy applies --external-traffic-policy to the LoadBalancer
// Services, as with manifests: a Service turned Local gets a health-check
// node port, one turned Cluster loses it (as the API server does).
func (w *World) fromTrafficPolicy(spec Spec) {
	if spec.ExternalTrafficPolicy == "" {
		return
	}
	for i := range w.Services {
		s := &w.Services[i]
		if s.Type != "LoadBalancer" || s.ExternalTrafficPolicy == spec.ExternalTrafficPolicy {
			continue
		}
		s.ExternalTrafficPolicy = spec.ExternalTrafficPolicy
		s.HealthCheckNodePort = 0
		if s.ExternalTrafficPolicy == PolicyLocal {
			s.HealthCheckNodePort = w.allocateNodePort(s.Key() + "/healthCheckNodePort")
		}
	}
}

// checkHostNames refuses pods whose host would clash with another host or
// whose namespace name the kernel would not take.
func (w *World) checkHostNames() error {
	taken := map[string]string{}
	for _, h := range w.Hosts() {
		if h.Kind != KindPod {
			taken[h.Name] = string(h.Kind)
		}
	}
	for _, p := range w.Pods {
		if !p.Running() {
			continue
		}
		ref := "Pod " + p.Namespace + "/" + p.Name
		if what, ok := taken[p.Name]; ok {
			return objectInvalid(ref, "nlbsim names a pod's host after the pod, and %s is already a %s's name", p.Name, what)
		}
		taken[p.Name] = "pod " + p.Namespace + "/" + p.Name
		if n := len(Namespace(w.Cluster.Name, p.Name)); n > maxNamespaceName {
			return objectInvalid(ref, "its namespace name would be %d characters long; the kernel takes %d", n, maxNamespaceName)
		}
	}
	return nil
}
