package kubectl

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/nlbsim/nlbsim/topology"
)

const walkthroughTargetGroup = "k8s-default-nginxnlb-4295c357fc"

// buildWorld builds the default world in a target mode and traffic policy.
func buildWorld(t *testing.T, mode topology.TargetType, policy topology.TrafficPolicy) *topology.World {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.Mode, spec.ExternalTrafficPolicy = mode, policy
	w, err := topology.Build(spec)
	require.NoError(t, err)
	return w
}

// mixedHealth gives every NLB's targets a state, in zone order: healthy,
// unhealthy (wrong HTTP code), initial, then healthy again. It returns them
// in reverse, so that output order is GetTargets' own.
func mixedHealth(w *topology.World) []topology.TargetHealth {
	var out []topology.TargetHealth
	for _, lb := range w.LoadBalancers {
		for i, target := range w.Targets(lb) {
			h := topology.TargetHealth{Target: target, State: topology.TargetHealthy}
			switch i % 3 {
			case 1:
				h.State, h.Reason, h.Description = topology.TargetUnhealthy, "Target.FailedHealthChecks", "Health checks failed"
			case 2:
				h.State, h.Reason, h.Description = topology.TargetInitial, "Elb.InitialHealthChecking", "Initial health checking in progress"
			}
			out = append(out, h)
		}
	}
	slices.Reverse(out)
	return out
}

func getTargets(t *testing.T, w *topology.World, targets []topology.TargetHealth, req Request) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := GetTargets(&out, w, targets, req)
	return out.String(), err
}

func mustGetTargets(t *testing.T, w *topology.World, targets []topology.TargetHealth, req Request) string {
	t.Helper()
	out, err := getTargets(t, w, targets, req)
	require.NoError(t, err)
	return out
}

func TestGetTargetsIPModeListsPodIPs(t *testing.T) {
	w := topology.Default()
	out := mustGetTargets(t, w, mixedHealth(w), Request{})
	want := "" +
		"TARGET-GROUP                      TARGET          PORT   ZONE              STATE       REASON\n" +
		"k8s-default-nginxnlb-4295c357fc   192.168.1.248   7777   ap-northeast-2a   healthy     <none>\n" +
		"k8s-default-nginxnlb-4295c357fc   192.168.2.206   7777   ap-northeast-2b   unhealthy   Target.FailedHealthChecks\n" +
		"k8s-default-nginxnlb-4295c357fc   192.168.3.111   7777   ap-northeast-2c   initial     Elb.InitialHealthChecking\n"
	assert.Equal(t, want, out)
}

func TestGetTargetsWideResolvesHosts(t *testing.T) {
	w := topology.Default()
	out := mustGetTargets(t, w, mixedHealth(w), Request{Output: "wide"})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"TARGET-GROUP", "TARGET", "PORT", "ZONE", "STATE", "REASON", "HOST", "DESCRIPTION"}, strings.Fields(lines[0]))
	pod := func(ip string) string {
		i := slices.IndexFunc(w.Pods, func(p topology.Pod) bool { return p.IP.String() == ip })
		require.GreaterOrEqual(t, i, 0, ip)
		return w.Pods[i].Name
	}
	assert.Equal(t, []string{walkthroughTargetGroup, "192.168.1.248", "7777", "ap-northeast-2a", "healthy", "<none>", pod("192.168.1.248"), "<none>"},
		strings.Fields(lines[1]))
	assert.True(t, strings.HasSuffix(lines[2], pod("192.168.2.206")+"   Health checks failed"), lines[2])
	assert.True(t, strings.HasSuffix(lines[3], pod("192.168.3.111")+"   Initial health checking in progress"), lines[3])
}

func TestGetTargetsInstanceModeListsInstances(t *testing.T) {
	w := buildWorld(t, topology.TargetInstance, topology.PolicyCluster)
	out := mustGetTargets(t, w, mixedHealth(w), Request{Output: "wide"})
	want := "" +
		"TARGET-GROUP                      TARGET                PORT    ZONE              STATE       REASON                      HOST     DESCRIPTION\n" +
		"k8s-default-nginxnlb-4295c357fc   " + w.Nodes[0].InstanceID + "   32392   ap-northeast-2a   healthy     <none>                      node-1   <none>\n" +
		"k8s-default-nginxnlb-4295c357fc   " + w.Nodes[1].InstanceID + "   32392   ap-northeast-2b   unhealthy   Target.FailedHealthChecks   node-2   Health checks failed\n" +
		"k8s-default-nginxnlb-4295c357fc   " + w.Nodes[2].InstanceID + "   32392   ap-northeast-2c   initial     Elb.InitialHealthChecking   node-3   Initial health checking in progress\n"
	assert.Equal(t, want, out)
	for _, n := range w.Nodes {
		assert.Regexp(t, `^i-0[0-9a-f]{16}$`, n.InstanceID)
	}
}

func TestGetTargetsOrdersByGroupZoneThenTarget(t *testing.T) {
	spec := topology.DefaultSpec()
	spec.Replicas = 6
	w, err := topology.Build(spec)
	require.NoError(t, err)
	out := mustGetTargets(t, w, mixedHealth(w), Request{})
	var got [][2]string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:] {
		f := strings.Fields(line)
		got = append(got, [2]string{f[3], f[1]})
	}
	require.Len(t, got, 6)
	assert.True(t, slices.IsSortedFunc(got, func(a, b [2]string) int {
		if a[0] != b[0] {
			return strings.Compare(a[0], b[0])
		}
		return netip.MustParseAddr(a[1]).Compare(netip.MustParseAddr(b[1]))
	}), "%v", got)
}

// withSecondLoadBalancer adds a copy of the walkthrough's Service, "other",
// with an NLB of its own, as a manifest with two LoadBalancer Services would.
func withSecondLoadBalancer(t *testing.T) *topology.World {
	t.Helper()
	w := topology.Default()
	svc, ok := w.Service("default", "nginx-nlb-service")
	require.True(t, ok)
	lb, ok := w.LoadBalancerFor(svc.Key())
	require.True(t, ok)
	svc.Name = "other"
	lb.Name, lb.Service = "k8s-default-other-0123456789", svc.Key()
	w.Services = append(w.Services, svc)
	w.LoadBalancers = append(w.LoadBalancers, lb)
	return w
}

func TestGetTargetsSelectsOneService(t *testing.T) {
	w := withSecondLoadBalancer(t)
	health := mixedHealth(w)
	require.Len(t, health, 6)

	groups := func(out string) []string {
		var names []string
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:] {
			names = append(names, strings.Fields(line)[0])
		}
		return slices.Compact(names)
	}
	assert.Equal(t, []string{walkthroughTargetGroup, "k8s-default-other-0123456789"}, groups(mustGetTargets(t, w, health, Request{})))
	for _, req := range []Request{
		{Name: "nginx-nlb-service"},
		{Name: "default/nginx-nlb-service", Namespace: "kube-system"},
	} {
		assert.Equal(t, []string{walkthroughTargetGroup}, groups(mustGetTargets(t, w, health, req)), "%+v", req)
	}
	assert.Equal(t, []string{"k8s-default-other-0123456789"}, groups(mustGetTargets(t, w, health, Request{Name: "other"})))
}

func TestGetTargetsNotFound(t *testing.T) {
	w := topology.Default()
	for _, req := range []Request{
		{Name: "nope"},
		{Name: "nginx-nlb-service", Namespace: "kube-system"},
		{Name: "kube-system/nope", Output: "json"},
	} {
		out, err := getTargets(t, w, mixedHealth(w), req)
		var notFound *NotFoundError
		require.True(t, errors.As(err, &notFound), "%+v: %v", req, err)
		assert.Empty(t, out)
	}
	_, err := getTargets(t, w, nil, Request{Name: "nope"})
	assert.EqualError(t, err, `Error from server (NotFound): services "nope" not found`)
}

func TestGetTargetsNotices(t *testing.T) {
	w := topology.Default()
	var notice *Notice

	out, err := getTargets(t, w, nil, Request{})
	require.True(t, errors.As(err, &notice), "%v", err)
	assert.Equal(t, "No targets found", notice.Message)
	assert.Empty(t, out)

	// A Service without an NLB has no targets.
	_, err = getTargets(t, w, mixedHealth(w), Request{Name: "kubernetes"})
	require.True(t, errors.As(err, &notice), "%v", err)
	assert.Contains(t, notice.Message, "default/kubernetes has no load balancer")

	// Structured output prints an empty list instead.
	out = mustGetTargets(t, w, nil, Request{Output: "json"})
	assert.JSONEq(t, `{"schemaVersion": 1, "targetHealthDescriptions": []}`, out)
}

func TestGetTargetsUsageErrors(t *testing.T) {
	w := topology.Default()
	for _, output := range []string{"name", "xml", "jsonpath"} {
		_, err := getTargets(t, w, mixedHealth(w), Request{Output: output})
		var usage *UsageError
		require.True(t, errors.As(err, &usage), "%s: %v", output, err)
	}
}

func TestGetTargetsJSONShape(t *testing.T) {
	w := topology.Default()
	out := mustGetTargets(t, w, mixedHealth(w), Request{Output: "json"})
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, []string{"schemaVersion", "targetHealthDescriptions"}, keysOf(doc))
	assert.EqualValues(t, 1, doc["schemaVersion"])
	descriptions := doc["targetHealthDescriptions"].([]any)
	require.Len(t, descriptions, 3)

	first := descriptions[0].(map[string]any)
	assert.Equal(t, []string{"healthCheckPort", "target", "targetGroup", "targetHealth"}, keysOf(first))
	assert.Equal(t, walkthroughTargetGroup, first["targetGroup"])
	assert.Equal(t, map[string]any{"id": "192.168.1.248", "port": 7777.0, "availabilityZone": "ap-northeast-2a"}, first["target"])
	assert.Equal(t, "7777", first["healthCheckPort"])
	// Healthy targets carry no reason, as in AWS's response.
	assert.Equal(t, map[string]any{"state": "healthy"}, first["targetHealth"])

	second := descriptions[1].(map[string]any)
	assert.Equal(t, map[string]any{"state": "unhealthy", "reason": "Target.FailedHealthChecks",
		"description": "Health checks failed"}, second["targetHealth"])

	// YAML carries the same document.
	yamlOut := mustGetTargets(t, w, mixedHealth(w), Request{Output: "yaml"})
	var fromJSON, fromYAML TargetHealthReport
	require.NoError(t, json.Unmarshal([]byte(out), &fromJSON))
	require.NoError(t, yaml.Unmarshal([]byte(yamlOut), &fromYAML))
	assert.Equal(t, fromJSON, fromYAML)
	assert.Contains(t, yamlOut, "schemaVersion: 1\n")

	// jsonpath walks the same document.
	ids := mustGetTargets(t, w, mixedHealth(w), Request{Output: "jsonpath={.targetHealthDescriptions[*].target.id}"})
	assert.Equal(t, "192.168.1.248 192.168.2.206 192.168.3.111", ids)
}

func TestGetTargetsJSONHealthCheckPort(t *testing.T) {
	// Instance targets with eTP=Local are checked on the healthCheckNodePort.
	w := buildWorld(t, topology.TargetInstance, topology.PolicyLocal)
	svc, ok := w.Service("default", "nginx-nlb-service")
	require.True(t, ok)
	require.NotZero(t, svc.HealthCheckNodePort)

	var report TargetHealthReport
	require.NoError(t, json.Unmarshal([]byte(mustGetTargets(t, w, mixedHealth(w), Request{Output: "json"})), &report))
	require.Len(t, report.TargetHealthDescriptions, 3)
	for i, d := range report.TargetHealthDescriptions {
		assert.Equal(t, w.Nodes[i].InstanceID, d.Target.ID)
		assert.Equal(t, 32392, d.Target.Port)
		assert.Equal(t, w.Nodes[i].AZ, d.Target.AvailabilityZone)
		assert.Equal(t, strconv.Itoa(svc.HealthCheckNodePort), d.HealthCheckPort)
	}
}

func TestIsTargetsResource(t *testing.T) {
	for _, name := range []string{"targets", "target", "TG"} {
		assert.True(t, IsTargetsResource(name), name)
	}
	assert.False(t, IsTargetsResource("svc"))
}

// keysOf is a JSON object's keys, sorted.
func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
