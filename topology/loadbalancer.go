package topology

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Load Balancer Controller's annotations that change behaviour.
const (
	annotationPrefix               = "service.beta.kubernetes.io/aws-load-balancer-"
	AnnotationType                 = annotationPrefix + "type"
	AnnotationTargetType           = annotationPrefix + "nlb-target-type"
	AnnotationScheme               = annotationPrefix + "scheme"
	AnnotationAttributes           = annotationPrefix + "attributes"
	AnnotationTargetGroupAttrs     = annotationPrefix + "target-group-attributes"
	AnnotationHealthCheckProtocol  = annotationPrefix + "healthcheck-protocol"
	AnnotationHealthCheckPort      = annotationPrefix + "healthcheck-port"
	AnnotationHealthCheckPath      = annotationPrefix + "healthcheck-path"
	AnnotationHealthCheckInterval  = annotationPrefix + "healthcheck-interval"
	AnnotationHealthCheckTimeout   = annotationPrefix + "healthcheck-timeout"
	AnnotationHealthCheckHealthy   = annotationPrefix + "healthcheck-healthy-threshold"
	AnnotationHealthCheckUnhealthy = annotationPrefix + "healthcheck-unhealthy-threshold"
)

// The walkthrough's NLB.
const (
	walkthroughNLBName = "k8s-default-nginxnlb-4295c357fc"
	walkthroughNLBDNS  = "k8s-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com"
)

// LBCClass is the loadBalancerClass of the AWS Load Balancer Controller.
const LBCClass = "service.k8s.aws/nlb"

// HasNLB reports whether the Load Balancer Controller makes an NLB for a
// Service: type LoadBalancer, and no class or the controller's class.
func (s Service) HasNLB() bool {
	return s.Type == "LoadBalancer" && (s.LoadBalancerClass == "" || s.LoadBalancerClass == LBCClass)
}

func isWalkthroughService(svc Service) bool {
	return svc.Namespace == AppNamespace && svc.Name == AppService
}

// addLoadBalancers gives every LoadBalancer Service its NLB, with settings
// taken from the flags, else the annotations, else the controller's
// defaults. The walkthrough's Service, when there, comes first: its NLB
// nodes are nlb-a, nlb-b, nlb-c at the walkthrough's addresses; another
// Service's are <svc>-nlb-a… (<svc>-<namespace>-nlb-a… when two Services
// share a name).
func (w *World) addLoadBalancers(alloc *allocator, spec Spec) error {
	var svcs []Service
	for _, svc := range w.Services {
		if svc.HasNLB() && isWalkthroughService(svc) {
			svcs = append(svcs, svc)
		}
	}
	for _, svc := range w.Services {
		if svc.HasNLB() && !isWalkthroughService(svc) {
			svcs = append(svcs, svc)
		}
	}
	taken := map[string]bool{}
	for _, h := range w.Hosts() {
		taken[h.Name] = true
	}
	for _, svc := range svcs {
		for _, p := range svc.Ports {
			if p.Protocol != "TCP" {
				return fmt.Errorf("service %s port %d: protocol %s is not supported on a load-balanced port (nlbsim models TCP only)", svc.Key(), p.Port, p.Protocol)
			}
		}
		lb, err := newNLB(svc, spec)
		if err != nil {
			return err
		}
		walkthrough := isWalkthroughService(svc)
		prefix := svc.Name + "-nlb-"
		if taken[prefix+w.Subnets[0].Letter] {
			prefix = svc.Name + "-" + svc.Namespace + "-nlb-"
		}
		for i, sub := range w.Subnets {
			n := NLBNode{Letter: sub.Letter, Host: Host{Name: "nlb-" + sub.Letter, AZ: sub.AZ}}
			if walkthrough {
				n.IP = nlbIPs[i]
			} else {
				n.Name = prefix + sub.Letter
				if n.IP, err = alloc.next(sub, "NLB "+lb.Name); err != nil {
					return err
				}
			}
			if taken[n.Name] {
				return fmt.Errorf("service %s: the NLB node's host name %s is taken by another host", svc.Key(), n.Name)
			}
			taken[n.Name] = true
			lb.Nodes = append(lb.Nodes, n)
		}
		if walkthrough {
			lb.Name, lb.DNSName = walkthroughNLBName, walkthroughNLBDNS
		}
		w.LoadBalancers = append(w.LoadBalancers, lb)
	}
	return nil
}

// AnnotationError is a Load Balancer Controller annotation whose value the
// controller or AWS refuses.
type AnnotationError struct {
	Service    string // namespace/name
	Annotation string
	Err        error
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("service %s annotation %s: %v", e.Service, e.Annotation, e.Err)
}

func (e *AnnotationError) Unwrap() error { return e.Err }

func newNLB(svc Service, spec Spec) (NLB, error) {
	ann := svc.Annotations
	name := fmt.Sprintf("k8s-%s-%s-%s", truncate(sanitize(svc.Namespace), 8), truncate(sanitize(svc.Name), 8),
		hexHash(10, spec.Name, svc.Namespace, svc.Name))
	lb := NLB{
		Name:    name,
		DNSName: fmt.Sprintf("%s-%s.elb.%s.amazonaws.com", name, hexHash(16, spec.Name, name, "dns"), Region),
		Service: svc.Key(),
		Scheme:  "internal",
	}
	bad := func(a string, err error) error { return &AnnotationError{Service: svc.Key(), Annotation: a, Err: err} }

	lb.TargetType = TargetInstance // the controller's --default-target-type
	if v, ok := ann[AnnotationType]; ok {
		switch v {
		case "external", "nlb": // nlb: the legacy in-tree controller, instance targets
		case "nlb-ip": // legacy: external with ip targets
			lb.TargetType = TargetIP
		default:
			return lb, bad(AnnotationType, fmt.Errorf("unknown load balancer type %q (valid: external, nlb-ip, nlb)", v))
		}
	}
	if v, ok := ann[AnnotationTargetType]; ok {
		switch TargetType(v) {
		case TargetIP, TargetInstance:
			lb.TargetType = TargetType(v)
		default:
			return lb, bad(AnnotationTargetType, fmt.Errorf("unknown target type %q (valid: ip, instance)", v))
		}
	}
	if spec.Mode != "" {
		lb.TargetType = spec.Mode
	}
	if v, ok := ann[AnnotationScheme]; ok {
		if v != "internal" && v != "internet-facing" {
			return lb, bad(AnnotationScheme, fmt.Errorf("unknown scheme %q (valid: internal, internet-facing)", v))
		}
		lb.Scheme = v
	}
	attrs, err := parseAttributes(ann[AnnotationAttributes])
	if err != nil {
		return lb, bad(AnnotationAttributes, err)
	}
	if lb.CrossZone, err = boolAttr(attrs, "load_balancing.cross_zone.enabled", false); err != nil {
		return lb, bad(AnnotationAttributes, err)
	}
	if spec.CrossZone != nil {
		lb.CrossZone = *spec.CrossZone
	}
	tgAttrs, err := parseAttributes(ann[AnnotationTargetGroupAttrs])
	if err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	// AWS's default: on for instance targets, off for ip targets.
	if lb.PreserveClientIP, err = boolAttr(tgAttrs, "preserve_client_ip.enabled", lb.TargetType == TargetInstance); err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	if spec.PreserveClientIP != nil {
		lb.PreserveClientIP = *spec.PreserveClientIP
	}
	lb.DeregistrationDelay = 300 * time.Second // AWS's default
	if v, ok := tgAttrs["deregistration_delay.timeout_seconds"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			return lb, bad(AnnotationTargetGroupAttrs, fmt.Errorf("deregistration_delay.timeout_seconds=%q must be a whole number of seconds in 0–3600", v))
		}
		lb.DeregistrationDelay = time.Duration(n) * time.Second
	}
	if lb.HealthCheck, err = healthCheck(svc, lb.TargetType, bad); err != nil {
		return lb, err
	}
	return lb, nil
}

// healthCheck applies the controller's two default sets (see
// https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#health-check)
// and the healthcheck annotations, with the ranges AWS accepts.
func healthCheck(svc Service, tt TargetType, bad func(string, error) error) (HealthCheck, error) {
	hc := HealthCheck{Protocol: "TCP", Port: "traffic-port", Interval: 10 * time.Second, Timeout: 10 * time.Second,
		HealthyThreshold: 3, UnhealthyThreshold: 3}
	if tt == TargetInstance && svc.ExternalTrafficPolicy == PolicyLocal {
		hc = HealthCheck{Protocol: "HTTP", Port: strconv.Itoa(svc.HealthCheckNodePort), Path: "/healthz",
			Interval: 10 * time.Second, Timeout: 6 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	}
	ann := svc.Annotations
	if v, ok := ann[AnnotationHealthCheckProtocol]; ok {
		switch strings.ToUpper(v) {
		case "TCP", "HTTP":
			hc.Protocol = strings.ToUpper(v)
		default:
			return hc, bad(AnnotationHealthCheckProtocol, fmt.Errorf("unknown protocol %q (valid: tcp, http)", v))
		}
	}
	if v, ok := ann[AnnotationHealthCheckPort]; ok {
		if n, err := strconv.Atoi(v); v != "traffic-port" && (err != nil || n < 1 || n > 65535) {
			return hc, bad(AnnotationHealthCheckPort, fmt.Errorf("%q is neither traffic-port nor a port in 1–65535", v))
		}
		hc.Port = v
	}
	if v, ok := ann[AnnotationHealthCheckPath]; ok {
		if !strings.HasPrefix(v, "/") {
			return hc, bad(AnnotationHealthCheckPath, fmt.Errorf("path %q must start with /", v))
		}
		hc.Path = v
	}
	if hc.Protocol == "HTTP" && hc.Path == "" {
		hc.Path = "/"
	}
	seconds := func(a string, lo, hi int, into *time.Duration) error {
		v, ok := ann[a]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return bad(a, fmt.Errorf("%q must be a whole number of seconds in %d–%d", v, lo, hi))
		}
		*into = time.Duration(n) * time.Second
		return nil
	}
	count := func(a string, into *int) error {
		v, ok := ann[a]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 10 {
			return bad(a, fmt.Errorf("%q must be a whole number in 2–10", v))
		}
		*into = n
		return nil
	}
	for _, err := range []error{
		seconds(AnnotationHealthCheckInterval, 5, 300, &hc.Interval),
		seconds(AnnotationHealthCheckTimeout, 2, 120, &hc.Timeout),
		count(AnnotationHealthCheckHealthy, &hc.HealthyThreshold),
		count(AnnotationHealthCheckUnhealthy, &hc.UnhealthyThreshold),
	} {
		if err != nil {
			return hc, err
		}
	}
	if hc.Timeout > hc.Interval {
		a := AnnotationHealthCheckTimeout
		if _, ok := ann[a]; !ok {
			a = AnnotationHealthCheckInterval
		}
		return hc, bad(a, fmt.Errorf("timeout %s is above the interval %s", hc.Timeout, hc.Interval))
	}
	return hc, nil
}

// parseAttributes reads the controller's stringMap format: k1=v1,k2=v2.
func parseAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func boolAttr(attrs map[string]string, key string, def bool) (bool, error) {
	v, ok := attrs[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil || (v != "true" && v != "false") {
		return def, fmt.Errorf("%s=%q must be true or false", key, v)
	}
	return b, nil
}

// LoadBalancerFor returns the NLB of a Service, if it has one.
func (w *World) LoadBalancerFor(svcKey string) (NLB, bool) {
	for _, lb := range w.LoadBalancers {
		if lb.Service == svcKey {
			return lb, true
		}
	}
	return NLB{}, false
}
