package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// doAction sends an action to the cluster's supervisor and prints what
// kubectl would.
func doAction(cmd *cobra.Command, g *globalFlags, a sim.Action, done string) error {
	if err := sim.RequireRoot(); err != nil {
		return err
	}
	if err := sim.Do(cmd.Context(), g.name, a); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), done)
	return nil
}

// kindName splits kubectl's TYPE/NAME, insisting on the type.
func kindName(arg string, kinds ...string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	for _, k := range kinds {
		if ok && kind == k && name != "" {
			return name, nil
		}
	}
	return "", usagef("%q: expected %s/NAME", arg, kinds[0])
}

func newScaleCmd(g *globalFlags) *cobra.Command {
	var replicas int
	var namespace string
	cmd := &cobra.Command{
		Use:   "scale deployment/NAME --replicas N",
		Short: "Set a Deployment's replicas; new pods are scheduled within VPC CNI's pod limit",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := kindName(args[0], "deployment", "deploy", "deployments")
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("replicas") || replicas < 0 {
				return usagef("--replicas: give a number of replicas, 0 or more")
			}
			return doAction(cmd, g, sim.Action{Verb: sim.VerbScale, Namespace: namespace, Name: name, Replicas: replicas}, "deployment.apps/"+name+" scaled")
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", 0, "the new number of replicas")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace")
	return cmd
}

func newRolloutCmd(g *globalFlags) *cobra.Command {
	var namespace string
	restart := &cobra.Command{
		Use:   "restart deployment/NAME",
		Short: "Replace a Deployment's pods (maxSurge and maxUnavailable 25%)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := kindName(args[0], "deployment", "deploy", "deployments")
			if err != nil {
				return err
			}
			return doAction(cmd, g, sim.Action{Verb: sim.VerbRolloutRestart, Namespace: namespace, Name: name}, "deployment.apps/"+name+" restarted")
		},
	}
	restart.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace")
	cmd := &cobra.Command{Use: "rollout", Short: "Manage a Deployment's rollout", Args: noArgs}
	cmd.AddCommand(restart)
	return cmd
}

// newObjectVerbCmd makes `VERB KIND NAME` commands: delete pod, fail pod,
// recover pod, stop node, start node.
func newObjectVerbCmd(g *globalFlags, verb, kind, short string, withHow bool) *cobra.Command {
	var how string
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("%s %s NAME", verb, kind),
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] != kind && args[0] != kind+"s" {
				return usagef("usage: nlbsim %s %s NAME", verb, kind)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if withHow && how != "refuse" && how != "hang" {
				return usagef("--how: %q is neither refuse nor hang", how)
			}
			a := sim.Action{Verb: sim.Verb(verb + "-" + kind), Name: args[1], How: how}
			past := map[string]string{"delete": "deleted", "fail": "failing (" + how + ")", "recover": "recovered", "stop": "stopped", "start": "started"}[verb]
			return doAction(cmd, g, a, kind+"/"+args[1]+" "+past)
		},
	}
	if withHow {
		cmd.Flags().StringVar(&how, "how", "refuse", "refuse (connections reset) or hang (no answer)")
	}
	return cmd
}

func newEventsCmd(g *globalFlags) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "events [-w]",
		Short: "Show what happened: endpoints changed, rules synced, targets registered, healthy, draining… (no root)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := sim.LoadWorld(g.name); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			events, offset, err := sim.ReadEvents(g.name, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%-12s  %-7s  %-22s  %-40s  %s\n", "TIME", "TYPE", "REASON", "OBJECT", "MESSAGE")
			for _, e := range events {
				fmt.Fprintln(out, e)
			}
			if !watch {
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(200 * time.Millisecond):
				}
				events, offset, err = sim.ReadEvents(g.name, offset)
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				if err != nil {
					return err
				}
				for _, e := range events {
					fmt.Fprintln(out, e)
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep printing new events until Ctrl-C")
	return cmd
}

// newNodeEditCmd makes `label node NAME KEY=VALUE|KEY-` and `taint node
// NAME KEY[=VALUE]:EFFECT|KEY[:EFFECT]-`, as kubectl has them.
func newNodeEditCmd(g *globalFlags, verb string) *cobra.Command {
	taint := verb == "taint"
	form := "KEY=VALUE|KEY-"
	short := "Set or remove a node's label (node.kubernetes.io/exclude-from-external-load-balancers takes it out of the NLB's instance targets)"
	if taint {
		form = "KEY[=VALUE]:EFFECT|KEY[:EFFECT]-"
		short = "Set or remove a node's taint (ToBeDeletedByClusterAutoscaler, karpenter.sh/disrupted take it out of the NLB's instance targets)"
	}
	return &cobra.Command{
		Use:   verb + " node NAME " + form,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 3 || args[0] != "node" && args[0] != "nodes" {
				return usagef("usage: nlbsim %s node NAME %s", verb, form)
			}
			_, err := topology.ParseNodeEdit(args[2], taint)
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			past := map[bool]string{false: "labeled", true: "tainted"}[taint]
			a := sim.Action{Verb: sim.Verb(verb + "-node"), Name: args[1], Edit: args[2]}
			return doAction(cmd, g, a, "node/"+args[1]+" "+past)
		},
	}
}
