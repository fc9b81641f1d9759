package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/diff"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// fromFlags read a real cluster's objects: `--from FILE…` (kubectl get
// nodes,services,endpointslices,pods -A -o yaml, and optionally the
// kube-proxy ConfigMap) and the kube-proxy mode to model.
type fromFlags struct {
	files     []string
	proxyMode string
	// rules: --proxy-mode also without --from (the running or default
	// world in that mode), and nftables mode is modelled; nft: nftables
	// mode is modelled (diff).
	rules, nft bool
	// configSource names where load found kube-proxy's mode, "" for none.
	configSource string
}

func (f *fromFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.files, "from", nil, "a real cluster's objects: the output of kubectl get nodes,services,endpointslices,pods -A -o yaml (or -o json), and optionally the kube-proxy ConfigMap; a file, a directory or -; repeatable")
	usage := "kube-proxy's mode (default: the ConfigMap's, else iptables); nlbsim models iptables"
	if f.nft {
		usage = "kube-proxy's mode: iptables (v1.30) or nftables (v1.33); default: the ConfigMap's, else what --rules holds"
	}
	if f.rules {
		usage = "kube-proxy's mode: iptables (v1.30) or nftables (v1.33); default: the cluster's (with --from the ConfigMap's), else iptables"
	}
	cmd.Flags().StringVar(&f.proxyMode, "proxy-mode", "", usage)
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if f.proxyMode != "" && len(f.files) == 0 && !f.rules {
			return usagef("--proxy-mode goes with --from (a real cluster's objects)")
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// check validates the flags before anything is read.
func (f *fromFlags) check(node string) error {
	switch f.proxyMode {
	case "", "iptables":
	case "nftables":
		if !f.rules && !f.nft {
			return usagef("--proxy-mode %s: not modelled yet; nlbsim writes kube-proxy's iptables mode", f.proxyMode)
		}
	case "ipvs":
		return usagef("--proxy-mode %s: not modelled yet; nlbsim writes kube-proxy's iptables mode", f.proxyMode)
	default:
		return usagef("--proxy-mode: unknown mode %q (valid: iptables)", f.proxyMode)
	}
	if node == "" {
		return usagef("--node: missing; name the node as `kubectl get nodes` prints it")
	}
	return nil
}

// load reads the cluster, prints its warnings on stderr, and finds the node.
func (f *fromFlags) load(cmd *cobra.Command, g *globalFlags, node string) (*topology.World, string, error) {
	ms, err := topology.ReadManifests(f.files)
	if err != nil {
		return nil, "", err
	}
	c, err := cluster.Read(g.name, ms)
	if err != nil {
		return nil, "", &inputError{err: err}
	}
	for _, warning := range c.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", warning)
	}
	w := c.World
	if w.Cluster.KubeProxy.Mode != "" {
		f.configSource = c.KubeProxyConfig
	}
	switch mode := w.Cluster.KubeProxy.Mode; {
	case f.proxyMode != "":
		w.Cluster.KubeProxy.Mode = f.proxyMode
	case mode == "nftables" && (f.rules || f.nft):
	case mode != "" && mode != "iptables":
		return nil, "", &inputError{err: fmt.Errorf("kube-proxy runs in %s mode (%s); nlbsim models iptables mode (say --proxy-mode iptables for those rules anyway)", mode, c.KubeProxyConfig)}
	}
	host, err := findNode(w, node)
	if err != nil {
		return nil, "", err
	}
	return w, host, nil
}

// findNode takes a node as kubectl prints it, its short name, or node-N.
func findNode(w *topology.World, name string) (string, error) {
	names := make([]string, 0, len(w.Nodes))
	for _, n := range w.Nodes {
		if name == n.NodeName || name == n.ShortName() || name == n.Name {
			return n.Name, nil
		}
		names = append(names, n.NodeName)
	}
	return "", usagef("--node: no node %q in the objects; nodes: %s", name, strings.Join(names, ", "))
}

// runRulesFrom prints the rules kube-proxy (and kubelet) write on a node of
// a real cluster.
func runRulesFrom(cmd *cobra.Command, g *globalFlags, f *fromFlags, node string, saved bool) error {
	if err := f.check(node); err != nil {
		return err
	}
	w, host, err := f.load(cmd, g, node)
	if err != nil {
		return err
	}
	if w.NFTables() && !saved {
		text, err := nat.NFTablesText(w, host)
		if err != nil {
			return &inputError{err: err}
		}
		fmt.Fprint(cmd.OutOrStdout(), text)
		return nil
	}
	rs, err := diff.Expected(w, host)
	if err != nil {
		return &inputError{err: err}
	}
	if saved {
		fmt.Fprint(cmd.OutOrStdout(), rs.SavedText())
		return nil
	}
	fmt.Fprint(cmd.OutOrStdout(), rs.RestoreText())
	return nil
}
