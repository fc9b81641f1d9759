package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

func newApplyCmd(g *globalFlags) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE…",
		Short: "Apply manifests to the running cluster in place, as up -f: the objects given replace theirs, the others stay",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(f.files) == 0 {
				return usagef("apply needs -f FILE (a manifest, a directory of them, or - for standard input)")
			}
			applied, err := topology.ReadManifests(f.files)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			before, err := sim.LoadWorld(g.name)
			if errors.Is(err, sim.ErrNoCluster) {
				// Bad manifests say so first, running cluster or not.
				spec := newSpec(g.name)
				setModeFlags(fl, f, &spec)
				spec.Manifests = applied
				if err := spec.Validate(); err != nil {
					return &usageError{err}
				}
				if _, err := topology.Build(spec); err != nil {
					return err
				}
				return fmt.Errorf("no cluster %q is running, and apply changes a running one (start it with: sudo nlbsim up --name %s -f %s)",
					g.name, g.name, strings.Join(f.files, " -f "))
			}
			if err != nil {
				return err
			}
			spec := before.Spec
			spec.Name = g.name
			setModeFlags(fl, f, &spec)
			if spec, err = topology.ApplyManifests(spec, applied); err != nil {
				return err
			}
			if err := spec.Validate(); err != nil {
				return &usageError{err}
			}
			return runUp(cmd, spec, f, before, applied)
		},
	}
	addModeFlags(cmd.Flags(), f)
	return cmd
}
