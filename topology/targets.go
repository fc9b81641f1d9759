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
	// TargetUnhealthyDraining is an unhealthy target that keeps its
	// established connections (connection termination off) for the
	// target group's unhealthy draining interval.
	TargetUnhealthyDraining TargetState = "unhealthy.draining"
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
// ready pod IP:targetPort in ip mode, every node that may carry traffic
// (TrafficProxyNodes) on the NodePort in instance mode, one target group
// per Service port.
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
				if !e.Ready && !w.awaitsGate(e) {
					continue
				}
				out = append(out, Target{TargetGroup: tg, ListenerPort: port.Port, ID: e.IP.String(), IP: e.IP, Port: e.Port,
					AZ: w.subnetOf(e.IP).AZ, Host: e.Pod, Node: e.Node})
			}
		case TargetInstance:
			for _, n := range w.TrafficProxyNodes() {
				if !hasLabels(n, lb.TargetNodeLabels) {
					continue
				}
				out = append(out, Target{TargetGroup: tg, ListenerPort: port.Port, ID: n.InstanceID, IP: n.IP, Port: port.NodePort,
					AZ: n.AZ, Host: n.Name, Node: n.Name})
			}
		}
	}
	return out
}

// awaitsGate reports whether an endpoint is not ready only because its
// pod's readiness gates wait for the NLB: the controller registers such
// pods (their containers are ready), or the gates could never turn True.
func (w *World) awaitsGate(e Endpoint) bool {
	p, ok := w.Pod(e.Pod)
	return ok && len(p.ReadinessGates) > 0 && p.Running() && !p.NotReady && !p.Terminating
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

// Node labels and taints that keep a node out of an NLB's instance targets.
const (
	// LabelExcludeFromLB is Kubernetes' well-known label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"
	// LabelExcludeBalancerAlpha is its alpha predecessor.
	LabelExcludeBalancerAlpha = "alpha.service-controller.kubernetes.io/exclude-balancer"
	// LabelMaster and LabelControlPlane mark control-plane nodes.
	LabelMaster       = "node-role.kubernetes.io/master"
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
	// LabelComputeType marks Fargate nodes (eks.amazonaws.com/compute-type=fargate).
	LabelComputeType = "eks.amazonaws.com/compute-type"
	// TaintToBeDeletedByCA is the cluster autoscaler's taint on a node it
	// is removing.
	TaintToBeDeletedByCA = "ToBeDeletedByClusterAutoscaler"
	// TaintKarpenterDisrupted is Karpenter's taint on a node it disrupts.
	TaintKarpenterDisrupted = "karpenter.sh/disrupted"
)

// TrafficProxyNodes are the nodes the Load Balancer Controller registers
// as instance targets: nodes whose Ready condition is True (when none is,
// those whose Ready is Unknown: a stopped kubelet), less control-plane and
// Fargate nodes, nodes labelled to be excluded from external load
// balancers, and nodes the cluster autoscaler or Karpenter are removing.
// (aws-load-balancer-controller pkg/backend/endpoint_resolver.go
// resolveNodePortEndpoints and filterNodesByReadyConditionStatus,
// pkg/k8s/node_utils.go IsNodeSuitableAsTrafficProxy:
// https://github.com/kubernetes-sigs/aws-load-balancer-controller/tree/main/pkg.)
// Here a NotReady node is one whose kubelet stopped posting status, so its
// Ready condition is Unknown.
func (w *World) TrafficProxyNodes() []Node {
	var ready, unknown []Node
	for _, n := range w.Nodes {
		if !n.SuitableAsTrafficProxy() {
			continue
		}
		if n.NotReady {
			unknown = append(unknown, n)
		} else {
			ready = append(ready, n)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return unknown
}

// SuitableAsTrafficProxy reports whether the node's labels and taints let
// it carry an NLB's traffic, whatever its readiness.
func (n Node) SuitableAsTrafficProxy() bool {
	for _, l := range []string{LabelExcludeFromLB, LabelExcludeBalancerAlpha, LabelMaster, LabelControlPlane} {
		if _, ok := n.Labels[l]; ok {
			return false
		}
	}
	if n.Labels[LabelComputeType] == "fargate" {
		return false
	}
	for _, t := range n.Taints {
		if t.Key == TaintToBeDeletedByCA || t.Key == TaintKarpenterDisrupted {
			return false
		}
	}
	return true
}

// hasLabels reports whether a node carries the target-node-labels
// selector's labels (an empty value: the label exists). EKS's own labels
// count too.
func hasLabels(n Node, selector map[string]string) bool {
	for k, v := range selector {
		got, ok := n.Labels[k]
		if !ok {
			got, ok = n.EKSLabels()[k]
		}
		if !ok || v != "" && got != v {
			return false
		}
	}
	return true
}

// NodeGroup is the EKS managed node group every node belongs to.
const NodeGroup = "ng1"

// EKSLabels are the labels EKS and kubelet put on a node.
func (n Node) EKSLabels() map[string]string {
	return map[string]string{
		"beta.kubernetes.io/arch":                  "amd64",
		"beta.kubernetes.io/instance-type":         n.InstanceType,
		"beta.kubernetes.io/os":                    "linux",
		"eks.amazonaws.com/capacityType":           "ON_DEMAND",
		"eks.amazonaws.com/nodegroup":              NodeGroup,
		"failure-domain.beta.kubernetes.io/region": Region,
		"failure-domain.beta.kubernetes.io/zone":   n.AZ,
		"kubernetes.io/arch":                       "amd64",
		"kubernetes.io/hostname":                   n.NodeName,
		"kubernetes.io/os":                         "linux",
		"node.kubernetes.io/instance-type":         n.InstanceType,
		"topology.kubernetes.io/region":            Region,
		"topology.kubernetes.io/zone":              n.AZ,
	}
}
