package sim

import (
	"context"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/control"
	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/internal/supervisor"
	"github.com/nlbsim/nlbsim/sim/observe"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// The kinds of failure, for errors.Is; bad input is a *topology.InvalidError.
var (
	ErrNeedsRoot  = simerr.ErrNeedsRoot
	ErrNoCluster  = simerr.ErrNoCluster
	ErrNotFound   = simerr.ErrNotFound
	ErrNotRunning = simerr.ErrNotRunning
	ErrBusy       = simerr.ErrBusy
)

// RequireRoot fails with ErrNeedsRoot unless the process is root.
func RequireRoot() error { return simerr.RequireRoot() }

// StateRoot holds one directory per running cluster.
const StateRoot = state.Root

// EchoReply is what every pod's server answers.
type EchoReply = echo.Reply

// Event is one thing that happened in a living cluster.
type Event = state.Event

// Action is one change of a living cluster; Verb is one of the verbs below.
type Action = control.Action

// Verb names a change of a living cluster.
type Verb = control.Verb

// The verbs of a living cluster.
const (
	VerbScale          = control.Scale
	VerbRolloutRestart = control.RolloutRestart
	VerbDeletePod      = control.DeletePod
	VerbFailPod        = control.FailPod
	VerbRecoverPod     = control.RecoverPod
	VerbStopNode       = control.StopNode
	VerbStartNode      = control.StartNode
	VerbLabelNode      = control.LabelNode
	VerbTaintNode      = control.TaintNode
)

// Traffic and trace: options and reports (see package observe).
type (
	TrafficOptions = observe.TrafficOptions
	TrafficReport  = observe.TrafficReport
	TraceReport    = observe.TraceReport
	Chaos          = observe.Chaos
)

// Destinations and error kinds of traffic.
const (
	ToDNS       = observe.ToDNS
	ToClusterIP = observe.ToClusterIP
	ToNodePort  = observe.ToNodePort

	ErrTimeout = observe.ErrTimeout
	ErrRefused = observe.ErrRefused
	ErrReset   = observe.ErrReset
	ErrOther   = observe.ErrOther
)

// ParseChaos reads traffic's chaos spec: ACTION[:OBJECT]@PERCENT.
func ParseChaos(spec string) (Chaos, error) { return observe.ParseChaos(spec) }

// ChiSquareFit tests counts against expected shares.
func ChiSquareFit(counts map[string]int, expected map[string]float64) (chi, p float64, ok bool) {
	return observe.ChiSquareFit(counts, expected)
}

// Backend is the iptables backend of the iptables on the PATH, detected
// once per process.
var Backend = sync.OnceValues(nat.DetectBackend)

// LoadWorld reads a running cluster's world. It needs no root.
func LoadWorld(cluster string) (*topology.World, error) { return state.LoadWorld(cluster) }

// LoadTargets reads the target groups' health as the supervisor last wrote
// it. It needs no root.
func LoadTargets(cluster string) ([]topology.TargetHealth, error) {
	return state.LoadTargets(cluster)
}

// ReadEvents returns a cluster's events from offset on (bytes into the log)
// and the offset after them, for events -w. It needs no root.
func ReadEvents(cluster string, offset int64) ([]Event, int64, error) {
	return state.ReadEvents(cluster, offset)
}

// Do asks a running cluster's supervisor to carry out an action. Errors
// keep their kind: ErrNotFound, bad input, ErrNotRunning, or a failure.
func Do(ctx context.Context, cluster string, a Action) error {
	if _, err := state.LoadWorld(cluster); err != nil {
		return err
	}
	return control.NewClient(cluster).Do(ctx, a)
}

// Traffic sends traffic from a host of a running world: see observe.Traffic.
// The report is also recorded in the cluster's state (ReadRuns).
func Traffic(ctx context.Context, w *topology.World, opts TrafficOptions) (*TrafficReport, error) {
	backend, err := Backend()
	if err != nil {
		return nil, err
	}
	r, err := observe.Traffic(ctx, w, backend, opts)
	if err == nil {
		recordRun(w, Run{Time: time.Now().UTC(), Kind: RunTraffic, Traffic: r})
	}
	return r, err
}

// Trace traces requests from a host of a running world: see observe.Trace.
// The report is also recorded in the cluster's state (ReadRuns).
func Trace(ctx context.Context, w *topology.World, opts TrafficOptions) (*TraceReport, error) {
	r, err := observe.Trace(ctx, w, opts)
	if err == nil {
		recordRun(w, Run{Time: time.Now().UTC(), Kind: RunTrace, Trace: r})
	}
	return r, err
}

// SaveRules returns a host's live iptables-save text, counters included.
func SaveRules(w *topology.World, host string) (string, error) {
	backend, err := Backend()
	if err != nil {
		return "", err
	}
	return observe.SaveRules(backend, w, host)
}

// KubeProxyTable is `nft list table ip kube-proxy` on a host (a node in
// nftables mode).
func KubeProxyTable(w *topology.World, host string) (string, error) {
	return observe.ListKubeProxyTable(w, host)
}

// RunSupervisor is the detached supervisor's main (the CLI's hidden verb):
// it serves a running cluster's world until ctx ends.
func RunSupervisor(ctx context.Context, cluster string) error {
	backend, err := Backend()
	if err != nil {
		return err
	}
	return supervisor.Run(ctx, cluster, backend)
}

// SysctlKeys lists every sysctl nlbsim writes in some namespace, so that a
// safety test can check that the host's own values never change.
func SysctlKeys() []string { return netns.SysctlKeys() }

// RemoveOrphans removes the clusters whose supervisor ran inside a program
// (a Go test) that has ended without tearing them down: a killed test run's
// debris. Clusters of a living process, and those of the CLI, are never
// touched. It reports the clusters it removed.
func RemoveOrphans() []string {
	names, err := state.Clusters()
	if err != nil {
		return nil
	}
	var removed []string
	for _, n := range names {
		if pid, inProcess, alive := state.SupervisorPID(n); pid != 0 && inProcess && !alive {
			if Down(n) == nil {
				removed = append(removed, n)
			}
		}
	}
	return removed
}
