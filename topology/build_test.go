package topology

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default world is the walkthrough's, value for value (README, Quick start and Hosts).
func TestDefaultIsTheWalkthroughsCluster(t *testing.T) {
	w := Default()
	assert.Equal(t, "myeks", w.Cluster.Name)
	assert.Equal(t, "ap-northeast-2", w.Cluster.Region)
	assert.Equal(t, "v1.30.4-eks-a737599", w.Cluster.KubernetesVersion)
	assert.Equal(t, "192.168.0.0/16", w.Cluster.VPC.String())
	assert.Equal(t, "10.100.0.0/16", w.Cluster.ServiceCIDR.String())
	assert.Equal(t, "192.168.0.2", w.Cluster.Resolver.String())
	assert.Equal(t, "192.168.1.100", w.Bastion.IP.String())

	wantNodes := []struct{ name, ip, az string }{
		{"ip-192-168-1-118.ap-northeast-2.compute.internal", "192.168.1.118", "ap-northeast-2a"},
		{"ip-192-168-2-146.ap-northeast-2.compute.internal", "192.168.2.146", "ap-northeast-2b"},
		{"ip-192-168-3-137.ap-northeast-2.compute.internal", "192.168.3.137", "ap-northeast-2c"},
	}
	require.Len(t, w.Nodes, 3)
	for i, n := range w.Nodes {
		assert.Equal(t, wantNodes[i].name, n.NodeName)
		assert.Equal(t, wantNodes[i].ip, n.IP.String())
		assert.Equal(t, wantNodes[i].az, n.AZ)
		assert.Equal(t, "Amazon Linux 2", n.OSImage)
		assert.Equal(t, "5.10.226-214.880.amzn2.x86_64", n.KernelVersion)
		assert.Equal(t, "containerd://1.7.22", n.ContainerRuntime)
		assert.Equal(t, "t3.medium", n.InstanceType)
		assert.True(t, netip.MustParsePrefix("203.0.113.0/24").Contains(n.ExternalIP))
	}

	app := map[string]string{} // pod IP → node
	for _, p := range w.Pods {
		if p.Owner == AppDeployment {
			assert.Regexp(t, `^nginx-deployment-67dd5f77ff-[bcdfghjklmnpqrstvwxz2456789]{5}$`, p.Name)
			app[p.IP.String()] = p.Node
		}
	}
	assert.Equal(t, map[string]string{"192.168.1.248": "node-1", "192.168.2.206": "node-2", "192.168.3.111": "node-3"}, app)

	svc, ok := w.Service("default", "nginx-nlb-service")
	require.True(t, ok)
	assert.Equal(t, "LoadBalancer", svc.Type)
	assert.Equal(t, "10.100.30.185", svc.ClusterIP.String())
	assert.Equal(t, []ServicePort{{Protocol: "TCP", Port: 7777, TargetPort: "7777", NodePort: 32392}}, svc.Ports)

	lb, ok := w.LoadBalancerFor("default/nginx-nlb-service")
	require.True(t, ok)
	assert.Equal(t, "k8s-default-nginxnlb-4295c357fc", lb.Name)
	assert.Equal(t, "k8s-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com", lb.DNSName)
	assert.Equal(t, TargetIP, lb.TargetType)
	assert.False(t, lb.CrossZone)
	assert.False(t, lb.PreserveClientIP, "ip targets do not preserve the client IP by default")
	var nlbIPs []string
	for _, n := range lb.Nodes {
		nlbIPs = append(nlbIPs, n.Name+"="+n.IP.String())
	}
	assert.Equal(t, []string{"nlb-a=192.168.1.51", "nlb-b=192.168.2.149", "nlb-c=192.168.3.171"}, nlbIPs)
	assert.Equal(t, HealthCheck{Protocol: "TCP", Port: "traffic-port", Interval: 10e9, Timeout: 10e9, HealthyThreshold: 3, UnhealthyThreshold: 3}, lb.HealthCheck)
}

func TestDefaultAddons(t *testing.T) {
	w := Default()
	k, ok := w.Service("default", "kubernetes")
	require.True(t, ok)
	assert.Equal(t, "10.100.0.1", k.ClusterIP.String())
	eps := w.Endpoints(k, k.Ports[0])
	require.Len(t, eps, 2)
	assert.Equal(t, "192.168.2.40:443", eps[0].String())
	assert.Equal(t, "192.168.3.12:443", eps[1].String())

	dns, ok := w.Service("kube-system", "kube-dns")
	require.True(t, ok)
	assert.Equal(t, "10.100.0.10", dns.ClusterIP.String())
	var ports []string
	for _, p := range dns.Ports {
		ports = append(ports, p.Name)
		var ips []string
		for _, e := range w.Endpoints(dns, p) {
			ips = append(ips, e.String())
			assert.Equal(t, "node-3", e.Node)
		}
		assert.Len(t, ips, 2)
	}
	assert.Equal(t, []string{"dns", "dns-tcp", "metrics"}, ports)
	var names []string
	for _, p := range w.Pods {
		if p.Owner == "coredns" {
			names = append(names, p.Name+"="+p.IP.String())
		}
	}
	assert.ElementsMatch(t, []string{"coredns-699d8c5988-mtpc4=192.168.3.62", "coredns-699d8c5988-t42hz=192.168.3.202"}, names)
	assert.Len(t, w.HostNetworkPods, 6, "aws-node and kube-proxy on every node")
	assert.Len(t, w.ControlPlane, 2)

	spec := DefaultSpec()
	spec.Minimal = true
	m, err := Build(spec)
	require.NoError(t, err)
	assert.Len(t, m.Services, 1)
	assert.Empty(t, m.ControlPlane)
	assert.Empty(t, m.HostNetworkPods)
	assert.Len(t, m.Pods, 3)
}

func TestEndpointsSortAsStrings(t *testing.T) {
	w := Default()
	svc, _ := w.Service("default", "nginx-nlb-service")
	var got []string
	for _, e := range w.Endpoints(svc, svc.Ports[0]) {
		got = append(got, e.String())
	}
	assert.Equal(t, []string{"192.168.1.248:7777", "192.168.2.206:7777", "192.168.3.111:7777"}, got)
}

func TestSizingRules(t *testing.T) {
	spec := DefaultSpec()
	spec.Nodes, spec.Replicas = 7, 10
	w, err := Build(spec)
	require.NoError(t, err)
	require.Len(t, w.Nodes, 7)
	// The first three keep their addresses; the rest go round-robin over AZs.
	assert.Equal(t, "192.168.1.118", w.Nodes[0].IP.String())
	assert.Equal(t, "192.168.3.137", w.Nodes[2].IP.String())
	for i, n := range w.Nodes {
		sub, ok := w.SubnetOf(n.IP)
		require.True(t, ok)
		assert.Equal(t, "abc"[i%3:i%3+1], sub.Letter, n.Name)
	}
	seen := map[netip.Addr]string{}
	for _, h := range w.Hosts() {
		if h.Kind == KindVPC {
			continue
		}
		if other, dup := seen[h.IP]; dup {
			t.Errorf("%s and %s share %s", h.Name, other, h.IP)
		}
		seen[h.IP] = h.Name
		last := h.IP.As4()[3]
		assert.True(t, last >= 4 && last != 255, "%s has reserved address %s", h.Name, h.IP)
	}
	perNode := map[string]int{}
	for _, p := range w.Pods {
		if p.Owner != AppDeployment {
			continue
		}
		perNode[p.Node]++
		n, _ := w.Node(p.Node)
		ps, _ := w.SubnetOf(p.IP)
		ns, _ := w.SubnetOf(n.IP)
		assert.Equal(t, ns, ps, "pod %s must be in its node's subnet", p.Name)
	}
	assert.Equal(t, map[string]int{"node-1": 2, "node-2": 2, "node-3": 2, "node-4": 1, "node-5": 1, "node-6": 1, "node-7": 1}, perNode)

	again, err := Build(spec)
	require.NoError(t, err)
	assert.Equal(t, w, again, "building is deterministic")
}

func TestPodsBeyondTheVPCCNILimitStayPending(t *testing.T) {
	spec := DefaultSpec()
	spec.Nodes, spec.Replicas, spec.InstanceType = 1, 20, "t3.small" // 11 pods per node
	w, err := Build(spec)
	require.NoError(t, err)
	running, pending := 0, 0
	for _, p := range w.Pods {
		if p.Running() {
			running++
		} else {
			pending++
			assert.Equal(t, "0/1 nodes are available: 1 Too many pods.", p.Reason)
		}
	}
	// 11 pods: aws-node, kube-proxy, two CoreDNS, then seven nginx pods.
	assert.Equal(t, 11-2, running)
	assert.Equal(t, 20+2-9, pending)
}

func TestValidation(t *testing.T) {
	cases := map[string]struct {
		edit func(*Spec)
		want string
	}{
		"negative replicas":  {func(s *Spec) { s.Replicas = -1 }, "Replicas: -1 is negative"},
		"zero nodes":         {func(s *Spec) { s.Nodes = 0 }, "Nodes: 0 is out of range"},
		"too many nodes":     {func(s *Spec) { s.Nodes = 1000 }, "Nodes: 1000 is out of range"},
		"long name":          {func(s *Spec) { s.Name = "a-very-long-cluster-name" }, "at most 20 are allowed"},
		"not a label":        {func(s *Spec) { s.Name = "My.Cluster" }, "is not a DNS label"},
		"empty name":         {func(s *Spec) { s.Name = "" }, "must not be empty"},
		"unknown mode":       {func(s *Spec) { s.Mode = "alb" }, `Mode: unknown target type "alb"`},
		"unknown policy":     {func(s *Spec) { s.ExternalTrafficPolicy = "Global" }, `ExternalTrafficPolicy: unknown policy "Global"`},
		"time scale below 1": {func(s *Spec) { s.TimeScale = 0.5 }, "TimeScale: 0.5 is out of range"},
		"unknown instance":   {func(s *Spec) { s.InstanceType = "t9.huge" }, `InstanceType: unknown instance type "t9.huge"`},
		"more pods than fit": {func(s *Spec) { s.Nodes, s.Replicas, s.InstanceType = 200, 3000, "m5.xlarge" }, "has no free address left"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := DefaultSpec()
			c.edit(&s)
			_, err := Build(s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			var invalid *InvalidError
			assert.ErrorAs(t, err, &invalid)
		})
	}
}

func TestHostsAndAliases(t *testing.T) {
	w := Default()
	for alias, want := range map[string]string{
		"nlb": "nlb-a", "ip-192-168-2-146": "node-2", "ip-192-168-2-146.ap-northeast-2.compute.internal": "node-2",
		"pod-2": w.Pods[1].Name, "control-plane-1": "control-plane-1", "vpc": "vpc",
	} {
		h, err := w.Lookup(alias)
		require.NoError(t, err, alias)
		assert.Equal(t, want, h.Name, alias)
	}
	h, err := w.Lookup("pod-3")
	require.NoError(t, err)
	assert.Equal(t, "192.168.3.111", h.IP.String(), "pod-N counts the workload pods, not CoreDNS")
	assert.Equal(t, "nlbsim.myeks.node-1", Namespace("myeks", "node-1"))
	_, err = w.Lookup("node-9")
	assert.ErrorContains(t, err, "valid hosts: bastion, vpc, nlb-a")
	c, host, ok := ClusterOfNamespace("nlbsim.myeks.node-1")
	assert.True(t, ok)
	assert.Equal(t, "myeks", c)
	assert.Equal(t, "node-1", host)
	_, _, ok = ClusterOfNamespace("other.myeks.node-1")
	assert.False(t, ok)
}

func TestLoadBalancerSettingsPrecedence(t *testing.T) {
	on, off := true, false
	spec := DefaultSpec()
	spec.Mode = TargetInstance
	w, err := Build(spec)
	require.NoError(t, err)
	lb := w.LoadBalancers[0]
	assert.True(t, lb.PreserveClientIP, "instance targets preserve the client IP by default")

	spec.PreserveClientIP, spec.CrossZone = &off, &on
	w, err = Build(spec)
	require.NoError(t, err)
	assert.False(t, w.LoadBalancers[0].PreserveClientIP)
	assert.True(t, w.LoadBalancers[0].CrossZone)

	spec = DefaultSpec()
	spec.Mode, spec.ExternalTrafficPolicy = TargetInstance, PolicyLocal
	w, err = Build(spec)
	require.NoError(t, err)
	svc, _ := w.Service("default", "nginx-nlb-service")
	assert.True(t, svc.HealthCheckNodePort >= NodePortMin && svc.HealthCheckNodePort <= NodePortMax)
	hc := w.LoadBalancers[0].HealthCheck
	assert.Equal(t, "HTTP", hc.Protocol)
	assert.Equal(t, "/healthz", hc.Path)
	assert.Equal(t, 6e9, float64(hc.Timeout))
	assert.Equal(t, 2, hc.HealthyThreshold)
}
