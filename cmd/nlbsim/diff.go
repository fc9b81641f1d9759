package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/nat/diff"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
)

type diffFlags struct {
	from        fromFlags
	node, rules string
	output      string
}

func newDiffCmd(g *globalFlags) *cobra.Command {
	f := &diffFlags{from: fromFlags{nft: true}}
	cmd := &cobra.Command{
		Use:   "diff --from FILE… --node NAME --rules DUMP [--proxy-mode iptables|nftables] [-o table|json]",
		Short: "Compare a real node's iptables-save (or nft list ruleset) with the rules kube-proxy should have written for the cluster's objects; no root",
		Long: `diff reads a real cluster's objects (--from: kubectl get nodes,services,endpointslices,pods -A -o yaml,
and optionally the kube-proxy ConfigMap) and one node's rules (--rules: iptables-save in iptables
mode; nft list ruleset, or nft -j list ruleset, in nftables mode), and says, grouped by Service,
what differs from the rules kube-proxy should have written there: missing and stale Services,
endpoints in the rules that the EndpointSlices do not list as serving (and the reverse), wrong
probabilities, endpoint chains that translate elsewhere, set and map elements missing, extra or
wrong (nftables mode), chains nobody owns; for each affected Service, the outcomes of packets walked
through both. Chains of kubelet, the VPC CNI, Calico, Cilium, flannel, docker and other components
are recognised and left out.

kube-proxy's mode is --proxy-mode's, else the ConfigMap's, else the one the dump is written for
(iptables-save or nft); a dump of the other mode than --proxy-mode's or the ConfigMap's is refused.

Exit codes: 0 the rules agree, 1 they differ, 2 bad usage or bad input.`,
		Example: `  kubectl get nodes,services,endpointslices,pods -A -o yaml > cluster.yaml
  kubectl get cm -n kube-system kube-proxy-config -o yaml > kube-proxy.yaml
  ssh node-2 sudo iptables-save > node-2.rules
  nlbsim diff --from cluster.yaml --from kube-proxy.yaml --node ip-192-168-2-60.ap-northeast-2.compute.internal --rules node-2.rules`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDiff(cmd, g, f) },
	}
	f.from.register(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "the node whose rules --rules holds, as kubectl get nodes prints it")
	cmd.Flags().StringVar(&f.rules, "rules", "", "that node's iptables-save, or nft list ruleset in nftables mode (- reads standard input)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func runDiff(cmd *cobra.Command, g *globalFlags, f *diffFlags) error {
	switch {
	case len(f.from.files) == 0:
		return usagef("--from: missing; the cluster's objects (kubectl get nodes,services,endpointslices,pods -A -o yaml)")
	case f.rules == "":
		return usagef("--rules: missing; the node's iptables-save (or nft list ruleset in nftables mode)")
	case f.output != "table" && f.output != "json":
		return usagef("-o: unknown format %q (valid: table, json)", f.output)
	}
	for _, file := range f.from.files {
		if file == "-" && f.rules == "-" {
			return usagef("--from - and --rules - cannot both read standard input")
		}
	}
	if err := f.from.check(f.node); err != nil {
		return err
	}
	w, host, err := f.from.load(cmd, g, f.node)
	if err != nil {
		return err
	}
	var text io.Reader
	name := f.rules
	if f.rules == "-" {
		text, name = cmd.InOrStdin(), "standard input"
	} else {
		file, err := os.Open(f.rules)
		if err != nil {
			return &usageError{err}
		}
		defer file.Close()
		text = file
	}
	raw, err := io.ReadAll(text)
	if err != nil {
		return &inputError{name: name, err: err}
	}
	if err := diffMode(w, f, name, string(raw)); err != nil {
		return err
	}
	var report *diff.Report
	if w.NFTables() {
		rs, err := explain.ParseNFT(string(raw))
		if err != nil {
			return &inputError{name: name, err: err}
		}
		report, err = diff.CompareNFT(w, host, rs)
		if err != nil {
			return &inputError{err: err}
		}
	} else {
		dump, err := ruleset.Parse(strings.NewReader(string(raw)))
		if err != nil {
			return &inputError{name: name, err: err}
		}
		report, err = diff.Compare(w, host, dump)
		if err != nil {
			return &inputError{err: err}
		}
	}
	if f.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteTable(cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	if !report.Agree {
		return &exitCode{code: 1}
	}
	return nil
}

// diffMode settles kube-proxy's mode: --proxy-mode's, else the
// ConfigMap's, else the one the dump is written for; a dump of another mode
// than the one named is refused, naming both.
func diffMode(w *topology.World, f *diffFlags, name, text string) error {
	dumpMode, form := diff.ModeIPTables, "iptables-save output"
	if explain.LooksLikeNFT(text) {
		dumpMode, form = diff.ModeNFTables, "nft ruleset"
	}
	var want, source string
	switch {
	case f.from.proxyMode != "":
		want, source = f.from.proxyMode, "--proxy-mode"
	case w.Cluster.KubeProxy.Mode != "":
		want, source = w.Cluster.KubeProxy.Mode, "the kube-proxy ConfigMap ("+f.from.configSource+")"
	default:
		want = dumpMode
	}
	if want != dumpMode {
		wantForm := "iptables-save"
		if want == diff.ModeNFTables {
			wantForm = "nft list ruleset"
		}
		return &inputError{name: name, err: fmt.Errorf("is %s (kube-proxy's %s mode), but %s says %s mode: give that node's %s, or say --proxy-mode %s",
			form, dumpMode, source, want, wantForm, dumpMode)}
	}
	w.Cluster.KubeProxy.Mode = want
	return nil
}

// exitCode ends a command with a code and no message: the output said it
// (diff's 1 when the rules differ).
type exitCode struct{ code int }

func (e *exitCode) Error() string { return "" }
