package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/ui"
)

func newUICmd(g *globalFlags) *cobra.Command {
	var address string
	var open bool
	cmd := &cobra.Command{
		Use:   "ui [--address 127.0.0.1:8080] [--open]",
		Short: "Serve the live lab to a browser: topology, target health, rule counters, every request's path",
		Long: `Serve one page that shows the running cluster live: the topology as graph draws
it with the NLB's targets and their health, each node's KUBE-SVC/KUBE-SEP rules
with their counters, traffic and trace runs (also those started from the CLI), the
distribution against the expected one, and the events. Its controls change the
cluster through the same API as the CLI's commands.

Anyone who can reach the address can read; changes need the token of the printed
URL (a new one each run) and a request from the page itself. It listens on
loopback unless --address says otherwise.`,
		Example: `  sudo nlbsim ui
  sudo nlbsim ui --address 127.0.0.1:9090 --open`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(address); err != nil {
				return usagef("--address: %v (want HOST:PORT, e.g. 127.0.0.1:8080)", err)
			}
			if _, err := sim.LoadWorld(g.name); err != nil {
				return err
			}
			if !ui.IsLoopback(address) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: listening on %s, not loopback: anyone who reaches it sees the cluster, and anyone with the URL can change it\n", address)
			}
			ln, err := net.Listen("tcp", address)
			if err != nil {
				return err
			}
			srv := ui.New(ui.Config{Cluster: g.name, Backend: ui.SimBackend{Cluster: g.name}, Addr: ln.Addr().String(), Token: ui.NewToken()})
			url := srv.URL(ln.Addr().String())
			fmt.Fprintf(cmd.OutOrStdout(), "nlbsim ui of cluster %q: open\n    %s\n(Ctrl-C stops it)\n", g.name, url)
			if open {
				openBrowser(cmd, url)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go srv.Run(ctx)
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
				BaseContext: func(net.Listener) context.Context { return ctx }} // ends the pages' streams
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				hs.Shutdown(shut)
			}()
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "address", "127.0.0.1:8080", "address to listen on (HOST:PORT; loopback unless you need otherwise)")
	cmd.Flags().BoolVar(&open, "open", false, "open the page in the desktop's browser (xdg-open)")
	return cmd
}

// openBrowser asks the desktop to open url; without one it says so.
func openBrowser(cmd *cobra.Command, url string) {
	path, err := exec.LookPath("xdg-open")
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "--open: no xdg-open here; open the URL above in a browser")
		return
	}
	if err := exec.Command(path, url).Start(); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "--open: %v\n", err)
	}
}
