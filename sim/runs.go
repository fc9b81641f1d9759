package sim

import (
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/topology"
)

// Run is a traffic or trace run against a cluster, as Traffic and Trace
// record it in the cluster's state, so that a viewer (nlbsim ui) shows the
// runs started from the CLI too.
type Run struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // traffic or trace
	// Mode is the first NLB's target type when the run started.
	Mode    string         `json:"mode"`
	Traffic *TrafficReport `json:"traffic,omitempty"`
	Trace   *TraceReport   `json:"trace,omitempty"`
}

// The kinds of run.
const (
	RunTraffic = "traffic"
	RunTrace   = "trace"
)

// recordRun appends a run to the cluster's log of runs. Only a world whose
// state exists records: a run is a report first, and its record a courtesy.
func recordRun(w *topology.World, r Run) {
	if !state.Exists(w.Cluster.Name) {
		return
	}
	if len(w.LoadBalancers) > 0 {
		r.Mode = string(w.LoadBalancers[0].TargetType)
	}
	state.AppendLog(w.Cluster.Name, state.RunsLog, r)
}

// ReadRuns returns a cluster's recorded runs from offset on (bytes into the
// log) and the offset after them. It needs no root.
func ReadRuns(cluster string, offset int64) ([]Run, int64, error) {
	return state.ReadLog[Run](cluster, state.RunsLog, offset)
}
