package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/nlbsim/nlbsim/sim/doctor"

	"github.com/spf13/cobra"
)

func newDoctorCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "doctor [-o table|json]",
		Short: "Check that this machine can run nlbsim: a verdict per item and what to install (exit 1 when a required item fails)",
		Long: `doctor checks root, /run/netns, ip(8), the iptables on the PATH and its backend,
the iptables-restore tools, every match and target nlbsim's rules use, and
conntrack over netlink, and looks for tcpdump, curl and conntrack(8). The rules
and conntrack are tried for real inside a scratch network namespace that doctor
creates and removes; the host's own network namespace is never touched.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usagef("-o: unknown format %q (valid: table, json)", output)
			}
			r := doctor.Run()
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				writeDoctorTable(cmd.OutOrStdout(), r)
			}
			if r.OK {
				return nil
			}
			failed, unchecked := r.Missing()
			msg := fmt.Sprintf("nlbsim cannot run here: %s failed", strings.Join(failed, ", "))
			if unchecked > 0 {
				msg += fmt.Sprintf("; %d required items could not be checked", unchecked)
			}
			return errors.New(msg)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func writeDoctorTable(out io.Writer, r *doctor.Report) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tVERDICT\tDETAIL")
	for _, c := range r.Checks {
		detail := c.Detail
		if c.Fix != "" {
			detail += " — " + c.Fix
		}
		status := c.Status
		if !c.Required && c.Status == doctor.CheckOK {
			status += " (optional)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, status, detail)
	}
	tw.Flush()
	if r.OK {
		fmt.Fprintln(out, "\nnlbsim can run here.")
	}
}
