package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// The root namespace stays exactly as it was across the reliability
// session: doctor, both modes, traffic, trace, save, a killed supervisor
// restarted by up, an interrupted first up and a killed one cleaned up by
// down.
func TestRootNamespaceUntouchedByFaults(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	nlbsim(t, "down", "--name", name)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	before := rootSnapshot(t)
	run := func(args ...string) {
		t.Helper()
		r := nlbsim(t, args...)
		require.Equal(t, 0, r.code, "nlbsim %v: %s", args, r.stderr)
	}

	run("doctor")
	run("up", "--name", name)
	run("traffic", "--name", name, "-n", "300", "--fail-on-errors")
	run("trace", "--name", name, "-n", "5")
	run("save", "--name", name, t.TempDir())
	killSupervisor(t, name)
	run("save", "--name", name, t.TempDir())
	run("up", "--name", name)
	run("traffic", "--name", name, "-n", "300", "--fail-on-errors")
	run("up", "--name", name, "--mode", "instance")
	run("traffic", "--name", name, "-n", "300", "--fail-on-errors")
	run("trace", "--name", name, "-n", "5")
	run("save", "--name", name, t.TempDir())
	run("down", "--name", name)

	cmd, _ := startPaused(t, name, "probe", "--mode", "instance")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code, _ := waitExit(t, cmd, 30*time.Second)
	assert.Equal(t, 1, code)
	cmd, _ = startPaused(t, name, "rules")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	waitExit(t, cmd, 30*time.Second)
	run("down", "--name", name)
	run("doctor")
	assert.Empty(t, leftovers(name))

	after := rootSnapshot(t)
	for k := range before {
		assert.Equal(t, before[k], after[k], fmt.Sprintf("root namespace %s changed", k))
	}
}
