package sim_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

const (
	realCluster   = "../topology/cluster/testdata/eks-cluster.yaml"
	realKubeProxy = "../topology/cluster/testdata/kube-proxy-config.yaml"
)

// up --from the fixture: traffic to each LoadBalancer Service, through each
// node of its NLB, reaches only pods its EndpointSlices list as serving,
// and every ready one; in instance mode (the annotation: eTP Local, the
// node's own endpoints) and, switched in place, in ip mode.
func TestUpFromRealCluster(t *testing.T) {
	c := simtest.Up(t, simtest.From(realCluster, realKubeProxy), simtest.TimeScale(20))
	require.NotEmpty(t, c.World.LoadBalancers)
	assert.Equal(t, topology.TargetInstance, c.World.LoadBalancers[0].TargetType)
	assertReachesServing(t, c)

	// The NLB's DNS name is the Service's real one, answered by the VPC resolver.
	r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 30, Concurrency: 4, To: sim.ToDNS})
	assert.Zero(t, r.Errors)
	assert.Equal(t, "k8s-shop-web-5d1c3a9e7b-0f1e2d3c4b5a6978.elb.ap-northeast-2.amazonaws.com", c.World.LoadBalancers[0].DNSName)

	spec := c.World.Spec
	spec.Mode = topology.TargetIP
	c2, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	require.NoError(t, err)
	require.True(t, c2.Changed)
	assert.Equal(t, topology.TargetIP, c2.World.LoadBalancers[0].TargetType)
	assertReachesServing(t, c2)

	// The copy lives: a pod deleted leaves its slices (terminating, then
	// gone), and traffic to the Service's ClusterIP never reaches it.
	const gone, client = "web-6d9f7c8b5d-w3e4r", "api-8f7e6d5c4-b2c3d"
	ctx := context.Background()
	require.NoError(t, sim.Do(ctx, c2.World.Cluster.Name, sim.Action{Verb: sim.VerbDeletePod, Name: gone}))
	require.Eventually(t, func() bool {
		w, err := sim.LoadWorld(c2.World.Cluster.Name)
		if err != nil {
			return false
		}
		_, ok := w.Pod(gone)
		return !ok
	}, 10*time.Second, 20*time.Millisecond, "pod %s is removed", gone)
	w, err := sim.LoadWorld(c2.World.Cluster.Name)
	require.NoError(t, err)
	web, _ := w.Service("shop", "web")
	for _, e := range w.Endpoints(web, web.Ports[0]) {
		assert.NotEqual(t, gone, e.Pod, "the deleted pod left the slices")
	}
	opts := sim.TrafficOptions{Requests: 60, Concurrency: 4, From: client, To: sim.ToClusterIP}
	require.Eventually(t, func() bool { // kube-proxy syncs after the change
		r, err := sim.Traffic(ctx, w, opts)
		return err == nil && r.ByPod[gone] == 0 && r.Errors == 0
	}, 10*time.Second, 100*time.Millisecond)
	r = simtest.Traffic(t, c2, opts)
	assert.Zero(t, r.Errors)
	assert.Zero(t, r.ByPod[gone])
	assert.Positive(t, r.ByPod["web-6d9f7c8b5d-2x7yz"])
	assert.Positive(t, r.ByPod["web-6d9f7c8b5d-h6j7k"])
	assert.Zero(t, r.ByPod["web-6d9f7c8b5d-8c4vb"], "terminating: kube-proxy prefers the ready endpoints")
}

func assertReachesServing(t *testing.T, c *sim.Cluster) {
	t.Helper()
	w := c.World
	for _, lb := range w.LoadBalancers {
		svc, ok := w.Service(splitKey(lb.Service))
		require.True(t, ok, lb.Service)
		for _, port := range svc.Ports {
			serving, ready := map[string]bool{}, map[string]bool{}
			for _, e := range w.Endpoints(svc, port) {
				serving[e.Pod] = serving[e.Pod] || e.Serving
				ready[e.Pod] = ready[e.Pod] || e.Ready
			}
			reached := map[string]bool{}
			for _, n := range lb.Nodes {
				to := fmt.Sprintf("%s:%d", n.IP, port.Port)
				r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 60, Concurrency: 4, To: to})
				assert.Zero(t, r.Errors, "%s via %s (%s)", lb.Service, n.Name, to)
				for pod, k := range r.ByPod {
					if k > 0 {
						assert.True(t, serving[pod], "%s via %s reached %s, which its slices do not list as serving", lb.Service, n.Name, pod)
						reached[pod] = true
					}
				}
			}
			t.Logf("%s (%s targets) port %d: reached %v", lb.Service, lb.TargetType, port.Port, keys(reached))
			for pod, ok := range ready {
				assert.True(t, !ok || reached[pod], "%s (%s targets): ready endpoint %s never reached; reached %v", lb.Service, lb.TargetType, pod, keys(reached))
			}
		}
	}
}

func splitKey(key string) (string, string) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A real cluster in a 172.31.0.0/16 VPC, one zone's addresses across a /23,
// the other's subnet with a pod at its base+1, a selected pod the slices do
// not list: its NLB reaches exactly the pods its slice lists.
func TestUpFromOtherAddresses(t *testing.T) {
	node := func(name, ip, zone string) string {
		return fmt.Sprintf(`- apiVersion: v1
  kind: Node
  metadata: {name: %s, labels: {topology.kubernetes.io/zone: %s}}
  status:
    addresses: [{type: InternalIP, address: %s}]
    conditions: [{type: Ready, status: "True"}]
`, name, zone, ip)
	}
	pod := func(name, node, ip string) string {
		return fmt.Sprintf(`- apiVersion: v1
  kind: Pod
  metadata: {name: %s, namespace: default, labels: {app: web}}
  spec:
    nodeName: %s
    containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
  status:
    phase: Running
    podIP: %s
    conditions: [{type: Ready, status: "True"}]
`, name, node, ip)
	}
	endpoint := func(pod, node, ip string) string {
		return fmt.Sprintf("  - {addresses: [%s], nodeName: %s, targetRef: {kind: Pod, name: %s, namespace: default}, conditions: {ready: true, serving: true, terminating: false}}\n", ip, node, pod)
	}
	data := "apiVersion: v1\nkind: List\nitems:\n" +
		node("n1", "172.31.33.5", "us-west-2a") + node("n2", "172.31.64.9", "us-west-2b") +
		pod("web-1", "n1", "172.31.33.1") + pod("web-2", "n2", "172.31.65.7") + pod("web-3", "n1", "172.31.33.40") +
		`- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: default
    annotations:
      service.beta.kubernetes.io/aws-load-balancer-type: external
      service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
  spec:
    type: LoadBalancer
    clusterIP: 10.200.0.20
    selector: {app: web}
    ports: [{name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-abcde, namespace: default, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
` + endpoint("web-1", "n1", "172.31.33.1") + endpoint("web-2", "n2", "172.31.65.7")
	c := simtest.Up(t, func(s *topology.Spec) {
		s.From, s.Mode, s.ExternalTrafficPolicy = []topology.Manifest{{Name: "other.yaml", Data: data}}, "", ""
	}, simtest.TimeScale(20))
	w := c.World
	require.Len(t, w.Subnets, 2)
	assert.Equal(t, "172.31.64.0/23", w.Subnets[1].CIDR.String())
	assert.Equal(t, "172.31.33.2", w.Subnets[0].Gateway.String(), "base+1 is a pod's")
	assertReachesServing(t, c)
	r := simtest.Traffic(t, c, sim.TrafficOptions{Requests: 30, Concurrency: 4, From: "web-3", To: "10.200.0.20:80"})
	assert.Zero(t, r.Errors)
	assert.Zero(t, r.ByPod["web-3"], "not in the slices")
}
