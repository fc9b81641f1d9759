package topology

import (
	"fmt"
	"sort"
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
	AnnotationHealthCheckSuccess   = annotationPrefix + "healthcheck-success-codes"
	AnnotationTargetNodeLabels     = annotationPrefix + "target-node-labels"
	AnnotationProxyProtocol        = annotationPrefix + "proxy-protocol"
	// AnnotationCrossZoneDeprecated is the controller's deprecated
	// cross-zone annotation, still honoured: its value wins over the
	// attributes annotation's (model_build_load_balancer.go,
	// getAnnotationSpecificLbAttributes, merged first by
	// algorithm.MergeStringMap, where the first map's value is kept).
	AnnotationCrossZoneDeprecated = annotationPrefix + "cross-zone-load-balancing-enabled"
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
		walkthrough := isWalkthroughService(svc) && len(spec.From) == 0 // a real cluster's keeps no fixed address
		prefix := svc.Name + "-nlb-"
		if taken[prefix+w.Subnets[0].Letter] {
			prefix = svc.Name + "-" + svc.Namespace + "-nlb-"
		}
		for i, sub := range w.Subnets {
			n := NLBNode{Letter: sub.Letter, Host: Host{Name: "nlb-" + sub.Letter, AZ: sub.AZ}}
			if walkthrough {
				n.IP, err = w.placedOr(alloc, nlbIPs[i], "NLB "+lb.Name)
			} else {
				n.Name = prefix + sub.Letter
				n.IP, err = alloc.next(sub, "NLB "+lb.Name)
			}
			if err != nil {
				return err
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
	if v, ok := ann[AnnotationCrossZoneDeprecated]; ok {
		attrs["load_balancing.cross_zone.enabled"] = v
	}
	if err := checkLBAttributes(attrs); err != nil {
		return lb, bad(AnnotationAttributes, err)
	}
	if lb.CrossZone, err = boolAttr(attrs, "load_balancing.cross_zone.enabled", false); err != nil {
		a := AnnotationAttributes
		if _, ok := ann[AnnotationCrossZoneDeprecated]; ok {
			a = AnnotationCrossZoneDeprecated
		}
		return lb, bad(a, err)
	}
	tgAttrs, err := parseAttributes(ann[AnnotationTargetGroupAttrs])
	if err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	if err := checkTargetGroupAttributes(tgAttrs); err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	// The target group's own setting overrides the load balancer's
	// (TargetGroupAttribute load_balancing.cross_zone.enabled: true, false
	// or use_load_balancer_configuration).
	switch v := tgAttrs["load_balancing.cross_zone.enabled"]; v {
	case "", "use_load_balancer_configuration":
	case "true", "false":
		lb.CrossZone = v == "true"
	default:
		return lb, bad(AnnotationTargetGroupAttrs, fmt.Errorf("load_balancing.cross_zone.enabled=%q must be true, false or use_load_balancer_configuration", v))
	}
	if spec.CrossZone != nil {
		lb.CrossZone = *spec.CrossZone
	}
	if v, ok := ann[AnnotationProxyProtocol]; ok {
		return lb, bad(AnnotationProxyProtocol, fmt.Errorf("proxy protocol v2 (%q) is not modelled: the pods' servers do not read the PROXY header", v))
	}
	if v, ok := ann[AnnotationTargetNodeLabels]; ok {
		if lb.TargetNodeLabels, err = parseNodeSelector(v); err != nil {
			return lb, bad(AnnotationTargetNodeLabels, err)
		}
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
	if lb.DeregistrationTermination, err = boolAttr(tgAttrs, "deregistration_delay.connection_termination.enabled", false); err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	terminate, err := boolAttr(tgAttrs, "target_health_state.unhealthy.connection_termination.enabled", true)
	if err != nil {
		return lb, bad(AnnotationTargetGroupAttrs, err)
	}
	lb.UnhealthyKeepsConnections = !terminate
	if v, ok := tgAttrs["target_health_state.unhealthy.draining_interval_seconds"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0 || n > 360000:
			return lb, bad(AnnotationTargetGroupAttrs, fmt.Errorf("target_health_state.unhealthy.draining_interval_seconds=%q must be a whole number of seconds in 0–360000", v))
		case terminate:
			return lb, bad(AnnotationTargetGroupAttrs, fmt.Errorf("target_health_state.unhealthy.draining_interval_seconds needs target_health_state.unhealthy.connection_termination.enabled=false"))
		}
		lb.UnhealthyDrainingInterval = time.Duration(n) * time.Second
	}
	if lb.HealthCheck, err = healthCheck(svc, lb.TargetType, bad); err != nil {
		return lb, err
	}
	return lb, nil
}

// The load balancer attributes AWS knows for a Network Load Balancer
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerAttribute.html):
// cross-zone is modelled; those without an effect on where traffic goes
// are accepted; a DNS routing policy other than the default, or a key AWS
// does not know, is refused.
var lbAttributesWithoutTrafficEffect = map[string]bool{
	"deletion_protection.enabled": true, "access_logs.s3.enabled": true, "access_logs.s3.bucket": true,
	"access_logs.s3.prefix": true, "ipv6.deny_all_igw_traffic": true, "zonal_shift.config.enabled": true,
	"load_balancing.cross_zone.enabled": true, "secondary_ips.auto_assigned.per_subnet": true,
}

func checkLBAttributes(attrs map[string]string) error {
	for _, k := range sortedKeys(attrs) {
		v := attrs[k]
		switch {
		case k == "dns_record.client_routing_policy":
			if v != "any_availability_zone" {
				return fmt.Errorf("%s=%s is not modelled (the VPC resolver answers as any_availability_zone)", k, v)
			}
		case !lbAttributesWithoutTrafficEffect[k]:
			return fmt.Errorf("%s is not a Network Load Balancer attribute nlbsim knows", k)
		}
	}
	return nil
}

// The target group attributes of a TCP target group
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetGroupAttribute.html):
// value is "" for those modelled (any valid value), else the only value
// nlbsim accepts (AWS's default); others are refused by name.
var targetGroupAttributes = map[string]string{
	"preserve_client_ip.enabled":                                                     "",
	"deregistration_delay.timeout_seconds":                                           "",
	"deregistration_delay.connection_termination.enabled":                            "",
	"target_health_state.unhealthy.connection_termination.enabled":                   "",
	"target_health_state.unhealthy.draining_interval_seconds":                        "",
	"load_balancing.cross_zone.enabled":                                              "",
	"proxy_protocol_v2.enabled":                                                      "false",
	"stickiness.enabled":                                                             "false",
	"stickiness.type":                                                                "source_ip",
	"target_group_health.dns_failover.minimum_healthy_targets.count":                 "1",
	"target_group_health.dns_failover.minimum_healthy_targets.percentage":            "off",
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      "1",
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
}

func checkTargetGroupAttributes(attrs map[string]string) error {
	for _, k := range sortedKeys(attrs) {
		only, known := targetGroupAttributes[k]
		switch {
		case !known:
			return fmt.Errorf("%s is not a target group attribute of a Network Load Balancer nlbsim knows", k)
		case only != "" && attrs[k] != only:
			return fmt.Errorf("%s=%s is not modelled (only %s, AWS's default)", k, attrs[k], only)
		}
	}
	return nil
}

// parseNodeSelector reads target-node-labels: key=value pairs, or keys
// alone (the label must exist), comma-separated.
func parseNodeSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k = strings.TrimSpace(k); k == "" {
			return nil, fmt.Errorf("%q is not key=value or key", kv)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
		case "HTTPS":
			return hc, bad(AnnotationHealthCheckProtocol, fmt.Errorf("HTTPS health checks are not modelled (the pods serve plain HTTP); use tcp or http"))
		default:
			return hc, bad(AnnotationHealthCheckProtocol, fmt.Errorf("unknown protocol %q (valid: tcp, http, https)", v))
		}
	}
	if v, ok := ann[AnnotationHealthCheckPort]; ok {
		port, err := healthCheckPort(svc, tt, v)
		if err != nil {
			return hc, bad(AnnotationHealthCheckPort, err)
		}
		hc.Port = port
	}
	if hc.Protocol == "HTTP" {
		hc.SuccessCodes = "200-399" // the controller's default matcher
		if v, ok := ann[AnnotationHealthCheckSuccess]; ok {
			if err := checkSuccessCodes(v); err != nil {
				return hc, bad(AnnotationHealthCheckSuccess, err)
			}
			hc.SuccessCodes = v
		}
	} else if v, ok := ann[AnnotationHealthCheckSuccess]; ok {
		return hc, bad(AnnotationHealthCheckSuccess, fmt.Errorf("%q applies to HTTP health checks only; this one is %s", v, hc.Protocol))
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

// healthCheckPort resolves the healthcheck-port annotation as the
// controller does (model_build_target_group.go,
// buildTargetGroupHealthCheckPort): traffic-port, a number, or the name of
// a Service port — its NodePort for instance targets, its numeric
// targetPort for ip targets.
func healthCheckPort(svc Service, tt TargetType, v string) (string, error) {
	if v == "traffic-port" {
		return v, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 65535 {
			return "", fmt.Errorf("%q is neither traffic-port, a port in 1–65535 nor a Service port's name", v)
		}
		return v, nil
	}
	for _, p := range svc.Ports {
		if p.Name != v {
			continue
		}
		if tt == TargetInstance {
			return strconv.Itoa(p.NodePort), nil
		}
		if _, err := strconv.Atoi(p.TargetPort); err != nil {
			return "", fmt.Errorf("Service port %q has the named targetPort %q: the controller needs a number for ip targets", v, p.TargetPort)
		}
		return p.TargetPort, nil
	}
	return "", fmt.Errorf("%q is neither traffic-port, a port in 1–65535 nor a Service port's name", v)
}

// checkSuccessCodes checks an HTTP matcher as AWS takes it for a Network
// Load Balancer: codes or ranges from 200 to 599, comma-separated.
func checkSuccessCodes(v string) error {
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 200 || b > 599 || a > b {
			return fmt.Errorf("%q: give codes or ranges from 200 to 599 (200,202 or 200-399)", v)
		}
	}
	return nil
}

// Succeeds reports whether an HTTP status passes the health check's
// success codes (200–399 when none are set).
func (hc HealthCheck) Succeeds(status int) bool {
	codes := hc.SuccessCodes
	if codes == "" {
		codes = "200-399"
	}
	for _, part := range strings.Split(codes, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if status >= a && status <= b {
			return true
		}
	}
	return false
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
