package diff

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rules as a real node's iptables-save prints them — loaded into a
// scratch network namespace and saved back — agree with the objects: the
// comparison reads rules as the kernel holds them, not as text.
// scratchNamespace makes a network namespace for the test (root, and ip and
// tools on the PATH: without them the test skips, and fails in CI) and
// returns a runner of commands in it, given their standard input.
func scratchNamespace(t *testing.T, why string, tools ...string) func(stdin string, args ...string) string {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("needs root: %s", why)
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			stop("needs %s on the PATH (scripts/provision.sh installs it)", tool)
		}
	}
	ns := fmt.Sprintf("nlbsim-%s-%d", strings.ToLower(t.Name()), os.Getpid())
	require.NoError(t, exec.Command("ip", "netns", "add", ns).Run())
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		require.NoError(t, cmd.Run(), "%v: %s", args, errb.String())
		return out.String()
	}
}

func TestSavedFormAgrees(t *testing.T) {
	run := scratchNamespace(t, "it loads the rules into a scratch network namespace", "iptables-restore", "iptables-save")
	w := world(t)
	const host = "node-2"
	run(nodeRules(t, w, host), "iptables-restore")
	saved := run("", "iptables-save")
	require.Contains(t, saved, "--set-xmark 0x4000/0x4000", "iptables-save's own printing")

	r := compare(t, w, host, saved)
	assert.True(t, r.Agree, dump(t, r))

	// And a planted fault in that form is still found alone.
	edited := editLine(t, saved, "-j DNAT --to-destination 192.168.2.122:8080", "192.168.2.122:8080", "192.168.2.122:8081")
	r = compare(t, w, host, edited)
	require.Len(t, r.Services, 1, dump(t, r))
	assert.Equal(t, []string{KindEndpointTarget}, kinds(r.Services[0]))
}
