package fabric

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlbsim/nlbsim/sim/internal/netns"

	"github.com/nlbsim/nlbsim/topology"
)

// WriteEtcNetns writes /etc/netns/<ns>/hosts and resolv.conf for every host,
// which ip netns exec bind-mounts over /etc, so that exec behaves like a
// shell on that host.
func WriteEtcNetns(w *topology.World) error {
	hosts := hostsFile(w)
	return each(w.Hosts(), func(h topology.HostRef) error { return writeEtcFiles(w, h, hosts) })
}

// writeEtcNetnsOf writes one host's files.
func writeEtcNetnsOf(w *topology.World, h topology.HostRef) error {
	return writeEtcFiles(w, h, hostsFile(w))
}

// writeEtcFiles writes one host's files, given the hosts file every host
// shares.
func writeEtcFiles(w *topology.World, h topology.HostRef, hosts string) error {
	dir := filepath.Join(netns.EtcDir, h.Namespace)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	own := fmt.Sprintf("%s\t%s\n", h.IP, hostnameOf(w, h))
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts+own), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolvConf(w, h)), 0o644)
}

// hostnameOf is the name a host calls itself.
func hostnameOf(w *topology.World, h topology.HostRef) string {
	switch h.Kind {
	case topology.KindBastion:
		return w.Cluster.Name + "-bastion"
	case topology.KindNode:
		n, _ := w.Node(h.Name)
		return n.NodeName + " " + n.ShortName()
	}
	return h.Name
}

// hostsFile lists localhost and the VPC's named machines.
func hostsFile(w *topology.World) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	fmt.Fprintf(&b, "%s\t%s-bastion\n", w.Bastion.IP, w.Cluster.Name)
	for _, n := range w.Nodes {
		fmt.Fprintf(&b, "%s\t%s %s\n", n.IP, n.NodeName, n.ShortName())
	}
	b.WriteString("# this host\n")
	return b.String()
}

// resolvConf points nodes and the bastion at the VPC resolver, and pods at
// kube-dns with the cluster search path, as kubelet writes it.
func resolvConf(w *topology.World, h topology.HostRef) string {
	vpcSearch := w.Cluster.Region + ".compute.internal"
	if h.Kind == topology.KindPod {
		if dns, ok := w.Service("kube-system", "kube-dns"); ok {
			var ns string
			for _, p := range w.Pods {
				if p.Name == h.Name {
					ns = p.Namespace
				}
			}
			return fmt.Sprintf("search %s.svc.%s svc.%s %s %s\nnameserver %s\noptions ndots:5\n",
				ns, topology.ClusterDomain, topology.ClusterDomain, topology.ClusterDomain, vpcSearch, dns.ClusterIP)
		}
	}
	return fmt.Sprintf("search %s\nnameserver %s\n", vpcSearch, w.Cluster.Resolver)
}

// removeEtcNetns removes /etc/netns entries whose names start with prefix.
func removeEtcNetns(prefix string) error {
	entries, err := os.ReadDir(netns.EtcDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := os.RemoveAll(filepath.Join(netns.EtcDir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
