package sim

import (
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/fabric"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// restoreLimit bounds the restores a first Up runs at once: each is a
// CPU-bound child process (and its input a CPU-bound generation), so more
// than a few per core only adds switching and memory.
func restoreLimit() int { return 2 * runtime.NumCPU() }

// installNodeRules gives every node kube-proxy's (and kubelet's and VPC
// CNI's) rules: one iptables-restore per node namespace, a bounded number
// of nodes at a time, and in nftables mode kube-proxy's first nft
// transaction after it; and the VPC fabric the marks that steer NLB flows'
// replies.
func installNodeRules(backend nat.Backend, w *topology.World) error {
	var g errgroup.Group
	g.SetLimit(restoreLimit())
	g.Go(func() error {
		links, _ := fabric.NLBLinks(w)
		if err := nat.Replace(backend, nat.FabricSteering(links), netns.RunIn(topology.Namespace(w.Cluster.Name, topology.VPCHost))); err != nil {
			return fmt.Errorf("VPC fabric's flow steering: %w", err)
		}
		return nil
	})
	for _, n := range w.Nodes {
		g.Go(func() error {
			if err := installKubeProxy(backend, w, n.Name); err != nil {
				return fmt.Errorf("kube-proxy rules on %s: %w", n.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// installKubeProxy loads one node's first sync into its new namespace.
func installKubeProxy(backend nat.Backend, w *topology.World, node string) error {
	run := netns.RunIn(topology.Namespace(w.Cluster.Name, node))
	rs, err := nat.KubeProxy(w, node)
	if err != nil {
		return err
	}
	// The namespace is new: a restore without --noflush leaves the same
	// state as kube-proxy's --noflush first sync, and iptables-nft 1.8.9
	// takes many times longer with --noflush on a large first sync
	// (BENCHMARKS.md).
	if err := nat.Install(backend, rs, run); err != nil {
		return err
	}
	if !w.NFTables() {
		return nil
	}
	// kube-proxy's first sync in nftables mode: the whole table in one
	// transaction.
	text, err := nat.NFTablesText(w, node)
	if err != nil {
		return err
	}
	return nat.ApplyNFT(text, run)
}
