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
			w, err := sim.LoadWorld(g.name)
			if err != nil {
				return err
			}
			h, err := w.Lookup(args[0])
			if err != nil {
				return &usageError{err}
			}
			if err := sim.RequireRoot(); err != nil {
				return err
			}
			ipPath, err := exec.LookPath("ip")
			if err != nil {
				return fmt.Errorf("exec needs ip(8) from iproute2: %w", err)
			}
			argv := append([]string{"ip", "netns", "exec", h.Namespace}, args[1:]...)
			return syscall.Exec(ipPath, argv, os.Environ())
		},
	}
}
