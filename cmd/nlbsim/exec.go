package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
)

func newExecCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "exec HOST -- CMD [ARG...]",
		Short: "Run a command on a host, as ip netns exec does (with its /etc/netns hosts and resolv.conf)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("exec needs a host and a command: nlbsim exec HOST -- CMD [ARG...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return execOnHost(g, args[0], args[1:]...)
		},
	}
}

// execOnHost replaces this process with `ip netns exec` of a host's
// namespace running argv, as a shell on that host would.
func execOnHost(g *globalFlags, host string, argv ...string) error {
	w, err := sim.LoadWorld(g.name)
	if err != nil {
		return err
	}
	h, err := w.Lookup(host)
	if err != nil {
		return &usageError{err}
	}
	if err := sim.RequireRoot(); err != nil {
		return err
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("needs ip(8) from iproute2: %w", err)
	}
	return syscall.Exec(ipPath, append([]string{"ip", "netns", "exec", h.Namespace}, argv...), os.Environ())
}
