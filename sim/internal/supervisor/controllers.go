package supervisor

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/fabric"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/control"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// Kubernetes' timers for node failure, divided by the time scale.
const (
	nodeMonitorGracePeriod = 40 * time.Second  // kube-controller-manager's default
	podEvictionTimeout     = 300 * time.Second // the not-ready toleration pods get
	defaultGracePeriod     = 30 * time.Second  // terminationGracePeriodSeconds
)

// change edits the live world under lifeMu: fn edits a copy, which is
// saved and becomes the world; then endpoints propagate.
func (s *Supervisor) change(fn func(w *topology.World) error) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.stopped || s.life.Err() != nil {
		return ErrStopped
	}
	w := s.world().Clone()
	if err := fn(w); err != nil {
		return err
	}
	if err := state.SaveWorld(w); err != nil {
		return err
	}
	s.live.Store(w)
	s.endpointsChanged()
	return nil
}

// endpointsChanged tells kube-proxy on every node and the Load Balancer
// Controller that endpoints or nodes changed. The caller holds lifeMu.
func (s *Supervisor) endpointsChanged() {
	s.proxy.request()
	if s.services != nil {
		s.services.nlb.reconcile()
	}
}

// wirePod wires a new running pod into the fabric, as VPC CNI does, and
// starts its servers; it is Ready once they listen (pods without a
// readiness probe are Ready when their container starts).
func (s *Supervisor) wirePod(w *topology.World, name string) error {
	if err := fabric.AddPod(w, name); err != nil {
		return err
	}
	return s.startPod(w, name)
}

// createPods makes n new pods of a Deployment and starts those the
// scheduler placed; the others wait Pending.
func (s *Supervisor) createPods(w *topology.World, namespace, name string, n int) (started []string, err error) {
	for i := 0; i < n; i++ {
		p, err := w.NewPod(namespace, name, time.Now().UTC())
		if err != nil {
			return started, err
		}
		if !p.Running() {
			s.event(eventWarning, "FailedScheduling", "pod/"+p.Name, p.Reason)
			continue
		}
		if err := s.wirePod(w, p.Name); err != nil {
			return started, err
		}
		started = append(started, p.Name)
	}
	return started, nil
}

// Scale sets a Deployment's replicas: new pods are scheduled, wired and
// started; surplus pods terminate.
func (s *Supervisor) Scale(namespace, name string, replicas int) error {
	if replicas < 0 {
		return &topology.InvalidError{Err: fmt.Errorf("replicas: %d is negative", replicas)}
	}
	var victims, started []string
	err := s.change(func(w *topology.World) error {
		d, ok := w.Deployment(namespace, name)
		if !ok {
			return fmt.Errorf("deployment %s/%s: %w", namespace, name, simerr.ErrNotFound)
		}
		all, _, _ := w.LivePods(d)
		d.Replicas = replicas
		var err error
		if started, err = s.createPods(w, namespace, name, replicas-all); err != nil {
			return err
		}
		victims = w.ScaleDownVictims(d, replicas)
		for _, v := range victims {
			p, _ := w.Pod(v)
			p.Terminating = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.event(eventNormal, "ScalingReplicaSet", "deployment/"+name, fmt.Sprintf("Scaled to %d replicas", replicas))
	for _, p := range started {
		s.event(eventNormal, "Started", "pod/"+p, "Started container")
	}
	for _, v := range victims {
		go s.finishTermination(v)
	}
	return nil
}

// DeletePod terminates a pod; its Deployment replaces it with a new pod
// (new name, new address), placed as the scheduler spreads pods.
func (s *Supervisor) DeletePod(name string) error {
	var replacement string
	err := s.change(func(w *topology.World) error {
		p, ok := w.Pod(name)
		if !ok || p.Terminating {
			return fmt.Errorf("pod %q: %w", name, simerr.ErrNotFound)
		}
		p.Terminating = true
		if _, ok := w.Deployment(p.Namespace, p.Owner); !ok {
			return nil
		}
		np, err := w.NewPod(p.Namespace, p.Owner, time.Now().UTC())
		if err != nil {
			return err
		}
		if np.Running() {
			if err := s.wirePod(w, np.Name); err != nil {
				return err
			}
		}
		replacement = np.Name
		return nil
	})
	if err != nil {
		return err
	}
	s.event(eventNormal, "Killing", "pod/"+name, "Stopping container (terminating: removed from endpoints)")
	if replacement != "" {
		s.event(eventNormal, "SuccessfulCreate", "replicaset", "Created pod: "+replacement)
	}
	go s.finishTermination(name)
	return nil
}

// finishTermination runs a terminating pod's end: its preStop hook's sleep
// (the pod keeps serving meanwhile), then its server stops and it goes.
func (s *Supervisor) finishTermination(name string) {
	w := s.world()
	p, ok := w.Pod(name)
	if !ok {
		return
	}
	if d, ok := w.Deployment(p.Namespace, p.Owner); ok && d.PreStop != nil && d.PreStop.Sleep > 0 {
		if !s.sleep(s.scaled(d.PreStop.Sleep)) {
			return
		}
	}
	s.stopPod(name)
	pod := *p
	err := s.change(func(w *topology.World) error {
		w.RemovePod(name)
		placed, err := w.SchedulePending()
		for _, n := range placed {
			if err := s.wirePod(w, n); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		s.event(eventWarning, "FailedKilling", "pod/"+name, err.Error())
		return
	}
	if err := fabric.RemovePod(w, pod); err != nil {
		s.event(eventWarning, "FailedKilling", "pod/"+name, err.Error())
		return
	}
	s.event(eventNormal, "Deleted", "pod/"+name, "pod is gone")
}

// FailPod makes a pod's server refuse connections or stop answering, with
// a rule in the pod's own namespace (the kernel does it, as a crashed or
// hung process would look). The pod stays Ready unless its manifest has a
// readiness probe.
func (s *Supervisor) FailPod(name, how string) error {
	if how != "refuse" && how != "hang" {
		return &topology.InvalidError{Err: fmt.Errorf("how: %q is neither refuse nor hang", how)}
	}
	return s.setFailing(name, how)
}

// RecoverPod undoes FailPod.
func (s *Supervisor) RecoverPod(name string) error { return s.setFailing(name, "") }

func (s *Supervisor) setFailing(name, how string) error {
	w := s.world()
	p, ok := w.Pod(name)
	if !ok || !p.Running() {
		return fmt.Errorf("pod %q: %w", name, simerr.ErrNotFound)
	}
	if err := nat.Replace(s.backend, failRules(*p, how), netns.RunIn(topology.Namespace(w.Cluster.Name, name))); err != nil {
		return err
	}
	err := s.change(func(w *topology.World) error {
		p, _ := w.Pod(name)
		p.Failing = how
		return nil
	})
	if how == "" {
		s.event(eventNormal, "Recovered", "pod/"+name, "the server answers again")
	} else {
		s.event(eventWarning, "Failing", "pod/"+name, "the server "+map[string]string{"refuse": "refuses connections", "hang": "stops answering"}[how])
	}
	return err
}

// failRules is a pod's filter table: its serving ports reset or drop new
// connections.
func failRules(p topology.Pod, how string) string {
	text := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	for _, port := range p.Ports {
		if port.Protocol != "TCP" || how == "" {
			continue
		}
		verdict := "DROP"
		if how == "refuse" {
			verdict = "REJECT --reject-with tcp-reset"
		}
		text += fmt.Sprintf("-A INPUT -p tcp -m tcp --dport %d -m comment --comment \"nlbsim fail pod --how %s\" -j %s\n", port.Port, how, verdict)
	}
	return text + "COMMIT\n"
}

// StopNode stops a node's instance: it leaves the network at once (its
// NLB target turns unused); after the node-monitor grace period it is
// NotReady and its pods' endpoints go not ready; after the eviction
// timeout its pods are replaced elsewhere.
func (s *Supervisor) StopNode(name string) error {
	n, err := s.nodeNamed(name)
	if err != nil {
		return err
	}
	if err := fabric.SetUplink(s.world(), n.Name, false); err != nil {
		return err
	}
	if err := s.change(func(w *topology.World) error {
		editNode(w, n.Name, func(n *topology.Node) { n.Stopped = true })
		return nil
	}); err != nil {
		return err
	}
	s.event(eventNormal, "Stopped", "node/"+n.NodeName, "the instance is stopped")
	go s.watchStoppedNode(n.Name)
	return nil
}

func (s *Supervisor) watchStoppedNode(node string) {
	stillStopped := func() bool { n, _ := s.world().Node(node); return n.Stopped }
	if !s.sleep(s.scaled(nodeMonitorGracePeriod)) || !stillStopped() {
		return
	}
	s.change(func(w *topology.World) error {
		editNode(w, node, func(n *topology.Node) { n.NotReady = true })
		return nil
	})
	n, _ := s.world().Node(node)
	s.event(eventWarning, "NodeNotReady", "node/"+n.NodeName, "Node is not ready: kubelet stopped posting node status")
	if !s.sleep(s.scaled(podEvictionTimeout)) || !stillStopped() {
		return
	}
	for _, p := range s.world().PodsOn(node) {
		if p.Owner != "" && !p.Terminating {
			s.event(eventWarning, "TaintManagerEviction", "pod/"+p.Name, "Evicting pod: its node is not ready")
			s.DeletePod(p.Name)
		}
	}
}

// StartNode starts a stopped node again.
func (s *Supervisor) StartNode(name string) error {
	n, err := s.nodeNamed(name)
	if err != nil {
		return err
	}
	if err := fabric.SetUplink(s.world(), n.Name, true); err != nil {
		return err
	}
	if err := s.change(func(w *topology.World) error {
		editNode(w, n.Name, func(n *topology.Node) { n.Stopped, n.NotReady = false, false })
		placed, err := w.SchedulePending()
		for _, p := range placed {
			if err := s.wirePod(w, p); err != nil {
				return err
			}
		}
		return err
	}); err != nil {
		return err
	}
	s.event(eventNormal, "NodeReady", "node/"+n.NodeName, "the instance is running; the node is Ready")
	return nil
}

// EditNode sets or removes a node's label or taint, as kubectl label node
// and kubectl taint node do; the Load Balancer Controller re-selects its
// instance targets and the scheduler keeps new pods off NoSchedule nodes.
func (s *Supervisor) EditNode(name, edit string, taint bool) error {
	e, err := topology.ParseNodeEdit(edit, taint)
	if err != nil {
		return err
	}
	n, err := s.nodeNamed(name)
	if err != nil {
		return err
	}
	if err := s.change(func(w *topology.World) error {
		editNode(w, n.Name, e.Apply)
		return nil
	}); err != nil {
		return err
	}
	reason := map[bool]string{false: "Labelled", true: "Tainted"}[taint]
	s.event(eventNormal, reason, "node/"+n.NodeName, e.String())
	return nil
}

// editNode edits a node of a world; its pods' readiness follows the node's.
func editNode(w *topology.World, name string, edit func(*topology.Node)) {
	for i := range w.Nodes {
		if w.Nodes[i].Name == name {
			edit(&w.Nodes[i])
			for j := range w.Pods {
				if w.Pods[j].Node == name {
					w.Pods[j].NotReady = w.Nodes[i].NotReady
				}
			}
		}
	}
}

func (s *Supervisor) nodeNamed(name string) (topology.Node, error) {
	w := s.world()
	h, err := w.Lookup(name)
	if err != nil || h.Kind != topology.KindNode {
		return topology.Node{}, fmt.Errorf("node %q: %w", name, simerr.ErrNotFound)
	}
	n, _ := w.Node(h.Name)
	return n, nil
}

// RolloutRestart replaces a Deployment's pods with pods of a new template,
// as the Deployment controller does with maxSurge and maxUnavailable 25%:
// up to maxSurge new pods at a time, each old pod terminated once enough
// new ones are Ready.
func (s *Supervisor) RolloutRestart(namespace, name string) error {
	var replicas int
	err := s.change(func(w *topology.World) error {
		d, ok := w.Deployment(namespace, name)
		if !ok {
			return fmt.Errorf("deployment %s/%s: %w", namespace, name, simerr.ErrNotFound)
		}
		d.TemplateHash = topologyHash(d.TemplateHash)
		replicas = d.Replicas
		return nil
	})
	if err != nil {
		return err
	}
	surge := int(math.Ceil(0.25 * float64(replicas)))
	unavailable := int(math.Floor(0.25 * float64(replicas)))
	s.event(eventNormal, "ScalingReplicaSet", "deployment/"+name, fmt.Sprintf("rollout restart: maxSurge %d, maxUnavailable %d", surge, unavailable))
	go s.rollOut(namespace, name, max(surge, 1))
	return nil
}

func (s *Supervisor) rollOut(namespace, name string, step int) {
	for {
		w := s.world()
		d, ok := w.Deployment(namespace, name)
		if !ok {
			return
		}
		old := w.OldPods(d)
		if len(old) == 0 {
			s.event(eventNormal, "RolloutComplete", "deployment/"+name, "every pod runs the new template")
			return
		}
		n := min(step, len(old))
		var started []string
		err := s.change(func(w *topology.World) error {
			var err error
			started, err = s.createPods(w, namespace, name, n)
			return err
		})
		if err != nil {
			s.event(eventWarning, "RolloutFailed", "deployment/"+name, err.Error())
			return
		}
		for _, p := range started {
			s.event(eventNormal, "Started", "pod/"+p, "Started container (new template)")
		}
		// Old pods go only once the new ones are Ready (maxUnavailable):
		// at once without a readiness probe or gate; with the Load
		// Balancer Controller's gate, once their targets are healthy.
		if !s.waitReady(started) {
			return
		}
		err = s.change(func(w *topology.World) error {
			for _, v := range old[:n] {
				if p, ok := w.Pod(v); ok {
					p.Terminating = true
				}
			}
			return nil
		})
		if err != nil {
			s.event(eventWarning, "RolloutFailed", "deployment/"+name, err.Error())
			return
		}
		// Terminating pods no longer count: the next step starts at once,
		// as the Deployment controller's does.
		for _, v := range old[:n] {
			go s.finishTermination(v)
		}
	}
}

// waitReady waits until every pod named is Ready or gone; it reports
// whether the supervisor still runs.
func (s *Supervisor) waitReady(pods []string) bool {
	for {
		w, waiting := s.world(), false
		for _, name := range pods {
			if p, ok := w.Pod(name); ok && !p.Terminating && !p.Ready() {
				waiting = true
			}
		}
		if !waiting {
			return true
		}
		if !s.sleep(10 * time.Millisecond) {
			return false
		}
	}
}

// topologyHash derives the next pod-template-hash.
func topologyHash(prev string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := []byte(prev)
	for i := len(b) - 1; i >= 0; i-- {
		j := 0
		for j < len(alphabet) && alphabet[j] != b[i] {
			j++
		}
		b[i] = alphabet[(j+7)%len(alphabet)]
	}
	return string(b)
}

// Do carries out an action on the live world.
func (s *Supervisor) Do(a control.Action) error {
	ns := cmp.Or(a.Namespace, "default")
	if a.Verb.OnPod() { // pod-N aliases name pods too
		if h, err := s.world().Lookup(a.Name); err == nil && h.Kind == topology.KindPod {
			a.Name = h.Name
		}
	}
	switch a.Verb {
	case control.Scale:
		return s.Scale(ns, a.Name, a.Replicas)
	case control.RolloutRestart:
		return s.RolloutRestart(ns, a.Name)
	case control.DeletePod:
		return s.DeletePod(a.Name)
	case control.FailPod:
		return s.FailPod(a.Name, a.How)
	case control.RecoverPod:
		return s.RecoverPod(a.Name)
	case control.StopNode:
		return s.StopNode(a.Name)
	case control.StartNode:
		return s.StartNode(a.Name)
	case control.LabelNode, control.TaintNode:
		return s.EditNode(a.Name, a.Edit, a.Verb == control.TaintNode)
	}
	return &topology.InvalidError{Err: fmt.Errorf("unknown action %q", a.Verb)}
}
