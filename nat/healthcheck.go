package nat

import (
	"fmt"
	"net/http"
	"net/netip"

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
