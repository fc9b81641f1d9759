package sim

import (
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

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
)

// SuperviseCommand is the hidden CLI verb that runs a detached supervisor.
const SuperviseCommand = state.SuperviseCommand

// spawnSupervisor starts `nlbsim __supervise --name X` detached (own session,
// no terminal) and waits until it says it serves, or why it cannot.
func spawnSupervisor(cluster string) error {
	p, err := startSupervisorProcess(cluster)
	if err != nil {
		return err
	}
	return p.begin()
}

// pendingSupervisor is a detached supervisor started ahead of its cluster:
// its binary loads and detects the iptables backend while up builds the
// fabric, then it waits on its go-ahead pipe (fd 4) until begin.
type pendingSupervisor struct {
	cluster string
	cmd     *exec.Cmd
	ready   *os.File // read end of its fd 3: "ready" or why not
	goAhead *os.File // write end of its fd 4
}

func startSupervisorProcess(cluster string) (*pendingSupervisor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(state.LogFile(cluster), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyW.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		return nil, err
	}
	defer goR.Close()
	cmd := exec.Command(exe, SuperviseCommand, "--name", cluster)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW, goR} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		readyR.Close()
		goW.Close()
		return nil, fmt.Errorf("starting supervisor: %w", err)
	}
	p := &pendingSupervisor{cluster: cluster, cmd: cmd, ready: readyR, goAhead: goW}
	// Recorded at once, so that down finds it even if up is killed now.
	if err := state.WritePID(cluster, p.pid(), false); err != nil {
		p.abandon()
		return nil, err
	}
	return p, nil
}

func (p *pendingSupervisor) pid() int { return p.cmd.Process.Pid }

// begin lets the supervisor load the cluster's state and waits until it
// says it serves; from then on it lives on its own.
func (p *pendingSupervisor) begin() error {
	defer p.ready.Close()
	_, err := fmt.Fprintln(p.goAhead, state.SuperviseGoAhead)
	p.goAhead.Close()
	line := make([]byte, 4096)
	n, _ := p.ready.Read(line)
	msg := strings.TrimSpace(string(line[:n]))
	if msg != "ready" {
		p.cmd.Wait()
		if msg == "" {
			msg = "it exited without a word; see " + state.LogFile(p.cluster)
			if err != nil {
				msg += " (" + err.Error() + ")"
			}
		}
		return fmt.Errorf("supervisor failed: %s", msg)
	}
	p.cmd.Process.Release()
	return nil
}

// abandon tells a supervisor that never began to exit, and waits until it
// has: a failed up leaves no process behind.
func (p *pendingSupervisor) abandon() {
	p.goAhead.Close()
	p.ready.Close()
	p.cmd.Wait()
}

// SupervisorRunning reports whether a cluster's supervisor runs. It needs
// no root.
func SupervisorRunning(cluster string) bool {
	_, _, alive := state.SupervisorPID(cluster)
	return alive
}

// stopSupervisor ends a cluster's detached supervisor by pid: SIGTERM, then
// SIGKILL if it has not gone within the grace period. A supervisor running
// inside another program (a Go test) is never signalled.
func stopSupervisor(cluster string) error {
	pid, inProcess, alive := state.SupervisorPID(cluster)
	if !alive || inProcess {
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
		if !state.Alive(pid) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// processesIn lists the processes whose network namespace is one of the named
// namespaces: shells and commands started in the cluster through exec.
func processesIn(namespaces []string) []int {
	want := map[[2]uint64]bool{}
	for _, n := range namespaces {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(netns.Dir, n), &st) == nil {
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
