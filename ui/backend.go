package ui

import (
	"context"
	"io"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// Backend is what the server reads from and does to one cluster. The
// real one (SimBackend) calls the sim facade exactly as the CLI does; the
// handler tests give a fake.
type Backend interface {
	World() (*topology.World, error)
	Targets() ([]topology.TargetHealth, error)
	Events(offset int64) ([]sim.Event, int64, error)
	Runs(offset int64) ([]sim.Run, int64, error)
	// SaveRules returns a host's live iptables-save text with counters.
	SaveRules(w *topology.World, host string) (string, error)
	// NeedsRoot reports that reading the kernel (rules) would fail for
	// want of root.
	NeedsRoot() bool
	Do(ctx context.Context, a sim.Action) error
	// Up changes the running cluster in place to spec (`up --mode …`).
	Up(ctx context.Context, spec topology.Spec) error
	Trace(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TraceReport, error)
	Traffic(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TrafficReport, error)
}

// SimBackend is a running cluster, reached through package sim.
type SimBackend struct{ Cluster string }

// World reads the cluster's world.
func (b SimBackend) World() (*topology.World, error) { return sim.LoadWorld(b.Cluster) }

// Targets reads the target groups' health.
func (b SimBackend) Targets() ([]topology.TargetHealth, error) { return sim.LoadTargets(b.Cluster) }

// Events reads the event log from offset on.
func (b SimBackend) Events(offset int64) ([]sim.Event, int64, error) {
	return sim.ReadEvents(b.Cluster, offset)
}

// Runs reads the recorded traffic and trace runs from offset on.
func (b SimBackend) Runs(offset int64) ([]sim.Run, int64, error) {
	return sim.ReadRuns(b.Cluster, offset)
}

// NeedsRoot reports whether this process lacks root.
func (b SimBackend) NeedsRoot() bool { return sim.RequireRoot() != nil }

// SaveRules reads a host's iptables-save text.
func (b SimBackend) SaveRules(w *topology.World, host string) (string, error) {
	return sim.SaveRules(w, host)
}

// Do asks the supervisor to carry out an action, as root (as the CLI's
// commands do).
func (b SimBackend) Do(ctx context.Context, a sim.Action) error {
	if err := sim.RequireRoot(); err != nil {
		return err
	}
	return sim.Do(ctx, b.Cluster, a)
}

// Up changes the running cluster in place.
func (b SimBackend) Up(ctx context.Context, spec topology.Spec) error {
	_, err := sim.Up(ctx, spec, sim.Options{Log: io.Discard})
	return err
}

// Trace traces requests (and records the run), as root.
func (b SimBackend) Trace(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TraceReport, error) {
	if err := sim.RequireRoot(); err != nil {
		return nil, err
	}
	return sim.Trace(ctx, w, opts)
}

// Traffic sends traffic (and records the run), as root.
func (b SimBackend) Traffic(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TrafficReport, error) {
	if err := sim.RequireRoot(); err != nil {
		return nil, err
	}
	return sim.Traffic(ctx, w, opts)
}
