package supervisor

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// proxySync is kube-proxy's sync loop on every node: a change of endpoints
// asks for a sync, which runs at once if the last one is at least
// minSyncPeriod ago and otherwise when it will be (upstream's
// BoundedFrequencyRunner). A sync is partial: it rewrites the fixed chains
// and only the changed services' chains; after a failure the next is full.
type proxySync struct {
	s *Supervisor

	mu        sync.Mutex
	applied   map[string]*nat.Ruleset // guarded by mu: per node, the rules last installed
	needFull  map[string]bool         // guarded by mu: nodes whose next sync must be full
	last      time.Time               // guarded by mu: when the last sync started
	scheduled bool                    // guarded by mu: a sync is waiting for its timer

	running sync.Mutex // one sync at a time; taken before mu, never under it
}

func newProxySync(s *Supervisor, w *topology.World) *proxySync {
	p := &proxySync{s: s}
	p.reset(w)
	return p
}

// reset records the rules a world's nodes carry now (installed by up or a
// full sync), as the base of the next partial sync.
func (p *proxySync) reset(w *topology.World) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied, p.needFull = map[string]*nat.Ruleset{}, map[string]bool{}
	for _, n := range w.Nodes {
		if rs, err := nat.KubeProxy(w, n.Name); err == nil {
			p.applied[n.Name] = rs
		} else {
			p.needFull[n.Name] = true
		}
	}
}

// request asks for a sync, honouring minSyncPeriod (divided by the time
// scale).
func (p *proxySync) request() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.scheduled {
		return
	}
	p.scheduled = true
	wait := time.Until(p.last.Add(p.s.scaled(p.s.world().Cluster.KubeProxy.MinSyncPeriod)))
	if wait < 0 {
		wait = 0
	}
	time.AfterFunc(wait, func() {
		if p.s.life.Err() == nil {
			p.sync() // failures are events; the next sync of a failed node is full
		}
	})
}

// sync installs the live world's rules on every node, in parallel, and
// returns the first node's failure (each is also an event).
func (p *proxySync) sync() error {
	p.running.Lock()
	defer p.running.Unlock()
	p.mu.Lock()
	p.scheduled, p.last = false, time.Now()
	p.mu.Unlock()
	w := p.s.world()
	errs := make([]error, len(w.Nodes))
	var wg sync.WaitGroup
	for i, n := range w.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = p.syncNode(w, n.Name); errs[i] != nil {
				p.s.event(eventWarning, "SyncFailed", "node/"+n.Name, errs[i].Error())
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncNode runs one node's sync as kube-proxy does: full the first time
// and after a failure, else partial — the chains of the Services whose
// Service or endpoints changed — with stale chains deleted as upstream
// times it.
func (p *proxySync) syncNode(w *topology.World, node string) error {
	start := time.Now()
	next, err := nat.KubeProxy(w, node)
	if err != nil {
		return err
	}
	p.mu.Lock()
	prev, full := p.applied[node], p.needFull[node] || p.applied[node] == nil
	p.mu.Unlock()
	text := next.SyncText(prev, nat.SyncOptions{Full: full, Now: start, SyncPeriod: p.s.scaled(w.Cluster.KubeProxy.SyncPeriod)})
	err = nat.Apply(p.s.backend, text, netns.RunIn(topology.Namespace(w.Cluster.Name, node)))
	p.mu.Lock()
	if err != nil {
		p.needFull[node] = true
	} else {
		p.applied[node], p.needFull[node] = next, false
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kube-proxy sync on %s: %w", node, err)
	}
	kind := "partial"
	if full {
		kind = "full"
	}
	p.s.event(eventNormal, "RulesSynced", "node/"+node,
		fmt.Sprintf("kube-proxy %s sync on %s in %d ms", kind, node, time.Since(start).Milliseconds()))
	return nil
}
