package bench

import (
	"encoding/json"
	"fmt"
	"os/exec"

	"github.com/vishvananda/netns"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// nftablesFirstSync is kube-proxy's first sync in nftables mode, as up
// sends it to a new node: the whole table generated (nat.NFTablesText) and
// loaded in one `nft -f -` transaction. The node's iptables rules
// (kubelet's and VPC CNI's, a few dozen) are not part of it.
func nftablesFirstSync(_ nat.Backend, w *topology.World, node string, run nat.RunInNamespace) error {
	text, err := nat.NFTablesText(w, node)
	if err != nil {
		return err
	}
	return nat.ApplyNFT(text, run)
}

// nftablesEmpty deletes kube-proxy's table.
func nftablesEmpty(_ nat.Backend, run nat.RunInNamespace) error { return nat.CleanupNFT(run) }

// nftablesCount counts a live node's iptables rules (every table) and
// the rules and set and map elements of kube-proxy's nftables table.
func nftablesCount(w *topology.World, node string) (int, error) {
	n, err := iptablesCount(w, node)
	if err != nil {
		return 0, err
	}
	h, err := w.Lookup(node)
	if err != nil {
		return 0, err
	}
	ns, err := netns.GetFromName(h.Namespace)
	if err != nil {
		return 0, fmt.Errorf("%s's namespace: %w", node, err)
	}
	defer ns.Close()
	out, err := nat.ListNFT(func(cmd *exec.Cmd) error { return runIn(ns, cmd) }, "-j", "list", "table", "ip", nat.NFTTable)
	if err != nil {
		return 0, err
	}
	k, err := countNFT([]byte(out))
	return n + k, err
}

// countNFT counts the rules and the set and map elements of an
// `nft -j list` document.
func countNFT(doc []byte) (int, error) {
	type elems struct {
		Elem []json.RawMessage `json:"elem"`
	}
	var d struct {
		Nftables []struct {
			Rule *struct{} `json:"rule"`
			Set  *elems    `json:"set"`
			Map  *elems    `json:"map"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return 0, fmt.Errorf("nft -j list: %w", err)
	}
	n := 0
	for _, o := range d.Nftables {
		switch {
		case o.Rule != nil:
			n++
		case o.Set != nil:
			n += len(o.Set.Elem)
		case o.Map != nil:
			n += len(o.Map.Elem)
		}
	}
	return n, nil
}
