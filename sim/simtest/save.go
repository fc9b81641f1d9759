package simtest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nlbsim/nlbsim/sim/dump"

	"github.com/nlbsim/nlbsim/sim"
)

// SaveDirEnv names the directory under which a failed test's cluster is
// saved (default: os.TempDir()).
const SaveDirEnv = "NLBSIM_SAVE_DIR"

var notPathSafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SaveDir is where a failed test's cluster is saved:
// $NLBSIM_SAVE_DIR (or os.TempDir()) / nlbsim-<test name>.
func SaveDir(t testing.TB) string {
	base := os.Getenv(SaveDirEnv)
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "nlbsim-"+notPathSafe.ReplaceAllString(t.Name(), "_"))
}

// saveIfFailed saves a failed test's cluster as `nlbsim save` does, before
// it is torn down, replacing an earlier run's bundle of the same test, and
// logs where it went. A passing test saves nothing.
func saveIfFailed(t testing.TB, cluster string) {
	if !t.Failed() {
		return
	}
	dir := SaveDir(t)
	os.RemoveAll(dir) // an earlier run's bundle: the name is this test's own
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := dump.Save(ctx, cluster, dir, sim.Backend)
	if err != nil {
		t.Logf("test failed; saving cluster %q for the post-mortem failed too: %v", cluster, err)
		return
	}
	t.Logf("test failed: cluster %q saved to %s (%d hosts, %d files, %d problems; start with summary.txt)", cluster, dir, r.Hosts, r.Files, len(r.Problems))
}
