package sim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// changeableInPlace clears the settings a running cluster can change in
// place, so that what is left must be equal.
func changeableInPlace(s topology.Spec) topology.Spec {
	s.Mode, s.CrossZone, s.PreserveClientIP, s.ExternalTrafficPolicy, s.TimeScale = "", nil, nil, "", 0
	s.Manifests = nil // compared as worlds: topology.CheckInPlace
	return s
}

// needsRebuild names the flags whose change a running cluster cannot take.
func needsRebuild(old, new topology.Spec) []string {
	var flags []string
	if old.Nodes != new.Nodes {
		flags = append(flags, "--nodes")
	}
	if old.Replicas != new.Replicas {
		flags = append(flags, "--replicas")
	}
	if old.Minimal != new.Minimal {
		flags = append(flags, "--minimal")
	}
	if old.InstanceType != new.InstanceType {
		flags = append(flags, "--instance-type")
	}
	return flags
}

// change applies a new spec to a running cluster in place: node rules are
// re-synced when the Services changed, the state is saved, and the
// supervisor re-registers the NLBs' targets. A failed change restores the
// previous world.
func change(ctx context.Context, c *Cluster, w *topology.World) error {
	old := c.World
	if !reflect.DeepEqual(changeableInPlace(old.Spec), changeableInPlace(w.Spec)) {
		flags := needsRebuild(old.Spec, w.Spec)
		return &topology.InvalidError{Err: fmt.Errorf("cluster %q is running: changing %s needs a new cluster (nlbsim down --name %s, then up)",
			old.Cluster.Name, strings.Join(flags, ", "), old.Cluster.Name)}
	}
	if err := topology.CheckInPlace(old, w); err != nil {
		return err
	}
	w.SetCreated(old.Created)
	if err := apply(ctx, c, old, w); err != nil {
		if rerr := apply(ctx, c, w, old); rerr != nil {
			return fmt.Errorf("%w; restoring the previous world also failed: %v", err, rerr)
		}
		return fmt.Errorf("%w (the previous settings are back)", err)
	}
	c.World = w
	return nil
}

// apply moves a running cluster from world from to world to.
func apply(ctx context.Context, c *Cluster, from, to *topology.World) error {
	if !reflect.DeepEqual(from.Services, to.Services) {
		if err := resyncNodeRules(from, to); err != nil {
			return err
		}
	}
	if err := saveWorld(to); err != nil {
		return err
	}
	if c.sup != nil {
		return c.sup.Reload(to)
	}
	return reloadSupervisor(ctx, to.Cluster.Name)
}

// resyncNodeRules runs a kube-proxy full sync on every node, from the rules
// of one world to those of another, deleting chains no longer used.
func resyncNodeRules(from, to *topology.World) error {
	backend, err := nat.DetectBackend()
	if err != nil {
		return err
	}
	errs := make([]error, len(to.Nodes))
	var wg sync.WaitGroup
	for i, n := range to.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev, err := nat.KubeProxy(from, n.Name)
			if err != nil {
				errs[i] = err
				return
			}
			next, err := nat.KubeProxy(to, n.Name)
			if err != nil {
				errs[i] = err
				return
			}
			if err := nat.Apply(backend, next.FullSyncText(prev), runIn(topology.Namespace(to.Cluster.Name, n.Name))); err != nil {
				errs[i] = fmt.Errorf("kube-proxy sync on %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// reloadSupervisor asks a detached supervisor to apply the saved world.
func reloadSupervisor(ctx context.Context, cluster string) error {
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socketFile(cluster))
	}}, Timeout: time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://supervisor/reload", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("supervisor of cluster %q is not answering: %w", cluster, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		msg.Write(buf[:n])
		return fmt.Errorf("supervisor could not apply the change: %s", strings.TrimSpace(msg.String()))
	}
	return nil
}
