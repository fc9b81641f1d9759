package nftables

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/kubernetes/pkg/proxy/conntrack"
	"k8s.io/kubernetes/pkg/proxy/healthcheck"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	proxyutiltest "k8s.io/kubernetes/pkg/proxy/util/testing"
	"sigs.k8s.io/knftables"
)

// TestWriteUpstreamFixture writes the nftables twin of the explainer's
// upstream fixture (nat/explain/testdata/upstream-services.rules: kube-proxy's
// upstream test services on node 192.168.0.2, pod CIDR 10.0.0.0/8 with
// detect-local, ClusterIPs in 172.30.0.0/16) as upstream v1.33.13's
// nftables proxier writes it, listed by the kernel's nft: run with
// NLBSIM_NFT_FIXTURE_OUT=FILE.
func TestWriteUpstreamFixture(t *testing.T) {
	out := os.Getenv("NLBSIM_NFT_FIXTURE_OUT")
	if out == "" {
		t.Skip("NLBSIM_NFT_FIXTURE_OUT not set")
	}
	const node = "192.168.0.2"
	p, err := nftables.NewProxier(context.Background(), v1.IPv4Protocol, defaultSyncPeriod, 0, false, masqueradeBit,
		proxyutil.NewDetectLocalByCIDR("10.0.0.0/8"), "node1", net.ParseIP(node), &events.FakeRecorder{}, nil,
		[]string{node + "/32"}, false)
	if err != nil {
		t.Fatal(err)
	}
	nft := &recordingNFT{Fake: knftables.NewFake(knftables.IPv4Family, "kube-proxy")}
	network := proxyutiltest.NewFakeNetwork()
	network.AddInterfaceAddr(&net.Interface{Index: 1, Name: "eth0"}, []net.Addr{&net.IPNet{IP: net.ParseIP(node), Mask: net.CIDRMask(24, 32)}})
	for name, v := range map[string]any{
		"nftables": knftables.Interface(nft), "networkInterfacer": proxyutil.NetworkInterfacer(network),
		"conntrack": conntrack.Interface(conntrack.NewFake()), "serviceHealthServer": healthcheck.NewFakeServiceHealthServer(),
	} {
		if err := setUnexported(p, name, v); err != nil {
			t.Fatal(err)
		}
	}
	p.OnServiceCIDRsChanged([]string{"172.30.0.0/16"})
	type ep struct {
		ip    string
		local bool
	}
	add := func(ns, name, typ, cip string, nodePort int32, extIP, lbIP string, local bool, hc int32, ranges []string, affinity bool, eps ...ep) {
		svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{
			Type: v1.ServiceType(typ), ClusterIP: cip, ClusterIPs: []string{cip}, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Ports:                    []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80), NodePort: nodePort}},
			LoadBalancerSourceRanges: ranges, HealthCheckNodePort: hc,
		}}
		if extIP != "" {
			svc.Spec.ExternalIPs = []string{extIP}
		}
		if lbIP != "" {
			svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: lbIP}}
		}
		if typ != "ClusterIP" {
			svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
			if local {
				svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			}
		}
		if affinity {
			svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			timeout := int32(10800)
			svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &timeout}}
		}
		p.OnServiceAdd(svc)
		if len(eps) == 0 {
			return
		}
		port, pname, proto := int32(80), "p80", v1.ProtocolTCP
		es := &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discovery.LabelServiceName: name}},
			AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
		for _, e := range eps {
			nodeName := "node2"
			if e.local {
				nodeName = "node1"
			}
			ready := true
			es.Endpoints = append(es.Endpoints, discovery.Endpoint{Addresses: []string{e.ip}, NodeName: &nodeName, Conditions: discovery.EndpointConditions{Ready: &ready}})
		}
		p.OnEndpointSliceAdd(es)
	}
	add("ns1", "svc1", "ClusterIP", "172.30.0.41", 0, "", "", false, 0, nil, false, ep{"10.180.0.1", false})
	add("ns2", "svc2", "LoadBalancer", "172.30.0.42", 3001, "192.168.99.22", "1.2.3.4", true, 30000, nil, false, ep{"10.180.0.2", false})
	add("ns3", "svc3", "NodePort", "172.30.0.43", 3003, "", "", false, 0, nil, false, ep{"10.180.0.3", false})
	add("ns4", "svc4", "NodePort", "172.30.0.44", 3004, "192.168.99.33", "", false, 0, nil, false, ep{"10.180.0.4", false}, ep{"10.180.0.5", false})
	add("ns5", "svc5", "LoadBalancer", "172.30.0.45", 3002, "", "5.6.7.8", false, 0, []string{"203.0.113.0/25"}, true, ep{"10.180.0.3", false})
	add("ns6", "svc6", "NodePort", "172.30.0.46", 3006, "", "", false, 0, nil, false)
	add("ns7", "svc7", "LoadBalancer", "172.30.0.47", 3007, "", "9.10.11.12", true, 30007, nil, false, ep{"10.180.0.7", true}, ep{"10.180.1.7", false})
	p.OnNodeAdd(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}})
	p.OnServiceSynced()
	p.OnEndpointSlicesSynced()

	// The kernel's listing of what upstream wrote (this test runs in a
	// network namespace of its own).
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nft.Dump())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, b)
	}
	listed, err := exec.Command("nft", "list", "table", "ip", "kube-proxy").Output()
	if err != nil {
		t.Fatal(err)
	}
	header := "# kube-proxy v1.33.13's nftables proxier on the explainer's upstream fixture\n" +
		"# (see upstream-services.rules), as nft 1.0.6 lists it; written by\n" +
		"# conformance/nftables TestWriteUpstreamFixture.\n"
	if err := os.WriteFile(out, []byte(header+string(listed)), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "wrote", out)
}
