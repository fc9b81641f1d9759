package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nlbsim/nlbsim/sim/dump"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
)

func newSaveCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "save DIR",
		Short: "Save everything needed to debug the cluster into DIR: per host iptables-save, conntrack, ip addr/route/rule/neigh, sysctls; state files and a summary",
		Long: `save writes, like kind's export logs, one folder per host of the cluster
(iptables-save with counters, the conntrack table, ip addr, link, route show
table all, rule and neigh, the sysctls nlbsim sets, the host's /etc/netns files)
and, at the top, the cluster's state files (world.json, targets.json,
supervisor.log), summary.txt (the supervisor, the namespaces, get all -A -o wide
and get targets -o wide) and problems.txt (what could not be saved). It only
reads, so it works with a dead supervisor or a missing namespace.`,
		Example: `  sudo nlbsim save /tmp/myeks-debug
  sudo nlbsim save --name lab /tmp/lab && grep -r KUBE-SVC /tmp/lab/node-1/iptables-save.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return usagef("save takes one directory: nlbsim save DIR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sim.RequireRoot(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := dump.Save(ctx, g.name, args[0], sim.Backend)
			if err != nil {
				return fmt.Errorf("saving cluster %q: %w", g.name, err)
			}
			sup := "running"
			if !r.SupervisorAlive {
				sup = "not running"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %q saved to %s: %d hosts, %d files (supervisor %s)\n", g.name, r.Dir, r.Hosts, r.Files, sup)
			if len(r.Problems) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d things could not be saved (listed in %s/problems.txt):\n", len(r.Problems), r.Dir)
				for _, p := range r.Problems {
					fmt.Fprintln(cmd.ErrOrStderr(), "  "+p)
				}
			}
			return nil
		},
	}
}
