// Package simerr names the kinds of failure the live world reports, so that
// callers branch with errors.Is and the CLI turns each into its exit code
// and hint. Bad input is a *topology.InvalidError.
package simerr

import (
	"errors"
	"os"
)

var (
	// ErrNeedsRoot says an operation needs root; nothing was touched.
	ErrNeedsRoot = errors.New("needs root: it creates and enters network namespaces")
	// ErrNoCluster says a cluster has no state: it is not running.
	ErrNoCluster = errors.New("cluster not found")
	// ErrNotFound says a named object (pod, node, Deployment, host) does not
	// exist in a running cluster.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning says a cluster exists but its supervisor does not
	// answer.
	ErrNotRunning = errors.New("supervisor not running")
	// ErrBusy says another process is changing the cluster.
	ErrBusy = errors.New("cluster is being changed by another process")
)

// RequireRoot fails with ErrNeedsRoot unless the process is root.
func RequireRoot() error {
	if os.Geteuid() != 0 {
		return ErrNeedsRoot
	}
	return nil
}
