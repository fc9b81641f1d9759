package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
)

type trafficFlags struct {
	opts         sim.TrafficOptions
	chaos        string
	alpha        float64
	failOnErrors bool
	output       string
}

func newTrafficCmd(g *globalFlags) *cobra.Command {
	f := &trafficFlags{}
	cmd := &cobra.Command{
		Use:   "traffic [-n N] [-c C] [--from HOST] [--to dns|IP:PORT|clusterip|nodeport] [--keepalive] [--chaos SPEC] [--alpha A] [--fail-on-errors]",
		Short: "Send N connections with an HTTP GET each and report where they went, against what the rules predict",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.opts.Requests < 1 || f.opts.Concurrency < 1 {
				return usagef("-n and -c must be at least 1")
			}
			if f.alpha < 0 || f.alpha >= 1 {
				return usagef("--alpha: %v is out of range [0, 1)", f.alpha)
			}
			if f.output != "table" && f.output != "json" {
				return usagef("-o: unknown format %q (valid: table, json)", f.output)
			}
			if f.chaos != "" {
				c, err := sim.ParseChaos(f.chaos)
				if err != nil {
					return err
				}
				f.opts.Chaos = &c
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			if err := sim.RequireRoot(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			progress := newProgressBar(cmd.ErrOrStderr())
			f.opts.Progress = progress.update
			report, err := sim.Traffic(ctx, w, f.opts)
			progress.finish()
			if err != nil {
				return err
			}
			if f.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				writeTrafficTable(cmd.OutOrStdout(), report, f.alpha)
			}
			if f.failOnErrors && report.Errors > 0 {
				return fmt.Errorf("%d of %d requests failed", report.Errors, report.Requests)
			}
			if f.alpha > 0 && report.PValue != nil && *report.PValue < f.alpha {
				return fmt.Errorf("the distribution does not fit the rules: p-value %g < alpha %g", *report.PValue, f.alpha)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.opts.Requests, "requests", "n", 300, "number of requests")
	fl.IntVarP(&f.opts.Concurrency, "concurrency", "c", 8, "requests at a time")
	fl.StringVar(&f.opts.From, "from", "bastion", "the client host")
	fl.StringVar(&f.opts.To, "to", sim.ToDNS, "dns (the NLB's name), clusterip, nodeport, or IP:PORT")
	fl.BoolVar(&f.opts.KeepAlive, "keepalive", false, "reuse connections (kube-proxy balances connections, not requests)")
	fl.Float64Var(&f.alpha, "alpha", 0, "exit 1 when the chi-square test rejects the fit at this level (e.g. 1e-4)")
	fl.BoolVar(&f.failOnErrors, "fail-on-errors", false, "exit 1 when any request failed")
	fl.StringVar(&f.chaos, "chaos", "", "change the cluster during the run: delete-pod[:POD]@P%, fail-pod[:POD]@P%, rollout@P%, stop-node[:NODE]@P%, scale:N@P%")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// writeTrafficTable prints the report with bars a person reads at a glance.
func writeTrafficTable(out io.Writer, r *sim.TrafficReport, alpha float64) {
	fmt.Fprintf(out, "%d requests from %s to %s (%s mode): %d errors", r.Requests, r.From, r.To, r.Mode, r.Errors)
	if r.Errors > 0 {
		var kinds []string
		for k, n := range r.ErrorsByKind {
			if n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
		}
		sort.Strings(kinds)
		fmt.Fprintf(out, " (%s)", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(out, "; latency p50 %.2f ms, p99 %.2f ms", r.LatencyMs.P50, r.LatencyMs.P99)
	if r.PortAllocationErrors != nil {
		fmt.Fprintf(out, "; NLB port allocation errors %d", *r.PortAllocationErrors)
	}
	fmt.Fprintln(out)
	served := r.Requests - r.Errors
	section(out, "POD", r.ByPod, served, r.Expected)
	section(out, "NLB ADDRESS", r.ByNLBAddress, r.Requests, nil)
	if len(r.ByNode) > 0 {
		section(out, "NODE THAT RECEIVED THE NLB'S PACKET", r.ByNode, served, nil)
	}
	section(out, "SOURCE IP THE POD SAW", r.BySourceSeen, served, nil)
	if r.Chaos != "" {
		fmt.Fprintf(out, "\nchaos %s — failed requests per tenth of the run:", r.Chaos)
		for _, n := range r.ErrorsOverTime {
			fmt.Fprintf(out, " %d", n)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
	switch {
	case r.RulesChanged:
		fmt.Fprintln(out, "fit: withheld — the rules changed during the run")
	case r.PValue == nil:
		fmt.Fprintln(out, "fit: none — fewer than two pods can be chosen")
	default:
		verdict := ""
		if alpha > 0 {
			verdict = fmt.Sprintf(" — %s at alpha %g", map[bool]string{true: "rejected", false: "not rejected"}[*r.PValue < alpha], alpha)
		}
		fmt.Fprintf(out, "fit: chi-square %.3f, p-value %.4g against the rules installed%s\n", *r.ChiSquare, *r.PValue, verdict)
	}
}

func section(out io.Writer, title string, counts map[string]int, total int, expected map[string]float64) {
	keys := make([]string, 0, len(counts)+len(expected))
	seen := map[string]bool{}
	for k := range counts {
		keys, seen[k] = append(keys, k), true
	}
	for k := range expected {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	width := len(title)
	for _, k := range keys {
		width = max(width, len(k))
	}
	fmt.Fprintf(out, "\n%-*s  %7s  %6s", width, title, "COUNT", "SHARE")
	if expected != nil {
		fmt.Fprintf(out, "  %8s", "EXPECTED")
	}
	fmt.Fprintln(out)
	for _, k := range keys {
		share := 0.0
		if total > 0 {
			share = float64(counts[k]) / float64(total)
		}
		fmt.Fprintf(out, "%-*s  %7d  %5.1f%%", width, k, counts[k], 100*share)
		if expected != nil {
			fmt.Fprintf(out, "  %7.1f%%", 100*expected[k])
		}
		fmt.Fprintf(out, "  %s\n", strings.Repeat("█", int(share*40+0.5)))
	}
}

// progressBar draws progress on a terminal, and nothing elsewhere.
type progressBar struct {
	out     io.Writer
	enabled bool
	last    int
}

func newProgressBar(out io.Writer) *progressBar {
	f, ok := out.(*os.File)
	enabled := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			enabled = true
		}
	}
	return &progressBar{out: out, enabled: enabled}
}

func (p *progressBar) update(done, total int) {
	if !p.enabled || total < 100 {
		return
	}
	pct := done * 100 / total
	if pct == p.last && done != total {
		return
	}
	p.last = pct
	fmt.Fprintf(p.out, "\r[%-40s] %d/%d", strings.Repeat("=", pct*40/100), done, total)
}

func (p *progressBar) finish() {
	if p.enabled && p.last > 0 {
		fmt.Fprint(p.out, "\r\033[K")
	}
}
