package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Handle is an open network namespace; Close releases it.
type Handle = vnetns.NsHandle

// Dir is where named network namespaces live, as ip-netns(8) keeps them.
const Dir = "/run/netns"

// EtcDir holds per-namespace files that ip netns exec bind-mounts over /etc.
const EtcDir = "/etc/netns"

// PrepareDir makes /run/netns a shared bind mount of itself, as
// ip-netns(8) does on first use, so namespaces made here are visible to
// ip netns and across mount namespaces.
func PrepareDir() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err == nil {
		return nil
	}
	if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", Dir, err)
	}
	if err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s shared: %w", Dir, err)
	}
	return nil
}

// Create makes a named network namespace and, while the creating
// thread is inside it, writes the sysctls the host relies on (a new
// namespace copies some of the host's defaults, which differ between
// machines). The thread returns to its original namespace before it is
// handed back to the scheduler.
func Create(name string, sysctls []Sysctl) (err error) {
	path := filepath.Join(Dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("network namespace %s already exists", name)
		}
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			unix.Unmount(path, unix.MNT_DETACH)
			os.Remove(path)
		}
	}()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// From here on the thread must get back to orig whatever happens.
	defer func() {
		if rerr := vnetns.Set(orig); rerr != nil {
			panic(fmt.Sprintf("cannot return thread to its network namespace: %v", rerr))
		}
	}()
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting namespace %s: %w", name, err)
	}
	return writeSysctls(sysctls)
}

// Delete unmounts and removes a named namespace; a missing one is fine.
func Delete(name string) error {
	path := filepath.Join(Dir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// List returns the named namespaces whose names start with prefix.
func List(prefix string) ([]string, error) {
	entries, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Open returns a handle on a named namespace.
func Open(name string) (Handle, error) {
	h, err := vnetns.GetFromPath(filepath.Join(Dir, name))
	if err != nil {
		return vnetns.None(), fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	return h, nil
}

// In runs fn on a thread that is inside ns, and returns the thread
// to its original namespace afterwards. Sockets fn creates stay in ns.
func In(ns Handle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := vnetns.Set(ns); err != nil {
		return fmt.Errorf("entering namespace: %w", err)
	}
	defer func() {
		if rerr := vnetns.Set(orig); rerr != nil {
			panic(fmt.Sprintf("cannot return thread to its network namespace: %v", rerr))
		}
	}()
	return fn()
}

// Enter moves the calling thread into ns for good: the caller has locked
// its OS thread and never unlocks it, so the thread ends with its goroutine
// and is never handed back to the scheduler in the wrong namespace.
func Enter(ns Handle) error { return vnetns.Set(ns) }
