package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// worldOrDefault returns the running cluster's world, or the default world
// for commands that need no running cluster.
func worldOrDefault(cmd *cobra.Command, name string) (*topology.World, error) {
	w, err := sim.LoadWorld(name)
	if errors.Is(err, sim.ErrNoCluster) {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: cluster %q is not running; showing the default world\n", name)
		spec := topology.DefaultSpec()
		spec.Name = name
		return topology.Build(spec)
	}
	return w, err
}

func newRulesCmd(g *globalFlags) *cobra.Command {
	var node string
	from := &fromFlags{rules: true}
	var saved bool
	cmd := &cobra.Command{
		Use:   "rules --node HOST [--saved] [--proxy-mode iptables|nftables]",
		Short: "Print the iptables-restore text nlbsim generates for a node (kube-proxy, kubelet, VPC CNI), or with --saved what iptables-save shows there; in nftables mode kube-proxy's nft -f text; no root",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(from.files) > 0 {
				return runRulesFrom(cmd, g, from, node, saved)
			}
			if node == "" {
				return usagef("rules needs --node HOST (e.g. --node node-1)")
			}
			w, err := worldOrDefault(cmd, g.name)
			if err != nil {
				return err
			}
			switch m := topology.ProxyMode(from.proxyMode); m {
			case "":
			case topology.ProxyIPTables, topology.ProxyNFTables:
				spec := w.Spec
				spec.ProxyMode = m
				if w, err = cluster.Build(spec); err != nil {
					return err
				}
			default:
				return usagef("--proxy-mode: unknown kube-proxy mode %q (valid: iptables, nftables)", from.proxyMode)
			}
			h, err := w.Lookup(node)
			if err != nil {
				return &usageError{err}
			}
			if h.Kind != topology.KindNode {
				return usagef("%s is a %s, not a node; kube-proxy runs on node-1 … node-%d", node, h.Kind, len(w.Nodes))
			}
			if w.NFTables() && !saved {
				// kube-proxy's first sync: the whole table in one nft -f
				// transaction. The node's iptables rules (kubelet's, the
				// VPC CNI's) are --saved's.
				text, err := nat.NFTablesText(w, h.Name)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), text)
				return nil
			}
			rs, err := nat.KubeProxy(w, h.Name)
			if err != nil {
				return err
			}
			if saved {
				fmt.Fprint(cmd.OutOrStdout(), rs.SavedText())
				return nil
			}
			fmt.Fprint(cmd.OutOrStdout(), rs.RestoreText())
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node: node-1, its name or short name")
	from.register(cmd)
	cmd.Flags().BoolVar(&saved, "saved", false, "print what iptables-save shows on the node (-s/-d/-p first, /32, 0x4000/0x4000, --set-xmark, 0.33333333349), generated, not read back")
	return cmd
}

var iptablesTables = map[string]bool{"nat": true, "filter": true, "mangle": true, "raw": true}

func newIptablesCmd(g *globalFlags) *cobra.Command {
	var table string
	cmd := &cobra.Command{
		Use:   "iptables HOST [-t nat|filter|mangle|raw]",
		Short: "Show a host's rules as `iptables -t TABLE -L -n -v` does there, counters included",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !iptablesTables[table] {
				return usagef("-t: unknown table %q (valid: nat, filter, mangle, raw)", table)
			}
			if w, err := sim.LoadWorld(g.name); err == nil && w.NFTables() {
				if h, err := w.Lookup(args[0]); err == nil && h.Kind == topology.KindNode {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: kube-proxy runs in nftables mode on %s: its rules are in table ip kube-proxy (nlbsim nft %s --name %s); iptables shows kubelet's and the VPC CNI's rules\n", h.Name, h.Name, g.name)
				}
			}
			return execOnHost(g, args[0], "iptables", "-t", table, "-L", "-n", "-v")
		},
	}
	cmd.Flags().StringVarP(&table, "table", "t", "nat", "table: nat, filter, mangle or raw")
	return cmd
}

func newNftCmd(g *globalFlags) *cobra.Command {
	var ruleset bool
	cmd := &cobra.Command{
		Use:   "nft HOST [--ruleset]",
		Short: "Show kube-proxy's nftables table on a node in nftables mode, as `nft list table ip kube-proxy` does there (with --ruleset: nft list ruleset)",
		Long: `nft is the nftables twin of iptables: on a node whose kube-proxy runs in
nftables mode (up --proxy-mode nftables) it shows table ip kube-proxy —
verdict maps, numgen spreads, per-service chains. kube-proxy writes no
counter statements in nftables mode, so the table has no counters to show;
traffic and trace measure instead. --ruleset lists every table, iptables-nft's
(kubelet's and the VPC CNI's rules) among them.`,
		Example: `  sudo nlbsim nft node-2
  sudo nlbsim nft node-2 --ruleset`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ruleset {
				return execOnHost(g, args[0], "nft", "list", "ruleset")
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			if h, err := w.Lookup(args[0]); err == nil && !w.NFTables() && h.Kind == topology.KindNode {
				return fmt.Errorf("kube-proxy runs in iptables mode on %s: there is no table ip kube-proxy (nlbsim iptables %s --name %s shows its rules; up --proxy-mode nftables --name %s switches)", h.Name, h.Name, g.name, g.name)
			}
			return execOnHost(g, args[0], "nft", "list", "table", "ip", nat.NFTTable)
		},
	}
	cmd.Flags().BoolVar(&ruleset, "ruleset", false, "list every table (nft list ruleset)")
	return cmd
}
