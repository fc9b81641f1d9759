package supervisor

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

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

	mu       sync.Mutex
	applied  map[string]*nat.Ruleset // guarded by mu: per node, the rules last installed
	needFull map[string]bool         // guarded by mu: nodes whose next sync must be full
	// nftables mode: per node, kube-proxy's state between syncs (nil: the
	// next sync replaces the table in one transaction); nftMode says which
	// mode the nodes are in.
	nft       map[string]*nat.NFTProxier // guarded by mu
	nftMode   bool                       // guarded by mu
	last      time.Time                  // guarded by mu: when the last sync started
	scheduled bool                       // guarded by mu: a sync is waiting for its timer

	running sync.Mutex // one sync at a time; taken before mu, never under it
}

func newProxySync(s *Supervisor, w *topology.World) *proxySync {
	return &proxySync{s: s,
		applied: map[string]*nat.Ruleset{}, needFull: map[string]bool{},
		nft: map[string]*nat.NFTProxier{}, nftMode: w.NFTables()}
}

// warm records the rules up installed on every node of w, as the base of
// each node's first partial sync: the same generation, kept off the
// kernel (in nftables mode, kube-proxy's first transaction gives the
// proxier what it remembers after it). Start calls it: it takes running at
// once, so that every sync and mode change waits for it, and records in
// the background, nodes in parallel. It gives up when the supervisor
// stops; a node it did not record gets a full sync.
func (p *proxySync) warm(w *topology.World) {
	p.running.Lock()
	go func() {
		defer p.running.Unlock()
		rulesets := make([]*nat.Ruleset, len(w.Nodes))
		proxiers := make([]*nat.NFTProxier, len(w.Nodes))
		var g errgroup.Group
		g.SetLimit(runtime.NumCPU())
		for i, n := range w.Nodes {
			g.Go(func() error {
				if p.s.life.Err() != nil {
					return nil
				}
				if rs, err := nat.KubeProxy(w, n.Name); err == nil {
					rulesets[i] = rs
				}
				if w.NFTables() {
					np := nat.NewNFTProxier(n.Name)
					if _, err := np.Sync(w, nat.NFTSyncOptions{Full: true}, nil); err == nil {
						proxiers[i] = np
					}
				}
				return nil
			})
		}
		g.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, n := range w.Nodes {
			if rulesets[i] != nil {
				p.applied[n.Name] = rulesets[i]
			} else {
				p.needFull[n.Name] = true
			}
			if proxiers[i] != nil {
				p.nft[n.Name] = proxiers[i]
			}
		}
	}()
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
	if w.NFTables() {
		return p.syncNodeNFT(w, node)
	}
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

// syncNodeNFT runs one node's sync in nftables mode: the transactions
// upstream's proxier sends (a stale-chain deletion when due, then the sync,
// partial after the first), each one `nft -f -` in the node's namespace.
// After a failure the node's proxier starts afresh, and its first (full)
// transaction replaces the table atomically — what upstream's full sync
// after a failure reaches by reading the table back.
func (p *proxySync) syncNodeNFT(w *topology.World, node string) error {
	start := time.Now()
	p.mu.Lock()
	np, full := p.nft[node], p.needFull[node]
	p.mu.Unlock()
	replace := np == nil
	if replace {
		np, full = nat.NewNFTProxier(node), true
	}
	run := netns.RunIn(topology.Namespace(w.Cluster.Name, node))
	apply := func(text string) error {
		if replace {
			text, replace = "add table ip "+nat.NFTTable+"\ndelete table ip "+nat.NFTTable+"\n"+text, false
		}
		return nat.ApplyNFT(text, run)
	}
	s, err := np.Sync(w, nat.NFTSyncOptions{Full: full, Now: start}, apply)
	p.mu.Lock()
	if err != nil {
		p.nft[node], p.needFull[node] = nil, true
	} else {
		p.nft[node], p.needFull[node] = np, false
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kube-proxy sync on %s: %w", node, err)
	}
	kind := "partial"
	if s.Full {
		kind = "full"
	}
	p.s.event(eventNormal, "RulesSynced", "node/"+node,
		fmt.Sprintf("kube-proxy %s sync on %s in %d ms (nftables, %d operations)", kind, node, time.Since(start).Milliseconds(), s.Operations))
	return nil
}

// switchMode moves every node to the proxy mode of w as a restarted
// kube-proxy does: the old mode's rules cleaned up as upstream's
// platformCleanup does (the iptables proxier's CleanupLeftovers on the way
// to nftables, the table deleted on the way back), then the new mode's
// first, full sync.
func (p *proxySync) switchMode(w *topology.World) error {
	p.running.Lock()
	defer p.running.Unlock()
	p.mu.Lock()
	p.last = time.Now()
	p.mu.Unlock()
	errs := make([]error, len(w.Nodes))
	rulesets := make([]*nat.Ruleset, len(w.Nodes))
	proxiers := make([]*nat.NFTProxier, len(w.Nodes))
	var wg sync.WaitGroup
	for i, n := range w.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rulesets[i], proxiers[i], errs[i] = p.switchNode(w, n.Name)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("kube-proxy mode change on %s: %w", n.Name, errs[i])
				p.s.event(eventWarning, "SyncFailed", "node/"+n.Name, errs[i].Error())
			} else {
				p.s.event(eventNormal, "ProxyModeChanged", "node/"+n.Name,
					fmt.Sprintf("kube-proxy restarted on %s in %s mode (%s)", n.Name, modeName(w), w.Cluster.KubernetesVersion))
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	p.nftMode = w.NFTables()
	p.applied, p.nft, p.needFull = map[string]*nat.Ruleset{}, map[string]*nat.NFTProxier{}, map[string]bool{}
	for i, n := range w.Nodes {
		p.applied[n.Name], p.nft[n.Name] = rulesets[i], proxiers[i]
		p.needFull[n.Name] = errs[i] != nil
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

func (p *proxySync) switchNode(w *topology.World, node string) (*nat.Ruleset, *nat.NFTProxier, error) {
	run := netns.RunIn(topology.Namespace(w.Cluster.Name, node))
	rs, err := nat.KubeProxy(w, node)
	if err != nil {
		return nil, nil, err
	}
	if !w.NFTables() {
		if err := nat.CleanupNFT(run); err != nil {
			return nil, nil, err
		}
		return rs, nil, nat.Apply(p.s.backend, rs.StartText(), run)
	}
	saved, err := nat.Save(p.s.backend, run)
	if err != nil {
		return nil, nil, err
	}
	if text := nat.IPTablesCleanupText(saved); text != "" {
		if err := nat.Apply(p.s.backend, text, run); err != nil {
			return nil, nil, err
		}
	}
	np := nat.NewNFTProxier(node)
	if _, err := np.Sync(w, nat.NFTSyncOptions{Full: true}, func(text string) error { return nat.ApplyNFT(text, run) }); err != nil {
		return nil, nil, err
	}
	return rs, np, nil
}

// inNFTMode reports whether the nodes are in nftables mode.
func (p *proxySync) inNFTMode() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nftMode
}

func modeName(w *topology.World) string {
	if w.NFTables() {
		return "nftables"
	}
	return "iptables"
}
