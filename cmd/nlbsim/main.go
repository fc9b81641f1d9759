// Command nlbsim rebuilds the walkthrough's EKS cluster and its Network Load
// Balancer in network namespaces on one Linux machine.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/nlbsim/nlbsim/topology"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns its exit code: 0 success,
// 1 runtime failure, 2 bad usage or bad input.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var exit *exitCode
	if errors.As(err, &exit) {
		return exit.code
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var usage *usageError
	var invalid *topology.InvalidError
	var input *inputError
	if errors.As(err, &usage) || errors.As(err, &invalid) || errors.As(err, &input) {
		return 2
	}
	return 1
}

// usageError marks bad usage: a wrong flag, argument or value.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }
