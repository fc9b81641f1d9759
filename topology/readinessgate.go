package topology

import "maps"

// The Load Balancer Controller's pod readiness gates
// (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/):
// in a namespace labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled,
// its webhook gives each new pod that a Service with ip targets selects
// the readiness gate target-health.elbv2.k8s.aws/<target group>, and the
// controller sets that condition True once the pod's target is healthy.
// Until then the pod is not Ready: it is no Service endpoint for
// kube-proxy, and a rollout waits for it.
const (
	LabelReadinessGateInject = "elbv2.k8s.aws/pod-readiness-gate-inject"
	ReadinessGatePrefix      = "target-health.elbv2.k8s.aws/"
)

// ReadinessGatesEnabled reports whether the controller's webhook injects
// readiness gates into new pods of a namespace.
func (w *World) ReadinessGatesEnabled(namespace string) bool {
	return w.NamespaceLabels[namespace][LabelReadinessGateInject] == "enabled"
}

// InjectReadinessGates gives a new pod the readiness gates of every target
// group with ip targets whose Service selects it, each False, when its
// namespace asks for them.
func (w *World) InjectReadinessGates(p *Pod) {
	if !w.ReadinessGatesEnabled(p.Namespace) {
		return
	}
	for _, lb := range w.LoadBalancers {
		svc, ok := w.serviceByKey(lb.Service)
		if !ok || lb.TargetType != TargetIP || svc.Namespace != p.Namespace || !matches(svc.Selector, p.Labels) {
			continue
		}
		for i, port := range svc.Ports {
			if p.ReadinessGates == nil {
				p.ReadinessGates = map[string]bool{}
			}
			p.ReadinessGates[ReadinessGatePrefix+TargetGroupName(lb, port, i == 0)] = false
		}
	}
}

// GatesMet reports whether every readiness gate of the pod is True.
func (p Pod) GatesMet() bool {
	for _, ok := range p.ReadinessGates {
		if !ok {
			return false
		}
	}
	return true
}

// Ready is the pod's Ready condition: running, its containers ready (no
// failing readiness probe, its node not NotReady) and its readiness gates
// True.
func (p Pod) Ready() bool { return p.Running() && !p.NotReady && p.GatesMet() }

// SetGate sets a pod's readiness gate condition; it reports whether the
// pod had that gate and it changed.
func (p *Pod) SetGate(condition string, status bool) bool {
	if cur, ok := p.ReadinessGates[condition]; !ok || cur == status {
		return false
	}
	p.ReadinessGates = maps.Clone(p.ReadinessGates)
	p.ReadinessGates[condition] = status
	return true
}
