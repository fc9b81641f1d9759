package main

import (
	"bytes"
	"encoding/json"
	"errors"
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
	proto, inIface, outIface            string
	nodeIPs                             []string
}

func newExplainCmd(g *globalFlags) *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain (--rules FILE|- | --node HOST) --dst IP:PORT [-p tcp|udp|sctp] [--src IP] [--from pod|node|external] [--node-ip IP]... [--in-interface IF] [--out-interface IF]",
		Short: "Walk the first packet of a connection through an iptables-save dump or kube-proxy's nftables table (nft list ruleset): every outcome with its probability",
		Example: `  iptables-save > node.rules; nlbsim explain --rules node.rules --node-ip 192.168.2.146 --dst 10.100.30.185:7777 --src 192.168.2.77
  sudo nlbsim explain --node node-2 --from external --src 192.168.1.51 --dst 192.168.2.146:32392
  nlbsim explain --rules node.rules -p udp --src 192.168.1.248 --dst 10.100.0.10:53
  nlbsim explain --rules docker-host.rules --node-ip 192.168.0.10 --src 172.17.0.2 --in-interface docker0 --out-interface eth0 --dst 203.0.113.7:443`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runExplain(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rules, "rules", "", "an iptables-save dump, or kube-proxy's table as nft list ruleset text, nft -j list ruleset JSON or nft -f input (- reads standard input); needs no root")
	fl.StringVar(&f.node, "node", "", "a node of the running cluster: its live rules and addresses (needs root)")
	fl.StringVar(&f.dst, "dst", "", "destination IP:PORT")
	fl.StringVarP(&f.proto, "protocol", "p", "tcp", "the packet's protocol: tcp, udp or sctp")
	fl.StringVar(&f.src, "src", "", "source IP (required from a pod or outside; default: the node's own address when --from node)")
	fl.StringVar(&f.from, "from", string(explain.FromPod), "where the packet enters: pod, node or external")
	fl.StringSliceVar(&f.nodeIPs, "node-ip", nil, "the dump's node addresses (repeatable; required with --rules and --from node); known with --node")
	fl.StringVar(&f.inIface, "in-interface", "", "the interface the packet arrives on (default: inferred from the dump's CNI chains, else eni0 from a pod, eth0 from outside)")
	fl.StringVar(&f.outIface, "out-interface", "", "the interface the packet leaves by, whatever its destination (default: routed: inferred pod ranges, else eth0)")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func runExplain(cmd *cobra.Command, g *globalFlags, f *explainFlags) error {
	packet, nodeIPs, err := explainPacket(f)
	if err != nil {
		return err
	}
	text, name, err := explainInput(cmd, g, f)
	if err != nil {
		return err
	}
	if f.node != "" {
		nodeIPs = []netip.Addr{name.nodeIP}
	}
	raw, err := io.ReadAll(text)
	if err != nil {
		return &inputError{name: name.text, err: err}
	}
	var report *explain.Report
	if explain.LooksLikeNFT(string(raw)) {
		// kube-proxy's nftables mode: nft list ruleset / list table text,
		// or nft -f input as `rules --proxy-mode nftables` prints it.
		rs, err := explain.ParseNFT(string(raw))
		if err != nil {
			return &inputError{name: name.text, err: err}
		}
		if len(rs.Chains) == 0 {
			return &inputError{name: name.text, err: fmt.Errorf("no table ip kube-proxy in it")}
		}
		if report, err = explain.WalkNFT(rs, packet, explain.Options{NodeIPs: nodeIPs}); err != nil {
			return err
		}
	} else {
		dump, err := ruleset.Parse(bytes.NewReader(raw))
		if err != nil {
			return &inputError{name: name.text, err: err}
		}
		if report, err = explain.Walk(dump, packet, explain.Options{NodeIPs: nodeIPs, InferInterfaces: true}); err != nil {
			return err
		}
	}
	if f.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteTable(cmd.OutOrStdout())
}

// explainPacket checks explain's flags — everything the walk needs, before
// anything is read — and returns the packet and the dump's node addresses.
func explainPacket(f *explainFlags) (explain.Packet, []netip.Addr, error) {
	var none explain.Packet
	if (f.rules == "") == (f.node == "") {
		return none, nil, usagef("explain needs exactly one of --rules FILE|- and --node HOST")
	}
	if f.dst == "" {
		return none, nil, usagef("explain needs --dst IP:PORT")
	}
	if f.output != "table" && f.output != "json" {
		return none, nil, usagef("-o: unknown format %q (valid: table, json)", f.output)
	}
	if f.node != "" && len(f.nodeIPs) > 0 {
		return none, nil, usagef("--node-ip goes with --rules; with --node the node's addresses are known")
	}
	nodeIPs, err := explain.ParseNodeIPs(f.nodeIPs)
	if err != nil {
		return none, nil, &usageError{fmt.Errorf("--node-ip: %w", err)}
	}
	if !explain.ValidProtocol(strings.ToLower(f.proto)) {
		return none, nil, usagef("-p: unknown protocol %q (valid: tcp, udp, sctp)", f.proto)
	}
	packet, err := explain.ParsePacket(f.src, f.dst, f.proto, f.from)
	if err != nil {
		return none, nil, &usageError{err}
	}
	switch {
	case packet.From != explain.FromNode && f.src == "":
		return none, nil, usagef("--src: missing; a packet from a %s needs its source address (only --from node defaults it)", packet.From)
	case packet.From == explain.FromNode && f.rules != "" && len(nodeIPs) == 0:
		return none, nil, usagef("--node-ip: missing; --from node needs the dump's node address (its source, and what is local)")
	case packet.From == explain.FromNode && f.inIface != "":
		return none, nil, usagef("--in-interface: a packet from the node arrives on no interface")
	}
	for flag, name := range map[string]string{"--in-interface": f.inIface, "--out-interface": f.outIface} {
		if name == "" {
			continue
		}
		if err := explain.ValidInterfaceName(name); err != nil {
			return none, nil, usagef("%s: %v", flag, err)
		}
	}
	packet.InInterface, packet.OutInterface = f.inIface, f.outIface
	return packet, nodeIPs, nil
}

// explainSource names what explain reads: a file, standard input, or a
// node's live rules (with the node's address).
type explainSource struct {
	text   string
	nodeIP netip.Addr
}

// explainInput opens the dump explain walks: --rules FILE or -, or the
// live rules of --node HOST in a running cluster (which needs root).
func explainInput(cmd *cobra.Command, g *globalFlags, f *explainFlags) (io.Reader, explainSource, error) {
	switch {
	case f.rules == "-":
		return cmd.InOrStdin(), explainSource{text: "standard input"}, nil
	case f.rules != "":
		b, err := os.ReadFile(f.rules)
		if err != nil {
			return nil, explainSource{}, &usageError{fmt.Errorf("--rules: %w", err)}
		}
		return bytes.NewReader(b), explainSource{text: f.rules}, nil
	}
	w, err := sim.LoadWorld(g.name)
	if err != nil {
		return nil, explainSource{}, err
	}
	h, err := w.Lookup(f.node)
	if err != nil {
		return nil, explainSource{}, &usageError{err}
	}
	if h.Kind != topology.KindNode {
		return nil, explainSource{}, usagef("--node: %s is a %s, not a node", f.node, h.Kind)
	}
	if err := sim.RequireRoot(); err != nil {
		return nil, explainSource{}, err
	}
	if w.NFTables() {
		table, err := sim.KubeProxyTable(w, h.Name)
		if err != nil {
			return nil, explainSource{}, err
		}
		return strings.NewReader(table), explainSource{text: h.Name + "'s live nftables rules", nodeIP: h.IP}, nil
	}
	saved, err := sim.SaveRules(w, h.Name)
	if err != nil {
		return nil, explainSource{}, err
	}
	return strings.NewReader(saved), explainSource{text: h.Name + "'s live rules", nodeIP: h.IP}, nil
}

// inputError is bad input: a file that cannot be read as what the command
// wants. It prints as "FILE: problem", one line per problem of a dump that
// has several (as many as ruleset.MaxParseErrors).
type inputError struct {
	name string
	err  error
}

func (e *inputError) Error() string {
	if e.name == "" {
		return e.err.Error()
	}
	var pes *ruleset.ParseErrors
	if errors.As(e.err, &pes) && len(pes.Errs) > 1 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d lines that iptables-restore would refuse", e.name, len(pes.Errs))
		if pes.Truncated {
			fmt.Fprintf(&b, " (stopped after %d)", len(pes.Errs))
		}
		for _, pe := range pes.Errs {
			fmt.Fprintf(&b, "\n  %s:%d: %v", e.name, pe.Line, pe.Err)
		}
		return b.String()
	}
	return e.name + ": " + e.err.Error()
}

func (e *inputError) Unwrap() error { return e.err }
