package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SuperviseCommand is the hidden CLI verb that runs a detached supervisor.
const SuperviseCommand = "__supervise"

// spawnSupervisor starts `nlbsim __supervise --name X` detached (own session,
// no terminal) and waits until it says it serves, or why it cannot.
func spawnSupervisor(cluster string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(logFile(cluster), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(exe, SuperviseCommand, "--name", cluster)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w} // fd 3: the readiness pipe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("starting supervisor: %w", err)
	}
	w.Close()
	pid := cmd.Process.Pid
	cmd.Process.Release()
	line := make([]byte, 4096)
	n, _ := r.Read(line)
	msg := strings.TrimSpace(string(line[:n]))
	if msg != "ready" {
		if msg == "" {
			msg = "it exited without a word; see " + logFile(cluster)
		}
		return pid, fmt.Errorf("supervisor failed: %s", msg)
	}
	return pid, nil
}

// isOurSupervisor checks that pid runs nlbsim's supervisor of cluster, so
// that a stale pid file never makes us signal someone else's process.
func isOurSupervisor(pid int, cluster string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	for i := 0; i+2 < len(args); i++ {
		if string(args[i]) == SuperviseCommand && string(args[i+1]) == "--name" && string(args[i+2]) == cluster {
			return true
		}
	}
	return false
}

// supervisorPID returns the recorded pid of a cluster's supervisor if that
// process is alive and is that supervisor, or is this process (a supervisor
// running in process).
func supervisorPID(cluster string) (int, bool) {
	b, err := os.ReadFile(pidFile(cluster))
	if err != nil {
		return 0, false
	}
	text, inProcess := strings.CutSuffix(strings.TrimSpace(string(b)), " "+inProcessMark)
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 1 {
		return 0, false
	}
	if inProcess { // a test's cluster: alive while that process is
		return pid, pid == os.Getpid() || alive(pid)
	}
	return pid, isOurSupervisor(pid, cluster)
}

// inProcessMark follows the pid of a supervisor that runs inside another
// program (a Go test): down never signals it.
const inProcessMark = "in-process"

// inProcessSupervisor reports whether the recorded supervisor runs inside
// another program.
func inProcessSupervisor(cluster string) bool {
	b, err := os.ReadFile(pidFile(cluster))
	return err == nil && strings.HasSuffix(strings.TrimSpace(string(b)), inProcessMark)
}

// SupervisorRunning reports whether a cluster's supervisor runs. It needs
// no root.
func SupervisorRunning(cluster string) bool {
	_, alive := supervisorPID(cluster)
	return alive
}

// stopSupervisor ends a cluster's detached supervisor by pid: SIGTERM, then
// SIGKILL if it has not gone within the grace period.
func stopSupervisor(cluster string) error {
	pid, ok := supervisorPID(cluster)
	if !ok || inProcessSupervisor(cluster) {
		return nil
	}
	return terminate(pid, 5*time.Second)
}

func terminate(pid int, grace time.Duration) error {
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// alive reports whether pid runs; a zombie waiting for its parent (or
// init) to reap it has ended.
func alive(pid int) bool {
	if unix.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// processesIn lists the processes whose network namespace is one of the named
// namespaces: shells and commands started in the cluster through exec.
func processesIn(namespaces []string) []int {
	want := map[[2]uint64]bool{}
	for _, n := range namespaces {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(netnsDir, n), &st) == nil {
			want[[2]uint64{st.Dev, st.Ino}] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && want[[2]uint64{st.Dev, st.Ino}] {
			out = append(out, pid)
		}
	}
	return out
}
