package ui

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/observe"
	"github.com/nlbsim/nlbsim/topology"
)

// fakeBackend is a cluster in memory: the walkthrough's world, every target
// healthy, and a record of every change asked of it.
type fakeBackend struct {
	mu      sync.Mutex
	world   *topology.World
	targets []topology.TargetHealth
	events  []sim.Event
	runs    []sim.Run
	actions []sim.Action
	ups     []topology.Spec
	traces  []sim.TrafficOptions
	traffic []sim.TrafficOptions
	doErr   error
	block   chan struct{} // when set, Do says so on entered and waits on it
	entered chan struct{}
}

func newFake() *fakeBackend {
	w, err := topology.Build(topology.DefaultSpec())
	if err != nil {
		panic(err)
	}
	f := &fakeBackend{world: w}
	for _, t := range w.Targets(w.LoadBalancers[0]) {
		f.targets = append(f.targets, topology.TargetHealth{Target: t, State: topology.TargetHealthy})
	}
	f.events = []sim.Event{{Time: time.Unix(0, 0).UTC(), Type: "Normal", Reason: "Synced", Object: "node/node-1", Message: "rules synced"}}
	return f
}

func (f *fakeBackend) World() (*topology.World, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.world, nil
}

func (f *fakeBackend) Targets() ([]topology.TargetHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]topology.TargetHealth(nil), f.targets...), nil
}

func (f *fakeBackend) Events(offset int64) ([]sim.Event, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events[offset:], int64(len(f.events)), nil
}

func (f *fakeBackend) Runs(offset int64) ([]sim.Run, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[offset:], int64(len(f.runs)), nil
}

var svcJump = regexp.MustCompile(`(?m)^(-A KUBE-SV[CL]-\S+ .*)$`)

// SaveRules returns the rules nlbsim writes, with each Service chain's
// jumps counted 5 times, as iptables-save -c prints them.
func (f *fakeBackend) SaveRules(w *topology.World, host string) (string, error) {
	rs, err := nat.KubeProxy(w, host)
	if err != nil {
		return "", err
	}
	return svcJump.ReplaceAllString(rs.RestoreText(), "[5:300] $1"), nil
}

func (f *fakeBackend) NeedsRoot() bool { return false }

func (f *fakeBackend) Do(ctx context.Context, a sim.Action) error {
	if f.block != nil {
		f.entered <- struct{}{}
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.doErr
}

func (f *fakeBackend) Up(ctx context.Context, spec topology.Spec) error {
	w, err := topology.Build(spec)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ups = append(f.ups, spec)
	f.world = w
	return nil
}

func (f *fakeBackend) Trace(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TraceReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traces = append(f.traces, opts)
	r := &sim.TraceReport{SchemaVersion: 1}
	for i := range opts.Requests {
		r.Requests = append(r.Requests, observe.TracedRequest{ID: i + 1, Pod: w.Pods[0].Name, Hops: []observe.Hop{
			{Host: "bastion", Src: fmt.Sprintf("192.168.1.100:%d", 40000+i), Dst: "192.168.1.51:7777"},
			{Host: w.Pods[0].Name, Src: "192.168.1.51:5000", Dst: w.Pods[0].IP.String() + ":7777"}}})
	}
	f.runs = append(f.runs, sim.Run{Time: time.Now(), Kind: sim.RunTrace, Mode: "ip", Trace: r})
	return r, nil
}

func (f *fakeBackend) Traffic(ctx context.Context, w *topology.World, opts sim.TrafficOptions) (*sim.TrafficReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traffic = append(f.traffic, opts)
	return &sim.TrafficReport{SchemaVersion: 1, Requests: opts.Requests}, nil
}

// changes counts what was asked of the cluster.
func (f *fakeBackend) changes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.actions) + len(f.ups) + len(f.traces) + len(f.traffic)
}
