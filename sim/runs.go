package sim

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
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

func runsFile(cluster string) string { return filepath.Join(state.Dir(cluster), "runs.jsonl") }

// recordRun appends a run to the cluster's log of runs. Only a world whose
// state exists records: a run is a report first, and its record a courtesy.
func recordRun(w *topology.World, r Run) {
	if !state.Exists(w.Cluster.Name) {
		return
	}
	if len(w.LoadBalancers) > 0 {
		r.Mode = string(w.LoadBalancers[0].TargetType)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	f, err := os.OpenFile(runsFile(w.Cluster.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}

// ReadRuns returns a cluster's recorded runs from offset on (bytes into the
// log) and the offset after them. It needs no root.
func ReadRuns(cluster string, offset int64) ([]Run, int64, error) {
	f, err := os.Open(runsFile(cluster))
	if errors.Is(err, os.ErrNotExist) {
		return nil, offset, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var runs []Run
	rd := bufio.NewReader(f)
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			// A line without its newline is still being written.
			return runs, offset, nil
		}
		offset += int64(len(line))
		var r Run
		if json.Unmarshal(line, &r) == nil {
			runs = append(runs, r)
		}
	}
}
