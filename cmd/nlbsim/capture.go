package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nlbsim/nlbsim/sim/capture"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

type captureFlags struct {
	file     string
	port     int
	duration time.Duration
}

func newCaptureCmd(g *globalFlags) *cobra.Command {
	f := &captureFlags{}
	cmd := &cobra.Command{
		Use:   "capture [HOST...] -w FILE.pcapng [--port P] [--duration D]",
		Short: "Capture every link of the hosts (all hosts when none named) into one pcapng, one interface per host link",
		Long: `capture records the real packets on every link (lo excepted) of the named hosts,
or of every host when none is named (the VPC fabric "vpc" included), into one
pcapng file with one interface per host link, named host/link (node-2/eth0,
vpc/to-bastion, node-1/eni1a2b3c4d5e6). A packet crossing a veth is recorded at
both ends, so Wireshark's flow graph shows its whole path. --port keeps TCP and
UDP packets from or to that port, and every ARP and ICMP packet. It stops after
--duration or on Ctrl-C, and prints how many packets each interface wrote.
-w - writes to standard output (wireshark -k -i -), the summary to stderr.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.file == "" {
				return usagef("capture needs a file: nlbsim capture [HOST...] -w FILE.pcapng")
			}
			if cmd.Flags().Changed("port") && (f.port < 1 || f.port > 65535) {
				return usagef("--port: %d is out of range 1-65535", f.port)
			}
			if f.duration < 0 {
				return usagef("--duration: %s is negative", f.duration)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sim.RequireRoot(); err != nil {
				return err
			}
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			for _, h := range args {
				if _, err := w.Lookup(h); err != nil {
					return &usageError{err}
				}
			}
			return runCapture(cmd, w, args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "write", "w", "", "the pcapng file to write (- for standard output)")
	fl.IntVar(&f.port, "port", 0, "keep only TCP and UDP packets from or to this port (and ARP and ICMP)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (default: on Ctrl-C)")
	return cmd
}

func runCapture(cmd *cobra.Command, w *topology.World, hosts []string, f *captureFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var out io.Writer
	var file *os.File
	summary, dest := cmd.OutOrStdout(), f.file
	if f.file == "-" {
		out, summary, dest = cmd.OutOrStdout(), cmd.ErrOrStderr(), "standard output"
	} else {
		var err error
		if file, err = os.Create(f.file); err != nil {
			return err
		}
		out = file
	}
	opts := capture.Options{Port: f.port, Duration: f.duration, Started: func(ifaces []capture.Interface) {
		until := "Ctrl-C stops"
		if f.duration > 0 {
			until = "for " + f.duration.String()
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "capturing on %d interfaces into %s; %s\n", len(ifaces), dest, until)
	}}
	stats, err := capture.Run(ctx, w, hosts, out, opts)
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.file) // half a capture helps nobody
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(summary, "wrote %d packets from %d interfaces to %s in %s\n", stats.Written(), len(stats.Interfaces), dest, stats.End.Sub(stats.Start).Round(time.Millisecond))
	tw := tabwriter.NewWriter(summary, 0, 8, 2, ' ', 0)
	head := "INTERFACE\tPACKETS\tDROPPED"
	if f.port != 0 {
		head += "\tFILTERED"
	}
	fmt.Fprintln(tw, head)
	for _, i := range stats.Interfaces {
		line := fmt.Sprintf("%s\t%d\t%d", i.Name, i.Written, i.Dropped)
		if f.port != 0 {
			line += fmt.Sprintf("\t%d", i.Filtered)
		}
		if i.Err != "" {
			line += "\t(stopped: " + i.Err + ")"
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
