package topology

import "fmt"

// Bounds of a big world: the service CIDR (a /16) holds the ClusterIPs, and
// a node's ruleset of 50,000 Services × 10 endpoints is already far beyond
// what upstream's scale tests load on one node.
const (
	MaxBenchServices  = 50000
	MaxBenchEndpoints = 100
	// DefaultBenchEndpoints is each Service's endpoints when the spec
	// leaves it 0.
	DefaultBenchEndpoints = 10
	// BenchNamespace holds the Services of a big world; it sorts before
	// default, so the walkthrough's Service comes after them.
	BenchNamespace = "bench"
)

// addBenchServices adds spec.Services ClusterIP Services named
// bench/svc-00001…, each with port 80 (targetPort 8080) and
// spec.EndpointsPerService (or DefaultBenchEndpoints) endpoints given as data, addresses and
// ClusterIPs deterministic; and marks the walkthrough's Service (or the
// first LoadBalancer Service) as the probe that kube-proxy's KUBE-SERVICES
// lists last, where the first packet's walk is longest, as upstream's scale
// tests place their probe Service.
func (w *World) addBenchServices(spec Spec) {
	if spec.Services == 0 {
		return
	}
	perService := spec.EndpointsPerService
	if perService == 0 {
		perService = DefaultBenchEndpoints
	}
	used := w.usedClusterIPs()
	// The endpoints are VPC addresses outside every AZ subnet, which
	// nothing holds and the VPC router has no route to, so a packet to one
	// goes nowhere. kube-proxy writes the same rules whether an endpoint
	// exists or not.
	endpoints := w.unusedVPCBlock()
	size := 1 << (32 - endpoints.Bits())
	n := 0
	for i := range spec.Services {
		svc := Service{
			Name: fmt.Sprintf("svc-%05d", i+1), Namespace: BenchNamespace, Type: "ClusterIP",
			Ports:           []ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "8080"}},
			SessionAffinity: "None",
		}
		svc.ClusterIP = w.clusterIPFor(svc.Namespace+"/"+svc.Name, used)
		used[svc.ClusterIP] = true
		for range perService {
			a := addrAdd(endpoints.Addr(), uint32(1+n%(size-2))) // neither the range's first nor its last address
			n++
			svc.ManualEndpoints = append(svc.ManualEndpoints, a)
		}
		w.Services = append(w.Services, svc)
	}
	for _, s := range w.Services {
		if s.Type == "LoadBalancer" {
			w.ProbeService = s.Key()
			return
		}
	}
}
