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
func TestSavedFormAgrees(t *testing.T) {
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("needs root: it loads the rules into a scratch network namespace")
	}
	for _, tool := range []string{"ip", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			stop("needs %s on the PATH (scripts/provision.sh installs it)", tool)
		}
	}
	ns := fmt.Sprintf("nlbsim-diff-%d", os.Getpid())
	require.NoError(t, exec.Command("ip", "netns", "add", ns).Run())
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	w := world(t)
	const host = "node-2"
	restore := exec.Command("ip", "netns", "exec", ns, "iptables-restore")
	restore.Stdin = strings.NewReader(nodeRules(t, w, host))
	var errb bytes.Buffer
	restore.Stderr = &errb
	require.NoError(t, restore.Run(), errb.String())
	saved, err := exec.Command("ip", "netns", "exec", ns, "iptables-save").Output()
	require.NoError(t, err)
	require.Contains(t, string(saved), "--set-xmark 0x4000/0x4000", "iptables-save's own printing")

	r := compare(t, w, host, string(saved))
	assert.True(t, r.Agree, dump(t, r))

	// And a planted fault in that form is still found alone.
	edited := editLine(t, string(saved), "-j DNAT --to-destination 192.168.2.122:8080", "192.168.2.122:8080", "192.168.2.122:8081")
	r = compare(t, w, host, edited)
	require.Len(t, r.Services, 1, dump(t, r))
	assert.Equal(t, []string{KindEndpointTarget}, kinds(r.Services[0]))
}
