package nat

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/nlbsim/nlbsim/topology"
)

// HealthCheckNodePortResponse is what kube-proxy's health server on a
// Service's healthCheckNodePort answers, on any path: 200 when the node has
// local endpoints and the proxy is healthy, 503 otherwise, with a
// tab-indented JSON body and no trailing newline. Serve it with
// Content-Type application/json and X-Content-Type-Options nosniff.
func HealthCheckNodePortResponse(ns, name string, localEndpoints int, healthy bool) (status int, body string) {
	status = http.StatusServiceUnavailable
	if localEndpoints != 0 && healthy {
		status = http.StatusOK
	}
	body = fmt.Sprintf("{\n\t\"service\": {\n\t\t\"namespace\": %q,\n\t\t\"name\": %q\n\t},\n\t\"localEndpoints\": %d,\n\t\"serviceProxyHealthy\": %v\n}",
		ns, name, localEndpoints, healthy)
	return status, body
}

// ServeHealthCheckNodePort writes kube-proxy's whole answer on a Service's
// healthCheckNodePort: the headers upstream sets (Content-Type,
// X-Content-Type-Options and X-Load-Balancing-Endpoint-Weight, the local
// endpoint count), the status and the body of HealthCheckNodePortResponse
// (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/healthcheck/service_health.go).
func ServeHealthCheckNodePort(rw http.ResponseWriter, ns, name string, localEndpoints int, healthy bool) {
	status, body := HealthCheckNodePortResponse(ns, name, localEndpoints, healthy)
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(localEndpoints))
	rw.WriteHeader(status)
	fmt.Fprint(rw, body)
}

// LocalReadyEndpoints counts the distinct IPs of a Service's Ready
// endpoints on a node, across all its ports.
func LocalReadyEndpoints(w *topology.World, svc topology.Service, nodeHost string) int {
	ips := map[netip.Addr]bool{}
	for _, p := range svc.Ports {
		for _, ep := range w.Endpoints(svc, p) {
			if ep.Ready && ep.Node == nodeHost {
				ips[ep.IP] = true
			}
		}
	}
	return len(ips)
}
