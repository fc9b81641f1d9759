package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
)

func newTraceCmd(g *globalFlags) *cobra.Command {
	var opts sim.TrafficOptions
	var output string
	cmd := &cobra.Command{
		Use:   "trace [-n N] [--from HOST] [--to dns|IP:PORT|clusterip|nodeport] [-o table|json|mermaid]",
		Short: "Send N new requests and show each one's path hop by hop, from the hosts' conntrack tables",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Requests < 1 {
				return usagef("-n must be at least 1")
			}
			if output != "table" && output != "json" && output != "mermaid" {
				return usagef("-o: unknown format %q (valid: table, json, mermaid)", output)
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
			report, err := sim.Trace(ctx, w, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			case "mermaid":
				writeTraceMermaid(out, report)
				return nil
			}
			writeTraceTable(out, report)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&opts.Requests, "requests", "n", 3, "number of requests")
	fl.StringVar(&opts.From, "from", "bastion", "the client host")
	fl.StringVar(&opts.To, "to", sim.ToDNS, "dns (the NLB's name), clusterip, nodeport, or IP:PORT")
	fl.StringVarP(&output, "output", "o", "table", "output format: table, json or mermaid")
	return cmd
}

// writeTraceTable prints each request's hops like a flow list.
func writeTraceTable(out io.Writer, r *sim.TraceReport) {
	for _, req := range r.Requests {
		if req.Error != "" {
			fmt.Fprintf(out, "#%d failed: %s\n\n", req.ID, req.Error)
			continue
		}
		fmt.Fprintf(out, "#%d → %s\n", req.ID, req.Pod)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  HOST\tSOURCE\t\tDESTINATION\tNAT")
		for _, h := range req.Hops {
			nat := ""
			if h.NAT != nil {
				nat = h.NAT.Kind + " by " + h.NAT.By
			}
			fmt.Fprintf(tw, "  %s\t%s\t→\t%s\t%s\n", h.Host, h.Src, h.Dst, nat)
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
}

// writeTraceMermaid prints a sequence diagram that renders on GitHub.
func writeTraceMermaid(out io.Writer, r *sim.TraceReport) {
	fmt.Fprintln(out, "sequenceDiagram")
	seen := map[string]bool{}
	for _, req := range r.Requests {
		for _, h := range req.Hops {
			if !seen[h.Host] {
				seen[h.Host] = true
				fmt.Fprintf(out, "    participant %s as %s\n", mermaidID(h.Host), h.Host)
			}
		}
	}
	for _, req := range r.Requests {
		if req.Error != "" {
			fmt.Fprintf(out, "    Note over %s: #%d failed: %s\n", mermaidID(r.Requests[0].Hops[0].Host), req.ID, strings.ReplaceAll(req.Error, ":", " -"))
			continue
		}
		for i := 1; i < len(req.Hops); i++ {
			from, to := req.Hops[i-1], req.Hops[i]
			label := fmt.Sprintf("#%d %s → %s", req.ID, from.Src, from.Dst)
			fmt.Fprintf(out, "    %s->>%s: %s\n", mermaidID(from.Host), mermaidID(to.Host), label)
			if to.NAT != nil {
				fmt.Fprintf(out, "    Note over %s: %s by %s\n", mermaidID(to.Host), to.NAT.Kind, to.NAT.By)
			}
		}
	}
}

// mermaidID makes a host name a participant ID: no '-' that could read as
// an arrow, no '.'.
func mermaidID(host string) string { return strings.NewReplacer("-", "_", ".", "_").Replace(host) }
