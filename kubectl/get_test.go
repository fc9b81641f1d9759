package kubectl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/nlbsim/nlbsim/topology"
)

const nlbDNS = "k8s-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com"

// get runs Get on w ten minutes after it was created.
func get(t *testing.T, w *topology.World, req Request) (string, error) {
	t.Helper()
	req.Now = w.Created.Add(10 * time.Minute)
	var out bytes.Buffer
	err := Get(&out, w, req)
	return out.String(), err
}

func mustGet(t *testing.T, w *topology.World, req Request) string {
	t.Helper()
	out, err := get(t, w, req)
	require.NoError(t, err)
	return out
}

func TestGetNodesWideMatchesWalkthrough(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "node", Output: "wide", AllNamespaces: true})
	want := "" +
		"NAME                                               STATUS   ROLES    AGE   VERSION               INTERNAL-IP     EXTERNAL-IP     OS-IMAGE         KERNEL-VERSION                  CONTAINER-RUNTIME\n" +
		"ip-192-168-1-118.ap-northeast-2.compute.internal   Ready    <none>   10m   v1.30.4-eks-a737599   192.168.1.118   203.0.113.154   Amazon Linux 2   5.10.226-214.880.amzn2.x86_64   containerd://1.7.22\n" +
		"ip-192-168-2-146.ap-northeast-2.compute.internal   Ready    <none>   10m   v1.30.4-eks-a737599   192.168.2.146   203.0.113.124   Amazon Linux 2   5.10.226-214.880.amzn2.x86_64   containerd://1.7.22\n" +
		"ip-192-168-3-137.ap-northeast-2.compute.internal   Ready    <none>   10m   v1.30.4-eks-a737599   192.168.3.137   203.0.113.40    Amazon Linux 2   5.10.226-214.880.amzn2.x86_64   containerd://1.7.22\n"
	assert.Equal(t, want, out)
}

func TestGetNodesNarrow(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "no"})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, "NAME                                               STATUS   ROLES    AGE   VERSION", lines[0])
	assert.Equal(t, "ip-192-168-1-118.ap-northeast-2.compute.internal   Ready    <none>   10m   v1.30.4-eks-a737599", lines[1])
}

func TestGetServicesAllNamespaces(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "svc", AllNamespaces: true})
	want := "" +
		"NAMESPACE     NAME                TYPE           CLUSTER-IP      EXTERNAL-IP                                                                         PORT(S)                  AGE\n" +
		"default       kubernetes          ClusterIP      10.100.0.1      <none>                                                                              443/TCP                  10m\n" +
		"default       nginx-nlb-service   LoadBalancer   10.100.30.185   " + nlbDNS + "   7777:32392/TCP           10m\n" +
		"kube-system   kube-dns            ClusterIP      10.100.0.10     <none>                                                                              53/UDP,53/TCP,9153/TCP   10m\n"
	assert.Equal(t, want, out)
}

func TestGetServicesWideShowsSelector(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "services", Output: "wide"})
	want := "" +
		"NAME                TYPE           CLUSTER-IP      EXTERNAL-IP                                                                         PORT(S)          AGE   SELECTOR\n" +
		"kubernetes          ClusterIP      10.100.0.1      <none>                                                                              443/TCP          10m   <none>\n" +
		"nginx-nlb-service   LoadBalancer   10.100.30.185   " + nlbDNS + "   7777:32392/TCP   10m   app=nginx\n"
	assert.Equal(t, want, out)
}

func TestGetPodsKeepsNodeOrderInANamespace(t *testing.T) {
	w := topology.Default()
	out := mustGet(t, w, Request{Resource: "pods", Output: "wide"})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4)
	var names []string // the world's order: by node, then name
	for _, p := range w.Pods {
		if p.Namespace == "default" {
			names = append(names, p.Name)
		}
	}
	assert.Equal(t, "NAME                                READY   STATUS    RESTARTS   AGE   IP              NODE                                               NOMINATED NODE   READINESS GATES", lines[0])
	for i, want := range []struct{ ip, node string }{
		{"192.168.1.248", "ip-192-168-1-118.ap-northeast-2.compute.internal"},
		{"192.168.2.206", "ip-192-168-2-146.ap-northeast-2.compute.internal"},
		{"192.168.3.111", "ip-192-168-3-137.ap-northeast-2.compute.internal"},
	} {
		assert.Equal(t, []string{names[i], "1/1", "Running", "0", "10m", want.ip, want.node, "<none>", "<none>"}, strings.Fields(lines[i+1]))
	}
}

func TestGetPodsAllNamespacesSortsByNamespaceThenName(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "po", AllNamespaces: true})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Equal(t, []string{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"}, strings.Fields(lines[0]))
	var keys []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		keys = append(keys, f[0]+"/"+f[1])
	}
	assert.True(t, slices.IsSorted(keys), "rows not sorted: %v", keys)
	assert.Len(t, keys, 3+2+6)
	assert.Contains(t, out, "kube-system   aws-node-mwktx                      2/2     Running   0          10m\n")
	assert.Contains(t, out, "kube-system   coredns-699d8c5988-t42hz            1/1     Running   0          10m\n")
}

func TestGetPendingPod(t *testing.T) {
	spec := topology.DefaultSpec()
	spec.InstanceType, spec.Replicas = "t3.nano", 6 // 4 pods per node, 2 of them host-network
	w, err := topology.Build(spec)
	require.NoError(t, err)
	var pending topology.Pod
	for _, p := range w.Pods {
		if !p.Running() {
			pending = p
		}
	}
	require.NotEmpty(t, pending.Name)
	out := mustGet(t, w, Request{Resource: "pod/" + pending.Name, Output: "wide"})
	assert.Equal(t, []string{pending.Name, "0/1", "Pending", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		strings.Fields(strings.Split(out, "\n")[1]))

	var pod corev1.Pod
	require.NoError(t, json.Unmarshal([]byte(mustGet(t, w, Request{Resource: "po", Name: pending.Name, Output: "json"})), &pod))
	require.Len(t, pod.Status.Conditions, 1)
	c := pod.Status.Conditions[0]
	assert.Equal(t, corev1.PodScheduled, c.Type)
	assert.Equal(t, corev1.ConditionFalse, c.Status)
	assert.Equal(t, corev1.PodReasonUnschedulable, c.Reason)
	assert.Equal(t, pending.Reason, c.Message)

	assert.Contains(t, mustGet(t, w, Request{Resource: "deploy"}), "nginx-deployment   4/6     6            4           10m\n")
}

func TestGetEndpoints(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "ep", AllNamespaces: true})
	want := "" +
		"NAMESPACE     NAME                ENDPOINTS                                                       AGE\n" +
		"default       kubernetes          192.168.2.40:443,192.168.3.12:443                               10m\n" +
		"default       nginx-nlb-service   192.168.1.248:7777,192.168.2.206:7777,192.168.3.111:7777        10m\n" +
		"kube-system   kube-dns            192.168.3.202:53,192.168.3.62:53,192.168.3.202:53 + 3 more...   10m\n"
	assert.Equal(t, want, out)
}

func TestGetDeployments(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "deployments", AllNamespaces: true})
	want := "" +
		"NAMESPACE     NAME               READY   UP-TO-DATE   AVAILABLE   AGE\n" +
		"default       nginx-deployment   3/3     3            3           10m\n" +
		"kube-system   coredns            2/2     2            2           10m\n"
	assert.Equal(t, want, out)
}

func TestGetAll(t *testing.T) {
	w := topology.Default()
	out := mustGet(t, w, Request{Resource: "all"})
	sections := strings.Split(out, "\n\n")
	require.Len(t, sections, 4)
	assert.True(t, strings.HasPrefix(sections[0], "NAME                                    READY   STATUS    RESTARTS   AGE\npod/"+w.Pods[0].Name+"   1/1"))
	assert.Equal(t, ""+
		"NAME                        TYPE           CLUSTER-IP      EXTERNAL-IP                                                                         PORT(S)          AGE\n"+
		"service/kubernetes          ClusterIP      10.100.0.1      <none>                                                                              443/TCP          10m\n"+
		"service/nginx-nlb-service   LoadBalancer   10.100.30.185   "+nlbDNS+"   7777:32392/TCP   10m", sections[1])
	assert.Equal(t, ""+
		"NAME                               READY   UP-TO-DATE   AVAILABLE   AGE\n"+
		"deployment.apps/nginx-deployment   3/3     3            3           10m", sections[2])
	assert.Equal(t, ""+
		"NAME                                          DESIRED   CURRENT   READY   AGE\n"+
		"replicaset.apps/nginx-deployment-67dd5f77ff   3         3         3       10m\n", sections[3])

	all := mustGet(t, w, Request{Resource: "all", AllNamespaces: true})
	assert.Contains(t, all, "kube-system   daemonset.apps/aws-node     3         3         3       3            3           <none>          10m\n")
	assert.Contains(t, all, "kube-system   replicaset.apps/coredns-699d8c5988            2         2         2       10m\n")
}

func TestGetJSONListRoundTrip(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "svc", AllNamespaces: true, Output: "json"})
	assert.True(t, strings.HasPrefix(out, "{\n    \"apiVersion\": \"v1\",\n    \"items\": ["), "kubectl's 4-space indent and sorted keys")
	assert.True(t, strings.HasSuffix(out, "    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"))

	var list corev1.List
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	assert.Equal(t, "v1", list.APIVersion)
	assert.Equal(t, "List", list.Kind)
	require.Len(t, list.Items, 3)
	var services []corev1.Service
	for _, raw := range list.Items {
		var s corev1.Service
		require.NoError(t, json.Unmarshal(raw.Raw, &s))
		assert.Equal(t, "v1", s.APIVersion)
		assert.Equal(t, "Service", s.Kind)
		services = append(services, s)
	}
	lb := services[1]
	assert.Equal(t, "nginx-nlb-service", lb.Name)
	assert.Equal(t, corev1.ServiceTypeLoadBalancer, lb.Spec.Type)
	assert.Equal(t, []string{"10.100.30.185"}, lb.Spec.ClusterIPs)
	assert.Equal(t, []corev1.IPFamily{corev1.IPv4Protocol}, lb.Spec.IPFamilies)
	assert.Equal(t, corev1.IPFamilyPolicySingleStack, *lb.Spec.IPFamilyPolicy)
	assert.Equal(t, corev1.ServiceExternalTrafficPolicyCluster, lb.Spec.ExternalTrafficPolicy)
	assert.Equal(t, corev1.ServiceInternalTrafficPolicyCluster, *lb.Spec.InternalTrafficPolicy)
	assert.True(t, *lb.Spec.AllocateLoadBalancerNodePorts)
	require.Len(t, lb.Spec.Ports, 1)
	p := lb.Spec.Ports[0]
	assert.Equal(t, int32(7777), p.Port)
	assert.Equal(t, int32(32392), p.NodePort)
	assert.Equal(t, int32(7777), p.TargetPort.IntVal, "a numeric targetPort stays a number")
	assert.Equal(t, corev1.ProtocolTCP, p.Protocol)
	assert.Equal(t, map[string]string{"app": "nginx"}, lb.Spec.Selector)
	assert.Equal(t, "ip", lb.Annotations[topology.AnnotationTargetType])
	assert.Equal(t, nlbDNS, lb.Status.LoadBalancer.Ingress[0].Hostname)
	assert.Equal(t, topology.Default().Created, lb.CreationTimestamp.Time.UTC())

	dns := services[2]
	assert.Equal(t, "kube-system", dns.Namespace)
	assert.Equal(t, []string{"dns", "dns-tcp", "metrics"}, []string{dns.Spec.Ports[0].Name, dns.Spec.Ports[1].Name, dns.Spec.Ports[2].Name})
	assert.Empty(t, dns.Spec.ExternalTrafficPolicy)
}

func TestGetJSONSingleObject(t *testing.T) {
	var dep appsv1.Deployment
	out := mustGet(t, topology.Default(), Request{Resource: "deploy", Name: "nginx-deployment", Output: "json"})
	require.NoError(t, json.Unmarshal([]byte(out), &dep))
	assert.Equal(t, "apps/v1", dep.APIVersion)
	assert.Equal(t, "Deployment", dep.Kind)
	assert.Equal(t, int32(3), *dep.Spec.Replicas)
	assert.Equal(t, int32(3), dep.Status.ReadyReplicas)
	assert.Equal(t, map[string]string{"app": "nginx"}, dep.Spec.Selector.MatchLabels)
	assert.Equal(t, "nginx", dep.Spec.Template.Spec.Containers[0].Name)
	assert.Equal(t, "nginx:1.21", dep.Spec.Template.Spec.Containers[0].Image)
}

func TestGetYAML(t *testing.T) {
	out := mustGet(t, topology.Default(), Request{Resource: "svc", Name: "nginx-nlb-service", Output: "yaml"})
	assert.True(t, strings.HasPrefix(out, "apiVersion: v1\nkind: Service\nmetadata:\n"))
	var s corev1.Service
	require.NoError(t, yaml.Unmarshal([]byte(out), &s))
	assert.Equal(t, nlbDNS, s.Status.LoadBalancer.Ingress[0].Hostname)

	list := mustGet(t, topology.Default(), Request{Resource: "nodes", Output: "yaml"})
	assert.True(t, strings.HasPrefix(list, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n"))
	assert.True(t, strings.HasSuffix(list, "kind: List\nmetadata:\n  resourceVersion: \"\"\n"))
}

func TestGetJSONPath(t *testing.T) {
	w := topology.Default()
	assert.Equal(t, nlbDNS, mustGet(t, w, Request{Resource: "svc", Name: "nginx-nlb-service",
		Output: "jsonpath={.status.loadBalancer.ingress[0].hostname}"}))
	assert.Equal(t, "kubernetes nginx-nlb-service", mustGet(t, w, Request{Resource: "svc", Output: "jsonpath={.items[*].metadata.name}"}))
	assert.Equal(t, "192.168.1.118 192.168.2.146 192.168.3.137",
		mustGet(t, w, Request{Resource: "nodes", Output: `jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}`}))
	assert.Equal(t, "2000001000", mustGet(t, w, Request{Resource: "pod", Namespace: "kube-system", Name: "aws-node-mwktx",
		Output: "jsonpath={.spec.priority}"}), "whole numbers print as integers")

	_, err := get(t, w, Request{Resource: "svc", Name: "kubernetes", Output: "jsonpath={.status.loadBalancer.ingress[0].hostname}"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `error executing jsonpath "{.status.loadBalancer.ingress[0].hostname}"`)
	assert.Contains(t, err.Error(), "ingress is not found")

	out, err := get(t, w, Request{Resource: "svc", Name: "kubernetes", AllowMissingTemplateKeys: true,
		Output: "jsonpath={.status.loadBalancer.ingress[0].hostname}"})
	require.NoError(t, err)
	assert.Empty(t, out)
}

func TestGetName(t *testing.T) {
	w := topology.Default()
	assert.Equal(t, "service/kubernetes\nservice/nginx-nlb-service\n", mustGet(t, w, Request{Resource: "svc", Output: "name"}))
	assert.Equal(t, "deployment.apps/coredns\n", mustGet(t, w, Request{Resource: "deploy", Namespace: "kube-system", Output: "name"}))
}

func TestGetNotFound(t *testing.T) {
	w := topology.Default()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Resource: "svc", Name: "x"}, `Error from server (NotFound): services "x" not found`},
		{Request{Resource: "deploy/x"}, `Error from server (NotFound): deployments.apps "x" not found`},
		{Request{Resource: "node", Name: "node-1"}, `Error from server (NotFound): nodes "node-1" not found`},
		{Request{Resource: "svc", Name: "kube-dns"}, `Error from server (NotFound): services "kube-dns" not found`},
	} {
		_, err := get(t, w, tc.req)
		var notFound *NotFoundError
		require.True(t, errors.As(err, &notFound), "%+v: %v", tc.req, err)
		assert.Equal(t, tc.want, err.Error())
	}
}

func TestGetUsageErrors(t *testing.T) {
	w := topology.Default()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Resource: "foo"}, `the server doesn't have a resource type "foo" (valid: nodes (no), pods (po), services (svc), endpoints (ep), deployments (deploy), replicasets (rs), daemonsets (ds), all)`},
		{Request{Resource: "svc", Output: "xml"}, `unable to match a printer suitable for the output format "xml" (valid: json, jsonpath, jsonpath-as-json, name, table, wide, yaml)`},
		{Request{Resource: "svc", Output: "jsonpath"}, "template format specified but no template given"},
		{Request{Resource: "svc", Output: "jsonpath={.items[0"}, "error parsing jsonpath {.items[0"},
		{Request{Resource: "svc", Name: "kube-dns", AllNamespaces: true}, "a resource cannot be retrieved by name across all namespaces"},
		{Request{Resource: "all", Name: "x"}, `a name cannot be given with "all"`},
	} {
		_, err := get(t, w, tc.req)
		var usage *UsageError
		require.True(t, errors.As(err, &usage), "%+v: %v", tc.req, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	// Cluster-scoped nodes ignore namespaces, -A included.
	assert.Contains(t, mustGet(t, w, Request{Resource: "node", Name: w.Nodes[0].NodeName, AllNamespaces: true}), w.Nodes[0].NodeName)
}

func TestGetNotice(t *testing.T) {
	w := topology.Default()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Resource: "pods", Namespace: "empty"}, "No resources found in empty namespace."},
		{Request{Resource: "ds"}, "No resources found in default namespace."},
	} {
		out, err := get(t, w, tc.req)
		var notice *Notice
		require.True(t, errors.As(err, &notice), "%+v: %v", tc.req, err)
		assert.Equal(t, tc.want, notice.Message)
		assert.Empty(t, out)
	}

	spec := topology.DefaultSpec()
	spec.Minimal = true
	minimal, err := topology.Build(spec)
	require.NoError(t, err)
	_, err = get(t, minimal, Request{Resource: "ds", AllNamespaces: true})
	assert.EqualError(t, err, "No resources found")

	// Structured output prints an empty List instead.
	out, err := get(t, w, Request{Resource: "pods", Namespace: "empty", Output: "json"})
	require.NoError(t, err)
	assert.Contains(t, out, `"items": []`)
}

func TestValidateOutput(t *testing.T) {
	for _, ok := range []string{"", "table", "wide", "json", "yaml", "name", "jsonpath={.items[*].metadata.name}", "jsonpath-as-json={.items}"} {
		assert.NoError(t, ValidateOutput(ok), ok)
	}
	assert.NoError(t, ValidateOutput("json", "table", "json"))
	err := ValidateOutput("yaml", "table", "json", "mermaid")
	var usage *UsageError
	require.True(t, errors.As(err, &usage))
	assert.Equal(t, []string{"json", "mermaid", "table"}, usage.Valid)
	assert.EqualError(t, ValidateOutput("json=x"), "-o json takes no template (valid: json, jsonpath, jsonpath-as-json, name, table, wide, yaml)")
}

func TestAgeFollowsKubectl(t *testing.T) {
	w := topology.Default()
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{5*time.Minute + 17*time.Second, "5m17s"}, {25 * time.Hour, "25h"}, {50 * time.Hour, "2d2h"}} {
		var out bytes.Buffer
		require.NoError(t, Get(&out, w, Request{Resource: "deploy", Now: w.Created.Add(tc.after)}))
		assert.Equal(t, fmt.Sprintf("nginx-deployment   3/3     3            3           %s", tc.want),
			strings.TrimRight(strings.Split(out.String(), "\n")[1], " "))
	}
}

// A node whose kubelet stopped posting status is NotReady, with its
// conditions Unknown and the unreachable taints; labels and taints set on
// a node show.
func TestGetNodesShowsNotReady(t *testing.T) {
	w := topology.Default()
	w.Nodes[2].NotReady = true
	w.Nodes[1].Labels = map[string]string{topology.LabelExcludeFromLB: "true"}
	w.Nodes[1].Taints = []topology.Taint{{Key: topology.TaintKarpenterDisrupted, Effect: "NoSchedule"}}
	out := mustGet(t, w, Request{Resource: "nodes"})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, "Ready", strings.Fields(lines[1])[1])
	assert.Equal(t, "Ready", strings.Fields(lines[2])[1])
	assert.Equal(t, "NotReady", strings.Fields(lines[3])[1])
	js := mustGet(t, w, Request{Resource: "nodes", Output: "json"})
	assert.Contains(t, js, `"reason": "NodeStatusUnknown"`)
	assert.Contains(t, js, `"key": "node.kubernetes.io/unreachable"`)
	assert.Contains(t, js, `"node.kubernetes.io/exclude-from-external-load-balancers": "true"`)
	assert.Contains(t, js, `"key": "karpenter.sh/disrupted"`)
}
