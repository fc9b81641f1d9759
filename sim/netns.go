package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces live, as ip-netns(8) keeps them.
const netnsDir = "/run/netns"

// etcNetnsDir holds per-namespace files that ip netns exec bind-mounts over /etc.
const etcNetnsDir = "/etc/netns"

// prepareNetnsDir makes /run/netns a shared bind mount of itself, as
// ip-netns(8) does on first use, so namespaces made here are visible to
// ip netns and across mount namespaces.
func prepareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err == nil {
		return nil
	}
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", netnsDir, err)
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s shared: %w", netnsDir, err)
	}
	return nil
}

// createNamespace makes a named network namespace and, while the creating
// thread is inside it, writes the sysctls the host relies on (a new
// namespace copies some of the host's defaults, which differ between
// machines). The thread returns to its original namespace before it is
// handed back to the scheduler.
func createNamespace(name string, sysctls []sysctl) (err error) {
	path := filepath.Join(netnsDir, name)
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
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// From here on the thread must get back to orig whatever happens.
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			panic(fmt.Sprintf("cannot return thread to its network namespace: %v", rerr))
		}
	}()
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting namespace %s: %w", name, err)
	}
	return writeSysctls(sysctls)
}

// deleteNamespace unmounts and removes a named namespace; a missing one is fine.
func deleteNamespace(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// listNamespaces returns the named namespaces whose names start with prefix.
func listNamespaces(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
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

// openNamespace returns a handle on a named namespace.
func openNamespace(name string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		return netns.None(), fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	return h, nil
}

// inNamespace runs fn on a thread that is inside ns, and returns the thread
// to its original namespace afterwards. Sockets fn creates stay in ns.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("entering namespace: %w", err)
	}
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			panic(fmt.Sprintf("cannot return thread to its network namespace: %v", rerr))
		}
	}()
	return fn()
}
