package main

import (
	"github.com/spf13/cobra"
)

func newGetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{Use: "get", Short: "Show nodes, pods, services or endpoints as kubectl does"}
}
