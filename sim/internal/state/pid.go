package state

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SuperviseCommand is the hidden CLI verb that runs a detached supervisor;
// a process is a cluster's supervisor when its command line holds
// `SuperviseCommand --name <cluster>`.
const SuperviseCommand = "__supervise"

// SuperviseGoAhead is the line a detached supervisor waits for on its fd 4
// before it loads its cluster's state; the pipe closed without it tells it
// to exit (up failed, or stopped, before the supervisor's step).
const SuperviseGoAhead = "go"

// inProcessMark follows the pid of a supervisor that runs inside another
// program (a Go test): down never signals it.
const inProcessMark = "in-process"

// WritePID records the supervisor's pid; an in-process one is marked so.
func WritePID(cluster string, pid int, inProcess bool) error {
	text := strconv.Itoa(pid)
	if inProcess {
		text += " " + inProcessMark
	}
	return os.WriteFile(pidFile(cluster), []byte(text+"\n"), 0o644)
}

// SupervisorPID returns the recorded pid of a cluster's supervisor, whether
// it runs in another program (a Go test), and whether that process is alive
// and is that supervisor (or this process).
func SupervisorPID(cluster string) (pid int, inProcess, alive bool) {
	b, err := os.ReadFile(pidFile(cluster))
	if err != nil {
		return 0, false, false
	}
	text, inProcess := strings.CutSuffix(strings.TrimSpace(string(b)), " "+inProcessMark)
	pid, err = strconv.Atoi(text)
	if err != nil || pid <= 1 {
		return 0, false, false
	}
	if inProcess { // a test's cluster: alive while that process is
		return pid, true, pid == os.Getpid() || Alive(pid)
	}
	return pid, false, isSupervisorOf(pid, cluster)
}

// isSupervisorOf checks that pid runs nlbsim's supervisor of cluster, so
// that a stale pid file never makes anyone signal another process.
func isSupervisorOf(pid int, cluster string) bool {
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

// Alive reports whether pid runs; a zombie waiting for its parent (or
// init) to reap it has ended.
func Alive(pid int) bool {
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
