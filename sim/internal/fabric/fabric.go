package fabric

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// VPC CNI's fixed values.
const (
	mtu = 9001
	// podGateway is the link-local next hop VPC CNI gives every pod, with a
	// static neighbour entry for the node's end of the pod's veth.
	podGateway = "169.254.1.1"
	// Uplink is every host's interface towards the VPC fabric and a pod's
	// interface towards its node.
	Uplink = "eth0"
)

// LinkName names the VPC fabric's end of a host's link; interface
// names are limited to 15 characters.
func LinkName(w *topology.World, h topology.HostRef) string {
	switch h.Kind {
	case topology.KindNLB:
		for i, lb := range w.LoadBalancers {
			for _, n := range lb.Nodes {
				if n.Name == h.Name {
					if i == 0 {
						return "to-nlb-" + n.Letter
					}
					return fmt.Sprintf("to-nlb%d-%s", i+1, n.Letter)
				}
			}
		}
	case topology.KindControlPlane:
		return "to-cp-" + strings.TrimPrefix(h.Name, "control-plane-")
	}
	return "to-" + h.Name
}

// PodLinkName is the node's end of a pod's veth, named as VPC CNI names it:
// "eni" and the first 11 hex digits of sha1("<namespace>.<pod>").
func PodLinkName(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return "eni" + hex.EncodeToString(sum[:])[:11]
}

// wiring builds and holds the namespaces of one world while they are wired.
type wiring struct {
	w       *topology.World
	handles map[string]*netlink.Handle // by host name
	nsFDs   map[string]netns.Handle
}

// Build creates every host's namespace, the links between hosts and
// the VPC fabric (and between pods and their nodes), the addresses and the
// routes. On error, what it made is left for the caller's teardown.
func Build(w *topology.World) error {
	if err := netns.PrepareDir(); err != nil {
		return err
	}
	f := &wiring{w: w, handles: map[string]*netlink.Handle{}, nsFDs: map[string]netns.Handle{}}
	defer f.close()
	hosts := w.Hosts()
	for _, h := range hosts {
		if err := netns.Create(h.Namespace, netns.HostSysctls(h.Kind)); err != nil {
			return err
		}
		if err := f.open(h); err != nil {
			return err
		}
		if err := f.linkUp(h.Name, "lo"); err != nil {
			return err
		}
	}
	if err := f.wireVPC(); err != nil {
		return err
	}
	if err := f.routeRepliesToNLBNodes(); err != nil {
		return err
	}
	for _, h := range hosts {
		var err error
		switch h.Kind {
		case topology.KindVPC:
			continue
		case topology.KindPod:
			err = f.wirePod(h)
		default:
			err = f.wireHost(h)
		}
		if err != nil {
			return fmt.Errorf("wiring %s: %w", h.Name, err)
		}
	}
	return nil
}

// open takes a netlink handle on a host's namespace.
func (f *wiring) open(h topology.HostRef) error {
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return err
	}
	f.nsFDs[h.Name] = ns
	hd, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", h.Namespace, err)
	}
	f.handles[h.Name] = hd
	return nil
}

// AddPod wires one new pod of a running world, as VPC CNI does
// when kubelet starts a pod: its namespace, veth, routes and files.
func AddPod(w *topology.World, podName string) (err error) {
	pod, err := w.Lookup(podName)
	if err != nil {
		return err
	}
	f := &wiring{w: w, handles: map[string]*netlink.Handle{}, nsFDs: map[string]netns.Handle{}}
	defer f.close()
	if err := netns.Create(pod.Namespace, netns.HostSysctls(pod.Kind)); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			netns.Delete(pod.Namespace)
		}
	}()
	for _, host := range []string{topology.VPCHost, pod.Node, pod.Name} {
		h, err := w.Lookup(host)
		if err != nil {
			return err
		}
		if err := f.open(h); err != nil {
			return err
		}
	}
	if err := f.linkUp(pod.Name, "lo"); err != nil {
		return err
	}
	if err := f.wirePod(pod); err != nil {
		return fmt.Errorf("wiring %s: %w", pod.Name, err)
	}
	return writeEtcNetnsOf(w, pod)
}

// RemovePod deletes a pod's namespace (its veth goes with it, and
// the node's route over it) and the VPC's route to it.
func RemovePod(w *topology.World, pod topology.Pod) error {
	ns := topology.Namespace(w.Cluster.Name, pod.Name)
	vpcNS, err := netns.Open(topology.Namespace(w.Cluster.Name, topology.VPCHost))
	if err == nil {
		if h, herr := netlink.NewHandleAt(vpcNS); herr == nil {
			h.RouteDel(&netlink.Route{Dst: hostRoute(pod.IP)})
			h.Close()
		}
		vpcNS.Close()
	}
	if err := os.RemoveAll(filepath.Join(netns.EtcDir, ns)); err != nil {
		return err
	}
	return netns.Delete(ns)
}

func (f *wiring) close() {
	for _, h := range f.handles {
		h.Close()
	}
	for _, n := range f.nsFDs {
		n.Close()
	}
}

func (f *wiring) linkUp(host, name string) error {
	h := f.handles[host]
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: link %s: %w", host, name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: setting %s up: %w", host, name, err)
	}
	return nil
}

func (f *wiring) addAddr(host, link string, p netip.Prefix) error {
	h := f.handles[host]
	l, err := h.LinkByName(link)
	if err != nil {
		return err
	}
	return h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(p)})
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostRoute(a netip.Addr) *net.IPNet { return ipNet(netip.PrefixFrom(a, 32)) }

// wireVPC gives the fabric its router addresses: each subnet's .1 and the
// VPC resolver. The kernel answers ARP for them on every fabric link.
func (f *wiring) wireVPC() error {
	for _, s := range f.w.Subnets {
		if err := f.addAddr(topology.VPCHost, "lo", netip.PrefixFrom(s.Gateway, 32)); err != nil {
			return fmt.Errorf("vpc: gateway %s: %w", s.Gateway, err)
		}
	}
	return f.addAddr(topology.VPCHost, "lo", netip.PrefixFrom(f.w.Cluster.Resolver, 32))
}

// NLBLinks lists the fabric's links to NLB nodes, in FlowMark order.
func NLBLinks(w *topology.World) (links []string, nodes []topology.NLBNode) {
	for _, lb := range w.LoadBalancers {
		for _, n := range lb.Nodes {
			links = append(links, LinkName(w, topology.HostRef{Host: n.Host, Kind: topology.KindNLB}))
			nodes = append(nodes, n)
		}
	}
	return links, nodes
}

// flowTable is the routing table that sends replies to the i-th NLB node.
func flowTable(i int) int { return 100 + i }

// routeRepliesToNLBNodes adds, for each NLB node, a policy rule on its flow
// mark and a table whose default route leads to that node; nat's
// FabricSteering marks the flows.
func (f *wiring) routeRepliesToNLBNodes() error {
	vpc := f.handles[topology.VPCHost]
	_, nodes := NLBLinks(f.w)
	for i, n := range nodes {
		rule := netlink.NewRule()
		rule.Mark = nat.FlowMark(i)
		mask := uint32(nat.FlowMarkMask)
		rule.Mask = &mask
		rule.Table = flowTable(i)
		rule.Priority = 1000 + i
		if err := vpc.RuleAdd(rule); err != nil {
			return fmt.Errorf("vpc: rule for %s: %w", n.Name, err)
		}
	}
	return nil
}

// veth creates a veth pair straight into two namespaces.
func (f *wiring) veth(aHost, aName, bHost, bName string) error {
	la := netlink.NewLinkAttrs()
	la.Name = aName
	la.MTU = mtu
	la.Namespace = netlink.NsFd(f.nsFDs[aHost])
	v := &netlink.Veth{LinkAttrs: la, PeerName: bName, PeerMTU: mtu, PeerNamespace: netlink.NsFd(f.nsFDs[bHost])}
	if err := f.handles[topology.VPCHost].LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s–%s/%s: %w", aHost, aName, bHost, bName, err)
	}
	if err := f.linkUp(aHost, aName); err != nil {
		return err
	}
	return f.linkUp(bHost, bName)
}

// wireHost links a host (bastion, node, NLB node, control-plane ENI) to the
// fabric: a /32 address with its subnet's router as on-link default gateway,
// so that every packet crosses the VPC router as on AWS.
func (f *wiring) wireHost(h topology.HostRef) error {
	fab := LinkName(f.w, h)
	if err := f.veth(h.Name, Uplink, topology.VPCHost, fab); err != nil {
		return err
	}
	if err := f.addAddr(h.Name, Uplink, netip.PrefixFrom(h.IP, 32)); err != nil {
		return err
	}
	sub, ok := f.w.SubnetOf(h.IP)
	if !ok {
		return fmt.Errorf("%s is in no subnet", h.IP)
	}
	hd := f.handles[h.Name]
	eth, err := hd.LinkByName(Uplink)
	if err != nil {
		return err
	}
	if err := hd.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: sub.Gateway.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	vpc := f.handles[topology.VPCHost]
	fl, err := vpc.LinkByName(fab)
	if err != nil {
		return err
	}
	if err := vpc.RouteAdd(&netlink.Route{LinkIndex: fl.Attrs().Index, Dst: hostRoute(h.IP), Scope: netlink.SCOPE_LINK}); err != nil {
		return err
	}
	if h.Kind != topology.KindNLB {
		return nil
	}
	_, nodes := NLBLinks(f.w)
	for i, n := range nodes {
		if n.Name == h.Name {
			return vpc.RouteAdd(&netlink.Route{LinkIndex: fl.Attrs().Index, Gw: h.IP.AsSlice(), Table: flowTable(i), Flags: int(netlink.FLAG_ONLINK)})
		}
	}
	return nil
}

// wirePod wires a pod as VPC CNI does: the pod holds its VPC address on eth0
// with a link-local default gateway; the node holds a /32 route to the pod
// over the veth; the VPC fabric routes the pod's address to its node.
func (f *wiring) wirePod(h topology.HostRef) error {
	var pod topology.Pod
	for _, p := range f.w.Pods {
		if p.Name == h.Name {
			pod = p
		}
	}
	nodeLink := PodLinkName(pod.Namespace, pod.Name)
	if err := f.veth(h.Name, Uplink, pod.Node, nodeLink); err != nil {
		return err
	}
	if err := f.addAddr(h.Name, Uplink, netip.PrefixFrom(h.IP, 32)); err != nil {
		return err
	}
	node := f.handles[pod.Node]
	nl, err := node.LinkByName(nodeLink)
	if err != nil {
		return err
	}
	if err := node.RouteAdd(&netlink.Route{LinkIndex: nl.Attrs().Index, Dst: hostRoute(h.IP), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("node route: %w", err)
	}
	ph := f.handles[h.Name]
	eth, err := ph.LinkByName(Uplink)
	if err != nil {
		return err
	}
	gw := netip.MustParseAddr(podGateway)
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: hostRoute(gw), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("gateway route: %w", err)
	}
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	if err := ph.NeighAdd(&netlink.Neigh{LinkIndex: eth.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
		IP: gw.AsSlice(), HardwareAddr: nl.Attrs().HardwareAddr}); err != nil {
		return fmt.Errorf("gateway neighbour: %w", err)
	}
	n, _ := f.w.Node(pod.Node)
	vpc := f.handles[topology.VPCHost]
	fab, err := vpc.LinkByName(LinkName(f.w, topology.HostRef{Host: n.Host, Kind: topology.KindNode}))
	if err != nil {
		return err
	}
	return vpc.RouteAdd(&netlink.Route{LinkIndex: fab.Attrs().Index, Dst: hostRoute(h.IP), Gw: n.IP.AsSlice()})
}

// Teardown removes every namespace and /etc/netns entry of a
// cluster, whether or not a state file says they exist.
func Teardown(cluster string) error {
	prefix := topology.Namespace(cluster, "")
	names, err := netns.List(prefix)
	if err != nil {
		return err
	}
	var errs []string
	for _, n := range names {
		if err := netns.Delete(n); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := removeEtcNetns(prefix); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing namespaces of %s: %s", cluster, strings.Join(errs, "; "))
	}
	return nil
}

// SetUplink takes a node's link to the VPC down or up: its instance stops
// or starts.
func SetUplink(w *topology.World, node string, up bool) error {
	ns, err := netns.Open(topology.Namespace(w.Cluster.Name, node))
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(Uplink)
	if err != nil {
		return err
	}
	if up {
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
		// The default route went with the link.
		n, _ := w.Node(node)
		sub, _ := w.SubnetOf(n.IP)
		err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: sub.Gateway.AsSlice(), Flags: int(netlink.FLAG_ONLINK)})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	}
	return h.LinkSetDown(l)
}
