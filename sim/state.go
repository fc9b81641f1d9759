package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/topology"
)

// StateRoot holds one directory per running cluster. It is a variable so
// that pure tests can point it elsewhere.
var StateRoot = "/run/nlbsim"

// ErrNotFound says that a cluster has no state: it is not running.
var ErrNotFound = errors.New("cluster not found")

func stateDir(cluster string) string   { return filepath.Join(StateRoot, cluster) }
func worldFile(cluster string) string  { return filepath.Join(stateDir(cluster), "world.json") }
func pidFile(cluster string) string    { return filepath.Join(stateDir(cluster), "supervisor.pid") }
func socketFile(cluster string) string { return filepath.Join(stateDir(cluster), "supervisor.sock") }
func logFile(cluster string) string    { return filepath.Join(stateDir(cluster), "supervisor.log") }
func lockFile(cluster string) string   { return filepath.Join(StateRoot, cluster+".lock") }

// LoadWorld reads a running cluster's world. It needs no root.
func LoadWorld(cluster string) (*topology.World, error) {
	if err := topology.ValidateClusterName(cluster); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(worldFile(cluster))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no cluster %q is running (start one with: sudo nlbsim up --name %s)", ErrNotFound, cluster, cluster)
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

// saveWorld writes a cluster's world atomically.
func saveWorld(w *topology.World) error {
	dir := stateDir(w.Cluster.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(worldFile(w.Cluster.Name), b)
}

// writeFileAtomic writes a state file so that readers see the old or the
// new content, never a part.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Clusters lists the clusters that have state or namespaces on this machine.
func Clusters() ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(StateRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && topology.ValidateClusterName(e.Name()) == nil {
			seen[e.Name()] = true
		}
	}
	names, err := listNamespaces(topology.NamespacePrefix)
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

// clusterLock is an exclusive lock on one cluster's name, held while it is
// built, changed or removed.
type clusterLock struct{ f *os.File }

func lockCluster(cluster string) (*clusterLock, error) {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockFile(cluster), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("cluster %q is being changed by another nlbsim command; try again when it has finished", cluster)
		}
		return nil, err
	}
	return &clusterLock{f: f}, nil
}

// release unlocks; with remove, the lock file goes too (down).
func (l *clusterLock) release(remove bool) {
	if remove {
		os.Remove(l.f.Name())
	}
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// exists reports whether a cluster has state or namespaces.
func exists(cluster string) bool {
	if _, err := os.Stat(stateDir(cluster)); err == nil {
		return true
	}
	left, _ := listNamespaces(topology.Namespace(cluster, ""))
	return len(left) > 0
}

// removeState deletes a cluster's state directory.
func removeState(cluster string) error {
	if !strings.Contains(stateDir(cluster), cluster) || cluster == "" {
		return fmt.Errorf("refusing to remove state of cluster %q", cluster)
	}
	return os.RemoveAll(stateDir(cluster))
}
