package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// Root holds one directory per running cluster and one lock file per
// cluster name.
const Root = "/run/nlbsim"

// Dir is a cluster's state directory.
func Dir(cluster string) string { return filepath.Join(Root, cluster) }

func worldFile(cluster string) string { return filepath.Join(Dir(cluster), "world.json") }
func pidFile(cluster string) string   { return filepath.Join(Dir(cluster), "supervisor.pid") }
func lockFile(cluster string) string  { return filepath.Join(Root, cluster+".lock") }

// SocketFile is the supervisor's control socket.
func SocketFile(cluster string) string { return filepath.Join(Dir(cluster), "supervisor.sock") }

// LogFile is where a detached supervisor writes its log.
func LogFile(cluster string) string { return filepath.Join(Dir(cluster), "supervisor.log") }

// LoadWorld reads a running cluster's world. It needs no root.
func LoadWorld(cluster string) (*topology.World, error) {
	if err := topology.ValidateClusterName(cluster); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(worldFile(cluster))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cluster %q: %w", cluster, simerr.ErrNoCluster)
	}
	if err != nil {
		return nil, err
	}
	var w topology.World
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("reading %s: %w", worldFile(cluster), err)
	}
	return &w, nil
}

// SaveWorld writes a cluster's world atomically.
func SaveWorld(w *topology.World) error {
	dir := Dir(w.Cluster.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(worldFile(w.Cluster.Name), b)
}

// WriteFileAtomic writes a state file so that readers see the old or the
// new content, never a part.
func WriteFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Clusters lists the clusters that have state or namespaces on this machine.
func Clusters() ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(Root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && topology.ValidateClusterName(e.Name()) == nil {
			seen[e.Name()] = true
		}
	}
	names, err := netns.List(topology.NamespacePrefix)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if c, _, ok := topology.ClusterOfNamespace(n); ok && topology.ValidateClusterName(c) == nil {
			seen[c] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// Lock is an exclusive lock on one cluster's name, held while it is built,
// changed or removed.
type Lock struct{ f *os.File }

// LockCluster takes a cluster's lock, or fails at once with simerr.ErrBusy.
func LockCluster(cluster string) (*Lock, error) {
	if err := os.MkdirAll(Root, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockFile(cluster), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("cluster %q: %w", cluster, simerr.ErrBusy)
		}
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Release unlocks; with remove, the lock file goes too (down).
func (l *Lock) Release(remove bool) {
	if remove {
		os.Remove(l.f.Name())
	}
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// Exists reports whether a cluster has state or namespaces.
func Exists(cluster string) bool {
	if _, err := os.Stat(Dir(cluster)); err == nil {
		return true
	}
	left, _ := netns.List(topology.Namespace(cluster, ""))
	return len(left) > 0
}

// Remove deletes a cluster's state directory.
func Remove(cluster string) error {
	if !strings.Contains(Dir(cluster), cluster) || cluster == "" {
		return fmt.Errorf("refusing to remove state of cluster %q", cluster)
	}
	return os.RemoveAll(Dir(cluster))
}
