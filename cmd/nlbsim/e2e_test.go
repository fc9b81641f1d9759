package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
)

// binary is nlbsim built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nlbsim-e2e-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // the unprivileged-user tests run it too
	binary = filepath.Join(dir, "nlbsim")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building nlbsim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// nlbsim runs the built binary like a user would.
func nlbsim(t *testing.T, args ...string) result {
	t.Helper()
	return nlbsimAs(t, nil, args...)
}

func nlbsimAs(t *testing.T, cred *syscall.Credential, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, withTestTimeScale(args)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running nlbsim %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// testTimeScale runs the timers of the tests' clusters 10 times faster
// unless a test gives --time-scale itself: `up` waits for the NLB's
// targets to pass their health checks' thresholds (40 s at AWS's timers).
const testTimeScale = "10"

// withTestTimeScale adds --time-scale to an up without one.
func withTestTimeScale(args []string) []string {
	if len(args) == 0 || args[0] != "up" || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--time-scale") }) {
		return args
	}
	return append(append([]string{}, args...), "--time-scale", testTimeScale)
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// Bad usage exits 2 with a message naming the problem, for root or not,
// before anything is touched.
func TestBadUsageExitsTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--replicas", "-1"}, "--replicas: -1 is negative"},
		{[]string{"up", "--nodes", "0"}, "--nodes: 0 is out of range"},
		{[]string{"up", "--mode", "alb"}, `unknown target type "alb"`},
		{[]string{"up", "--replicas", "three"}, `invalid argument "three"`},
		{[]string{"up", "--external-traffic-policy", "local"}, `unknown policy "local"`},
		{[]string{"up", "--time-scale", "0"}, "--time-scale: 0 is out of range"},
		{[]string{"up", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"up", "extra"}, "unknown command \"extra\""},
		{[]string{"down", "--name", "UPPER"}, "is not a DNS label"},
		{[]string{"down", "--name", "a-name-longer-than-twenty"}, "at most 20"},
		{[]string{"exec", "bastion"}, "exec needs a host and a command"},
		{[]string{"no-such-verb"}, `unknown command "no-such-verb"`},
	}
	for _, c := range cases {
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who == nil && os.Geteuid() != 0 {
				continue
			}
			r := nlbsimAs(t, who, c.args...)
			assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
			assert.Contains(t, r.stderr, c.want, "%v", c.args)
		}
	}
}

// Without root, up, down and exec say what they need and exit 1.
func TestNeedsRootExitsOne(t *testing.T) {
	simtest.RequireRoot(t) // to switch to an unprivileged user
	for _, args := range [][]string{{"up"}, {"down"}, {"down", "--all"}} {
		r := nlbsimAs(t, nobody, args...)
		assert.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "needs root", "%v", args)
	}
}

func TestWalkthroughScene(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	r := nlbsim(t, "up", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "k8s-default-nginxnlb-4295c357fc-1463d4c43f23f992.elb.ap-northeast-2.amazonaws.com")

	// A curl right after up succeeds on the first try, answered by the pod on
	// node 2, which sees the bastion's own address.
	r = nlbsim(t, "exec", "--name", name, "bastion", "--", "curl", "-s", "--max-time", "5", "192.168.2.206:7777")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "pod IP: 192.168.2.206")
	assert.Contains(t, r.stdout, "node: ip-192-168-2-146.ap-northeast-2.compute.internal")
	assert.Contains(t, r.stdout, "peer: 192.168.1.100:")

	r = nlbsim(t, "exec", "--name", name, "pod-1", "--", "curl", "-s", "--max-time", "5", "-H", "Accept: application/json", "192.168.3.111:7777")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"podIP":"192.168.3.111"`)
	assert.Contains(t, r.stdout, `"peer":"192.168.1.248:`)

	r = nlbsim(t, "exec", "--name", name, "node-9", "--", "true")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "valid hosts: bastion, vpc, nlb-a")

	// up again: the running cluster is kept.
	r = nlbsim(t, "up", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)

	r = nlbsim(t, "down", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	left, _ := filepath.Glob("/run/netns/nlbsim." + name + ".*")
	assert.Empty(t, left)
	etc, _ := filepath.Glob("/etc/netns/nlbsim." + name + ".*")
	assert.Empty(t, etc)
	_, err := os.Stat(filepath.Join(sim.StateRoot, name))
	assert.True(t, os.IsNotExist(err))
	assert.Empty(t, supervisorsOf(name), "no supervisor process is left")
	r = nlbsim(t, "down", "--name", name)
	assert.Equal(t, 0, r.code, "down is idempotent: %s", r.stderr)
}

// supervisorsOf lists processes running the supervisor of a cluster.
func supervisorsOf(cluster string) []string {
	var out []string
	matches, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if strings.Contains(string(b), sim.SuperviseCommand+"\x00--name\x00"+cluster+"\x00") {
			out = append(out, m)
		}
	}
	return out
}

// down --all removes every cluster of the machine, so it runs in a mount
// namespace of its own with empty /run/netns, /run/nlbsim and /etc/netns:
// there it sees only the two clusters it makes, and other clusters of this
// machine (a user's, another test run's) are neither seen nor touched.
func TestDownAllRemovesEveryCluster(t *testing.T) {
	simtest.RequireRoot(t)
	names := []string{simtest.ClusterName(t) + "a", simtest.ClusterName(t) + "b"}
	for i, n := range names {
		names[i] = strings.TrimLeft(n[len(n)-20:], "-")
	}
	script := `set -eu
for d in /run/netns /run/nlbsim /etc/netns; do mkdir -p "$d"; mount -t tmpfs nlbsim-down-all "$d"; done
"$0" up --minimal --time-scale 10 --name "$1" >/dev/null
"$0" up --minimal --time-scale 10 --name "$2" >/dev/null
echo "before: $(ls /run/netns | wc -l) namespaces"
"$0" down --all
echo "after: $(ls -A /run/netns | wc -l) namespaces, $(ls -A /run/nlbsim | wc -l) state entries, $(ls -A /etc/netns | wc -l) netns files"
`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, binary, names[0], names[1])
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	for _, n := range names {
		assert.Contains(t, text, fmt.Sprintf("cluster %q removed", n))
	}
	assert.NotContains(t, text, "before: 0 namespaces", "the clusters were built")
	assert.Contains(t, text, "after: 0 namespaces, 0 state entries, 0 netns files", "down --all left something")
	for _, n := range names {
		_, err := sim.LoadWorld(n)
		assert.ErrorIs(t, err, sim.ErrNoCluster, "the host's own /run/nlbsim never saw %s", n)
	}
}
