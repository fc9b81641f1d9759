package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/kubectl"
	"github.com/nlbsim/nlbsim/sim"
)

func newGetCmd(g *globalFlags) *cobra.Command {
	var req kubectl.Request
	cmd := &cobra.Command{
		Use:   "get RESOURCE [NAME]",
		Short: "Show nodes, pods, svc, endpoints, deployments or all, as kubectl does (no root needed)",
		Example: `  nlbsim get node -o wide
  nlbsim get pods -A
  nlbsim get svc nginx-nlb-service -o jsonpath='{.status.loadBalancer.ingress[0].hostname}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("get takes a resource and an optional name: nlbsim get nodes|pods|svc|endpoints|deployments|all [NAME]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Resource = args[0]
			if len(args) == 2 {
				req.Name = args[1]
			}
			if kind, name, ok := strings.Cut(req.Resource, "/"); ok && req.Name == "" {
				req.Resource, req.Name = kind, name
			}
			if err := kubectl.ValidateOutput(req.Output); err != nil {
				return &usageError{err}
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			warnIfSupervisorDown(cmd, g.name)
			if kubectl.IsTargetsResource(req.Resource) {
				targets, err := sim.LoadTargets(g.name)
				if err != nil {
					return err
				}
				err = kubectl.GetTargets(cmd.OutOrStdout(), w, targets, req)
				return kubectlError(cmd, err)
			}
			return kubectlError(cmd, kubectl.Get(cmd.OutOrStdout(), w, req))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&req.Output, "output", "o", "", "output format: table, wide, json, yaml, name, jsonpath=TEMPLATE")
	fl.BoolVarP(&req.AllNamespaces, "all-namespaces", "A", false, "list the objects of every namespace")
	fl.StringVarP(&req.Namespace, "namespace", "n", kubectl.DefaultNamespace, "namespace")
	return cmd
}

// warnIfSupervisorDown says on stderr when a cluster's pods cannot answer.
func warnIfSupervisorDown(cmd *cobra.Command, cluster string) {
	if !sim.SupervisorRunning(cluster) {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the supervisor of cluster %q is not running: pods and health checks do not answer (sudo nlbsim up --name %s restarts it)\n", cluster, cluster)
	}
}

// kubectlError prints a notice on stderr (exit 0) and turns kubectl's usage
// errors into exit code 2.
func kubectlError(cmd *cobra.Command, err error) error {
	var notice *kubectl.Notice
	var usage *kubectl.UsageError
	switch {
	case errors.As(err, &notice):
		fmt.Fprintln(cmd.ErrOrStderr(), notice.Message)
		return nil
	case errors.As(err, &usage):
		return &usageError{err}
	}
	return err
}

func newDescribeCmd(g *globalFlags) *cobra.Command {
	var req kubectl.Request
	cmd := &cobra.Command{
		Use:   "describe svc NAME",
		Short: "Describe a Service as kubectl does, with its NLB and target group (no root needed)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("describe takes a resource and a name: nlbsim describe svc NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Resource = args[0]
			if len(args) == 2 {
				req.Name = args[1]
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			targets, err := sim.LoadTargets(g.name)
			if err != nil {
				return err
			}
			return kubectlError(cmd, kubectl.Describe(cmd.OutOrStdout(), w, targets, req))
		},
	}
	cmd.Flags().StringVarP(&req.Namespace, "namespace", "n", kubectl.DefaultNamespace, "namespace")
	return cmd
}
