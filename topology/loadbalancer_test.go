package topology

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func appService(ann map[string]string, etp TrafficPolicy) Service {
	svc := Service{Name: AppService, Namespace: AppNamespace, Type: "LoadBalancer", Annotations: ann,
		Ports: []ServicePort{{Protocol: "TCP", Port: 7777, TargetPort: "7777", NodePort: 32392}}, ExternalTrafficPolicy: etp}
	if etp == PolicyLocal {
		svc.HealthCheckNodePort = 31234
	}
	return svc
}

// Annotation values AWS or the controller reject are refused, naming the
// annotation; the controller's defaults written out are accepted.
func TestAnnotationValidation(t *testing.T) {
	bad := map[string]struct {
		ann  map[string]string
		want string
	}{
		"target type":         {map[string]string{AnnotationTargetType: "alb"}, `nlb-target-type: unknown target type "alb"`},
		"scheme":              {map[string]string{AnnotationScheme: "public"}, `scheme: unknown scheme "public"`},
		"healthy threshold":   {map[string]string{AnnotationHealthCheckHealthy: "11"}, "healthcheck-healthy-threshold: \"11\" must be a whole number in 2–10"},
		"unhealthy threshold": {map[string]string{AnnotationHealthCheckUnhealthy: "1"}, "healthcheck-unhealthy-threshold"},
		"interval":            {map[string]string{AnnotationHealthCheckInterval: "301"}, "healthcheck-interval: \"301\" must be a whole number of seconds in 5–300"},
		"timeout":             {map[string]string{AnnotationHealthCheckTimeout: "1"}, "healthcheck-timeout: \"1\" must be a whole number of seconds in 2–120"},
		"timeout > interval":  {map[string]string{AnnotationHealthCheckInterval: "5", AnnotationHealthCheckTimeout: "6"}, "timeout 6s is above the interval 5s"},
		"protocol":            {map[string]string{AnnotationHealthCheckProtocol: "udp"}, `healthcheck-protocol: unknown protocol "udp"`},
		"cross-zone":          {map[string]string{AnnotationAttributes: "load_balancing.cross_zone.enabled=yes"}, `load_balancing.cross_zone.enabled="yes" must be true or false`},
		"attributes syntax":   {map[string]string{AnnotationTargetGroupAttrs: "preserve_client_ip.enabled"}, "is not key=value"},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := newNLB(appService(c.ann, PolicyCluster), DefaultSpec())
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "service default/nginx-nlb-service annotation service.beta.kubernetes.io/aws-load-balancer-")
		})
	}
	defaults := map[string]string{
		AnnotationHealthCheckProtocol: "tcp", AnnotationHealthCheckPort: "traffic-port", AnnotationHealthCheckInterval: "10",
		AnnotationHealthCheckTimeout: "10", AnnotationHealthCheckHealthy: "3", AnnotationHealthCheckUnhealthy: "3",
	}
	lb, err := newNLB(appService(defaults, PolicyCluster), DefaultSpec())
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, lb.HealthCheck.Timeout)
}

// A flag beats an annotation, which beats the controller's default.
func TestSettingsPrecedence(t *testing.T) {
	spec := DefaultSpec()
	spec.Mode = ""
	lb, err := newNLB(appService(nil, PolicyCluster), spec)
	require.NoError(t, err)
	assert.Equal(t, TargetInstance, lb.TargetType, "the controller's default target type")
	assert.Equal(t, "internal", lb.Scheme, "the controller's default scheme")
	assert.True(t, lb.PreserveClientIP, "AWS's default for instance targets")
	assert.False(t, lb.CrossZone)

	ann := map[string]string{AnnotationTargetType: "ip", AnnotationAttributes: "load_balancing.cross_zone.enabled=true",
		AnnotationTargetGroupAttrs: "preserve_client_ip.enabled=true"}
	lb, err = newNLB(appService(ann, PolicyCluster), spec)
	require.NoError(t, err)
	assert.Equal(t, TargetIP, lb.TargetType)
	assert.True(t, lb.CrossZone)
	assert.True(t, lb.PreserveClientIP)

	off := false
	spec.Mode, spec.CrossZone, spec.PreserveClientIP = TargetInstance, &off, &off
	lb, err = newNLB(appService(ann, PolicyCluster), spec)
	require.NoError(t, err)
	assert.Equal(t, TargetInstance, lb.TargetType)
	assert.False(t, lb.CrossZone)
	assert.False(t, lb.PreserveClientIP)
}

// The controller's health-check defaults: set B only for instance targets
// with externalTrafficPolicy Local (the controller's annotations guide).
func TestHealthCheckDefaultSets(t *testing.T) {
	spec := DefaultSpec()
	for _, c := range []struct {
		mode TargetType
		etp  TrafficPolicy
		want string
	}{
		{TargetIP, PolicyCluster, "TCP traffic-port"},
		{TargetIP, PolicyLocal, "TCP traffic-port"},
		{TargetInstance, PolicyCluster, "TCP traffic-port"},
		{TargetInstance, PolicyLocal, "HTTP 31234 /healthz"},
	} {
		spec.Mode = c.mode
		lb, err := newNLB(appService(nil, c.etp), spec)
		require.NoError(t, err)
		got := lb.HealthCheck.Protocol + " " + lb.HealthCheck.Port
		if lb.HealthCheck.Path != "" {
			got += " " + lb.HealthCheck.Path
		}
		assert.Equal(t, c.want, got, "%s/%s", c.mode, c.etp)
	}
}

func TestUDPLoadBalancedPortIsRefused(t *testing.T) {
	w := Default()
	w.Services[len(w.Services)-1].Ports[0].Protocol = "UDP"
	w.LoadBalancers = nil
	err := w.addLoadBalancers(newAllocator(w), w.Spec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "protocol UDP is not supported on a load-balanced port")
}

// Instance targets are the nodes the Load Balancer Controller may send
// traffic through: Ready ones (Unknown ones only when none is Ready), less
// excluded, control-plane and deleting nodes.
func TestTrafficProxyNodes(t *testing.T) {
	spec := DefaultSpec()
	spec.Nodes, spec.Mode = 6, TargetInstance
	w, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		for _, n := range w.TrafficProxyNodes() {
			out = append(out, n.Name)
		}
		return out
	}
	if got := names(); len(got) != 6 {
		t.Fatalf("all six nodes: %v", got)
	}
	w.Nodes[0].NotReady = true
	w.Nodes[1].Labels = map[string]string{LabelExcludeFromLB: ""}
	w.Nodes[2].Labels = map[string]string{LabelControlPlane: ""}
	w.Nodes[3].Taints = []Taint{{Key: TaintToBeDeletedByCA, Value: "1733350000", Effect: "NoSchedule"}}
	w.Nodes[4].Taints = []Taint{{Key: TaintKarpenterDisrupted, Effect: "NoSchedule"}}
	if got := names(); len(got) != 1 || got[0] != "node-6" {
		t.Fatalf("only node-6 is Ready and suitable: %v", got)
	}
	if got := len(w.Targets(w.LoadBalancers[0])); got != 1 {
		t.Fatalf("one instance target, got %d", got)
	}
	w.Nodes[5].NotReady = true
	if got := names(); len(got) != 2 || got[0] != "node-1" || got[1] != "node-6" {
		t.Fatalf("no Ready node: the suitable ones whose Ready is Unknown: %v", got)
	}
}

// Nothing the controller or AWS would act on is silently ignored: each
// setting is modelled or refused, naming the annotation and the attribute.
func TestNLBSettingsModelledOrRefused(t *testing.T) {
	refused := map[string]struct {
		ann  map[string]string
		want string
	}{
		"proxy protocol annotation": {map[string]string{AnnotationProxyProtocol: "*"}, "aws-load-balancer-proxy-protocol: proxy protocol v2"},
		"proxy protocol attribute":  {map[string]string{AnnotationTargetGroupAttrs: "proxy_protocol_v2.enabled=true"}, "target-group-attributes: proxy_protocol_v2.enabled=true is not modelled"},
		"stickiness":                {map[string]string{AnnotationTargetGroupAttrs: "stickiness.enabled=true,stickiness.type=source_ip"}, "stickiness.enabled=true is not modelled"},
		"unknown TG attribute":      {map[string]string{AnnotationTargetGroupAttrs: "slow_start.duration_seconds=30"}, "slow_start.duration_seconds is not a target group attribute"},
		"DNS failover threshold":    {map[string]string{AnnotationTargetGroupAttrs: "target_group_health.dns_failover.minimum_healthy_targets.count=2"}, "minimum_healthy_targets.count=2 is not modelled"},
		"unknown LB attribute":      {map[string]string{AnnotationAttributes: "routing.http2.enabled=true"}, "routing.http2.enabled is not a Network Load Balancer attribute"},
		"DNS routing policy":        {map[string]string{AnnotationAttributes: "dns_record.client_routing_policy=availability_zone_affinity"}, "dns_record.client_routing_policy=availability_zone_affinity is not modelled"},
		"TG cross-zone value":       {map[string]string{AnnotationTargetGroupAttrs: "load_balancing.cross_zone.enabled=maybe"}, "must be true, false or use_load_balancer_configuration"},
		"deprecated cross-zone":     {map[string]string{AnnotationCrossZoneDeprecated: "yes"}, "cross-zone-load-balancing-enabled: load_balancing.cross_zone.enabled=\"yes\""},
		"HTTPS health check":        {map[string]string{AnnotationHealthCheckProtocol: "HTTPS"}, "healthcheck-protocol: HTTPS health checks are not modelled"},
		"success codes on TCP":      {map[string]string{AnnotationHealthCheckSuccess: "200"}, "healthcheck-success-codes: \"200\" applies to HTTP health checks only"},
		"success codes range":       {map[string]string{AnnotationHealthCheckProtocol: "http", AnnotationHealthCheckSuccess: "100-200"}, "codes or ranges from 200 to 599"},
		"named port unknown":        {map[string]string{AnnotationHealthCheckPort: "metrics"}, `healthcheck-port: "metrics" is neither`},
		"target-node-labels":        {map[string]string{AnnotationTargetNodeLabels: "a=b,,c"}, "target-node-labels"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := newNLB(appService(c.ann, PolicyCluster), DefaultSpec())
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	build := func(ann map[string]string, tt TargetType) NLB {
		t.Helper()
		svc := appService(ann, PolicyCluster)
		svc.Ports[0].Name = "http"
		spec := DefaultSpec()
		spec.Mode = tt
		lb, err := newNLB(svc, spec)
		require.NoError(t, err)
		return lb
	}
	assert.True(t, build(map[string]string{AnnotationCrossZoneDeprecated: "true"}, "").CrossZone, "the deprecated annotation is honoured")
	assert.False(t, build(map[string]string{AnnotationCrossZoneDeprecated: "false", AnnotationAttributes: "load_balancing.cross_zone.enabled=true"}, "").CrossZone,
		"and wins over the attributes annotation, as the controller merges them")
	assert.True(t, build(map[string]string{AnnotationTargetGroupAttrs: "load_balancing.cross_zone.enabled=true"}, "").CrossZone, "the target group's setting overrides the load balancer's")
	assert.False(t, build(map[string]string{AnnotationAttributes: "load_balancing.cross_zone.enabled=true", AnnotationTargetGroupAttrs: "load_balancing.cross_zone.enabled=false"}, "").CrossZone)
	assert.True(t, build(map[string]string{AnnotationAttributes: "load_balancing.cross_zone.enabled=true", AnnotationTargetGroupAttrs: "load_balancing.cross_zone.enabled=use_load_balancer_configuration"}, "").CrossZone)
	assert.Equal(t, "32392", build(map[string]string{AnnotationHealthCheckPort: "http"}, TargetInstance).HealthCheck.Port, "a named port is its NodePort for instance targets")
	assert.Equal(t, "7777", build(map[string]string{AnnotationHealthCheckPort: "http"}, TargetIP).HealthCheck.Port, "and its targetPort for ip targets")
	hc := build(map[string]string{AnnotationHealthCheckProtocol: "http", AnnotationHealthCheckSuccess: "200,202-204"}, "").HealthCheck
	assert.True(t, hc.Succeeds(203))
	assert.False(t, hc.Succeeds(301), "only the success codes pass")
	assert.True(t, build(map[string]string{AnnotationHealthCheckProtocol: "http"}, "").HealthCheck.Succeeds(302), "the default matcher is 200-399")
	assert.Equal(t, map[string]string{"role": "edge", "gpu": ""}, build(map[string]string{AnnotationTargetNodeLabels: "role=edge, gpu"}, TargetInstance).TargetNodeLabels)
	for _, ok := range []string{"deletion_protection.enabled=true", "access_logs.s3.enabled=false", "dns_record.client_routing_policy=any_availability_zone"} {
		build(map[string]string{AnnotationAttributes: ok}, "")
	}
}

// target-node-labels limits instance targets to the nodes with the labels.
func TestTargetNodeLabels(t *testing.T) {
	spec := DefaultSpec()
	spec.Mode = TargetInstance
	w, err := Build(spec)
	require.NoError(t, err)
	w.LoadBalancers[0].TargetNodeLabels = map[string]string{"role": "edge"}
	w.Nodes[1].Labels = map[string]string{"role": "edge"}
	targets := w.Targets(w.LoadBalancers[0])
	require.Len(t, targets, 1)
	assert.Equal(t, "node-2", targets[0].Host)
	w.LoadBalancers[0].TargetNodeLabels = map[string]string{"topology.kubernetes.io/zone": "ap-northeast-2c"}
	targets = w.Targets(w.LoadBalancers[0])
	require.Len(t, targets, 1)
	assert.Equal(t, "node-3", targets[0].Host, "EKS's own labels select too")
}
