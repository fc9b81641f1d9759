package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

type upFlags struct {
	mode, etp             string
	nodes, replicas       int
	crossZone, preserveIP bool
	timeScale             float64
	minimal, retain, fg   bool
	instanceType          string
}

func newUpCmd(g *globalFlags) *cobra.Command {
	f := &upFlags{}
	d := topology.DefaultSpec()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the cluster (default: the walkthrough's, in ip mode) and wait until every pod answers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// On a running cluster, the flags given change its settings and
			// the others keep their values.
			spec, running := d, false
			if w, err := sim.LoadWorld(g.name); err == nil {
				spec, running = w.Spec, true
			}
			spec.Name = g.name
			fl := cmd.Flags()
			set := func(flag string, apply func()) {
				if fl.Changed(flag) || !running {
					apply()
				}
			}
			set("mode", func() { spec.Mode = topology.TargetType(f.mode) })
			set("nodes", func() { spec.Nodes = f.nodes })
			set("replicas", func() { spec.Replicas = f.replicas })
			set("external-traffic-policy", func() { spec.ExternalTrafficPolicy = topology.TrafficPolicy(f.etp) })
			set("time-scale", func() { spec.TimeScale = f.timeScale })
			set("minimal", func() { spec.Minimal = f.minimal })
			set("instance-type", func() { spec.InstanceType = f.instanceType })
			if fl.Changed("cross-zone") {
				spec.CrossZone = &f.crossZone
			}
			if fl.Changed("preserve-client-ip") {
				spec.PreserveClientIP = &f.preserveIP
			}
			if err := spec.Validate(); err != nil {
				return &usageError{err}
			}
			return runUp(cmd, spec, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", string(d.Mode), "NLB target type: ip or instance")
	fl.IntVar(&f.nodes, "nodes", d.Nodes, "number of worker nodes, spread round-robin over the three AZs")
	fl.IntVar(&f.replicas, "replicas", d.Replicas, "replicas of nginx-deployment, placed round-robin over the nodes")
	fl.BoolVar(&f.crossZone, "cross-zone", false, "enable the NLB's cross-zone load balancing (default: off, as AWS)")
	fl.BoolVar(&f.preserveIP, "preserve-client-ip", false, "target group attribute preserve_client_ip.enabled (default: on for instance, off for ip)")
	fl.StringVar(&f.etp, "external-traffic-policy", string(d.ExternalTrafficPolicy), "externalTrafficPolicy of LoadBalancer Services: Cluster or Local")
	fl.Float64Var(&f.timeScale, "time-scale", d.TimeScale, "divide every AWS and Kubernetes timer by this factor")
	fl.BoolVar(&f.minimal, "minimal", false, "leave out the add-ons (kubernetes and kube-dns Services, CoreDNS, control-plane ENIs)")
	fl.BoolVar(&f.retain, "retain", false, "keep what a failed first up built, for debugging")
	fl.BoolVar(&f.fg, "foreground", false, "keep the supervisor attached; Ctrl-C tears the cluster down")
	fl.StringVar(&f.instanceType, "instance-type", d.InstanceType, "EC2 instance type of the nodes (caps pods per node as VPC CNI does)")
	return cmd
}

func runUp(cmd *cobra.Command, spec topology.Spec, f *upFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, err := sim.Up(ctx, spec, sim.Options{Retain: f.retain, InProcess: f.fg, Log: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	w := c.World
	out := cmd.OutOrStdout()
	verb := "is up"
	switch {
	case c.Changed:
		verb = "was changed in place"
	case c.Existed:
		verb = "was already up with these settings"
	}
	fmt.Fprintf(out, "cluster %q %s in %s (%d nodes, %d pods, %d namespaces)\n",
		w.Cluster.Name, verb, time.Since(start).Round(time.Millisecond), len(w.Nodes), len(w.Pods), len(w.Hosts()))
	for _, lb := range w.LoadBalancers {
		fmt.Fprintf(out, "NLB %s (%s targets): %s\n", lb.Name, lb.TargetType, lb.DNSName)
	}
	fmt.Fprintf(out, "try: sudo nlbsim exec bastion -- curl -s %s:%d\n", firstPodIP(w), topology.AppPort)
	if !f.fg {
		return nil
	}
	fmt.Fprintln(out, "running in the foreground; Ctrl-C tears the cluster down")
	c.Wait(ctx)
	fmt.Fprintln(out, "tearing down")
	return c.Down()
}

func firstPodIP(w *topology.World) string {
	for _, p := range w.Pods {
		if p.Running() && p.Serves == topology.ServesHTTP {
			return p.IP.String()
		}
	}
	return "<pod IP>"
}

func newDownCmd(g *globalFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the cluster: supervisor, namespaces, /etc/netns files and state (idempotent)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all {
				names, err := sim.DownAll()
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "cluster %q removed\n", n)
				}
				return err
			}
			if err := sim.Down(g.name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %q removed\n", g.name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every nlbsim cluster on this machine")
	return cmd
}

func newSuperviseCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:    sim.SuperviseCommand,
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return sim.RunSupervisor(ctx, g.name)
		},
	}
}
