package nat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Backend is an iptables backend: the nf_tables one or the legacy one.
type Backend string

const (
	BackendNFT    Backend = "nf_tables"
	BackendLegacy Backend = "legacy"
)

// DetectBackend returns the backend of the iptables on the PATH, so that
// `iptables -L` inside a namespace shows the rules nlbsim installed. The
// host's alternatives are never switched.
func DetectBackend() (Backend, error) {
	out, err := exec.Command("iptables", "--version").CombinedOutput()
	if err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			return "", fmt.Errorf("iptables is not installed: install the iptables package (scripts/provision.sh does)")
		}
		return "", fmt.Errorf("iptables --version: %v: %s", err, out)
	}
	switch {
	case bytes.Contains(out, []byte("nf_tables")):
		return BackendNFT, nil
	case bytes.Contains(out, []byte("legacy")):
		return BackendLegacy, nil
	}
	return "", fmt.Errorf("cannot tell the backend of %q", strings.TrimSpace(string(out)))
}

// command names a backend's tool explicitly: iptables-nft-restore, …
func (b Backend) command(tool string) string {
	if b == BackendLegacy {
		return "iptables-legacy-" + tool
	}
	return "iptables-nft-" + tool
}

// RunInNamespace starts a command inside the network namespace the rules
// are meant for and waits for it. sim hands it to Apply.
type RunInNamespace func(cmd *exec.Cmd) error

// Apply hands restore text to the kernel as kube-proxy does: one
// `iptables-restore -w 5 -W 100000 --noflush --counters` fed on stdin.
func Apply(b Backend, text string, run RunInNamespace) error {
	return restore(b, text, run, "--noflush", "--counters")
}

// Replace hands restore text to the kernel replacing every table it names:
// for namespaces that hold only nlbsim's own rules (NLB nodes, the fabric).
func Replace(b Backend, text string, run RunInNamespace) error {
	return restore(b, text, run)
}

// Install loads a whole ruleset into a namespace that holds only nlbsim's
// rules, as Replace does with rs.RestoreText(), but streams the text into
// iptables-restore while writing it: a big node's 15 MiB of text is never
// held whole, and iptables-restore parses its first lines while the last
// are written.
func Install(b Backend, rs *Ruleset, run RunInNamespace) error {
	r, w, err := blockingPipe()
	if err != nil {
		return err
	}
	written := make(chan error, 1)
	go func() {
		err := rs.WriteRestoreText(w)
		w.Close()
		written <- err
	}()
	err = restoreFrom(b, r, run)
	r.Close() // a writer still blocked on a failed restore gets EPIPE
	if werr := <-written; err == nil && werr != nil {
		return fmt.Errorf("writing %s's input: %w", b.command("restore"), werr)
	}
	return err
}

// blockingPipe is a pipe whose write end blocks in the kernel, as the
// copier os/exec starts for a string does, rather than waiting on the Go
// runtime's poller: a restore that drains the pipe while this process is
// busy collecting its garbage is not kept waiting for a scheduler turn. The
// pipe holds up to 1 MiB (fs.pipe-max-size's default), so a few dozen
// wake-ups carry a big node's text instead of hundreds.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe for iptables-restore's input: %w", err)
	}
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, 1<<20) // a smaller pipe is only slower
	return os.NewFile(uintptr(fds[0]), "restore input (read)"), os.NewFile(uintptr(fds[1]), "restore input (write)"), nil
}

func restore(b Backend, text string, run RunInNamespace, flags ...string) error {
	return restoreFrom(b, strings.NewReader(text), run, flags...)
}

func restoreFrom(b Backend, input io.Reader, run RunInNamespace, flags ...string) error {
	name := b.command("restore")
	cmd := exec.Command(name, append([]string{"-w", "5", "-W", "100000"}, flags...)...)
	cmd.Stdin = input
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := run(cmd); err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			return fmt.Errorf("%s is not installed: install the iptables package (scripts/provision.sh does)", name)
		}
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Save reads a namespace's rules back as iptables-save text, counters
// included.
func Save(b Backend, run RunInNamespace) (string, error) {
	name := b.command("save")
	cmd := exec.Command(name, "-c")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := run(cmd); err != nil {
		return "", fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
