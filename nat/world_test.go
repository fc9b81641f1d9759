package nat

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// buildWorld builds a world from the default spec changed by edit.
func buildWorld(t *testing.T, edit func(*topology.Spec)) *topology.World {
	t.Helper()
	spec := topology.DefaultSpec()
	if edit != nil {
		edit(&spec)
	}
	w, err := topology.Build(spec)
	require.NoError(t, err)
	return w
}

// addPods adds running pods with a label to a world, one per address, on
// the node whose subnet holds the address.
func addPods(t *testing.T, w *topology.World, ns, app string, ports []topology.ContainerPort, addrs ...string) {
	t.Helper()
	for i, a := range addrs {
		ip := netip.MustParseAddr(a)
		node := ""
		for _, n := range w.Nodes {
			if s, ok := w.SubnetOf(n.IP); ok && s.CIDR.Contains(ip) {
				node = n.Name
				break
			}
		}
		require.NotEmpty(t, node, "no node for %s", a)
		w.Pods = append(w.Pods, topology.Pod{
			Name: fmt.Sprintf("%s-%d", app, i), Namespace: ns, Labels: map[string]string{"app": app},
			Node: node, IP: ip, Ports: ports, Containers: 1, Phase: topology.PhaseRunning, Serves: topology.ServesHTTP,
		})
	}
}

func clusterIPService(ns, name, clusterIP string, ports ...topology.ServicePort) topology.Service {
	return topology.Service{
		Name: name, Namespace: ns, Type: "ClusterIP", ClusterIP: netip.MustParseAddr(clusterIP),
		Ports: ports, Selector: map[string]string{"app": name}, SessionAffinity: "None",
	}
}

func tcpPort(name string, port int, target string, nodePort int) topology.ServicePort {
	return topology.ServicePort{Name: name, Protocol: "TCP", Port: port, TargetPort: target, NodePort: nodePort}
}

var webPort = []topology.ContainerPort{{Name: "web", Port: 8080, Protocol: "TCP"}}

// servicesWorld is the default world plus Services that cover kube-proxy's
// cases: a second namespace, a named target port, several ports, 1, 2, 5
// and 10 endpoints whose addresses sort differently as strings and as
// numbers (.10 before .9), no endpoints, session affinity and
// externalTrafficPolicy Local.
func servicesWorld(t *testing.T) *topology.World {
	w := buildWorld(t, nil)

	one := clusterIPService("shop", "one", "10.100.50.1", tcpPort("", 80, "8080", 0))
	addPods(t, w, "shop", "one", webPort, "192.168.2.20")

	two := clusterIPService("shop", "two", "10.100.50.2", tcpPort("http", 80, "web", 0))
	two.Type = "NodePort"
	two.Ports[0].NodePort = 30080
	addPods(t, w, "shop", "two", webPort, "192.168.1.10", "192.168.1.9")

	five := clusterIPService("shop", "five", "10.100.50.3", tcpPort("", 80, "8080", 0))
	addPods(t, w, "shop", "five", webPort, "192.168.1.11", "192.168.2.9", "192.168.2.10", "192.168.3.100", "192.168.3.21")

	ten := clusterIPService("shop", "ten", "10.100.50.4", tcpPort("", 80, "8080", 31000))
	ten.Type = "LoadBalancer"
	ten.ExternalTrafficPolicy = topology.PolicyLocal
	ten.HealthCheckNodePort = 31999
	addPods(t, w, "shop", "ten", webPort, "192.168.1.21", "192.168.1.9", "192.168.1.101",
		"192.168.2.5", "192.168.2.50", "192.168.2.7", "192.168.3.8", "192.168.3.80", "192.168.3.99", "192.168.1.12")

	empty := clusterIPService("shop", "empty", "10.100.50.5", tcpPort("", 80, "8080", 30999))
	empty.Type = "NodePort"

	sticky := clusterIPService("shop", "sticky", "10.100.50.6", tcpPort("", 80, "8080", 0))
	sticky.SessionAffinity = "ClientIP"
	sticky.AffinityTimeout = 600
	addPods(t, w, "shop", "sticky", webPort, "192.168.1.31", "192.168.3.31")

	multi := clusterIPService("default", "multi", "10.100.50.7", tcpPort("https", 443, "8443", 0), tcpPort("http", 80, "8080", 0))
	multi.SessionAffinity = "ClientIP" // default timeout
	addPods(t, w, "default", "multi", []topology.ContainerPort{{Port: 8080, Protocol: "TCP"}, {Port: 8443, Protocol: "TCP"}}, "192.168.2.31")

	w.Services = append(w.Services, one, two, five, ten, empty, sticky, multi)
	return w
}
