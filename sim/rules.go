package sim

import (
	"fmt"
	"sync"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/fabric"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// installNodeRules gives every node kube-proxy's (and kubelet's and VPC
// CNI's) rules: one iptables-restore per node namespace, nodes in parallel,
// and in nftables mode kube-proxy's first nft transaction after it;
// and the VPC fabric the marks that steer NLB flows' replies.
func installNodeRules(backend nat.Backend, w *topology.World) error {
	links, _ := fabric.NLBLinks(w)
	if err := nat.Replace(backend, nat.FabricSteering(links), netns.RunIn(topology.Namespace(w.Cluster.Name, topology.VPCHost))); err != nil {
		return fmt.Errorf("VPC fabric's flow steering: %w", err)
	}
	errs := make([]error, len(w.Nodes))
	var wg sync.WaitGroup
	for i, n := range w.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := netns.RunIn(topology.Namespace(w.Cluster.Name, n.Name))
			rs, err := nat.KubeProxy(w, n.Name)
			if err == nil {
				// The namespace is new: a restore without --noflush leaves the
				// same state as kube-proxy's --noflush first sync, and
				// iptables-nft 1.8.9 takes many times longer with --noflush
				// on a large first sync (BENCHMARKS.md).
				err = nat.Replace(backend, rs.RestoreText(), run)
			}
			if err == nil && w.NFTables() {
				// kube-proxy's first sync in nftables mode: the whole table
				// in one transaction.
				var text string
				if text, err = nat.NFTablesText(w, n.Name); err == nil {
					err = nat.ApplyNFT(text, run)
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("kube-proxy rules on %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
