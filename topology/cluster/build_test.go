package cluster

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

func fromSpec(t *testing.T, files ...string) topology.Spec {
	t.Helper()
	ms, err := topology.ReadManifests(files)
	require.NoError(t, err)
	spec := topology.DefaultSpec()
	spec.Name, spec.Mode, spec.ExternalTrafficPolicy, spec.From = "real", "", "", ms
	return spec
}

func TestBuildCompletesTheFixture(t *testing.T) {
	w, err := Build(fromSpec(t, "testdata/eks-cluster.yaml", "testdata/kube-proxy-config.yaml"))
	require.NoError(t, err)
	assert.Empty(t, w.Warnings)

	require.Len(t, w.Subnets, 3)
	for i, s := range w.Subnets {
		assert.Equal(t, fmt.Sprintf("ap-northeast-2%c", 'a'+i), s.AZ)
		assert.Equal(t, string(rune('a'+i)), s.Letter)
		assert.Equal(t, netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", i+1)), s.CIDR)
		assert.Equal(t, netip.MustParseAddr(fmt.Sprintf("192.168.%d.1", i+1)), s.Gateway)
	}
	assert.Equal(t, netip.MustParsePrefix("192.168.0.0/16"), w.Cluster.VPC)
	assert.Equal(t, netip.MustParseAddr("192.168.0.2"), w.Cluster.Resolver)
	assert.Equal(t, netip.MustParsePrefix("10.100.0.0/16"), w.Cluster.ServiceCIDR)
	assert.Equal(t, "ap-northeast-2", w.Cluster.Region)
	assert.Equal(t, 3, w.Spec.Nodes)
	assert.Zero(t, w.Spec.Replicas)
	assert.True(t, w.Subnets[0].CIDR.Contains(w.Bastion.IP))

	// The API server's ENIs are the endpoints of default/kubernetes.
	require.Len(t, w.ControlPlane, 2)
	assert.Equal(t, netip.MustParseAddr("192.168.2.40"), w.ControlPlane[0].IP)
	assert.Equal(t, "ap-northeast-2b", w.ControlPlane[0].AZ)

	// Every running pod with its own address is built, CoreDNS as CoreDNS.
	running := 0
	for _, p := range w.Pods {
		require.True(t, p.Running(), p.Name)
		running++
		want := topology.ServesHTTP
		if strings.HasPrefix(p.Name, "coredns-") {
			want = topology.ServesDNS
		}
		assert.Equal(t, want, p.Serves, p.Name)
	}
	assert.Equal(t, 11, running)
	assert.Len(t, w.HostNetworkPods, 6)

	// One NLB, for shop/web, with its real DNS name and its annotations.
	require.Len(t, w.LoadBalancers, 1)
	lb := w.LoadBalancers[0]
	assert.Equal(t, "shop/web", lb.Service)
	assert.Equal(t, "k8s-shop-web-5d1c3a9e7b", lb.Name)
	assert.Equal(t, "k8s-shop-web-5d1c3a9e7b-0f1e2d3c4b5a6978.elb.ap-northeast-2.amazonaws.com", lb.DNSName)
	assert.Equal(t, topology.TargetInstance, lb.TargetType)
	assert.True(t, lb.PreserveClientIP)
	assert.Equal(t, "HTTP", lb.HealthCheck.Protocol, "eTP Local: the health check node port")
	assert.Equal(t, "32080", lb.HealthCheck.Port)
	require.Len(t, lb.Nodes, 3)
	assert.Equal(t, "web-nlb-a", lb.Nodes[0].Name)
	for i, n := range lb.Nodes {
		assert.True(t, w.Subnets[i].CIDR.Contains(n.IP), n.Name)
	}
	seen := map[netip.Addr]string{}
	for _, h := range w.Hosts() {
		if h.Kind == topology.KindVPC {
			continue
		}
		assert.NotContains(t, seen, h.IP, "%s and %s share %s", h.Name, seen[h.IP], h.IP)
		seen[h.IP] = h.Name
	}

	// Flags beat the annotations, as with manifests.
	spec := fromSpec(t, "testdata/eks-cluster.yaml")
	spec.Mode = topology.TargetIP
	w, err = Build(spec)
	require.NoError(t, err)
	assert.Equal(t, topology.TargetIP, w.LoadBalancers[0].TargetType)
	spec.ExternalTrafficPolicy = topology.PolicyCluster
	w, err = Build(spec)
	require.NoError(t, err)
	web, _ := w.Service("shop", "web")
	assert.Equal(t, topology.PolicyCluster, web.ExternalTrafficPolicy)
	assert.Zero(t, web.HealthCheckNodePort)
	api, _ := w.Service("shop", "api")
	assert.Equal(t, topology.PolicyCluster, api.ExternalTrafficPolicy, "a NodePort Service keeps its own")
}

// A cluster with other addresses (a 10.x VPC, zones without the usual
// letters, a subnet whose base+1 is a real pod's) gets subnets around its
// own addresses.
func TestBuildOtherAddresses(t *testing.T) {
	ms := []topology.Manifest{{Name: "c.yaml", Data: list(
		node("n1", "10.20.33.5", "eu-west-1a"), node("n2", "10.20.64.9", "eu-west-1b"),
		pod("web-1", "n1", "10.20.33.1"), pod("web-2", "n2", "10.20.65.7"),
	)}}
	spec := topology.DefaultSpec()
	spec.Name, spec.From = "real", ms
	w, err := Build(spec)
	require.NoError(t, err)
	require.Len(t, w.Subnets, 2)
	assert.Equal(t, netip.MustParsePrefix("10.20.33.0/24"), w.Subnets[0].CIDR)
	assert.Equal(t, netip.MustParseAddr("10.20.33.2"), w.Subnets[0].Gateway, "base+1 is a pod's")
	assert.Equal(t, netip.MustParsePrefix("10.20.64.0/23"), w.Subnets[1].CIDR)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.0/16"), w.Cluster.VPC)
	assert.Equal(t, "eu-west-1", w.Cluster.Region)
}

func TestBuildRefuses(t *testing.T) {
	many := []string{}
	for i := 0; i <= topology.MaxNodes; i++ {
		many = append(many, node(fmt.Sprintf("n%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, 10+i%200), "us-east-1a"))
	}
	for _, c := range []struct {
		name, data, want string
	}{
		{"limit", list(many...), fmt.Sprintf("c.yaml:%d: Node n200: the input has 201 Nodes; nlbsim rebuilds at most 200", 4+200*12)},
		{"no zone", list(node("n1", "10.0.0.5", "")), "c.yaml:4: Node n1: no topology.kubernetes.io/zone label"},
		{"shared address", list(node("n1", "10.0.0.5", "us-east-1a"), pod("p", "n1", "10.0.0.5")), "Pod default/p: its address 10.0.0.5 is node n1's"},
		{"subnets", list(node("n1", "10.0.0.5", "us-east-1a"), lbService("web", "service.beta.kubernetes.io/aws-load-balancer-subnets: subnet-1")),
			"Service default/web: annotation service.beta.kubernetes.io/aws-load-balancer-subnets: not modelled: the NLB's subnets"},
		{"ipvs", list(node("n1", "10.0.0.5", "us-east-1a"), `- apiVersion: v1
  kind: ConfigMap
  metadata: {name: kube-proxy, namespace: kube-system}
  data: {config.conf: "mode: ipvs"}
`), "c.yaml:16: ConfigMap kube-system/kube-proxy: kube-proxy runs in ipvs mode"},
	} {
		spec := topology.DefaultSpec()
		spec.Name, spec.From = "real", []topology.Manifest{{Name: "c.yaml", Data: c.data}}
		_, err := Build(spec)
		require.Error(t, err, c.name)
		var invalid *topology.InvalidError
		assert.True(t, errors.As(err, &invalid), c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
	}
}

func list(items ...string) string {
	return "apiVersion: v1\nkind: List\nitems:\n" + strings.Join(items, "")
}

func node(name, ip, zone string) string {
	labels := "{}"
	if zone != "" {
		labels = "{topology.kubernetes.io/zone: " + zone + "}"
	}
	return fmt.Sprintf(`- apiVersion: v1
  kind: Node
  metadata:
    name: %s
    labels: %s
  status:
    addresses:
    - {type: InternalIP, address: %s}
    conditions:
    - {type: Ready, status: "True"}
    nodeInfo: {kubeletVersion: v1.30.4}
  spec: {}
`, name, labels, ip)
}

func pod(name, node, ip string) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Pod
  metadata: {name: %s, namespace: default, labels: {app: web}}
  spec:
    nodeName: %s
    containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]
  status:
    phase: Running
    podIP: %s
    conditions: [{type: Ready, status: "True"}]
`, name, node, ip)
}

func lbService(name, annotation string) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Service
  metadata:
    name: %s
    namespace: default
    annotations: {%s}
  spec:
    type: LoadBalancer
    clusterIP: 10.100.0.20
    selector: {app: web}
    ports: [{port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}]
`, name, annotation)
}

// What nlbsim leaves out of a copy, or takes as having no effect on where
// traffic goes, is a warning; a flag can stand in for an ipvs kube-proxy.
func TestBuildWarnsAndOverrides(t *testing.T) {
	data := list(node("n1", "10.0.0.5", "us-east-1a"), pod("p1", "n1", "10.0.0.9"), pod("lost", "n9", "10.0.0.12"),
		lbService("web", "service.beta.kubernetes.io/aws-load-balancer-type: external, service.beta.kubernetes.io/aws-load-balancer-security-groups: sg-1"),
		`- apiVersion: v1
  kind: ConfigMap
  metadata: {name: kube-proxy, namespace: kube-system}
  data: {config.conf: "mode: ipvs"}
`)
	spec := topology.DefaultSpec()
	spec.Name, spec.From, spec.ProxyMode = "real", []topology.Manifest{{Name: "c.yaml", Data: data}}, topology.ProxyIPTables
	w, err := Build(spec)
	require.NoError(t, err)
	assert.Equal(t, "iptables", w.Cluster.KubeProxy.Mode)
	warnings := strings.Join(w.Warnings, "\n")
	assert.Contains(t, warnings, "pod default/lost is on node n9, which is not in the input")
	assert.Contains(t, warnings, "pod default/lost is on no node of the input: not built")
	assert.Contains(t, warnings, "Service default/web: annotation service.beta.kubernetes.io/aws-load-balancer-security-groups is not modelled")
	_, kept := w.Pod("lost")
	assert.False(t, kept)
	require.Len(t, w.LoadBalancers, 1)
	assert.Len(t, w.LoadBalancers[0].Nodes, 1, "one zone, one NLB node")
}
