// Package sim is the live world's public face: it brings a cluster up and
// down, changes it in place, and sends it traffic. Its API serves the CLI
// and users' Go tests alike; the work is done by the packages below it
// (internal/netns, internal/fabric, internal/state, internal/control,
// internal/supervisor, observe, capture, doctor, dump), none of which
// imports this one.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/fabric"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/internal/supervisor"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// Options change how Up runs; they are not part of the world.
type Options struct {
	// Retain keeps what a failed first Up built, for debugging.
	Retain bool
	// InProcess runs the supervisor in this process (tests, --foreground)
	// instead of a detached one.
	InProcess bool
	// Log receives progress lines and, in process, the supervisor's log.
	Log io.Writer
	// BeforeStep, when set, runs before each step of a first Up (UpSteps)
	// and aborts it with its error: a hook for interruption tests (see
	// PauseAt).
	BeforeStep func(step string) error
}

// UpSteps names the steps of a first Up, in order.
var UpSteps = []string{"state", "fabric", "files", "rules", "supervisor", "probe"}

// Cluster is a running cluster.
type Cluster struct {
	World *topology.World
	// Existed is set when Up found the cluster running and kept it;
	// Changed when it also changed its settings in place.
	Existed, Changed bool
	sup              *supervisor.Supervisor // set when the supervisor runs in this process
	stop             context.CancelFunc
	// pending is a detached supervisor started early by a first Up,
	// waiting for its step.
	pending *pendingSupervisor
	// closers release namespace handles given out with clients.
	closers []func() error
}

// Up builds the world of spec and returns when every pod answers through
// the data path. On a cluster that is already running with the same spec it
// returns that cluster. A failed first Up leaves nothing behind unless
// opts.Retain. With spec.From the world is that real cluster's
// (cluster.Build).
func Up(ctx context.Context, spec topology.Spec, opts Options) (*Cluster, error) {
	w, err := cluster.Build(spec)
	if err != nil {
		return nil, err
	}
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	lock, err := state.LockCluster(spec.Name)
	if err != nil {
		return nil, err
	}
	// The lock file goes when the cluster does not exist afterwards.
	defer func() { lock.Release(!state.Exists(spec.Name)) }()

	if c, done, err := resume(ctx, w, opts); done {
		return c, err
	}
	w.SetCreated(time.Now().UTC().Truncate(time.Second))
	c, err := build(ctx, w, opts)
	if err != nil {
		if opts.Retain {
			return nil, &RetainedError{Cluster: spec.Name, Err: err}
		}
		if terr := teardown(spec.Name); terr != nil {
			return nil, fmt.Errorf("%w; cleaning up also failed: %v", err, terr)
		}
		return nil, err
	}
	return c, nil
}

// resume handles a cluster that already exists: unchanged and healthy, it is
// returned as it is; with a dead supervisor, the supervisor is restarted.
// done is false when there is nothing and Up must build.
func resume(ctx context.Context, w *topology.World, opts Options) (c *Cluster, done bool, err error) {
	name := w.Cluster.Name
	old, err := state.LoadWorld(name)
	if errors.Is(err, simerr.ErrNoCluster) {
		left, lerr := netns.List(topology.Namespace(name, ""))
		if lerr != nil {
			return nil, true, lerr
		}
		if len(left) > 0 {
			return nil, true, &LeftoverError{Cluster: name, Namespaces: len(left)}
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	c = &Cluster{World: old, Existed: true}
	if !SupervisorRunning(name) {
		fmt.Fprintf(opts.Log, "restarting the supervisor of %s\n", name)
		if err := c.startSupervisor(opts); err != nil {
			return nil, true, err
		}
	}
	if !reflect.DeepEqual(old.Spec, w.Spec) {
		if err := change(ctx, c, w); err != nil {
			return nil, true, err
		}
		c.Changed = true
		return c, true, nil
	}
	return c, true, c.probe(ctx)
}

// build makes a new cluster: state, fabric, files, supervisor, then checks
// every pod through the data path.
func build(ctx context.Context, w *topology.World, opts Options) (*Cluster, error) {
	c := &Cluster{World: w}
	backend, err := Backend()
	if err != nil {
		return nil, err
	}
	steps := map[string]func() error{
		"state":      func() error { return c.saveAndStartEarly(w, opts) },
		"fabric":     func() error { return fabric.Build(w) },
		"files":      func() error { return fabric.WriteEtcNetns(w) },
		"rules":      func() error { return installNodeRules(backend, w) },
		"supervisor": func() error { return c.startSupervisor(opts) },
		"probe":      func() error { return c.probe(ctx) },
	}
	for _, name := range UpSteps {
		err := ctx.Err()
		if err == nil && opts.BeforeStep != nil {
			err = opts.BeforeStep(name)
		}
		if err != nil {
			c.stopOwnSupervisor()
			return nil, fmt.Errorf("building cluster %q: interrupted before %s: %w", w.Cluster.Name, name, err)
		}
		if err := steps[name](); err != nil {
			c.stopOwnSupervisor()
			return nil, fmt.Errorf("building cluster %q (%s): %w", w.Cluster.Name, name, err)
		}
	}
	return c, nil
}

// saveAndStartEarly saves the new world's state and starts its detached
// supervisor's process, which waits for the supervisor step: loading the
// binary overlaps building the fabric.
func (c *Cluster) saveAndStartEarly(w *topology.World, opts Options) error {
	if err := state.SaveWorld(w); err != nil || opts.InProcess {
		return err
	}
	p, err := startSupervisorProcess(w.Cluster.Name)
	c.pending = p
	return err
}

// startSupervisor runs the supervisor in this process or detached.
func (c *Cluster) startSupervisor(opts Options) error {
	name := c.World.Cluster.Name
	if p := c.pending; p != nil {
		c.pending = nil
		return p.begin()
	}
	if !opts.InProcess {
		return spawnSupervisor(name)
	}
	backend, err := Backend()
	if err != nil {
		return err
	}
	sup := supervisor.New(c.World, backend, opts.Log)
	if err := sup.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go sup.ServeControl(ctx)
	if err := state.WritePID(name, os.Getpid(), true); err != nil {
		cancel()
		sup.Stop()
		return err
	}
	c.sup, c.stop = sup, cancel
	return nil
}

// stopOwnSupervisor stops the supervisor this process runs, or the detached
// one it started and has not yet let begin.
func (c *Cluster) stopOwnSupervisor() {
	if c.pending != nil {
		c.pending.abandon()
		c.pending = nil
	}
	if c.sup != nil {
		c.stop()
		c.sup.Stop()
		c.sup = nil
	}
}

// Wait blocks until ctx ends (a foreground cluster's lifetime).
func (c *Cluster) Wait(ctx context.Context) { <-ctx.Done() }

// Down removes the cluster: its supervisor, namespaces, files and state.
func (c *Cluster) Down() error {
	c.stopOwnSupervisor()
	for _, close := range c.closers {
		close()
	}
	c.closers = nil
	return Down(c.World.Cluster.Name)
}

// Down removes everything of a cluster: the supervisor (by pid), processes
// left inside its namespaces, the namespaces, /etc/netns entries and state.
// It is idempotent and needs no state file.
func Down(cluster string) error {
	if err := topology.ValidateClusterName(cluster); err != nil {
		return err
	}
	if err := RequireRoot(); err != nil {
		return err
	}
	lock, err := state.LockCluster(cluster)
	if err != nil {
		return err
	}
	defer lock.Release(true)
	return teardown(cluster)
}

// DownAll removes every nlbsim cluster on this machine and names them.
func DownAll() ([]string, error) {
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	names, err := state.Clusters()
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, n := range names {
		if err := Down(n); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return names, errors.New(strings.Join(errs, "; "))
	}
	return names, nil
}

// teardown does Down's work under a held lock.
func teardown(cluster string) error {
	var errs []string
	if err := stopSupervisor(cluster); err != nil {
		errs = append(errs, err.Error())
	}
	names, _ := netns.List(topology.Namespace(cluster, ""))
	for _, pid := range processesIn(names) {
		terminate(pid, 2*time.Second)
	}
	if err := fabric.Teardown(cluster); err != nil {
		errs = append(errs, err.Error())
	}
	if err := state.Remove(cluster); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing cluster %q: %s", cluster, strings.Join(errs, "; "))
	}
	return nil
}
