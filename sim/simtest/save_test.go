package simtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// failedTB is a test that has failed, recording what it logs.
type failedTB struct {
	testing.TB
	logs []string
}

func (f *failedTB) Failed() bool { return true }
func (f *failedTB) Logf(format string, a ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, a...))
}

// A failed test's cluster is saved under NLBSIM_SAVE_DIR, named after the
// test, before it is torn down; a passing test's is not.
func TestFailedTestSavesItsCluster(t *testing.T) {
	c := Up(t, Minimal())
	base := t.TempDir()
	t.Setenv(SaveDirEnv, base)
	dir := filepath.Join(base, "nlbsim-TestFailedTestSavesItsCluster")
	assert.Equal(t, dir, SaveDir(t))

	saveIfFailed(t, c.World.Cluster.Name)
	assert.NoDirExists(t, dir, "a passing test saves nothing")

	f := &failedTB{TB: t}
	saveIfFailed(f, c.World.Cluster.Name)
	assert.FileExists(t, filepath.Join(dir, "summary.txt"))
	assert.FileExists(t, filepath.Join(dir, "node-1", "iptables-save.txt"))
	assert.FileExists(t, filepath.Join(dir, "world.json"))
	if assert.Len(t, f.logs, 1) {
		assert.Contains(t, f.logs[0], dir)
	}

	// A second failure replaces the first bundle.
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	saveIfFailed(f, c.World.Cluster.Name)
	assert.NoFileExists(t, filepath.Join(dir, "stale"))
	assert.FileExists(t, filepath.Join(dir, "summary.txt"))
}
