package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print nlbsim's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "nlbsim %s (models Kubernetes v1.30.4-eks-a737599 with kube-proxy in iptables mode, and v1.33.13 in nftables mode)\n", v)
			return nil
		},
	}
}
