package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

type upFlags struct {
	mode, etp, proxyMode  string
	nodes, replicas       int
	crossZone, preserveIP bool
	timeScale             float64
	minimal, retain, fg   bool
	instanceType          string
	services, endpoints   int
	subnetPrefix          int
	files                 []string
	from                  []string
	pauseAt               string // hidden: interruption tests pause a first up before this step
}

// addModeFlags adds the flags that set every LoadBalancer Service's NLB and
// policy, over the manifests' annotations: up's and apply's.
func addModeFlags(fl *pflag.FlagSet, f *upFlags) {
	fl.StringVar(&f.mode, "mode", "", "NLB target type: ip or instance (default: the Service's annotation, ip in the walkthrough's)")
	fl.BoolVar(&f.crossZone, "cross-zone", false, "enable the NLB's cross-zone load balancing (default: the annotation, else off as on AWS)")
	fl.BoolVar(&f.preserveIP, "preserve-client-ip", false, "target group attribute preserve_client_ip.enabled (default: the annotation, else on for instance, off for ip)")
	fl.StringVar(&f.etp, "external-traffic-policy", "", "externalTrafficPolicy of LoadBalancer Services: Cluster or Local (default: the Service's, Cluster in the walkthrough's)")
	fl.StringVar(&f.proxyMode, "proxy-mode", "", "kube-proxy's mode on every node: iptables (kube-proxy v1.30, the walkthrough's) or nftables (v1.33); default: a KubeProxyConfiguration among the manifests, else iptables")
	fl.StringSliceVarP(&f.files, "filename", "f", nil, "manifest (YAML or JSON; a directory; - for standard input) whose Namespaces, Deployments and Services replace the walkthrough's; repeatable")
}

// setModeFlags puts the mode and policy flags that were given into spec:
// a flag beats an annotation, so one not given must stay unset.
func setModeFlags(fl *pflag.FlagSet, f *upFlags, spec *topology.Spec) {
	if fl.Changed("mode") {
		spec.Mode = topology.TargetType(f.mode)
	}
	if fl.Changed("external-traffic-policy") {
		spec.ExternalTrafficPolicy = topology.TrafficPolicy(f.etp)
	}
	if fl.Changed("proxy-mode") {
		spec.ProxyMode = topology.ProxyMode(f.proxyMode)
	}
	if fl.Changed("cross-zone") {
		spec.CrossZone = &f.crossZone
	}
	if fl.Changed("preserve-client-ip") {
		spec.PreserveClientIP = &f.preserveIP
	}
}

// newSpec is the spec of a new cluster before flags: the walkthrough's,
// with mode and policy left to the annotations.
func newSpec(name string) topology.Spec {
	d := topology.DefaultSpec()
	d.Name, d.Mode, d.ExternalTrafficPolicy = name, "", ""
	return d
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
			// the others keep their values; manifests replace their objects.
			spec, running := newSpec(g.name), false
			before, err := sim.LoadWorld(g.name)
			if err == nil {
				spec, running = before.Spec, true
			} else {
				before = nil
			}
			spec.Name = g.name
			fl := cmd.Flags()
			set := func(flag string, apply func()) {
				if fl.Changed(flag) || !running {
					apply()
				}
			}
			set("nodes", func() { spec.Nodes = f.nodes })
			set("replicas", func() { spec.Replicas = f.replicas })
			set("time-scale", func() { spec.TimeScale = f.timeScale })
			set("minimal", func() { spec.Minimal = f.minimal })
			set("instance-type", func() { spec.InstanceType = f.instanceType })
			set("services", func() { spec.Services = f.services })
			set("endpoints-per-service", func() { spec.EndpointsPerService = f.endpoints })
			if fl.Changed("subnet-prefix-length") {
				spec.SubnetPrefixLength = f.subnetPrefix
			}
			setModeFlags(fl, f, &spec)
			if err := checkFromFlags(fl, f, spec); err != nil {
				return err
			}
			if len(f.from) > 0 {
				if spec.From, err = topology.ReadManifests(f.from); err != nil {
					return err
				}
			}
			if fl.Changed("replicas") && (len(f.files) > 0 || len(spec.Manifests) > 0) {
				return usagef("--replicas sets the walkthrough's nginx-deployment; with manifests, spec.replicas of each Deployment counts")
			}
			var applied []topology.Manifest
			if len(f.files) > 0 {
				if applied, err = topology.ReadManifests(f.files); err != nil {
					return err
				}
				if running {
					if spec, err = topology.ApplyManifests(spec, applied); err != nil {
						return err
					}
				} else {
					spec.Manifests = applied
				}
			}
			if err := spec.Validate(); err != nil {
				return &usageError{err}
			}
			if fl.Changed("pause-at") {
				if _, err := sim.PauseAt(f.pauseAt); err != nil {
					return usagef("--pause-at: %v", err)
				}
			}
			return runUp(cmd, spec, f, before, applied)
		},
	}
	fl := cmd.Flags()
	addModeFlags(fl, f)
	fl.IntVar(&f.nodes, "nodes", d.Nodes, "number of worker nodes, spread round-robin over the three AZs")
	fl.IntVar(&f.replicas, "replicas", d.Replicas, "replicas of the walkthrough's nginx-deployment, placed round-robin over the nodes")
	fl.Float64Var(&f.timeScale, "time-scale", d.TimeScale, "divide every AWS and Kubernetes timer by this factor")
	fl.BoolVar(&f.minimal, "minimal", false, "leave out the add-ons (kubernetes and kube-dns Services, CoreDNS, control-plane ENIs)")
	fl.BoolVar(&f.retain, "retain", false, "keep what a failed first up built, for debugging")
	fl.BoolVar(&f.fg, "foreground", false, "keep the supervisor attached; Ctrl-C tears the cluster down")
	fl.StringVar(&f.instanceType, "instance-type", d.InstanceType, "EC2 instance type of the nodes (caps pods per node as VPC CNI does)")
	fl.IntVar(&f.services, "services", 0, "add this many ClusterIP Services (namespace bench) whose endpoints never answer: a big node ruleset for scale experiments")
	fl.IntVar(&f.endpoints, "endpoints-per-service", 10, "endpoints of each --services Service")
	fl.IntVar(&f.subnetPrefix, "subnet-prefix-length", topology.DefaultSubnetPrefixLength,
		"prefix length of the three AZ subnets in the VPC 192.168.0.0/16, 18–28 (eksctl's are 19): AZ a, b and c take the 2nd, 3rd and 4th block of that size (the 1st holds the VPC resolver 192.168.0.2); from 24 down the walkthrough's hosts keep their host parts (node-1 192.168.1.118 is 192.168.32.118 at 19)")
	fl.StringSliceVar(&f.from, "from", nil, "rebuild a real cluster from the output of kubectl get nodes,services,endpointslices,pods -A -o yaml (or -o json), and optionally the kube-proxy ConfigMap; a file, a directory or -; repeatable")
	fl.StringVar(&f.pauseAt, "pause-at", "", "for interruption tests: pause a first up before this step until SIGINT or SIGTERM")
	fl.MarkHidden("pause-at")
	return cmd
}

// fromExcludes are up's flags that shape the walkthrough's world, which a
// real cluster's objects (--from) replace.
var fromExcludes = []string{"filename", "nodes", "replicas", "minimal", "instance-type", "services", "endpoints-per-service", "subnet-prefix-length"}

// checkFromFlags refuses, before anything is read, the flags that do not go
// with a real cluster's objects (given now, or the running cluster's).
func checkFromFlags(fl *pflag.FlagSet, f *upFlags, spec topology.Spec) error {
	if len(f.from) == 0 && len(spec.From) == 0 {
		return nil
	}
	for _, name := range fromExcludes {
		if fl.Changed(name) {
			return usagef("--%s does not go with a real cluster's objects (--from): they make the whole world", name)
		}
	}
	return nil
}

// runUp builds the world of spec (bad input fails here, before anything is
// touched), brings it up or changes the running one, and reports: kubectl
// apply's lines for the manifests applied, then the cluster and its NLBs.
func runUp(cmd *cobra.Command, spec topology.Spec, f *upFlags, before *topology.World, applied []topology.Manifest) error {
	w, err := cluster.Build(spec)
	if err != nil {
		return err
	}
	for _, warning := range w.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "Warning:", warning)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	opts := sim.Options{Retain: f.retain, InProcess: f.fg, Log: cmd.ErrOrStderr()}
	if f.pauseAt != "" {
		if opts.BeforeStep, err = sim.PauseAt(f.pauseAt); err != nil {
			return err
		}
	}
	c, err := sim.Up(ctx, spec, opts)
	if err != nil {
		return err
	}
	w = c.World
	out := cmd.OutOrStdout()
	for _, line := range topology.Applied(before, w, applied) {
		fmt.Fprintln(out, line)
	}
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
	fmt.Fprintf(out, "try: sudo nlbsim exec bastion -- curl -s %s\n", firstPodAddr(w))
	if !f.fg {
		return nil
	}
	fmt.Fprintln(out, "running in the foreground; Ctrl-C tears the cluster down")
	c.Wait(ctx)
	fmt.Fprintln(out, "tearing down")
	return c.Down()
}

// firstPodAddr is the address and first TCP port of the first pod that
// runs the echo server.
func firstPodAddr(w *topology.World) string {
	for _, p := range w.Pods {
		if !p.Running() || p.Serves != topology.ServesHTTP {
			continue
		}
		for _, port := range p.Ports {
			if port.Protocol == "TCP" {
				return fmt.Sprintf("%s:%d", p.IP, port.Port)
			}
		}
	}
	return fmt.Sprintf("<pod IP>:%d", topology.AppPort)
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
