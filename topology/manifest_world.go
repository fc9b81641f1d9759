package topology

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// manifestObjects are a spec's manifests, decoded and validated object by
// object; addManifests checks what spans objects.
type manifestObjects struct {
	objects  []*object
	warnings []string
	// proxyMode is a KubeProxyConfiguration's mode (the last one's).
	proxyMode ProxyMode
}

// builtinNamespaces exist in every cluster.
var builtinNamespaces = []string{"default", "kube-node-lease", "kube-public", "kube-system"}

// parseManifests decodes and validates manifests. Its error is ManifestErrors.
func parseManifests(ms []Manifest) (*manifestObjects, error) {
	d := decodeManifests(ms)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	objs := &manifestObjects{objects: d.objects, warnings: d.warnings}
	var errs ManifestErrors
	for _, o := range d.objects {
		var fes field.ErrorList
		switch {
		case o.ns != nil:
			fes = validateNamespace(o.ns)
		case o.dep != nil:
			var warns []string
			fes, warns = validateDeployment(o.dep)
			for _, w := range warns {
				objs.warnings = append(objs.warnings, fmt.Sprintf("%s:%d: deployment %s/%s: %s", o.src.file, o.src.line, o.namespace, o.name, w))
			}
		case o.svc != nil:
			fes = validateService(o.svc)
		case o.kpc != nil:
			if fes = validateKubeProxyConfiguration(o.kpc); len(fes) == 0 {
				objs.proxyMode = ProxyMode(o.kpc.Mode)
				if objs.proxyMode == "" {
					objs.proxyMode = ProxyIPTables
				}
				if ignored := o.kpc.ignoredFields(); len(ignored) > 0 {
					objs.warnings = append(objs.warnings, fmt.Sprintf("%s:%d: KubeProxyConfiguration: %s not modelled; nlbsim keeps EKS's kube-proxy settings and reads mode alone",
						o.src.file, o.src.line, strings.Join(ignored, ", ")))
				}
			}
		}
		for _, e := range fes {
			errs = append(errs, ManifestError{File: o.src.file, Line: o.src.lineOf(e.Field), Message: e.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return objs, nil
}

// locate gives an error of the Load Balancer Controller's the file and line
// of the annotation it is about.
func (m *manifestObjects) locate(err error) error {
	var ae *AnnotationError
	if !errors.As(err, &ae) {
		return err
	}
	for _, o := range m.objects {
		if o.svc != nil && o.namespace+"/"+o.name == ae.Service {
			return ManifestErrors{annotationError(o, err)}
		}
	}
	return err
}

// annotationError places an error about a Service's annotation (an
// *AnnotationError) at the annotation's line.
func annotationError(o *object, err error) ManifestError {
	path := "metadata.annotations"
	var ae *AnnotationError
	if errors.As(err, &ae) {
		path += "[" + ae.Annotation + "]"
	}
	return o.src.errorAt(path, "%v", err)
}

// addManifests adds the manifests' Deployments and Services to the world,
// in namespace/name order, checking what spans objects: namespaces that
// must exist, ClusterIPs and NodePorts already allocated, add-ons that the
// manifests may not replace, and the Load Balancer Controller's
// annotations. The walkthrough's objects keep the default world's values.
func (w *World) addManifests(m *manifestObjects, spec Spec) error {
	var errs ManifestErrors
	namespaces := map[string]bool{}
	for _, n := range builtinNamespaces {
		namespaces[n] = true
	}
	for _, o := range m.objects {
		if o.ns != nil {
			namespaces[o.name] = true
			if len(o.ns.Labels) > 0 {
				if w.NamespaceLabels == nil {
					w.NamespaceLabels = map[string]map[string]string{}
				}
				w.NamespaceLabels[o.name] = maps.Clone(o.ns.Labels)
			}
		}
	}
	var deps, svcs []*object
	for _, o := range m.objects {
		if o.dep == nil && o.svc == nil {
			continue
		}
		if !namespaces[o.namespace] {
			errs = append(errs, o.src.errorAt("metadata.namespace", "namespaces %q not found (add a Namespace object to the manifests)", o.namespace))
			continue
		}
		if o.dep != nil {
			deps = append(deps, o)
		} else {
			svcs = append(svcs, o)
		}
	}
	byKey := func(a, b *object) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	}
	slices.SortStableFunc(deps, byKey)
	for _, o := range deps {
		if slices.ContainsFunc(w.Deployments, func(d Deployment) bool { return d.Namespace == o.namespace && d.Name == o.name }) {
			errs = append(errs, o.src.errorAt("metadata.name", "deployment %s/%s is one of the cluster's add-ons; nlbsim does not change add-ons", o.namespace, o.name))
			continue
		}
		w.Deployments = append(w.Deployments, deploymentFrom(o))
	}
	errs = append(errs, w.addManifestServices(svcs, spec)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// deploymentFrom keeps what matters of a Deployment: replicas, labels,
// ports, containers' names and images, the readiness probe, the preStop
// hook and the grace period.
func deploymentFrom(o *object) Deployment {
	dep := o.dep
	tmpl := dep.Spec.Template
	d := Deployment{
		Name: o.name, Namespace: o.namespace, Replicas: 1, Labels: maps.Clone(tmpl.Labels),
		Serves: ServesHTTP, TerminationGracePeriod: defaultGracePeriod,
	}
	if dep.Spec.Replicas != nil {
		d.Replicas = int(*dep.Spec.Replicas)
	}
	if sel := dep.Spec.Selector.MatchLabels; len(sel) > 0 && !maps.Equal(sel, tmpl.Labels) {
		d.Selector = maps.Clone(sel)
	}
	if g := tmpl.Spec.TerminationGracePeriodSeconds; g != nil {
		d.TerminationGracePeriod = time.Duration(*g) * time.Second
	}
	for _, c := range tmpl.Spec.Containers {
		d.Containers = append(d.Containers, Container{Name: c.Name, Image: c.Image})
		for _, p := range c.Ports {
			d.Ports = append(d.Ports, ContainerPort{Name: p.Name, Port: int(p.ContainerPort), Protocol: string(cmp.Or(p.Protocol, corev1.ProtocolTCP))})
		}
		if c.ReadinessProbe != nil && d.ReadinessProbe == nil {
			d.ReadinessProbe = probeFrom(c.ReadinessProbe)
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && d.PreStop == nil {
			d.PreStop = hookFrom(c.Lifecycle.PreStop)
		}
	}
	if o.namespace == AppNamespace && o.name == AppDeployment {
		d.TemplateHash = "67dd5f77ff"
	} else {
		// The pod-template-hash: a new template makes new pods.
		b, _ := json.Marshal(tmpl)
		d.TemplateHash = safeHash(10, o.namespace, o.name, string(b))
	}
	return d
}

// safeHash is n characters of Kubernetes' name alphabet from a hash of parts.
func safeHash(n int, parts ...string) string {
	h := hashBytes(parts...)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(podAlphabet[int(h[i])%len(podAlphabet)])
	}
	return b.String()
}

func seconds(p *int32, def int32) time.Duration {
	if p == nil || *p == 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*p) * time.Second
}

func orDefault(v, def int32) int {
	if v == 0 {
		return int(def)
	}
	return int(v)
}

// probeFrom keeps a readiness probe with the API server's defaults.
func probeFrom(p *corev1.Probe) *Probe {
	pr := &Probe{
		InitialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:       seconds(&p.PeriodSeconds, 10), Timeout: seconds(&p.TimeoutSeconds, 1),
		SuccessThreshold: orDefault(p.SuccessThreshold, 1), FailureThreshold: orDefault(p.FailureThreshold, 3),
	}
	switch {
	case p.HTTPGet != nil:
		pr.Handler, pr.Port, pr.Path = "httpGet", p.HTTPGet.Port.String(), cmp.Or(p.HTTPGet.Path, "/")
	case p.TCPSocket != nil:
		pr.Handler, pr.Port = "tcpSocket", p.TCPSocket.Port.String()
	case p.GRPC != nil:
		pr.Handler, pr.Port = "grpc", strconv.Itoa(int(p.GRPC.Port))
	case p.Exec != nil:
		pr.Handler = "exec"
	}
	return pr
}

func hookFrom(h *corev1.LifecycleHandler) *Hook {
	switch {
	case h.Exec != nil:
		return &Hook{Handler: "exec", Command: slices.Clone(h.Exec.Command)}
	case h.HTTPGet != nil:
		return &Hook{Handler: "httpGet", Port: h.HTTPGet.Port.String(), Path: cmp.Or(h.HTTPGet.Path, "/")}
	case h.TCPSocket != nil:
		return &Hook{Handler: "tcpSocket", Port: h.TCPSocket.Port.String()}
	case h.Sleep != nil:
		return &Hook{Handler: "sleep", Sleep: time.Duration(h.Sleep.Seconds) * time.Second}
	}
	return nil
}

// addManifestServices adds Services, given in file order: explicit
// ClusterIPs and NodePorts first (the later of two claims is refused), then
// the walkthrough's Service with the default world's values, then the others in
// namespace/name order, allocated deterministically from their names. The
// mode and policy flags apply to every LoadBalancer Service.
func (w *World) addManifestServices(objs []*object, spec Spec) ManifestErrors {
	var errs ManifestErrors
	usedIP := w.usedClusterIPs()
	usedPort := w.usedNodePorts()
	delete(usedPort, 0)
	type pending struct {
		o   *object
		svc Service
	}
	var ps []pending
	for _, o := range objs {
		s := o.svc
		if slices.ContainsFunc(w.Services, func(x Service) bool { return x.Namespace == o.namespace && x.Name == o.name }) {
			errs = append(errs, o.src.errorAt("metadata.name", "service %s/%s is one of the cluster's add-ons; nlbsim does not change add-ons", o.namespace, o.name))
			continue
		}
		svc := Service{
			Name: o.name, Namespace: o.namespace, Type: string(cmp.Or(s.Spec.Type, corev1.ServiceTypeClusterIP)),
			SessionAffinity: string(cmp.Or(s.Spec.SessionAffinity, corev1.ServiceAffinityNone)),
		}
		if len(s.Spec.Selector) > 0 {
			svc.Selector = maps.Clone(s.Spec.Selector)
		}
		if len(s.Annotations) > 0 {
			svc.Annotations = maps.Clone(s.Annotations)
		}
		if c := s.Spec.LoadBalancerClass; c != nil {
			svc.LoadBalancerClass = *c
		}
		if c := s.Spec.SessionAffinityConfig; svc.SessionAffinity == "ClientIP" && c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			svc.AffinityTimeout = int(*c.ClientIP.TimeoutSeconds)
		}
		external := svc.Type != "ClusterIP"
		if external {
			svc.ExternalTrafficPolicy = TrafficPolicy(cmp.Or(s.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster))
			if svc.Type == "LoadBalancer" && spec.ExternalTrafficPolicy != "" {
				svc.ExternalTrafficPolicy = spec.ExternalTrafficPolicy // the flag beats the manifest
			}
		}
		mine := map[int]bool{} // a NodePort may serve TCP and UDP of one Service
		for i, p := range s.Spec.Ports {
			sp := ServicePort{Name: p.Name, Protocol: string(cmp.Or(p.Protocol, corev1.ProtocolTCP)), Port: int(p.Port), TargetPort: p.TargetPort.String()}
			if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
				sp.TargetPort = strconv.Itoa(int(p.Port))
			}
			if external && p.NodePort != 0 {
				if usedPort[int(p.NodePort)] && !mine[int(p.NodePort)] {
					errs = append(errs, o.src.errorAt(fmt.Sprintf("spec.ports[%d].nodePort", i), "%s", field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, "provided port is already allocated").Error()))
				}
				usedPort[int(p.NodePort)], mine[int(p.NodePort)] = true, true
				sp.NodePort = int(p.NodePort)
			}
			svc.Ports = append(svc.Ports, sp)
		}
		if hc := int(s.Spec.HealthCheckNodePort); hc != 0 && svc.Type == "LoadBalancer" && svc.ExternalTrafficPolicy == PolicyLocal {
			if usedPort[hc] {
				errs = append(errs, o.src.errorAt("spec.healthCheckNodePort", "%s", field.Invalid(field.NewPath("spec", "healthCheckNodePort"), hc, "provided port is already allocated").Error()))
			}
			usedPort[hc] = true
			svc.HealthCheckNodePort = hc
		}
		if ip := cmp.Or(s.Spec.ClusterIP, firstOf(s.Spec.ClusterIPs)); ip != "" {
			a := netip.MustParseAddr(ip) // validated
			path := field.NewPath("spec", "clusterIPs").Index(0)
			switch {
			case !w.Cluster.ServiceCIDR.Contains(a):
				errs = append(errs, o.src.errorAt("spec.clusterIP", "%s", field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", ip, w.Cluster.ServiceCIDR)).Error()))
			case usedIP[a]:
				errs = append(errs, o.src.errorAt("spec.clusterIP", "%s", field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)).Error()))
			}
			usedIP[a] = true
			svc.ClusterIP = a
		}
		ps = append(ps, pending{o, svc})
	}
	// The walkthrough's Service allocates first, then the others by name.
	slices.SortStableFunc(ps, func(a, b pending) int {
		return cmp.Or(cmp.Compare(boolInt(!isWalkthroughService(a.svc)), boolInt(!isWalkthroughService(b.svc))), byServiceKey(a.svc, b.svc))
	})
	for i := range ps {
		svc := &ps[i].svc
		walkthrough := isWalkthroughService(*svc)
		if !svc.ClusterIP.IsValid() {
			if walkthrough && !usedIP[appClusterIP] {
				svc.ClusterIP = appClusterIP
			} else {
				svc.ClusterIP = w.clusterIPFor(svc.Key(), usedIP)
			}
			usedIP[svc.ClusterIP] = true
		}
		if svc.Type != "ClusterIP" {
			for j := range svc.Ports {
				p := &svc.Ports[j]
				if p.NodePort != 0 {
					continue
				}
				if walkthrough && !usedPort[AppNodePort] {
					p.NodePort = AppNodePort
				} else {
					p.NodePort = nodePortFor(svc.Key()+"/"+cmp.Or(p.Name, strconv.Itoa(p.Port)), usedPort)
				}
				usedPort[p.NodePort] = true
			}
		}
		if svc.Type == "LoadBalancer" && svc.ExternalTrafficPolicy == PolicyLocal && svc.HealthCheckNodePort == 0 {
			svc.HealthCheckNodePort = nodePortFor(svc.Key()+"/healthCheckNodePort", usedPort)
			usedPort[svc.HealthCheckNodePort] = true
		}
		if svc.HasNLB() {
			if _, err := newNLB(*svc, spec); err != nil {
				errs = append(errs, annotationError(ps[i].o, err))
			}
		}
	}
	slices.SortStableFunc(ps, func(a, b pending) int { return byServiceKey(a.svc, b.svc) })
	for _, p := range ps {
		w.Services = append(w.Services, p.svc)
	}
	return errs
}

func byServiceKey(a, b Service) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstOf(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

// endpointWarnings says which manifest Services have no endpoints: no
// selector, a selector that matches no running pod, or a targetPort name
// that none of the selected pods declares.
func (w *World) endpointWarnings(m *manifestObjects) []string {
	var out []string
	for _, o := range m.objects {
		if o.svc == nil {
			continue
		}
		svc, ok := w.Service(o.namespace, o.name)
		if !ok {
			continue
		}
		warn := func(path, format string, a ...any) {
			out = append(out, fmt.Sprintf("%s:%d: service %s: %s", o.src.file, o.src.lineOf(path), svc.Key(), fmt.Sprintf(format, a...)))
		}
		if svc.Type == "LoadBalancer" && !svc.HasNLB() {
			warn("spec.loadBalancerClass", "loadBalancerClass %s is not the Load Balancer Controller's (%s): no NLB, its EXTERNAL-IP stays <pending>", svc.LoadBalancerClass, LBCClass)
		}
		if len(svc.Selector) == 0 {
			warn("spec", "it has no selector and nlbsim reads no Endpoints or EndpointSlices, so it has no endpoints")
			continue
		}
		selected := 0
		for _, p := range w.Pods {
			if p.Namespace == svc.Namespace && p.Running() && matches(svc.Selector, p.Labels) {
				selected++
			}
		}
		if selected == 0 {
			warn("spec.selector", "selector %s matches no running pod, so it has no endpoints", formatSelector(svc.Selector))
			continue
		}
		for i, port := range svc.Ports {
			if len(w.Endpoints(svc, port)) == 0 {
				warn(fmt.Sprintf("spec.ports[%d].targetPort", i), "port %d: targetPort %q names no %s port of the pods it selects, so it has no endpoints", port.Port, port.TargetPort, port.Protocol)
			}
		}
	}
	return out
}

func formatSelector(sel map[string]string) string {
	keys := slices.Sorted(maps.Keys(sel))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

// walkthroughManifest is the walkthrough's ip-mode manifest with the given
// replicas: what a world without manifests holds, as a manifest, so that
// applying manifests to it keeps its objects (kubectl apply replaces only
// the objects it is given).
func walkthroughManifest(replicas int) Manifest {
	return Manifest{Name: "nlbsim-walkthrough.yaml", Data: fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  replicas: %d
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.21
        ports:
        - containerPort: 7777
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-nlb-service
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: "external"
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: "ip"
    service.beta.kubernetes.io/aws-load-balancer-scheme: "internet-facing"
spec:
  type: LoadBalancer
  ports:
  - port: 7777
    targetPort: 7777
  selector:
    app: nginx
`, replicas)}
}

// ApplyManifests is `kubectl apply -f` on a running cluster's spec: the
// objects of add replace those of the same kind, namespace and name, and
// the others stay. A spec without manifests holds the walkthrough's
// objects. Manifests whose every object is replaced are dropped. Only
// decoding is checked here; Build validates the result. Errors are
// *InvalidError.
func ApplyManifests(spec Spec, add []Manifest) (Spec, error) {
	d := decodeManifests(add)
	if len(d.errs) > 0 {
		return spec, &InvalidError{Err: d.errs}
	}
	replaced := map[string]bool{}
	for _, o := range d.objects {
		replaced[o.key()] = true
	}
	base := spec.Manifests
	if len(base) == 0 {
		base = []Manifest{walkthroughManifest(spec.Replicas)}
	}
	var out []Manifest
	for _, m := range base {
		keep := false
		for _, o := range decodeManifests([]Manifest{m}).objects {
			keep = keep || !replaced[o.key()]
		}
		if keep {
			out = append(out, m)
		}
	}
	spec.Manifests = append(out, add...)
	return spec, nil
}

// Applied lists what applying manifests did to each of their objects, as
// kubectl apply prints it (deployment.apps/web configured), from the world
// before (nil for a new cluster) and after. Kinds nlbsim ignores are left
// out: building the world warned about them.
func Applied(before, after *World, applied []Manifest) []string {
	d := decodeManifests(applied)
	existed := map[string]bool{}
	for _, n := range builtinNamespaces {
		existed[n] = true
	}
	if before != nil {
		for _, o := range decodeManifests(before.Spec.Manifests).objects {
			if o.ns != nil {
				existed[o.name] = true
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, o := range d.objects {
		if o.ignored || seen[o.key()] {
			continue
		}
		seen[o.key()] = true
		verb := "created"
		switch {
		case o.ns != nil:
			if existed[o.name] {
				verb = "unchanged"
			}
		case o.dep != nil && before != nil:
			if old, ok := findDeployment(before, o.namespace, o.name); ok {
				now, _ := findDeployment(after, o.namespace, o.name)
				verb = changedVerb(old, now)
			}
		case o.svc != nil && before != nil:
			if old, ok := before.Service(o.namespace, o.name); ok {
				now, _ := after.Service(o.namespace, o.name)
				verb = changedVerb(old, now)
			}
		case o.kpc != nil && before != nil:
			verb = changedVerb(before.Cluster.KubeProxy.Mode, after.Cluster.KubeProxy.Mode)
		}
		out = append(out, o.ref()+" "+verb)
	}
	return out
}

func changedVerb[T any](old, now T) string {
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(now)
	if string(a) == string(b) {
		return "unchanged"
	}
	return "configured"
}

func findDeployment(w *World, namespace, name string) (Deployment, bool) {
	for _, d := range w.Deployments {
		if d.Namespace == namespace && d.Name == name {
			return d, true
		}
	}
	return Deployment{}, false
}
