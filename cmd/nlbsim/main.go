// Command nlbsim rebuilds the walkthrough's EKS cluster and its Network Load
// Balancer in network namespaces on one Linux machine.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns its exit code: 0 success,
// 1 runtime failure, 2 bad usage or bad input.
func run(args []string) int {
	root, g := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var exit *exitCode
	if errors.As(err, &exit) {
		return exit.code
	}
	msg, code := describe(err, g.name)
	fmt.Fprintln(os.Stderr, "error:", msg)
	return code
}
