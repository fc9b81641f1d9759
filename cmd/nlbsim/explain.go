package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

type explainFlags struct {
	rules, node, dst, src, from, output string
	nodeIPs                             []string
}

func newExplainCmd(g *globalFlags) *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain (--rules FILE|- | --node HOST) --dst IP:PORT [--src IP] [--from pod|node|external] [--node-ip IP]...",
		Short: "Walk the first packet of a connection through an iptables-save dump: every outcome with its probability",
		Example: `  iptables-save > node.rules; nlbsim explain --rules node.rules --node-ip 192.168.2.146 --dst 10.100.30.185:7777 --src 192.168.2.77
  sudo nlbsim explain --node node-2 --from external --src 192.168.1.51 --dst 192.168.2.146:32392`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runExplain(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rules, "rules", "", "an iptables-save dump (- reads standard input); needs no root")
	fl.StringVar(&f.node, "node", "", "a node of the running cluster: its live rules and addresses (needs root)")
	fl.StringVar(&f.dst, "dst", "", "destination IP:PORT")
	fl.StringVar(&f.src, "src", "", "source IP (default: the node's own address when --from node)")
	fl.StringVar(&f.from, "from", string(explain.FromPod), "where the packet enters: pod, node or external")
	fl.StringSliceVar(&f.nodeIPs, "node-ip", nil, "the dump's node addresses (repeatable); known with --node")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func runExplain(cmd *cobra.Command, g *globalFlags, f *explainFlags) error {
	if (f.rules == "") == (f.node == "") {
		return usagef("explain needs exactly one of --rules FILE|- and --node HOST")
	}
	if f.dst == "" {
		return usagef("explain needs --dst IP:PORT")
	}
	if f.output != "table" && f.output != "json" {
		return usagef("-o: unknown format %q (valid: table, json)", f.output)
	}
	if f.node != "" && len(f.nodeIPs) > 0 {
		return usagef("--node-ip goes with --rules; with --node the node's addresses are known")
	}
	nodeIPs, err := explain.ParseNodeIPs(f.nodeIPs)
	if err != nil {
		return &usageError{fmt.Errorf("--node-ip: %w", err)}
	}
	packet, err := explain.ParsePacket(f.src, f.dst, "tcp", f.from)
	if err != nil {
		return &usageError{err}
	}

	var text io.Reader
	name := f.rules
	switch {
	case f.rules == "-":
		text, name = cmd.InOrStdin(), "standard input"
	case f.rules != "":
		file, err := os.Open(f.rules)
		if err != nil {
			return &usageError{fmt.Errorf("--rules: %w", err)}
		}
		defer file.Close()
		text = file
	default:
		w, err := sim.LoadWorld(g.name)
		if err != nil {
			return err
		}
		h, err := w.Lookup(f.node)
		if err != nil {
			return &usageError{err}
		}
		if h.Kind != topology.KindNode {
			return usagef("--node: %s is a %s, not a node", f.node, h.Kind)
		}
		if err := sim.RequireRoot(); err != nil {
			return err
		}
		saved, err := sim.SaveRules(w, h.Name)
		if err != nil {
			return err
		}
		text, name, nodeIPs = strings.NewReader(saved), h.Name+"'s live rules", []netip.Addr{h.IP}
	}
	dump, err := ruleset.Parse(text)
	if err != nil {
		return &usageError{fmt.Errorf("%s: %w", name, err)}
	}
	report, err := explain.Walk(dump, packet, explain.Options{NodeIPs: nodeIPs})
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteTable(cmd.OutOrStdout())
}
