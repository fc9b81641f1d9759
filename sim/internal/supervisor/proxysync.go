package supervisor

import (
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
			p.sync()
		}
	})
}

// sync installs the live world's rules on every node, in parallel.
func (p *proxySync) sync() {
	p.running.Lock()
	defer p.running.Unlock()
	p.mu.Lock()
	p.scheduled, p.last = false, time.Now()
	p.mu.Unlock()
	w := p.s.world()
	var wg sync.WaitGroup
	for _, n := range w.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			next, err := nat.KubeProxy(w, n.Name)
			if err != nil {
				p.s.event(eventWarning, "SyncFailed", "node/"+n.Name, err.Error())
				return
			}
			p.mu.Lock()
			prev, full := p.applied[n.Name], p.needFull[n.Name]
			p.mu.Unlock()
			kind, text := "partial", next.PartialSyncText(prev)
			if full || prev == nil {
				kind, text = "full", next.FullSyncText(prev)
			}
			err = nat.Apply(p.s.backend, text, netns.RunIn(topology.Namespace(w.Cluster.Name, n.Name)))
			p.mu.Lock()
			if err != nil {
				p.needFull[n.Name] = true
			} else {
				p.applied[n.Name], p.needFull[n.Name] = next, false
			}
			p.mu.Unlock()
			if err != nil {
				p.s.event(eventWarning, "SyncFailed", "node/"+n.Name, err.Error())
				return
			}
			p.s.event(eventNormal, "RulesSynced", "node/"+n.Name,
				fmt.Sprintf("kube-proxy %s sync on %s in %d ms", kind, n.Name, time.Since(start).Milliseconds()))
		}()
	}
	wg.Wait()
}
