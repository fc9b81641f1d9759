package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// upDownCycles is how many up/down cycles TestUpDownCycles runs: about
// 0.9 s each on CI's kind of machine at time scale 100 (up waits for the
// NLB's registration: 3.7 s at the tests' default of 10).
const upDownCycles = 30

// Repeated up/down cycles leave nothing behind, after each cycle and at the
// end.
func TestUpDownCycles(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	nlbsim(t, "down", "--name", name)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	start := time.Now()
	for i := range upDownCycles {
		r := nlbsim(t, "up", "--minimal", "--name", name, "--time-scale", "100")
		require.Equal(t, 0, r.code, "cycle %d: up: %s", i, r.stderr)
		r = nlbsim(t, "down", "--name", name)
		require.Equal(t, 0, r.code, "cycle %d: down: %s", i, r.stderr)
		require.Empty(t, leftovers(name), "cycle %d", i)
	}
	took := time.Since(start)
	t.Logf("%d up/down cycles in %s (%s each), nothing left", upDownCycles, took.Round(time.Millisecond), (took / upDownCycles).Round(time.Millisecond))
}

// procUsage is what a process holds: open file descriptors, threads and
// resident memory.
type procUsage struct {
	fds, threads int
	rssKB        int
}

func (u procUsage) String() string {
	return fmt.Sprintf("%d fds, %d threads, %.1f MB RSS", u.fds, u.threads, float64(u.rssKB)/1024)
}

func usageOf(t *testing.T, pid int) procUsage {
	t.Helper()
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	require.NoError(t, err)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	u := procUsage{fds: len(fds)}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, _ := strings.Cut(line, ":")
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		switch key {
		case "Threads":
			u.threads, _ = strconv.Atoi(f[0])
		case "VmRSS":
			u.rssKB, _ = strconv.Atoi(f[0])
		}
	}
	return u
}

// settledUsage samples a process until its fd count holds still (health
// checks open short-lived sockets every few seconds) or, with want >= 0,
// until it equals want; it gives up after the limit and returns the last
// sample.
func settledUsage(t *testing.T, pid, want int, limit time.Duration) procUsage {
	t.Helper()
	deadline := time.Now().Add(limit)
	prev := usageOf(t, pid)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		u := usageOf(t, pid)
		if want >= 0 && u.fds == want || want < 0 && u.fds == prev.fds {
			return u
		}
		prev = u
	}
	return prev
}

// soakRequests is the number of requests of the soak, sent in soakChunks.
const (
	soakRequests = 100_000
	soakChunks   = 5
)

// 100,000 requests through one cluster: no errors, and the supervisor's
// open files come back exactly to where they were, its threads and memory
// about.
func TestSoakSupervisorResources(t *testing.T) {
	name, _ := upForTest(t)
	pid := supervisorPIDOf(t, name)
	to := []string{"-c", "8", "--to", "192.168.1.51:7777"}
	warm := trafficJSON(t, name, append([]string{"-n", "2000"}, to...)...)
	require.Zero(t, warm.Errors)
	base := settledUsage(t, pid, -1, 5*time.Second)
	t.Logf("after 2,000 warm-up requests: %s", base)

	start := time.Now()
	var errs int
	peak := base
	for i := range soakChunks {
		n := soakRequests / soakChunks
		r := trafficJSON(t, name, append([]string{"-n", strconv.Itoa(n)}, to...)...)
		require.Equal(t, n, r.Requests)
		errs += r.Errors
		u := settledUsage(t, pid, base.fds, 15*time.Second)
		peak.threads, peak.rssKB = max(peak.threads, u.threads), max(peak.rssKB, u.rssKB)
		t.Logf("after %d requests: %s, %d errors (p50 %.2f ms, p99 %.2f ms)", (i+1)*n, u, r.Errors, r.LatencyMs.P50, r.LatencyMs.P99)
	}
	end := settledUsage(t, pid, base.fds, 15*time.Second)
	t.Logf("%d requests in %s, %d errors; supervisor from %s to %s (peak %d threads, %.1f MB)",
		soakRequests, time.Since(start).Round(time.Second), errs, base, end, peak.threads, float64(peak.rssKB)/1024)
	assert.Zero(t, errs)
	assert.Equal(t, base.fds, end.fds, "open file descriptors")
	assert.LessOrEqual(t, end.threads, base.threads+8, "threads (Go keeps the threads it made at peaks)")
	assert.LessOrEqual(t, end.rssKB, base.rssKB+max(base.rssKB/2, 16*1024), "resident memory (KB)")
}
