package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

const (
	ipManifest       = "../topology/testdata/nlb_ip_mode.yaml"
	instanceManifest = "../topology/testdata/nlb_instance_mode.yaml"
)

// The walkthrough, replayed with its manifests: up -f the ip manifest,
// apply the instance manifest, and the NLB's targets become the nodes while
// the pods stay; a request through the NLB then shows a node as its peer.
func TestApplyInstanceManifestSwitchesInPlace(t *testing.T) {
	c := simtest.Up(t, simtest.Manifests(ipManifest))
	name := c.World.Cluster.Name
	targets, err := sim.LoadTargets(name)
	require.NoError(t, err)
	require.NotEmpty(t, targets)
	for _, tg := range targets {
		assert.Equal(t, 7777, tg.Port, "ip targets are pods on the targetPort")
	}

	ms, err := topology.ReadManifests([]string{instanceManifest})
	require.NoError(t, err)
	spec, err := topology.ApplyManifests(c.World.Spec, ms)
	require.NoError(t, err)
	c2, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	require.NoError(t, err)
	assert.True(t, c2.Changed)
	assert.Equal(t, c.World.Pods, c2.World.Pods, "the pods stay")
	require.Len(t, c2.World.LoadBalancers, 1)
	assert.Equal(t, topology.TargetInstance, c2.World.LoadBalancers[0].TargetType)

	targets, err = sim.LoadTargets(name)
	require.NoError(t, err)
	nodeIPs := map[string]bool{}
	for _, n := range c2.World.Nodes {
		nodeIPs[n.IP.String()] = true
	}
	require.Len(t, targets, len(c2.World.Nodes))
	for _, tg := range targets {
		assert.Equal(t, topology.AppNodePort, tg.Port, "instance targets are nodes on the NodePort")
		assert.True(t, nodeIPs[tg.IP.String()], "%s is a node", tg.IP)
		assert.True(t, strings.HasPrefix(tg.ID, "i-"), tg.ID)
	}
	r, err := c.Get(context.Background(), "bastion", "http://192.168.2.149:7777/")
	require.NoError(t, err)
	peer, _, _ := strings.Cut(r.Peer, ":")
	assert.True(t, nodeIPs[peer], "the node hop masquerades: the pod sees a node, not %s", r.Peer)

	// A Deployment change needs new pods: refused, nothing changes.
	more := spec
	more.Manifests = append([]topology.Manifest(nil), spec.Manifests...)
	more.Manifests[0].Data = strings.Replace(more.Manifests[0].Data, "replicas: 3", "replicas: 4", 1)
	_, err = sim.Up(context.Background(), more, sim.Options{InProcess: true})
	var invalid *topology.InvalidError
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, err.Error(), "would go from 3 to 4 replicas")
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)
	assert.Equal(t, spec.Manifests, w.Spec.Manifests)
}

// Two LoadBalancer Services in two namespaces get two NLBs, each with its
// own nodes, answering through its own addresses.
func TestTwoNLBsFromManifests(t *testing.T) {
	app := func(ns string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 3 # one pod per AZ: cross-zone is off
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example/web:1
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: %[1]s
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`, ns)
	}
	ms := []topology.Manifest{
		{Name: "ns.yaml", Data: "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"},
		{Name: "default.yaml", Data: app("default")},
		{Name: "shop.yaml", Data: app("shop")},
	}
	c := simtest.Up(t, func(s *topology.Spec) { s.Mode, s.ExternalTrafficPolicy, s.Manifests = "", "", ms })
	require.Len(t, c.World.LoadBalancers, 2)
	for _, lb := range c.World.LoadBalancers {
		ns, _, _ := strings.Cut(lb.Service, "/")
		for _, n := range lb.Nodes {
			r, err := c.Get(context.Background(), "bastion", fmt.Sprintf("http://%s:80/", n.IP))
			require.NoError(t, err, "%s via %s (%s)", lb.Service, n.Name, n.IP)
			assert.Equal(t, ns, r.Namespace, "%s via %s", lb.Service, n.Name)
		}
	}
}
