package nat

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nlbsim/nlbsim/kubectl"
	"github.com/nlbsim/nlbsim/topology"
)

// This file is nlbsim's half of the conformance suite in conformance/: it
// writes worlds as Kubernetes objects together with the iptables-restore
// input nlbsim generates for them; the conformance module (its own Go
// module, so that this one never depends on k8s.io/kubernetes) feeds the same
// objects to upstream kube-proxy's iptables proxier and compares. It runs
// only when NLBSIM_CONFORMANCE_OUT names a directory.
//
//	NLBSIM_CONFORMANCE_OUT=DIR        where the worlds go, one JSON file each
//	NLBSIM_CONFORMANCE_SEED=N         first seed of the random worlds (default: from the clock, printed)
//	NLBSIM_CONFORMANCE_RANDOM=N       how many random worlds (default 200); seeds N, N+1, …

// conformanceWorld is one world on one node and the syncs it goes through.
// Its JSON shape is read by conformance/world.go.
type conformanceWorld struct {
	Name     string `json:"name"`
	Seed     int64  `json:"seed,omitempty"` // random worlds: reproduce with NLBSIM_CONFORMANCE_SEED=seed NLBSIM_CONFORMANCE_RANDOM=1
	Host     string `json:"host"`           // the node as nlbsim names it: node-1
	NodeName string `json:"nodeName"`
	NodeIP   string `json:"nodeIP"`
	// Node is the node the rules are for; its labels reach kube-proxy.
	Node corev1.Node `json:"node"`
	// SyncPeriod is kube-proxy's syncPeriod (default 30 s): in large-cluster
	// mode, stale chains are deleted at most once per syncPeriod.
	SyncPeriod time.Duration `json:"syncPeriod"`
	// Builtin lists kube-proxy's and kubelet's rules in the built-in chains
	// ("table -A CHAIN …"), in their order on the node: kube-proxy ensures
	// them one by one at its first sync, after kubelet made its own.
	Builtin []string          `json:"builtin"`
	Steps   []conformanceStep `json:"steps"`
	// ServiceCIDR is the cluster's ServiceCIDR object, which kube-proxy
	// v1.33 watches (its nftables mode drops traffic to unallocated
	// ClusterIPs in it).
	ServiceCIDR string `json:"serviceCIDR"`

	worlds []*topology.World // one per step
}

// conformanceStep is the world at one sync: the first is a full sync, the
// others partial ones after the changes from the step before.
type conformanceStep struct {
	Note string `json:"note,omitempty"`
	// Wait is how long after the sync before this one this one runs.
	Wait           time.Duration               `json:"wait,omitempty"`
	Services       []corev1.Service            `json:"services"`
	EndpointSlices []discoveryv1.EndpointSlice `json:"endpointSlices"`
	// Restore is nlbsim's iptables-restore input for this sync.
	Restore string `json:"restore"`
	// Health is what nlbsim's health-check node port server answers after
	// this sync, for each Service that has one.
	Health []conformanceHealth `json:"health,omitempty"`
	// NFT is nlbsim's nftables-mode sync (kube-proxy v1.33): the nft -f
	// transactions it sent, in order, and the table after them in
	// knftables' fake dump form. conformance/nftables compares them.
	NFT     []string `json:"nft"`
	NFTDump string   `json:"nftDump"`
}

// conformanceHealth is one answer of the health-check node port server.
type conformanceHealth struct {
	Service string            `json:"service"` // namespace/name
	Port    int               `json:"port"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// healthAnswers is what ServeHealthCheckNodePort answers on the node for
// every Service with a health-check node port.
func healthAnswers(w *topology.World, host string) []conformanceHealth {
	var out []conformanceHealth
	for _, svc := range w.Services {
		port := healthCheckNodePort(svc)
		if port == 0 || !svc.ClusterIP.IsValid() {
			continue
		}
		rec := httptest.NewRecorder()
		ServeHealthCheckNodePort(rec, svc.Namespace, svc.Name, LocalReadyEndpoints(w, svc, host), true)
		h := map[string]string{}
		for _, k := range []string{"Content-Type", "X-Content-Type-Options", "X-Load-Balancing-Endpoint-Weight"} {
			h[k] = rec.Header().Get(k)
		}
		out = append(out, conformanceHealth{Service: svc.Key(), Port: port, Status: rec.Code, Headers: h, Body: rec.Body.String()})
	}
	return out
}

func TestWriteConformanceWorlds(t *testing.T) {
	out := os.Getenv("NLBSIM_CONFORMANCE_OUT")
	if out == "" {
		t.Skip("NLBSIM_CONFORMANCE_OUT not set: the conformance suite (conformance/) runs this")
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	var worlds []conformanceWorld
	add := func(name, node string, steps ...*topology.World) {
		worlds = append(worlds, conformanceWorldOf(t, name, node, 0, steps...))
	}
	// A large-cluster sequence with a short syncPeriod and a pause longer
	// than it before the last sync, which deletes the chains left behind.
	large := conformanceWorldOf(t, "sequence-large-cleanup", "node-1", 0, syncSequenceLarge(t)...)
	large = retime(t, large, "node-1", 4*time.Second, 0, 0, 4500*time.Millisecond)
	worlds = append(worlds, large)

	def := buildWorld(t, nil)
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		add("default", n, def)
		add("services", n, servicesWorld(t))
	}
	add("minimal", "node-1", buildWorld(t, func(s *topology.Spec) { s.Minimal = true }))
	add("local", "node-1", localWorld(t)) // a local endpoint
	add("local", "node-4", localWorld(t)) // none
	for _, c := range conditionWorlds(t) {
		for _, n := range []string{"node-1", "node-2"} {
			add("conditions-"+c.name, n, c.world)
		}
	}
	add("large", "node-1", largeWorld(t))
	add("sequence-large", "node-1", syncSequenceLarge(t)...)
	for _, n := range []string{"node-1", "node-2"} {
		add("sequence", n, syncSequence(t)...)
		add("sequence-local", n, syncSequenceLocal(t)...)
	}

	seed, count := int64(0), 200
	if s := os.Getenv("NLBSIM_CONFORMANCE_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "NLBSIM_CONFORMANCE_SEED")
		require.Positive(t, seed, "NLBSIM_CONFORMANCE_SEED: seed 0 marks a fixed world")
	} else {
		seed = int64(os.Getpid())*1000 + int64(len(out))
	}
	if s := os.Getenv("NLBSIM_CONFORMANCE_RANDOM"); s != "" {
		var err error
		count, err = strconv.Atoi(s)
		require.NoError(t, err, "NLBSIM_CONFORMANCE_RANDOM")
	}
	t.Logf("random worlds: seeds %d to %d", seed, seed+int64(count)-1)
	for i := 0; i < count; i++ {
		s := seed + int64(i)
		steps, node := randomWorld(t, s)
		worlds = append(worlds, conformanceWorldOf(t, "random", node, s, steps...))
	}

	for i, cw := range worlds {
		data, err := json.Marshal(cw)
		require.NoError(t, err)
		file := fmt.Sprintf("%04d-%s-%s.json", i, cw.Name, cw.Host)
		if cw.Seed != 0 {
			file = fmt.Sprintf("%04d-random-%d-%s.json", i, cw.Seed, cw.Host)
		}
		require.NoError(t, os.WriteFile(filepath.Join(out, file), data, 0o644))
	}
}

// conformanceWorldOf turns a node's worlds, one per sync, into a
// conformanceWorld with nlbsim's restore input for each sync: full for the
// first, partial for the others.
func conformanceWorldOf(t *testing.T, name, nodeHost string, seed int64, steps ...*topology.World) conformanceWorld {
	t.Helper()
	first := steps[0]
	node, ok := first.Node(nodeHost)
	require.True(t, ok, "no node %s", nodeHost)
	cw := conformanceWorld{Name: name, Seed: seed, Host: nodeHost, NodeName: node.NodeName, NodeIP: node.IP.String(),
		Node: kubectl.Node(first, node), SyncPeriod: 30 * time.Second}
	cw.worlds = steps
	syncAll(t, &cw)
	rs, err := KubeProxy(first, nodeHost)
	require.NoError(t, err)
	builtin := map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}
	for _, r := range rs.Rules {
		if builtin[r.Chain] && (r.Owner == OwnerKubeProxy || r.Owner == OwnerKubelet) && (r.Table == TableFilter || r.Table == TableNAT) {
			cw.Builtin = append(cw.Builtin, r.Table+" "+r.String())
		}
	}
	for i, w := range steps {
		step := &cw.Steps[i]
		step.Health = healthAnswers(w, nodeHost)
		for _, svc := range w.Services {
			step.Services = append(step.Services, kubectl.Service(w, svc))
			step.EndpointSlices = append(step.EndpointSlices, endpointSlicesOf(w, svc)...)
		}
	}
	return cw
}

// syncAll fills in nlbsim's restore input of every sync: full for the
// first, partial for the others, timed by the steps' waits against the
// world's syncPeriod.
func syncAll(t *testing.T, cw *conformanceWorld) {
	t.Helper()
	if len(cw.Steps) < len(cw.worlds) {
		cw.Steps = make([]conformanceStep, len(cw.worlds))
	}
	var prev *Ruleset
	nft := NewNFTProxier(cw.Host)
	nft.KeepDump()
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	for i, w := range cw.worlds {
		rs, err := KubeProxy(w, cw.Host)
		require.NoError(t, err, "%s on %s", cw.Name, cw.Host)
		now = now.Add(time.Millisecond + cw.Steps[i].Wait)
		cw.Steps[i].Restore = rs.SyncText(prev, SyncOptions{Full: prev == nil, Now: now, SyncPeriod: cw.SyncPeriod})
		prev = rs
		s, err := nft.Sync(w, NFTSyncOptions{Now: now}, nil)
		require.NoError(t, err, "%s on %s (nftables)", cw.Name, cw.Host)
		cw.Steps[i].NFT, cw.Steps[i].NFTDump = s.Transactions, nft.Dump()
		cw.ServiceCIDR = w.Cluster.ServiceCIDR.String()
	}
}

// retime gives a world another syncPeriod and waits before its syncs, and
// makes nlbsim's restore input again.
func retime(t *testing.T, cw conformanceWorld, node string, syncPeriod time.Duration, waits ...time.Duration) conformanceWorld {
	cw.SyncPeriod = syncPeriod
	for i := range cw.Steps {
		if i < len(waits) {
			cw.Steps[i].Wait = waits[i]
		}
	}
	syncAll(t, &cw)
	return cw
}

// endpointSlicesOf is what the EndpointSlice controller writes for a
// Service: one slice per set of ports its endpoints resolve, each endpoint
// with its conditions and node.
func endpointSlicesOf(w *topology.World, svc topology.Service) []discoveryv1.EndpointSlice {
	if svc.Selector == nil && len(svc.ManualEndpoints) == 0 {
		return nil
	}
	type member struct {
		ep    topology.Endpoint
		ports []discoveryv1.EndpointPort
	}
	members := map[string]*member{} // by address
	var order []string
	for _, p := range svc.Ports {
		for _, ep := range w.Endpoints(svc, p) {
			key := ep.IP.String()
			m := members[key]
			if m == nil {
				m = &member{ep: ep}
				members[key] = m
				order = append(order, key)
			}
			name, proto, port := p.Name, corev1.Protocol(p.Protocol), int32(ep.Port)
			m.ports = append(m.ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port})
		}
	}
	sort.Strings(order)
	slices := map[string]*discoveryv1.EndpointSlice{}
	var names []string
	for _, key := range order {
		m := members[key]
		sig := ""
		for _, p := range m.ports {
			sig += fmt.Sprintf("%s/%s/%d;", *p.Name, *p.Protocol, *p.Port)
		}
		sum := sha256.Sum256([]byte(sig))
		name := fmt.Sprintf("%s-%x", svc.Name, sum[:3])
		es := slices[name]
		if es == nil {
			es = &discoveryv1.EndpointSlice{
				TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: svc.Namespace,
					Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       m.ports,
			}
			slices[name] = es
			names = append(names, name)
		}
		ready, serving, terminating := m.ep.Ready, m.ep.Serving, m.ep.Terminating
		e := discoveryv1.Endpoint{
			Addresses:  []string{m.ep.IP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		}
		if n, ok := w.Node(m.ep.Node); ok && m.ep.Node != "" {
			nodeName, zone := n.NodeName, n.AZ
			e.NodeName, e.Zone = &nodeName, &zone
		}
		if m.ep.Pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: svc.Namespace, Name: m.ep.Pod}
		}
		es.Endpoints = append(es.Endpoints, e)
	}
	var out []discoveryv1.EndpointSlice
	for _, n := range names {
		out = append(out, *slices[n])
	}
	return out
}

// podState sets the pods with the given addresses Ready, NotReady, serving
// while terminating, or terminating and no longer serving.
type podState int

const (
	stateReady podState = iota
	stateNotReady
	stateServingTerminating
	stateTerminating
)

func setPodState(p *topology.Pod, s podState) {
	p.NotReady = s == stateNotReady || s == stateTerminating
	p.Terminating = s == stateServingTerminating || s == stateTerminating
}

func setPods(w *topology.World, s podState, addrs ...string) {
	for i := range w.Pods {
		for _, a := range addrs {
			if w.Pods[i].IP.String() == a {
				setPodState(&w.Pods[i], s)
			}
		}
	}
}

func copyWorld(w *topology.World) *topology.World {
	c := *w
	c.Pods = append([]topology.Pod(nil), w.Pods...)
	c.Services = append([]topology.Service(nil), w.Services...)
	return &c
}

type namedWorld struct {
	name  string
	world *topology.World
}

// conditionWorlds: the walkthrough's Service with each policy and its pods
// (192.168.1.248 on node-1, 192.168.2.206 on node-2, 192.168.3.111 on
// node-3) in every mix of endpoint conditions that matters.
func conditionWorlds(t *testing.T) []namedWorld {
	var out []namedWorld
	for _, policy := range []topology.TrafficPolicy{topology.PolicyCluster, topology.PolicyLocal} {
		for _, c := range []struct {
			name   string
			states [3]podState
		}{
			{"notready-alone", [3]podState{stateNotReady, stateNotReady, stateNotReady}},
			{"serving-terminating-alone", [3]podState{stateServingTerminating, stateServingTerminating, stateServingTerminating}},
			{"terminating-alone", [3]podState{stateTerminating, stateTerminating, stateTerminating}},
			{"local-serving-terminating", [3]podState{stateServingTerminating, stateReady, stateReady}},
			{"local-terminating", [3]podState{stateTerminating, stateReady, stateReady}},
			{"local-notready", [3]podState{stateNotReady, stateReady, stateServingTerminating}},
			{"mixed", [3]podState{stateServingTerminating, stateNotReady, stateTerminating}},
			{"mixed-ready", [3]podState{stateReady, stateServingTerminating, stateTerminating}},
		} {
			w := buildWorld(t, func(s *topology.Spec) { s.ExternalTrafficPolicy = policy })
			for i, a := range []string{"192.168.1.248", "192.168.2.206", "192.168.3.111"} {
				setPods(w, c.states[i], a)
			}
			out = append(out, namedWorld{strings.ToLower(string(policy)) + "-" + c.name, w})
		}
	}
	return out
}

// largeWorld has more than 1000 endpoints (four ports × 260 pods), which
// drops the per-endpoint comments.
func largeWorld(t *testing.T) *topology.World {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	var addrs []string
	for i := 0; len(addrs) < 260; i++ {
		a := fmt.Sprintf("192.168.%d.%d", 1+i%3, 4+i/3)
		if !usedAddress(w, a) {
			addrs = append(addrs, a)
		}
	}
	ports := []topology.ContainerPort{{Name: "a", Port: 8001, Protocol: "TCP"}, {Name: "b", Port: 8002, Protocol: "TCP"}}
	addPods(t, w, "big", "big", ports, addrs...)
	big := clusterIPService("big", "big", "10.100.60.1", tcpPort("a", 80, "8001", 0), tcpPort("b", 81, "8002", 0),
		tcpPort("c", 82, "a", 0), tcpPort("d", 83, "b", 31500))
	big.Type = "NodePort"
	w.Services = append(w.Services, big)
	return w
}

func usedAddress(w *topology.World, a string) bool {
	ip := netip.MustParseAddr(a)
	for _, n := range w.Nodes {
		if n.IP == ip {
			return true
		}
	}
	for _, p := range w.Pods {
		if p.IP == ip {
			return true
		}
	}
	for _, h := range w.ControlPlane {
		if h.IP == ip {
			return true
		}
	}
	for _, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			if n.IP == ip {
				return true
			}
		}
	}
	return w.Bastion.IP == ip
}

// syncSequence: a full sync of the default world, then partial syncs after
// a pod starts terminating, after it is gone, after another turns NotReady,
// after a new pod comes up, and after the Service is removed.
func syncSequence(t *testing.T) []*topology.World {
	w0 := buildWorld(t, nil)
	w1 := copyWorld(w0)
	setPods(w1, stateServingTerminating, "192.168.1.248")
	w2 := copyWorld(w1)
	w2.Pods = removePod(w2.Pods, "192.168.1.248")
	w3 := copyWorld(w2)
	setPods(w3, stateNotReady, "192.168.3.111")
	w4 := copyWorld(w3)
	addPods(t, w4, topology.AppNamespace, "nginx", webPort, "192.168.1.77")
	for _, p := range w0.Pods {
		if p.IP.String() == "192.168.2.206" {
			w4.Pods[len(w4.Pods)-1].Labels = p.Labels
			w4.Pods[len(w4.Pods)-1].Ports = p.Ports
		}
	}
	w5 := copyWorld(w4)
	w5.Pods = append([]topology.Pod(nil), w4.Pods...)
	w5.Services = nil
	for _, s := range w4.Services {
		if s.Name != topology.AppService {
			w5.Services = append(w5.Services, s)
		}
	}
	w6 := copyWorld(w5) // nothing changed
	return []*topology.World{w0, w1, w2, w3, w4, w5, w6}
}

// syncSequenceLocal: the walkthrough's Service with externalTrafficPolicy
// Local through a rolling replacement of node-1's pod, and an in-place
// change of the policy back to Cluster.
func syncSequenceLocal(t *testing.T) []*topology.World {
	w0 := buildWorld(t, func(s *topology.Spec) { s.ExternalTrafficPolicy = topology.PolicyLocal })
	w1 := copyWorld(w0)
	setPods(w1, stateServingTerminating, "192.168.1.248")
	w2 := copyWorld(w1)
	setPods(w2, stateTerminating, "192.168.1.248")
	w3 := copyWorld(w2)
	w3.Pods = removePod(w3.Pods, "192.168.1.248")
	w4 := copyWorld(w3)
	for i := range w4.Services {
		if w4.Services[i].Name == topology.AppService {
			w4.Services[i].ExternalTrafficPolicy = topology.PolicyCluster
			w4.Services[i].HealthCheckNodePort = 0
		}
	}
	return []*topology.World{w0, w1, w2, w3, w4}
}

// syncSequenceLarge: the large world (more than 1000 endpoints) losing
// pods and a Service in partial syncs.
func syncSequenceLarge(t *testing.T) []*topology.World {
	w0 := largeWorld(t)
	w1 := copyWorld(w0)
	w1.Pods = removePod(w1.Pods, w1.Pods[len(w1.Pods)-1].IP.String())
	w2 := copyWorld(w1)
	setPods(w2, stateServingTerminating, w2.Pods[len(w2.Pods)-1].IP.String())
	return []*topology.World{w0, w1, w2}
}

func removePod(pods []topology.Pod, addr string) []topology.Pod {
	var out []topology.Pod
	for _, p := range pods {
		if p.IP.String() != addr {
			out = append(out, p)
		}
	}
	return out
}

// randomWorld builds, from one seed, a world of 3–5 nodes with random
// Services (type, policy, affinity, named and several ports, numeric and
// named target ports) and pods in random conditions, and the changes of a
// few syncs after it; and picks the node to compare.
func randomWorld(t *testing.T, seed int64) ([]*topology.World, string) {
	r := rand.New(rand.NewSource(seed))
	nodes := 3 + r.Intn(3)
	w := buildWorld(t, func(s *topology.Spec) {
		s.Nodes = nodes
		s.Minimal = r.Intn(4) == 0
	})
	next := 0
	freeAddress := func(node topology.Node) netip.Addr {
		subnet, _ := w.SubnetOf(node.IP)
		for {
			next++
			a := subnet.CIDR.Addr().As4()
			a[3] = byte(4 + (next*7+r.Intn(5))%250)
			ip := netip.AddrFrom4(a)
			if !usedAddress(w, ip.String()) {
				return ip
			}
		}
	}
	states := []podState{stateReady, stateReady, stateReady, stateNotReady, stateServingTerminating, stateTerminating}
	nServices := 1 + r.Intn(5)
	usedNodePorts := map[int]bool{}
	nodePort := func() int {
		for {
			p := topology.NodePortMin + r.Intn(topology.NodePortMax-topology.NodePortMin)
			if !usedNodePorts[p] {
				usedNodePorts[p] = true
				return p
			}
		}
	}
	for i := 0; i < nServices; i++ {
		ns := []string{"default", "shop", "team-b"}[r.Intn(3)]
		name := fmt.Sprintf("svc%d", i)
		nPorts := 1 + r.Intn(3)
		var ports []topology.ServicePort
		var cports []topology.ContainerPort
		for j := 0; j < nPorts; j++ {
			pname := ""
			if nPorts > 1 || r.Intn(2) == 0 {
				pname = fmt.Sprintf("p%d", 80+j)
			}
			target := strconv.Itoa(8080 + j)
			if r.Intn(3) == 0 {
				target = fmt.Sprintf("web%d", j)
			}
			proto := "TCP"
			if r.Intn(6) == 0 {
				proto = "UDP" // ClusterIP only: nlbsim refuses UDP behind an NLB
			}
			cports = append(cports, topology.ContainerPort{Name: fmt.Sprintf("web%d", j), Port: 8080 + j, Protocol: proto})
			ports = append(ports, topology.ServicePort{Name: pname, Protocol: proto, Port: 80 + j, TargetPort: target})
		}
		hasUDP := false
		for _, p := range ports {
			hasUDP = hasUDP || p.Protocol == "UDP"
		}
		svc := clusterIPService(ns, name, fmt.Sprintf("10.100.%d.%d", 70+i, 1+r.Intn(250)), ports...)
		switch r.Intn(3) {
		case 1:
			svc.Type = "NodePort"
		case 2:
			svc.Type = "LoadBalancer"
		}
		if hasUDP {
			svc.Type = "ClusterIP"
		}
		if svc.Type != "ClusterIP" {
			for j := range svc.Ports {
				svc.Ports[j].NodePort = nodePort()
			}
			if r.Intn(2) == 0 {
				svc.ExternalTrafficPolicy = topology.PolicyLocal
				if svc.Type == "LoadBalancer" {
					svc.HealthCheckNodePort = nodePort()
				}
			} else {
				svc.ExternalTrafficPolicy = topology.PolicyCluster
			}
		}
		if r.Intn(4) == 0 {
			svc.SessionAffinity = "ClientIP"
			if r.Intn(2) == 0 {
				svc.AffinityTimeout = 1 + r.Intn(86400)
			}
		}
		w.Services = append(w.Services, svc)
		for k, n := 0, r.Intn(8); k < n; k++ {
			node := w.Nodes[r.Intn(len(w.Nodes))]
			podPorts := cports
			if len(cports) > 1 && r.Intn(5) == 0 {
				podPorts = cports[1:] // a pod without the first named port
			}
			p := topology.Pod{
				Name: fmt.Sprintf("%s-%d", name, k), Namespace: ns, Labels: map[string]string{"app": name},
				Node: node.Name, IP: freeAddress(node), Ports: podPorts, Containers: 1,
				Phase: topology.PhaseRunning, Serves: topology.ServesHTTP,
			}
			if r.Intn(10) == 0 {
				p.Phase, p.Node, p.IP = topology.PhasePending, "", netip.Addr{}
			}
			setPodState(&p, states[r.Intn(len(states))])
			w.Pods = append(w.Pods, p)
		}
	}
	steps := []*topology.World{w}
	for s := 0; s < 2; s++ {
		c := copyWorld(steps[len(steps)-1])
		// Now and then a Service changes in place, goes, or comes back.
		if len(c.Services) > 0 && r.Intn(3) == 0 {
			i := r.Intn(len(c.Services))
			svc := c.Services[i]
			svc.Ports = append([]topology.ServicePort(nil), svc.Ports...)
			switch r.Intn(4) {
			case 0:
				if svc.Type != "ClusterIP" {
					if svc.ExternalTrafficPolicy == topology.PolicyLocal {
						svc.ExternalTrafficPolicy, svc.HealthCheckNodePort = topology.PolicyCluster, 0
					} else {
						svc.ExternalTrafficPolicy = topology.PolicyLocal
						if svc.Type == "LoadBalancer" {
							svc.HealthCheckNodePort = nodePort()
						}
					}
				}
			case 1:
				if svc.SessionAffinity == "ClientIP" {
					svc.SessionAffinity, svc.AffinityTimeout = "None", 0
				} else {
					svc.SessionAffinity = "ClientIP"
				}
			case 2:
				// A new port number no other port of the Service has (the API
				// refuses two ports with one number and protocol).
				svc.Ports[0].Port += 100
			case 3:
				if !svc.Addon && svc.Name != topology.AppService {
					c.Services = append(c.Services[:i:i], c.Services[i+1:]...)
					steps = append(steps, c)
					continue
				}
			}
			c.Services[i] = svc
		}
		for k, n := 0, 1+r.Intn(3); k < n && len(c.Pods) > 0; k++ {
			i := r.Intn(len(c.Pods))
			if c.Pods[i].Namespace == "kube-system" || c.Pods[i].Owner != "" {
				continue
			}
			switch r.Intn(3) {
			case 0:
				c.Pods = append(c.Pods[:i:i], c.Pods[i+1:]...)
			default:
				setPodState(&c.Pods[i], states[r.Intn(len(states))])
			}
		}
		steps = append(steps, c)
	}
	return steps, w.Nodes[r.Intn(len(w.Nodes))].Name
}
