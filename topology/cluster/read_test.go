package cluster

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/nlbsim/nlbsim/topology"
)

func readFiles(t *testing.T, paths ...string) (*Cluster, error) {
	t.Helper()
	ms, err := topology.ReadManifests(paths)
	require.NoError(t, err)
	return Read("real", ms)
}

func fixture(t *testing.T) *Cluster {
	t.Helper()
	c, err := readFiles(t, "testdata/eks-cluster.yaml", "testdata/kube-proxy-config.yaml")
	require.NoError(t, err)
	return c
}

func endpointsOf(t *testing.T, w *topology.World, key, port string) []topology.Endpoint {
	t.Helper()
	for _, s := range w.Services {
		if s.Key() != key {
			continue
		}
		for _, p := range s.Ports {
			if p.Name == port {
				return w.Endpoints(s, p)
			}
		}
	}
	t.Fatalf("no port %q of %s", port, key)
	return nil
}

func TestReadsAnEKSCluster(t *testing.T) {
	c := fixture(t)
	w := c.World
	assert.Empty(t, c.Warnings)
	assert.Equal(t, "kube-system/kube-proxy-config", c.KubeProxyConfig)

	require.Len(t, w.Nodes, 3)
	n := w.Nodes[1]
	assert.Equal(t, "node-2", n.Name)
	assert.Equal(t, "ip-192-168-2-60.ap-northeast-2.compute.internal", n.NodeName)
	assert.Equal(t, netip.MustParseAddr("192.168.2.60"), n.IP)
	assert.Equal(t, netip.MustParseAddr("203.0.113.60"), n.ExternalIP)
	assert.Equal(t, "ap-northeast-2b", n.AZ)
	assert.Equal(t, "m5.large", n.InstanceType)
	assert.Equal(t, "i-0a1b2c3d4e5f60002", n.InstanceID)
	assert.False(t, n.NotReady)
	assert.Equal(t, "ap-northeast-2", w.Cluster.Region)
	assert.Equal(t, "v1.30.4-eks-a737599", w.Cluster.KubernetesVersion)

	kp := w.Cluster.KubeProxy
	assert.Equal(t, "iptables", kp.Mode)
	assert.Equal(t, 14, kp.MasqueradeBit)
	assert.Equal(t, time.Duration(0), kp.MinSyncPeriod, "EKS's add-on says 0s")
	assert.False(t, kp.ClusterCIDR.IsValid())

	assert.Len(t, w.Pods, 11)
	assert.Len(t, w.HostNetworkPods, 6)
	require.Len(t, w.Services, 6)

	// A named targetPort: the slice's port number, not the pod's.
	web := endpointsOf(t, w, "shop/web", "http")
	require.Len(t, web, 4, "two slices")
	assert.Equal(t, topology.Endpoint{Pod: "web-6d9f7c8b5d-8c4vb", IP: netip.MustParseAddr("192.168.1.104"), Port: 8080, Node: "node-1",
		Ready: false, Serving: true, Terminating: true}, web[1], "terminating, as the slice says")
	assert.Equal(t, "node-3", web[3].Node)
	for _, s := range w.Services {
		if s.Key() == "shop/web" {
			assert.Equal(t, topology.PolicyLocal, s.ExternalTrafficPolicy)
			assert.Equal(t, 32080, s.HealthCheckNodePort)
			assert.Equal(t, "instance", s.Annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"])
			assert.Equal(t, []topology.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http", NodePort: 31080}}, s.Ports)
		}
		if s.Key() == "shop/cart" {
			assert.Equal(t, "ClientIP", s.SessionAffinity)
			assert.Equal(t, 3600, s.AffinityTimeout)
		}
	}
	assert.Len(t, endpointsOf(t, w, "shop/api", "http"), 3, "two slices")
	assert.Empty(t, endpointsOf(t, w, "shop/orders", "http"), "a Service without endpoints")
	dns := endpointsOf(t, w, "kube-system/kube-dns", "dns")
	require.Len(t, dns, 2)
	assert.Equal(t, 53, dns[0].Port)
	api := endpointsOf(t, w, "default/kubernetes", "https")
	require.Len(t, api, 2)
	assert.Equal(t, "", api[0].Node, "the control plane's ENIs are on no node")
}

// Status is read as it is: a pod's readiness and an endpoint's conditions
// are never derived from each other or from the selector.
func TestEndpointsAreTheSlicesNotThePods(t *testing.T) {
	w := fixture(t).World
	for _, s := range w.Services {
		assert.True(t, s.FromSlices, s.Key())
	}
	// The selector of shop/orders matches no pod and its slice is empty; a
	// pod labelled app=orders added to the world would not change that.
	w.Pods = append(w.Pods, topology.Pod{Name: "orders-x", Namespace: "shop", Labels: map[string]string{"app": "orders"},
		IP: netip.MustParseAddr("192.168.1.200"), Node: "node-1", Phase: topology.PhaseRunning,
		Ports: []topology.ContainerPort{{Name: "http", Port: 8080, Protocol: "TCP"}}})
	assert.Empty(t, endpointsOf(t, w, "shop/orders", "http"))
}

func TestReadsJSONDirectoriesAndSeveralFiles(t *testing.T) {
	want := fixture(t).World
	dir := t.TempDir()
	for _, name := range []string{"eks-cluster.yaml", "kube-proxy-config.yaml"} {
		y, err := os.ReadFile("testdata/" + name)
		require.NoError(t, err)
		j, err := yaml.YAMLToJSON(y)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".yaml")+".json"), j, 0o644))
	}
	c, err := readFiles(t, dir)
	require.NoError(t, err)
	assert.Equal(t, want, c.World, "kubectl -o json in a directory reads as -o yaml")
}

func TestNotModelledIsListedOnce(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "extra.yaml")
	require.NoError(t, os.WriteFile(extra, []byte(`apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: api, namespace: shop}
- apiVersion: v1
  kind: Endpoints
  metadata: {name: web, namespace: shop}
- apiVersion: v1
  kind: Service
  metadata: {name: legacy, namespace: shop, futureField: 1}
  spec:
    clusterIP: 10.100.90.1
    externalIPs: [198.51.100.10]
    ports: [{port: 80, protocol: TCP, targetPort: 80}]
  status:
    loadBalancer:
      ingress: [{ip: 198.51.100.20}]
`), 0o644))
	c, err := readFiles(t, "testdata/eks-cluster.yaml", extra)
	require.NoError(t, err)
	assert.Equal(t, []string{
		`Service: field unknown to nlbsim's API types, ignored: unknown field "metadata.futureField"`,
		"2 Deployment object(s) not modelled; left out",
		"1 Endpoints object(s) not read: kube-proxy reads EndpointSlices, and so does nlbsim; left out",
		"Service shop/legacy: externalIPs are not modelled; kube-proxy's rules for them are left out",
		"Service shop/legacy: load-balancer ingress IPs are not modelled; kube-proxy's rules for them are left out",
	}, c.Warnings)
}

func TestBadInputNamesTheFileAndTheObject(t *testing.T) {
	dir := t.TempDir()
	whole, err := os.ReadFile("testdata/eks-cluster.yaml")
	require.NoError(t, err)
	lines := strings.SplitAfter(string(whole), "\n")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	noAddress := strings.Replace(string(whole), "    addresses:\n    - address: 192.168.2.60\n      type: InternalIP\n", "    addresses:\n", 1)
	require.NotEqual(t, string(whole), noAddress)
	json, err := yaml.YAMLToJSON(whole)
	require.NoError(t, err)

	cases := []struct {
		name, text string
		want       []string
	}{
		{"scalar.yaml", "just some text\n", []string{"scalar.yaml:1: not a List or a Kubernetes object"}},
		{"nokind.yaml", "items: []\n", []string{"nokind.yaml:1: a list without its kind: a truncated file?"}},
		{"empty.yaml", "", []string{"empty.yaml: empty"}},
		{"truncated.yaml", strings.Join(lines[:len(lines)/2], ""), []string{"truncated.yaml:1: a list without its kind: a truncated file?"}},
		{"truncated.json", string(json[:len(json)/2]), []string{"truncated.json", "not YAML or JSON (a truncated file?)"}},
		{"no-address.yaml", noAddress, []string{"no-address.yaml:", "Node ip-192-168-2-60.ap-northeast-2.compute.internal: status.addresses has no IPv4 InternalIP"}},
		{"no-nodes.yaml", "apiVersion: v1\nkind: List\nitems: []\nmetadata: {resourceVersion: \"\"}\n", []string{"no-nodes.yaml: no Node in the input"}},
		{"bad-type.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\nspec: {ports: [{port: eighty}]}\n", []string{"bad-type.yaml:1: Service x/s:", "cannot unmarshal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readFiles(t, write(c.name, c.text))
			require.Error(t, err)
			var ie InputErrors
			require.True(t, errors.As(err, &ie), "%T %v", err, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestKubeadmConfigMap(t *testing.T) {
	cm := filepath.Join(t.TempDir(), "kube-proxy.yaml")
	require.NoError(t, os.WriteFile(cm, []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data:
  config.conf: |-
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    clusterCIDR: 10.244.0.0/16
    mode: ""
    iptables:
      masqueradeAll: true
      minSyncPeriod: 1s
`), 0o644))
	c, err := readFiles(t, "testdata/eks-cluster.yaml", cm)
	require.NoError(t, err)
	assert.Equal(t, "kube-system/kube-proxy", c.KubeProxyConfig)
	kp := c.World.Cluster.KubeProxy
	assert.Equal(t, "iptables", kp.Mode, "empty means iptables on Linux")
	assert.Equal(t, netip.MustParsePrefix("10.244.0.0/16"), kp.ClusterCIDR)
	assert.Equal(t, 14, kp.MasqueradeBit)
	assert.Equal(t, time.Second, kp.MinSyncPeriod)
	require.Len(t, c.Warnings, 2)
	assert.Contains(t, c.Warnings[0], "clusterCIDR 10.244.0.0/16 is not modelled yet")
	assert.Equal(t, "kube-system/kube-proxy: iptables.masqueradeAll is not modelled", c.Warnings[1])
}
