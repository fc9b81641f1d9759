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
