package nat

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireKernel skips a test that loads rules into scratch network
// namespaces when not root, and fails it in CI, where it must run.
func requireKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (a network namespace and iptables), and CI is set: in CI it must run, not skip")
		}
		t.Skip("needs root: it loads rules into a scratch network namespace (run with sudo)")
	}
}

// thenSave is a RunInNamespace that runs the restore it is given in an
// unnamed network namespace of its own, followed there by b's
// iptables-save, whose output it keeps.
type thenSave struct {
	b     Backend
	saved bytes.Buffer
}

func (s *thenSave) run(cmd *exec.Cmd) error {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return err
	}
	cmd.Args = append([]string{"sh", "-c", `"$0" "$@" && ` + s.b.command("save")}, cmd.Args...)
	cmd.Path = sh
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stdout = &s.saved // the restore's errors stay on the caller's Stderr
	return cmd.Run()
}

// Install streams a ruleset into iptables-restore: the kernel holds what
// RestoreText describes (as TestSavedTextMatchesKernel checks for the
// text), for both backends; a restore that fails early, while most of a
// big ruleset is still to be written, returns its error rather than
// leaving the writer blocked.
func TestInstallStreamsTheRuleset(t *testing.T) {
	requireKernel(t)
	w := servicesWorld(t)
	rs, err := KubeProxy(w, "node-1")
	require.NoError(t, err)
	want := savedTablesOf(rs.SavedText())

	broken := &Ruleset{Node: "node-1", Rules: []Rule{{Table: TableNAT, Chain: "NO-SUCH-CHAIN", Spec: "-j ACCEPT"}}}
	for range 200_000 { // about 5 MiB of text behind the failing line
		broken.Rules = append(broken.Rules, Rule{Table: TableNAT, Chain: "NO-SUCH-CHAIN", Spec: "-m comment --comment padding -j ACCEPT"})
	}
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		if _, err := exec.LookPath(b.command("restore")); err != nil {
			t.Fatalf("%s not installed (scripts/provision.sh installs it)", b.command("restore"))
		}
		t.Run(string(b), func(t *testing.T) {
			s := &thenSave{b: b}
			require.NoError(t, Install(b, rs, s.run))
			got := savedTablesOf(s.saved.String())
			assert.Equal(t, len(want), len(got))
			for table, text := range want {
				assert.Equal(t, text, got[table], "table %s", table)
			}

			err := Install(b, broken, (&thenSave{b: b}).run)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), b.command("restore")+": "), "error names the command: %v", err)
			assert.Contains(t, err.Error(), "line 4 failed", "error names the failing line (*filter, COMMIT, *nat, the rule)")
		})
	}
}
