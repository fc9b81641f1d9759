package diff

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/nlbsim/nlbsim/kubectl"
	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// slicesOf are the EndpointSlices the endpoint slice controller would keep
// for a world's Services (nlbsim's get shows Endpoints, not slices): one per
// Service, with every endpoint's conditions and node.
func slicesOf(w *topology.World) []discoveryv1.EndpointSlice {
	var out []discoveryv1.EndpointSlice
	for _, s := range w.Services {
		sl := discoveryv1.EndpointSlice{
			TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  metav1.ObjectMeta{Name: s.Name + "-abcde", Namespace: s.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: s.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		byIP := map[string]int{}
		for _, p := range s.Ports {
			eps := w.Endpoints(s, p)
			if len(eps) == 0 {
				continue
			}
			name, proto, port := p.Name, corev1.Protocol(p.Protocol), int32(eps[0].Port)
			sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port})
			for _, e := range eps {
				if _, ok := byIP[e.IP.String()]; ok {
					continue
				}
				ready, serving, terminating := e.Ready, e.Serving, e.Terminating
				ep := discoveryv1.Endpoint{Addresses: []string{e.IP.String()},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}}
				if n, ok := w.Node(e.Node); ok {
					ep.NodeName = &n.NodeName
				}
				byIP[e.IP.String()] = len(sl.Endpoints)
				sl.Endpoints = append(sl.Endpoints, ep)
			}
		}
		out = append(out, sl)
	}
	return out
}

// nlbsim's own world, shown as kubectl shows it (nodes, Services and pods
// from nlbsim's kubectl package, slices as the controller would keep them),
// read back by topology/cluster: each node's rules, as nlbsim writes them on
// its running nodes, agree with those objects.
func TestNlbsimsOwnWorldRoundTrips(t *testing.T) {
	for _, spec := range []topology.Spec{topology.DefaultSpec(), func() topology.Spec {
		s := topology.DefaultSpec()
		s.Mode, s.ExternalTrafficPolicy, s.Nodes, s.Replicas = topology.TargetInstance, topology.PolicyLocal, 4, 5
		return s
	}()} {
		w, err := topology.Build(spec)
		require.NoError(t, err)
		objs := kubectl.Convert(w)
		var items []runtime.Object
		for i := range objs.Nodes {
			items = append(items, &objs.Nodes[i])
		}
		for i := range objs.Services {
			items = append(items, &objs.Services[i])
		}
		for _, sl := range slicesOf(w) {
			sl := sl
			items = append(items, &sl)
		}
		for i := range objs.Pods {
			items = append(items, &objs.Pods[i])
		}
		text, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
		require.NoError(t, err)
		c, err := cluster.Read(w.Cluster.Name, []topology.Manifest{{Name: "get.yaml", Data: string(text)}})
		require.NoError(t, err)
		assert.Empty(t, c.Warnings)
		for _, n := range w.Nodes {
			rs, err := nat.KubeProxy(w, n.Name)
			require.NoError(t, err)
			d, err := ruleset.Parse(strings.NewReader(rs.RestoreText()))
			require.NoError(t, err)
			host := "" // the reader numbers nodes in name order, as kubectl lists them
			for _, m := range c.World.Nodes {
				if m.NodeName == n.NodeName {
					host = m.Name
				}
			}
			r, err := Compare(c.World, host, d)
			require.NoError(t, err)
			assert.True(t, r.Agree, "%s: %s", n.Name, dump(t, r))
		}
	}
}
