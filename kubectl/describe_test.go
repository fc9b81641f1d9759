package kubectl

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

func describe(t *testing.T, w *topology.World, targets []topology.TargetHealth, req Request) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Describe(&out, w, targets, req)
	return out.String(), err
}

func mustDescribe(t *testing.T, w *topology.World, targets []topology.TargetHealth, req Request) string {
	t.Helper()
	out, err := describe(t, w, targets, req)
	require.NoError(t, err)
	return out
}

// podName is the name of the pod at ip.
func podName(t *testing.T, w *topology.World, ip string) string {
	t.Helper()
	for _, p := range w.Pods {
		if p.IP.String() == ip {
			return p.Name
		}
	}
	t.Fatalf("no pod at %s", ip)
	return ""
}

// The Service part as kubectl describe prints the walkthrough's Service:
// values start at column 27, two spaces after "External Traffic Policy:".
const describedWalkthroughService = "" +
	"Name:                     nginx-nlb-service\n" +
	"Namespace:                default\n" +
	"Labels:                   <none>\n" +
	"Annotations:              service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip\n" +
	"                          service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\n" +
	"                          service.beta.kubernetes.io/aws-load-balancer-type: external\n" +
	"Selector:                 app=nginx\n" +
	"Type:                     LoadBalancer\n" +
	"IP Family Policy:         SingleStack\n" +
	"IP Families:              IPv4\n" +
	"IP:                       10.100.30.185\n" +
	"IPs:                      10.100.30.185\n" +
	"LoadBalancer Ingress:     " + nlbDNS + "\n" +
	"Port:                     <unset>  7777/TCP\n" +
	"TargetPort:               7777/TCP\n" +
	"NodePort:                 <unset>  32392/TCP\n" +
	"Endpoints:                192.168.1.248:7777,192.168.2.206:7777,192.168.3.111:7777\n" +
	"Session Affinity:         None\n" +
	"External Traffic Policy:  Cluster\n" +
	"Internal Traffic Policy:  Cluster\n" +
	"Events:                   <none>\n"

func TestDescribeWalkthroughServiceIPMode(t *testing.T) {
	w := topology.Default()
	out := mustDescribe(t, w, mixedHealth(w), Request{Resource: "svc", Name: "nginx-nlb-service"})
	want := describedWalkthroughService + "\n" +
		"Load Balancer:\n" +
		"  Name:                       k8s-default-nginxnlb-4295c357fc\n" +
		"  DNS Name:                   " + nlbDNS + "\n" +
		"  Type:                       network\n" +
		"  Scheme:                     internet-facing\n" +
		"  Target Type:                ip\n" +
		"  Cross-Zone Load Balancing:  off\n" +
		"  Client IP Preservation:     off\n" +
		"  Nodes:\n" +
		"    Zone             Address        Host\n" +
		"    ----             -------        ----\n" +
		"    ap-northeast-2a  192.168.1.51   nlb-a\n" +
		"    ap-northeast-2b  192.168.2.149  nlb-b\n" +
		"    ap-northeast-2c  192.168.3.171  nlb-c\n" +
		"  Listeners:\n" +
		"    Protocol  Port  Target Group\n" +
		"    --------  ----  ------------\n" +
		"    TCP       7777  k8s-default-nginxnlb-4295c357fc\n" +
		"  Health Check:\n" +
		"    Protocol:             TCP\n" +
		"    Port:                 traffic-port\n" +
		"    Interval:             10s\n" +
		"    Timeout:              10s\n" +
		"    Healthy Threshold:    3\n" +
		"    Unhealthy Threshold:  3\n" +
		"  Targets:\n" +
		"    Target Group                     Target         Port  Zone             State      Reason                     Host\n" +
		"    ------------                     ------         ----  ----             -----      ------                     ----\n" +
		"    k8s-default-nginxnlb-4295c357fc  192.168.1.248  7777  ap-northeast-2a  healthy    <none>                     " + podName(t, w, "192.168.1.248") + "\n" +
		"    k8s-default-nginxnlb-4295c357fc  192.168.2.206  7777  ap-northeast-2b  unhealthy  Target.FailedHealthChecks  " + podName(t, w, "192.168.2.206") + "\n" +
		"    k8s-default-nginxnlb-4295c357fc  192.168.3.111  7777  ap-northeast-2c  initial    Elb.InitialHealthChecking  " + podName(t, w, "192.168.3.111") + "\n"
	assert.Equal(t, want, out)

	// svc/NAME and the other spellings of the resource describe the same.
	for _, req := range []Request{
		{Resource: "svc/nginx-nlb-service"},
		{Resource: "services", Name: "nginx-nlb-service"},
		{Resource: "Service", Name: "nginx-nlb-service", Output: "table"},
	} {
		assert.Equal(t, want, mustDescribe(t, w, mixedHealth(w), req), "%+v", req)
	}
}

func TestDescribeInstanceModeLocalPolicy(t *testing.T) {
	w := buildWorld(t, topology.TargetInstance, topology.PolicyLocal)
	svc, ok := w.Service("default", "nginx-nlb-service")
	require.True(t, ok)
	port := strconv.Itoa(svc.HealthCheckNodePort)
	out := mustDescribe(t, w, mixedHealth(w), Request{Resource: "svc", Name: "nginx-nlb-service"})
	lines := strings.Split(out, "\n")

	assert.Contains(t, lines, "External Traffic Policy:  Local")
	// kubectl prints HealthCheck NodePort after Internal Traffic Policy.
	assert.Contains(t, out, "Internal Traffic Policy:  Cluster\nHealthCheck NodePort:     "+port+"\nEvents:                   <none>\n")
	assert.Contains(t, lines, "  Target Type:                instance")
	assert.Contains(t, lines, "  Client IP Preservation:     on")
	assert.Contains(t, out, ""+
		"  Health Check:\n"+
		"    Protocol:             HTTP\n"+
		"    Port:                 "+port+"\n"+
		"    Path:                 /healthz\n"+
		"    Success Codes:        200-399\n"+
		"    Interval:             10s\n"+
		"    Timeout:              6s\n"+
		"    Healthy Threshold:    2\n"+
		"    Unhealthy Threshold:  2\n")
	for i, n := range w.Nodes {
		row := strings.Fields(lines[len(lines)-4+i])
		assert.Equal(t, []string{walkthroughTargetGroup, n.InstanceID, "32392", n.AZ}, row[:4], "%v", row)
		assert.Equal(t, n.Name, row[len(row)-1])
	}
}

func TestDescribeWithoutTargetHealth(t *testing.T) {
	w := topology.Default()
	out := mustDescribe(t, w, nil, Request{Resource: "svc", Name: "nginx-nlb-service"})
	assert.True(t, strings.HasSuffix(out, "    Unhealthy Threshold:  3\n  Targets: <none>\n"), out)
}

func TestDescribeServiceWithoutLoadBalancer(t *testing.T) {
	w := topology.Default()
	out := mustDescribe(t, w, mixedHealth(w), Request{Resource: "svc", Name: "kube-dns", Namespace: "kube-system"})
	assert.NotContains(t, out, "Load Balancer:")
	assert.NotContains(t, out, "External Traffic Policy")
	assert.Contains(t, out, "Type:                     ClusterIP\n")
	assert.Contains(t, out, "Port:                     dns  53/UDP\n"+
		"TargetPort:               53/UDP\n"+
		"Endpoints:                192.168.3.202:53,192.168.3.62:53\n")
	assert.True(t, strings.HasSuffix(out, "Internal Traffic Policy:  Cluster\nEvents:                   <none>\n"), out)
}

func TestDescribeErrors(t *testing.T) {
	w := topology.Default()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Resource: "svc"}, "describe needs a Service name: describe svc NAME"},
		{Request{Resource: "pods", Name: "x"}, `describe does not support resource type "pods" (valid: services (svc))`},
		{Request{Resource: "svc/x", Name: "y"}, "there is no need to specify a resource type"},
		{Request{Resource: "svc", Name: "nginx-nlb-service", Output: "json"}, "describe takes no output format"},
	} {
		_, err := describe(t, w, nil, tc.req)
		var usage *UsageError
		require.True(t, errors.As(err, &usage), "%+v: %v", tc.req, err)
		assert.Contains(t, err.Error(), tc.want)
	}

	out, err := describe(t, w, nil, Request{Resource: "svc", Name: "nginx-nlb-service", Namespace: "kube-system"})
	var notFound *NotFoundError
	require.True(t, errors.As(err, &notFound), "%v", err)
	assert.EqualError(t, err, `Error from server (NotFound): services "nginx-nlb-service" not found`)
	assert.Empty(t, out)
}

func TestPrintAnnotationsMultilineShortensLongValues(t *testing.T) {
	var out bytes.Buffer
	long := strings.Repeat("x", 150)
	printAnnotationsMultiline(&out, "Annotations", map[string]string{
		"b": "two\nlines\n",
		"a": "short",
		"kubectl.kubernetes.io/last-applied-configuration": "{}",
		"c": long,
	})
	want := "Annotations:\ta: short\n" +
		"\tb:\n" +
		"\t  two\n" +
		"\t  lines\n" +
		"\tc:\n" +
		"\t  " + long[:138] + "...\n"
	assert.Equal(t, want, out.String())
}
