package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// leftovers lists what a cluster left on this machine: namespaces, their
// mounts and /etc/netns entries, state, the lock file, supervisors.
func leftovers(name string) []string {
	var out []string
	for _, pattern := range []string{"/run/netns/nlbsim." + name + ".*", "/etc/netns/nlbsim." + name + ".*"} {
		m, _ := filepath.Glob(pattern)
		out = append(out, m...)
	}
	for _, p := range []string{filepath.Join(sim.StateRoot, name), filepath.Join(sim.StateRoot, name+".lock")} {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, " /run/netns/nlbsim."+name+".") {
				out = append(out, "mount: "+line)
			}
		}
	}
	for _, p := range supervisorsOf(name) {
		out = append(out, "process: "+p)
	}
	return out
}

// markerWriter collects a command's output and closes seen once the marker
// has appeared in it.
type markerWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func newMarkerWriter(marker string) *markerWriter {
	return &markerWriter{marker: marker, seen: make(chan struct{})}
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *markerWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startPaused starts `nlbsim up --name NAME --pause-at STEP ARGS…` and
// returns once it says it paused there.
func startPaused(t *testing.T, name, step string, args ...string) (*exec.Cmd, *markerWriter) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"up", "--name", name, "--pause-at", step}, args...)...)
	stderr := newMarkerWriter("paused at " + step)
	cmd.Stdout, cmd.Stderr = new(bytes.Buffer), stderr
	require.NoError(t, cmd.Start())
	select {
	case <-stderr.seen:
		return cmd, stderr
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("up did not pause at %s within 60 s: %s", step, stderr)
		return nil, nil
	}
}

// waitExit waits for a started command, at most limit, and returns its exit
// code and how long it took.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), time.Since(start)
		}
		require.NoError(t, err)
		return 0, time.Since(start)
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit within %s", cmd.Args, limit)
		return -1, limit
	}
}

// What an up killed at each step leaves, down removes.
func TestKilledUpThenDownLeavesNothing(t *testing.T) {
	simtest.RequireRoot(t)
	for _, step := range sim.UpSteps {
		t.Run(step, func(t *testing.T) {
			name := simtest.ClusterName(t)
			nlbsim(t, "down", "--name", name)
			t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
			cmd, _ := startPaused(t, name, step)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			waitExit(t, cmd, 10*time.Second)
			left := leftovers(name)
			t.Logf("SIGKILL at %s left %d things (namespaces, files, state, processes)", step, len(left))
			assert.NotEmpty(t, left, "a killed up leaves at least its lock file")

			r := nlbsim(t, "down", "--name", name)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Empty(t, leftovers(name), "after down")
		})
	}
}

// SIGINT or SIGTERM during a first up, at any step, rolls it back by
// itself, within a bounded time, leaving nothing.
func TestInterruptedUpRollsBack(t *testing.T) {
	simtest.RequireRoot(t)
	type interruption struct {
		step string
		sig  syscall.Signal
	}
	var cases []interruption
	for _, step := range sim.UpSteps {
		cases = append(cases, interruption{step, syscall.SIGINT})
	}
	cases = append(cases, interruption{"probe", syscall.SIGTERM}, interruption{"rules", syscall.SIGTERM})
	for _, c := range cases {
		t.Run(c.step+"-"+strings.ToLower(strings.TrimPrefix(c.sig.String(), "SIG")), func(t *testing.T) {
			name := simtest.ClusterName(t)
			nlbsim(t, "down", "--name", name)
			t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
			cmd, stderr := startPaused(t, name, c.step)
			require.NoError(t, cmd.Process.Signal(c.sig))
			code, took := waitExit(t, cmd, 30*time.Second)
			t.Logf("%v at %s: up exited %d after %s", c.sig, c.step, code, took.Round(time.Millisecond))
			assert.Less(t, took, 10*time.Second, "rollback time")
			assert.Equal(t, 1, code, stderr.String())
			assert.Contains(t, stderr.String(), "interrupted before "+c.step)
			assert.Empty(t, leftovers(name), "an interrupted up leaves nothing, without down")
		})
	}
}

func supervisorPIDOf(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sim.StateRoot, name, "supervisor.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// killSupervisor SIGKILLs a cluster's supervisor and waits until it is gone.
func killSupervisor(t *testing.T, name string) int {
	t.Helper()
	pid := supervisorPIDOf(t, name)
	require.True(t, processAlive(pid), "supervisor %d runs", pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		require.True(t, time.Now().Before(deadline), "supervisor %d still alive after SIGKILL", pid)
		time.Sleep(10 * time.Millisecond)
	}
	return pid
}

// A killed supervisor takes the pods' servers with it: requests are refused
// (clearly, not hanging), save still works, and up with the same flags
// restarts it; traffic then works again.
func TestKilledSupervisorRestartedByUp(t *testing.T) {
	name, _ := upForTest(t, "--mode", "instance")
	before := trafficJSON(t, name, "-n", "300")
	assert.Zero(t, before.Errors)
	old := killSupervisor(t, name)

	r := nlbsim(t, "exec", "--name", name, "bastion", "--", "curl", "-sS", "--max-time", "5", "192.168.2.206:7777")
	assert.Equal(t, 7, r.code, "curl's exit code for a refused connection: %s", r.stderr)
	assert.Contains(t, r.stderr, "Failed to connect")
	r = nlbsim(t, "traffic", "--name", name, "-n", "50", "--to", "192.168.2.206:7777", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var refused sim.TrafficReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &refused))
	assert.Equal(t, 50, refused.Errors)
	assert.Equal(t, 50, refused.ErrorsByKind[sim.ErrRefused], "%v", refused.ErrorsByKind)
	r = nlbsim(t, "traffic", "--name", name, "-n", "20", "--to", "192.168.1.51:7777", "--fail-on-errors")
	assert.Equal(t, 1, r.code, "traffic through the NLB fails and says so")
	assert.Contains(t, r.stderr, "20 of 20 requests failed")

	r = nlbsim(t, "get", "pods", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "supervisor of cluster", "get says the supervisor is down")

	dir := t.TempDir()
	r = nlbsim(t, "save", "--name", name, dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "supervisor not running")
	summary, err := os.ReadFile(filepath.Join(dir, "summary.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(summary), "supervisor: NOT running")
	assert.FileExists(t, filepath.Join(dir, "node-2", "iptables-save.txt"))

	r = nlbsim(t, "up", "--name", name, "--mode", "instance")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "restarting the supervisor")
	pid := supervisorPIDOf(t, name)
	assert.NotEqual(t, old, pid)
	assert.True(t, processAlive(pid))
	after := trafficJSON(t, name, "-n", "300")
	assert.Zero(t, after.Errors)
	assert.Len(t, after.ByPod, 3)
	r = nlbsim(t, "get", "pods", "--name", name)
	assert.NotContains(t, r.stderr, "not running")
}

// down while traffic runs: down completes and leaves nothing; traffic ends
// by itself (it does not hang) and reports the failures.
func TestDownDuringTraffic(t *testing.T) {
	name, _ := upForTest(t)
	traffic := exec.Command(binary, "traffic", "--name", name, "-n", "20000", "-c", "8", "--to", "192.168.1.51:7777", "-o", "json")
	var out, errb bytes.Buffer
	traffic.Stdout, traffic.Stderr = &out, &errb
	require.NoError(t, traffic.Start())
	time.Sleep(1500 * time.Millisecond)
	require.True(t, processAlive(traffic.Process.Pid), "traffic finished before down: %s", errb.String())

	start := time.Now()
	r := nlbsim(t, "down", "--name", name)
	t.Logf("down took %s while traffic ran", time.Since(start).Round(time.Millisecond))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, leftovers(name))

	code, took := waitExit(t, traffic, 60*time.Second)
	t.Logf("traffic exited %d, %s after down", code, took.Round(time.Millisecond))
	if code == 0 {
		var report sim.TrafficReport
		require.NoError(t, json.Unmarshal(out.Bytes(), &report), out.String())
		t.Logf("traffic: %d requests, %d errors %v", report.Requests, report.Errors, report.ErrorsByKind)
		assert.Positive(t, report.Errors, "requests after down must fail")
	} else {
		t.Logf("traffic: %s", strings.TrimSpace(errb.String()))
		assert.NotEmpty(t, errb.String(), "a failing traffic says why")
	}
}

// A namespace deleted behind nlbsim's back does not stop down.
func TestDownAfterNamespaceDeletedBehindItsBack(t *testing.T) {
	name, _ := upForTest(t)
	out, err := exec.Command("ip", "netns", "del", topology.Namespace(name, "node-2")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	r := nlbsim(t, "down", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, leftovers(name))
}
