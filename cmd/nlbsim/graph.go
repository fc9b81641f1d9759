package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/diagram"
	"github.com/nlbsim/nlbsim/sim"
)

func newGraphCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "graph [-o mermaid|dot]",
		Short: "Draw the world: VPC, AZs, NLB nodes, nodes, pods and the NLB's targets with their health (no root needed)",
		Long: `Draw the running cluster as a flowchart: the VPC, one box per AZ subnet, the NLB's
node in each AZ with its address, each node with its pods, and the NLB's target
registrations with their current health. In ip mode the NLB nodes point straight at
pods; in instance mode at the nodes' NodePort, and the nodes on at the pods
kube-proxy may DNAT to.

Mermaid renders inline on GitHub (paste it into a mermaid code block); dot renders
with Graphviz.`,
		Example: `  nlbsim graph > world.mmd
  nlbsim graph -o dot | dot -Tsvg > world.svg`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "mermaid" && output != "dot" {
				return usagef("-o: unknown format %q (valid: mermaid, dot)", output)
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			targets, err := sim.LoadTargets(g.name)
			if err != nil {
				return err
			}
			out := diagram.Mermaid
			if output == "dot" {
				out = diagram.Dot
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), out(w, targets))
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "mermaid", "output format: mermaid or dot")
	return cmd
}
