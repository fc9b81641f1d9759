package topology

import (
	"net/netip"
	"strconv"
)

// TargetState is a target's health as DescribeTargetHealth reports it.
type TargetState string

const (
	TargetInitial   TargetState = "initial"
	TargetHealthy   TargetState = "healthy"
	TargetUnhealthy TargetState = "unhealthy"
	TargetDraining  TargetState = "draining"
	TargetUnused    TargetState = "unused"
)

// Target is one registration in an NLB's target group: a pod (ip targets)
// or a node (instance targets), with the port traffic goes to.
type Target struct {
	TargetGroup  string     `json:"targetGroup"`
	ListenerPort int        `json:"listenerPort"`
	ID           string     `json:"id"` // the pod IP, or the node's instance ID
	IP           netip.Addr `json:"ip"`
	Port         int        `json:"port"`
	AZ           string     `json:"az"`
	Host         string     `json:"host"` // the pod's or node's host name
	Node         string     `json:"node"` // the node's host name (the pod's node for ip targets)
}

// Addr is where traffic for the target goes.
func (t Target) Addr() netip.AddrPort { return netip.AddrPortFrom(t.IP, uint16(t.Port)) }

// TargetHealth is a target with its current health.
type TargetHealth struct {
	Target
	State       TargetState `json:"state"`
	Reason      string      `json:"reason,omitempty"`
	Description string      `json:"description,omitempty"`
}

// TargetGroupName names an NLB's target group for one listener port, as the
// Load Balancer Controller does (the NLB's name for its first port).
func TargetGroupName(lb NLB, port ServicePort, first bool) string {
	if first {
		return lb.Name
	}
	return lb.Name + "-" + strconv.Itoa(port.Port)
}

// Targets lists what the Load Balancer Controller registers for an NLB:
// ready pod IP:targetPort in ip mode, every node IP:NodePort in instance
// mode, one target group per Service port.
func (w *World) Targets(lb NLB) []Target {
	svc, ok := w.serviceByKey(lb.Service)
	if !ok {
		return nil
	}
	var out []Target
	for i, port := range svc.Ports {
		tg := TargetGroupName(lb, port, i == 0)
		switch lb.TargetType {
		case TargetIP:
			for _, e := range w.Endpoints(svc, port) {
				if !e.Ready {
					continue
				}
				out = append(out, Target{TargetGroup: tg, ListenerPort: port.Port, ID: e.IP.String(), IP: e.IP, Port: e.Port,
					AZ: w.subnetOf(e.IP).AZ, Host: e.Pod, Node: e.Node})
			}
		case TargetInstance:
			for _, n := range w.Nodes {
				out = append(out, Target{TargetGroup: tg, ListenerPort: port.Port, ID: n.InstanceID, IP: n.IP, Port: port.NodePort,
					AZ: n.AZ, Host: n.Name, Node: n.Name})
			}
		}
	}
	return out
}

func (w *World) serviceByKey(key string) (Service, bool) {
	for _, s := range w.Services {
		if s.Key() == key {
			return s, true
		}
	}
	return Service{}, false
}

// HealthCheckPort is the port an NLB's health check probes on a target.
func (lb NLB) HealthCheckPort(t Target) int {
	if n, err := strconv.Atoi(lb.HealthCheck.Port); err == nil {
		return n
	}
	return t.Port // traffic-port
}
