package sim

import (
	"fmt"
	"os/exec"
	"sync"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// runIn returns a nat.RunInNamespace that starts commands inside a host's
// namespace: the child is forked from a thread that is in it.
func runIn(namespace string) nat.RunInNamespace {
	return func(cmd *exec.Cmd) error {
		ns, err := openNamespace(namespace)
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := inNamespace(ns, cmd.Start); err != nil {
			return err
		}
		return cmd.Wait()
	}
}

// installNodeRules gives every node kube-proxy's (and kubelet's and VPC
// CNI's) rules: one iptables-restore per node namespace, nodes in parallel;
// and the VPC fabric the marks that steer NLB flows' replies.
func installNodeRules(w *topology.World) error {
	backend, err := nat.DetectBackend()
	if err != nil {
		return err
	}
	links, _ := nlbLinks(w)
	if err := nat.Replace(backend, nat.FabricSteering(links), runIn(topology.Namespace(w.Cluster.Name, topology.VPCHost))); err != nil {
		return fmt.Errorf("VPC fabric's flow steering: %w", err)
	}
	errs := make([]error, len(w.Nodes))
	var wg sync.WaitGroup
	for i, n := range w.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := nat.KubeProxy(w, n.Name)
			if err == nil {
				err = nat.Apply(backend, rs.RestoreText(), runIn(topology.Namespace(w.Cluster.Name, n.Name)))
			}
			if err != nil {
				errs[i] = fmt.Errorf("kube-proxy rules on %s: %w", n.Name, err)
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

// SaveRules returns a host's live iptables-save text, counters included.
func SaveRules(w *topology.World, host string) (string, error) {
	h, err := w.Lookup(host)
	if err != nil {
		return "", err
	}
	backend, err := nat.DetectBackend()
	if err != nil {
		return "", err
	}
	return nat.Save(backend, runIn(h.Namespace))
}
