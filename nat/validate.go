package nat

import (
	"fmt"
	"strconv"

	"github.com/nlbsim/nlbsim/topology"
)

// ValidateService refuses a Service kube-proxy could not program: a port or
// numeric targetPort outside 1–65535, a nodePort or healthCheckNodePort
// outside the node port range, an unknown protocol. A Service whose
// selector matches no pod is valid: it gets REJECT rules. A Service read
// from a real cluster (FromSlices) has passed that cluster's API server,
// whose --service-node-port-range the objects do not say, and kube-proxy
// programs any port: its node ports need only be ports.
func ValidateService(svc topology.Service) error {
	where := func(field string) string { return fmt.Sprintf("service %s: %s", svc.Key(), field) }
	nodePortMin, nodePortMax := topology.NodePortMin, topology.NodePortMax
	if svc.FromSlices {
		nodePortMin, nodePortMax = 1, 65535
	}
	for i, p := range svc.Ports {
		field := func(f string) string { return where(fmt.Sprintf("spec.ports[%d].%s", i, f)) }
		switch p.Protocol {
		case "TCP", "UDP", "SCTP":
		default:
			return fmt.Errorf("%s: unknown protocol %q (valid: TCP, UDP, SCTP)", field("protocol"), p.Protocol)
		}
		if p.Port < 1 || p.Port > 65535 {
			return fmt.Errorf("%s: %d is out of range (1–65535)", field("port"), p.Port)
		}
		if n, err := strconv.Atoi(p.TargetPort); err == nil && (n < 1 || n > 65535) {
			return fmt.Errorf("%s: %d is out of range (1–65535)", field("targetPort"), n)
		}
		if p.NodePort != 0 && (p.NodePort < nodePortMin || p.NodePort > nodePortMax) {
			return fmt.Errorf("%s: %d is outside the node port range %d–%d", field("nodePort"), p.NodePort, nodePortMin, nodePortMax)
		}
	}
	if hc := svc.HealthCheckNodePort; hc != 0 && (hc < nodePortMin || hc > nodePortMax) {
		return fmt.Errorf("%s: %d is outside the node port range %d–%d", where("spec.healthCheckNodePort"), hc, nodePortMin, nodePortMax)
	}
	return nil
}
