package topology

import (
	"fmt"
	"net/netip"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The validation below is the part of the API server's (and, for
// annotations, the Load Balancer Controller's) that the supported fields
// need, with the API server's wording; what nlbsim does not model is
// refused with a Forbidden error that says so.

const (
	notModelled  = "is not modelled by nlbsim"
	notModelleds = "are not modelled by nlbsim"
)

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	return apivalidation.ValidateObjectMeta(&ns.ObjectMeta, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
}

// validateDeployment checks a Deployment; warnings name what nlbsim
// accepts but does not do.
func validateDeployment(d *appsv1.Deployment) (errs field.ErrorList, warnings []string) {
	meta := field.NewPath("metadata")
	m := d.ObjectMeta
	if m.Namespace == "" {
		m.Namespace = "default"
	}
	errs = append(errs, apivalidation.ValidateObjectMeta(&m, true, apivalidation.NameIsDNSSubdomain, meta)...)
	if strings.Contains(d.Name, ".") {
		errs = append(errs, field.Invalid(meta.Child("name"), d.Name, "nlbsim names each pod's host after its Deployment, so the name must be a DNS label (no dots)"))
	}
	spec := field.NewPath("spec")
	if r := d.Spec.Replicas; r != nil && *r < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *r, "must be greater than or equal to 0"))
	}
	errs = append(errs, validateDeploymentSelector(d, spec)...)
	pod := spec.Child("template", "spec")
	podErrs, podWarnings := validatePodSpec(d.Spec.Template.Spec, pod)
	errs, warnings = append(errs, podErrs...), append(warnings, podWarnings...)
	names := map[string]bool{}
	ports := map[servicePortKey]bool{}
	for i, c := range d.Spec.Template.Spec.Containers {
		cp := pod.Child("containers").Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(cp.Child("name"), ""))
		case names[c.Name]:
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
			}
		}
		names[c.Name] = true
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		}
		portErrs, portWarnings := validateContainerPorts(c, cp, ports)
		errs, warnings = append(errs, portErrs...), append(warnings, portWarnings...)
		errs = append(errs, validateContainerHooks(c, cp)...)
	}
	return errs, warnings
}

// validateDeploymentSelector checks the template's labels and the selector,
// which must match them.
func validateDeploymentSelector(d *appsv1.Deployment, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	tmpl := d.Spec.Template
	tmplLabels := spec.Child("template", "metadata", "labels")
	errs = append(errs, metav1validation.ValidateLabels(tmpl.Labels, tmplLabels)...)
	sel := spec.Child("selector")
	switch {
	case d.Spec.Selector == nil:
		errs = append(errs, field.Required(sel, ""))
	case len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0:
		errs = append(errs, field.Invalid(sel, d.Spec.Selector, "empty selector is invalid for deployment"))
	default:
		selErrs := metav1validation.ValidateLabelSelector(d.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, sel)
		errs = append(errs, selErrs...)
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && len(selErrs) == 0 && !s.Matches(labels.Set(tmpl.Labels)) {
			errs = append(errs, field.Invalid(tmplLabels, tmpl.Labels, "`selector` does not match template `labels`"))
		}
	}
	return errs
}

// validatePodSpec checks the pod template's spec but its containers:
// host-network pods are refused, scheduling constraints warned as ignored.
func validatePodSpec(ps corev1.PodSpec, pod *field.Path) (errs field.ErrorList, warnings []string) {
	if ps.HostNetwork {
		errs = append(errs, field.Forbidden(pod.Child("hostNetwork"), "host-network pods "+notModelleds+" (their ports would be the node's)"))
	}
	if g := ps.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(pod.Child("terminationGracePeriodSeconds"), *g, "must be greater than or equal to 0"))
	}
	if len(ps.NodeSelector) > 0 || ps.Affinity != nil || len(ps.Tolerations) > 0 || len(ps.TopologySpreadConstraints) > 0 || ps.NodeName != "" {
		warnings = append(warnings, "its scheduling constraints (nodeSelector, affinity, tolerations, topologySpreadConstraints, nodeName) are ignored: nlbsim places pods round-robin over the nodes")
	}
	if len(ps.Containers) == 0 {
		errs = append(errs, field.Required(pod.Child("containers"), ""))
	}
	return errs, warnings
}

// validateContainerPorts checks a container's ports; ports holds the
// template's ports so far, to find one used twice.
func validateContainerPorts(c corev1.Container, cp *field.Path, ports map[servicePortKey]bool) (errs field.ErrorList, warnings []string) {
	portNames := map[string]bool{}
	for j, p := range c.Ports {
		pp := cp.Child("ports").Index(j)
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if portNames[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			portNames[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			errs = append(errs, field.Invalid(pp.Child("containerPort"), p.ContainerPort, msg))
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		switch proto {
		case corev1.ProtocolTCP:
		case corev1.ProtocolUDP:
			warnings = append(warnings, fmt.Sprintf("container %s port %d/UDP: nlbsim's echo server answers TCP only", c.Name, p.ContainerPort))
		case corev1.ProtocolSCTP:
			errs = append(errs, field.Forbidden(pp.Child("protocol"), "SCTP "+notModelled))
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}))
		}
		if p.HostPort != 0 {
			errs = append(errs, field.Forbidden(pp.Child("hostPort"), "hostPort "+notModelled))
		}
		k := servicePortKey{p.ContainerPort, proto}
		if ports[k] {
			errs = append(errs, field.Duplicate(pp.Child("containerPort"), p.ContainerPort))
		}
		ports[k] = true
	}
	return errs, warnings
}

// validateContainerHooks checks a container's readiness probe and preStop
// hook: one handler each, ports by number or name.
func validateContainerHooks(c corev1.Container, cp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p := c.ReadinessProbe; p != nil {
		rp := cp.Child("readinessProbe")
		n := 0
		for _, set := range []bool{p.Exec != nil, p.HTTPGet != nil, p.TCPSocket != nil, p.GRPC != nil} {
			if set {
				n++
			}
		}
		errs = append(errs, handlerCount(rp, n)...)
		if p.HTTPGet != nil {
			errs = append(errs, validatePortRef(p.HTTPGet.Port, rp.Child("httpGet", "port"))...)
		}
		if p.TCPSocket != nil {
			errs = append(errs, validatePortRef(p.TCPSocket.Port, rp.Child("tcpSocket", "port"))...)
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		h := c.Lifecycle.PreStop
		hp := cp.Child("lifecycle", "preStop")
		n := 0
		for _, set := range []bool{h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.Sleep != nil} {
			if set {
				n++
			}
		}
		errs = append(errs, handlerCount(hp, n)...)
		if h.Sleep != nil && h.Sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(hp.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0"))
		}
	}
	return errs
}

func handlerCount(path *field.Path, n int) field.ErrorList {
	switch {
	case n == 0:
		return field.ErrorList{field.Required(path, "must specify a handler type")}
	case n > 1:
		return field.ErrorList{field.Forbidden(path, "may not specify more than 1 handler type")}
	}
	return nil
}

func validatePortRef(p intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Type == intstr.String {
		for _, msg := range validation.IsValidPortName(p.StrVal) {
			errs = append(errs, field.Invalid(path, p.StrVal, msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortNum(int(p.IntVal)) {
		errs = append(errs, field.Invalid(path, p.IntVal, msg))
	}
	return errs
}

// maxAffinitySeconds is the API server's limit on sessionAffinityConfig.clientIP.timeoutSeconds.
const maxAffinitySeconds = 86400

// nodePortRange is the API server's message for a NodePort outside
// --service-node-port-range.
var nodePortRange = fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortMin, NodePortMax)

// validateService checks a Service as the API server does, and refuses by
// name what nlbsim does not model; it works in named steps.
func validateService(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	m := s.ObjectMeta
	if m.Namespace == "" {
		m.Namespace = "default"
	}
	errs = append(errs, apivalidation.ValidateObjectMeta(&m, true, apivalidation.NameIsDNS1035Label, meta)...)
	spec := field.NewPath("spec")
	typ, typeErrs := serviceType(s, spec)
	errs = append(errs, typeErrs...)
	lb := typ == corev1.ServiceTypeLoadBalancer
	errs = append(errs, validateServiceIPs(s, spec)...)
	portErrs, nodePorts := validateServicePorts(s, spec, typ)
	errs = append(errs, portErrs...)
	errs = append(errs, validateTrafficPolicies(s, spec, typ, nodePorts)...)
	errs = append(errs, validateServiceRest(s, spec, lb)...)
	errs = append(errs, metav1validation.ValidateLabels(s.Spec.Selector, spec.Child("selector"))...)
	return errs
}

// servicePortKey is a port and its protocol.
type servicePortKey struct {
	port  int32
	proto corev1.Protocol
}

// serviceType is the Service's type (ClusterIP when unset); ExternalName
// and unknown types are errors.
func serviceType(s *corev1.Service, spec *field.Path) (corev1.ServiceType, field.ErrorList) {
	var errs field.ErrorList
	typ := s.Spec.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	switch typ {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	case corev1.ServiceTypeExternalName:
		errs = append(errs, field.Forbidden(spec.Child("type"), "ExternalName Services are "+notModelleds))
	default:
		errs = append(errs, field.NotSupported(spec.Child("type"), s.Spec.Type, []corev1.ServiceType{corev1.ServiceTypeClusterIP,
			corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}))
	}
	return typ, errs
}

// validateServiceIPs checks clusterIP(s), IP families and their policy:
// IPv4 single-stack only.
func validateServiceIPs(s *corev1.Service, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch ip := s.Spec.ClusterIP; ip {
	case "":
	case corev1.ClusterIPNone:
		errs = append(errs, field.Forbidden(spec.Child("clusterIP"), "headless Services (clusterIP: None) are "+notModelleds))
	default:
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(spec.Child("clusterIP"), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
		case !a.Is4():
			errs = append(errs, field.Forbidden(spec.Child("clusterIP"), "IPv6 "+notModelled+" (the VPC and the service CIDR are IPv4)"))
		}
	}
	switch ips := s.Spec.ClusterIPs; {
	case len(ips) > 1:
		errs = append(errs, field.Forbidden(spec.Child("clusterIPs"), "dual-stack Services are "+notModelleds))
	case len(ips) == 1 && s.Spec.ClusterIP != "" && ips[0] != s.Spec.ClusterIP:
		errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), ips[0], "must be equal to clusterIP"))
	}
	for i, f := range s.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
		case corev1.IPv6Protocol:
			errs = append(errs, field.Forbidden(spec.Child("ipFamilies").Index(i), "IPv6 "+notModelled+" (the VPC and the service CIDR are IPv4)"))
		default:
			errs = append(errs, field.NotSupported(spec.Child("ipFamilies").Index(i), f, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}))
		}
	}
	if p := s.Spec.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack:
		case corev1.IPFamilyPolicyRequireDualStack:
			errs = append(errs, field.Invalid(spec.Child("ipFamilyPolicy"), *p, "this cluster is not configured for dual-stack services"))
		default:
			errs = append(errs, field.NotSupported(spec.Child("ipFamilyPolicy"), *p, []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack,
				corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}))
		}
	}

	return errs
}

// validateServicePorts checks the ports: names, protocols (TCP, and UDP
// where not load-balanced), numbers, target ports and node ports; it
// returns the node ports in use.
func validateServicePorts(s *corev1.Service, spec *field.Path, typ corev1.ServiceType) (field.ErrorList, map[servicePortKey]bool) {
	var errs field.ErrorList
	lb := typ == corev1.ServiceTypeLoadBalancer
	if len(s.Spec.Ports) == 0 && typ != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	names := map[string]bool{}
	ports := map[servicePortKey]bool{}
	nodePorts := map[servicePortKey]bool{}
	for i, p := range s.Spec.Ports {
		pp := spec.Child("ports").Index(i)
		switch {
		case p.Name == "" && len(s.Spec.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), ""))
		case p.Name != "":
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		switch proto {
		case corev1.ProtocolTCP:
		case corev1.ProtocolUDP:
			if lb {
				errs = append(errs, field.Forbidden(pp.Child("protocol"), "UDP on a load-balanced port "+notModelled+" (the NLB listens on TCP only)"))
			}
		case corev1.ProtocolSCTP:
			errs = append(errs, field.Forbidden(pp.Child("protocol"), "SCTP "+notModelled))
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}))
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		k := servicePortKey{p.Port, proto}
		if ports[k] {
			errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%d/%s", p.Port, proto)))
		}
		ports[k] = true
		if !(p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0) {
			errs = append(errs, validatePortRef(p.TargetPort, pp.Child("targetPort"))...)
		}
		if p.NodePort != 0 {
			switch {
			case typ == corev1.ServiceTypeClusterIP:
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			case p.NodePort < NodePortMin || p.NodePort > NodePortMax:
				errs = append(errs, field.Invalid(pp.Child("nodePort"), p.NodePort, nodePortRange))
			}
			nk := servicePortKey{p.NodePort, proto}
			if nodePorts[nk] {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), p.NodePort))
			}
			nodePorts[nk] = true
		}
	}

	return errs, nodePorts
}

// validateTrafficPolicies checks externalTrafficPolicy, healthCheckNodePort
// and internalTrafficPolicy (Local is not modelled).
func validateTrafficPolicies(s *corev1.Service, spec *field.Path, typ corev1.ServiceType, nodePorts map[servicePortKey]bool) field.ErrorList {
	var errs field.ErrorList
	lb := typ == corev1.ServiceTypeLoadBalancer
	etp := s.Spec.ExternalTrafficPolicy
	switch etp {
	case "", corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
		if etp != "" && typ == corev1.ServiceTypeClusterIP {
			errs = append(errs, field.Invalid(spec.Child("externalTrafficPolicy"), etp, "may only be set for externally-accessible services"))
		}
	default:
		errs = append(errs, field.NotSupported(spec.Child("externalTrafficPolicy"), etp, []corev1.ServiceExternalTrafficPolicy{
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}))
	}
	if hc := s.Spec.HealthCheckNodePort; hc != 0 {
		switch {
		case !lb || etp != corev1.ServiceExternalTrafficPolicyLocal:
			errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		case hc < NodePortMin || hc > NodePortMax:
			errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), hc, nodePortRange))
		case nodePorts[servicePortKey{hc, corev1.ProtocolTCP}] || nodePorts[servicePortKey{hc, corev1.ProtocolUDP}]:
			errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), hc, "provided port is already allocated"))
		}
	}
	if p := s.Spec.InternalTrafficPolicy; p != nil {
		switch *p {
		case corev1.ServiceInternalTrafficPolicyCluster:
		case corev1.ServiceInternalTrafficPolicyLocal:
			errs = append(errs, field.Forbidden(spec.Child("internalTrafficPolicy"), "internalTrafficPolicy Local "+notModelled))
		default:
			errs = append(errs, field.NotSupported(spec.Child("internalTrafficPolicy"), *p, []corev1.ServiceInternalTrafficPolicy{
				corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}))
		}
	}
	return errs
}

// validateServiceRest checks session affinity and the load balancer class,
// and refuses by name externalIPs, source ranges, LoadBalancer Services
// without NodePorts and trafficDistribution.
func validateServiceRest(s *corev1.Service, spec *field.Path, lb bool) field.ErrorList {
	var errs field.ErrorList
	switch s.Spec.SessionAffinity {
	case "", corev1.ServiceAffinityNone:
		if s.Spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig"), *s.Spec.SessionAffinityConfig, "must not be set when session affinity is None"))
		}
	case corev1.ServiceAffinityClientIP:
		if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxAffinitySeconds {
				errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
					fmt.Sprintf("must be greater than 0 and less than %d", maxAffinitySeconds)))
			}
		}
	default:
		errs = append(errs, field.NotSupported(spec.Child("sessionAffinity"), s.Spec.SessionAffinity, []corev1.ServiceAffinity{
			corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}))
	}
	if c := s.Spec.LoadBalancerClass; c != nil {
		if !lb {
			errs = append(errs, field.Invalid(spec.Child("loadBalancerClass"), *c, "may only be used when `type` is 'LoadBalancer'"))
		}
		for _, msg := range validation.IsQualifiedName(*c) {
			errs = append(errs, field.Invalid(spec.Child("loadBalancerClass"), *c, msg))
		}
	}
	if len(s.Spec.ExternalIPs) > 0 {
		errs = append(errs, field.Forbidden(spec.Child("externalIPs"), "externalIPs are "+notModelleds))
	}
	if len(s.Spec.LoadBalancerSourceRanges) > 0 {
		errs = append(errs, field.Forbidden(spec.Child("loadBalancerSourceRanges"), "source ranges (the NLB's security groups) are "+notModelleds))
	}
	if a := s.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a && lb {
		errs = append(errs, field.Forbidden(spec.Child("allocateLoadBalancerNodePorts"), "LoadBalancer Services without NodePorts are "+notModelleds))
	}
	if s.Spec.TrafficDistribution != nil {
		errs = append(errs, field.Forbidden(spec.Child("trafficDistribution"), "trafficDistribution (topology-aware routing) "+notModelled))
	}
	return errs
}
