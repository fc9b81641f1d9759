package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/bench"
	"github.com/nlbsim/nlbsim/topology"
)

type benchFlags struct {
	modes, services string
	endpoints       int
	samples         int
	timeScale       float64
	output          string
	plots           []string
}

func newBenchCmd(g *globalFlags) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench [--proxy-mode iptables,nftables] [--services LIST] [--endpoints-per-service M] [-n SAMPLES] [--time-scale F] [-o table|json] [--plot FILE.png|.svg]",
		Short: "Measure first-packet latency, sync time and ruleset size per proxy mode as the number of Services grows",
		Long: `bench brings up one cluster per proxy mode and size (named bench-<pid>-…, removed
at the end), each with that many extra ClusterIP Services (see up --services),
and measures on node-1: the time from SYN to SYN-ACK of new connections to the
walkthrough's Service (listed last in KUBE-SERVICES) from a pod to its
ClusterIP and from the bastion through the NLB (instance targets), sampled in
turns over all clusters; the node's full sync into a fresh namespace and its
incremental sync after an endpoint change; its rules (nftables mode: also
kube-proxy's set and map elements) and the peak memory of the restore or nft
process of the full sync. By default both proxy modes, iptables first.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			modes, err := bench.ParseModes(f.modes)
			if err != nil {
				return usagef("--proxy-mode: %v", err)
			}
			sizes, err := bench.ParseSizes(f.services)
			if err != nil {
				return usagef("--services: %v", err)
			}
			if f.endpoints < 1 || f.endpoints > topology.MaxBenchEndpoints {
				return usagef("--endpoints-per-service: %d is out of range [1, %d]", f.endpoints, topology.MaxBenchEndpoints)
			}
			if f.samples < 1 {
				return usagef("-n: %d samples; need at least 1", f.samples)
			}
			if !(f.timeScale >= 1 && f.timeScale <= 1e6) {
				return usagef("--time-scale: %v is out of range [1, 1000000]", f.timeScale)
			}
			if f.output != "table" && f.output != "json" {
				return usagef("-o: unknown format %q (valid: table, json)", f.output)
			}
			formats := make([]string, len(f.plots))
			for i, name := range f.plots {
				if formats[i], err = bench.PlotFormat(name); err != nil {
					return usagef("--plot: %v", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			bar := newStepBar(cmd.ErrOrStderr())
			report, err := bench.Run(ctx, bench.Options{
				Modes: modes, Services: sizes, EndpointsPerService: f.endpoints, Samples: f.samples, TimeScale: f.timeScale,
				Progress: bar.update,
			})
			bar.finish()
			if err != nil {
				return err
			}
			for i, name := range f.plots {
				if err := writePlot(report, formats[i], name); err != nil {
					return err
				}
			}
			if f.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			writeBenchTable(cmd.OutOrStdout(), report)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.modes, "proxy-mode", bench.DefaultModes(), "kube-proxy modes to measure, comma-separated, in order ("+strings.Join(bench.ModeNames(), ", ")+")")
	fl.StringVar(&f.services, "services", "0,1000,5000,10000", "numbers of extra ClusterIP Services, comma-separated, measured in order")
	fl.IntVar(&f.endpoints, "endpoints-per-service", topology.DefaultBenchEndpoints, "endpoints of each extra Service")
	fl.IntVarP(&f.samples, "samples", "n", 2000, "new connections timed per path and size")
	fl.Float64Var(&f.timeScale, "time-scale", 1, "divide the clusters' AWS and Kubernetes timers by this factor (up's wait for healthy targets; not what is timed)")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fl.StringArrayVar(&f.plots, "plot", nil, "also draw latency and sync time against the number of Services into FILE.png or FILE.svg (repeatable)")
	return cmd
}

// writePlot draws the report into a file, replacing it only when whole.
func writePlot(r *bench.Report, format, name string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".nlbsim-plot-*")
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = bench.Plot(r, format, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("--plot %s: %w", name, err)
	}
	return nil
}

// writeBenchTable prints one row per mode and size, with first-packet
// latency also as a ratio to the mode's first size.
func writeBenchTable(out io.Writer, r *bench.Report) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MODE\tSERVICES\tENDPOINTS\tPOD→CLUSTERIP p50\tp99\tBASTION→NLB p50\tp99\tFULL SYNC\tINCR. SYNC\tRULES\tRESTORE/NFT RSS\t")
	base := map[string]bench.Result{}
	for _, res := range r.Results {
		if _, ok := base[res.ProxyMode]; !ok {
			base[res.ProxyMode] = res
		}
		b := base[res.ProxyMode]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.3f ms\t%s\t%.3f ms\t%.0f ms\t%.0f ms\t%d\t%.1f MiB\t\n",
			res.ProxyMode, res.Services, res.EndpointsPerService,
			withRatio(res.FirstPacketMs.FromPod.P50, b.FirstPacketMs.FromPod.P50), res.FirstPacketMs.FromPod.P99,
			withRatio(res.FirstPacketMs.FromNLB.P50, b.FirstPacketMs.FromNLB.P50), res.FirstPacketMs.FromNLB.P99,
			res.FullSyncMs, res.IncrementalSyncMs, res.Rules, res.RestoreMaxRSSMiB)
	}
	tw.Flush()
	if len(r.Results) > 0 {
		fmt.Fprintf(out, "p50 ratios (×) are against the mode's first size in this run.\n")
	}
}

func withRatio(v, base float64) string {
	if base <= 0 {
		return fmt.Sprintf("%.3f ms", v)
	}
	return fmt.Sprintf("%.3f ms (%.2f×)", v, v/base)
}

// stepBar shows a run's steps on a terminal: a bar and what runs now.
type stepBar struct {
	out     io.Writer
	enabled bool
	shown   bool
}

func newStepBar(out io.Writer) *stepBar {
	p := newProgressBar(out)
	return &stepBar{out: out, enabled: p.enabled}
}

func (b *stepBar) update(done, total int, what string) {
	if !b.enabled || total == 0 {
		return
	}
	b.shown = true
	fmt.Fprintf(b.out, "\r\033[K[%-30s] %d/%d %s", strings.Repeat("=", done*30/total), done, total, what)
}

func (b *stepBar) finish() {
	if b.shown {
		fmt.Fprint(b.out, "\r\033[K")
	}
}
