// Package control is the protocol between nlbsim's commands and a cluster's
// supervisor: HTTP over the unix socket in the cluster's state directory,
// with the verbs of a living cluster as typed constants and the kinds of
// error (not found, bad input) kept across the socket.
package control

// Verb names a change of a living cluster.
type Verb string

// The verbs of a living cluster, as the CLI's commands ask for them.
const (
	Scale          Verb = "scale"
	RolloutRestart Verb = "rollout-restart"
	DeletePod      Verb = "delete-pod"
	FailPod        Verb = "fail-pod"
	RecoverPod     Verb = "recover-pod"
	StopNode       Verb = "stop-node"
	StartNode      Verb = "start-node"
	LabelNode      Verb = "label-node"
	TaintNode      Verb = "taint-node"
)

// Verbs lists every verb, in the order help texts show them.
var Verbs = []Verb{Scale, RolloutRestart, DeletePod, FailPod, RecoverPod, StopNode, StartNode, LabelNode, TaintNode}

// OnPod reports whether the verb names a pod (pod-N aliases are resolved).
func (v Verb) OnPod() bool { return v == DeletePod || v == FailPod || v == RecoverPod }

// Action is one change of a living cluster.
type Action struct {
	Verb      Verb   `json:"verb"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Replicas  int    `json:"replicas,omitempty"`
	How       string `json:"how,omitempty"` // fail-pod: refuse or hang
	// Edit is label-node's KEY=VALUE or KEY-, taint-node's
	// KEY[=VALUE]:EFFECT or KEY[:EFFECT]-.
	Edit string `json:"edit,omitempty"`
}
