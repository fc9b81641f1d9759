package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
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
	from := &fromFlags{}
	var saved bool
	cmd := &cobra.Command{
		Use:   "rules --node HOST [--saved]",
		Short: "Print the iptables-restore text nlbsim generates for a node (kube-proxy, kubelet, VPC CNI), or with --saved what iptables-save shows there; no root",
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
			h, err := w.Lookup(node)
			if err != nil {
				return &usageError{err}
			}
			if h.Kind != topology.KindNode {
				return usagef("%s is a %s, not a node; kube-proxy runs on node-1 … node-%d", node, h.Kind, len(w.Nodes))
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
			return execOnHost(g, args[0], "iptables", "-t", table, "-L", "-n", "-v")
		},
	}
	cmd.Flags().StringVarP(&table, "table", "t", "nat", "table: nat, filter, mangle or raw")
	return cmd
}
