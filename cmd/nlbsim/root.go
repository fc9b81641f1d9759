package main

import (
	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/topology"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	name string
}

func newRootCmd() (*cobra.Command, *globalFlags) {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "nlbsim",
		Short: "The walkthrough's EKS cluster and AWS Network Load Balancer, in network namespaces",
		Long: `nlbsim rebuilds, on one Linux machine and without AWS, an EKS cluster with VPC CNI
networking, kube-proxy's iptables rules on every node, and a LoadBalancer Service
behind a Network Load Balancer in ip or instance target mode. Every host is a
network namespace named nlbsim.<cluster>.<host>.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q; see nlbsim --help", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := topology.ValidateClusterName(g.name); err != nil {
				return &usageError{err}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().StringVar(&g.name, "name", topology.DefaultClusterName, "cluster name (a DNS label of at most 20 characters)")
	root.AddCommand(
		newUpCmd(g),
		newApplyCmd(g),
		newDownCmd(g),
		newGetCmd(g),
		newDescribeCmd(g),
		newExecCmd(g),
		newRulesCmd(g),
		newIptablesCmd(g),
		newNftCmd(g),
		newExplainCmd(g),
		newDiffCmd(g),
		newTrafficCmd(g),
		newTraceCmd(g),
		newBenchCmd(g),
		newGraphCmd(g),
		newUICmd(g),
		newScaleCmd(g),
		newRolloutCmd(g),
		newObjectVerbCmd(g, "delete", "pod", "Delete a pod: it leaves the endpoints, runs its preStop hook, and is replaced by a new pod", false),
		newObjectVerbCmd(g, "fail", "pod", "Make a pod's server refuse or stop answering (it stays Ready without a readiness probe)", true),
		newObjectVerbCmd(g, "recover", "pod", "Make a failed pod's server answer again", false),
		newObjectVerbCmd(g, "stop", "node", "Stop a node's instance: NotReady after the grace period, pods evicted after the timeout", false),
		newObjectVerbCmd(g, "start", "node", "Start a stopped node's instance again", false),
		newNodeEditCmd(g, "label"),
		newNodeEditCmd(g, "taint"),
		newEventsCmd(g),
		newCaptureCmd(g),
		newDoctorCmd(g),
		newSaveCmd(g),
		newVersionCmd(),
		newSuperviseCmd(g),
	)
	return root, g
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &usageError{err}
	}
	return nil
}
