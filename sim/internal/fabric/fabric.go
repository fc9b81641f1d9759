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
	"runtime"
	"strings"
	"sync"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"
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
// Its goroutines wire hosts in parallel: the maps are guarded by mu.
type wiring struct {
	w *topology.World

	mu       sync.Mutex
	handles  map[string]*netlink.Handle // guarded by mu: by host name
	nsFDs    map[string]netns.Handle    // guarded by mu: by host name
	fabIndex map[string]int             // guarded by mu: the VPC's link to each host, by host name
}

func newWiring(w *topology.World) *wiring {
	return &wiring{w: w, handles: map[string]*netlink.Handle{}, nsFDs: map[string]netns.Handle{}, fabIndex: map[string]int{}}
}

// parallelism bounds the goroutines that create and wire namespaces: the
// kernel serialises most of the work (rtnl), so a few per core keep it
// busy while others wait in system calls.
func parallelism() int { return 2 * runtime.NumCPU() }

// each runs fn for every host, a bounded number at a time, and returns
// the first error.
func each(hosts []topology.HostRef, fn func(topology.HostRef) error) error {
	var g errgroup.Group
	g.SetLimit(parallelism())
	for _, h := range hosts {
		g.Go(func() error { return fn(h) })
	}
	return g.Wait()
}

// Build creates every host's namespace, the links between hosts and
// the VPC fabric (and between pods and their nodes), the addresses and the
// routes. Hosts are created and wired in parallel; pods after the other
// hosts, since the VPC's route to a pod goes via its node. On error, what
// it made is left for the caller's teardown.
func Build(w *topology.World) error {
	if err := netns.PrepareDir(); err != nil {
		return err
	}
	f := newWiring(w)
	defer f.close()
	hosts := w.Hosts()
	err := each(hosts, func(h topology.HostRef) error {
		if err := netns.Create(h.Namespace, netns.HostSysctls(h.Kind)); err != nil {
			return err
		}
		if err := f.open(h); err != nil {
			return err
		}
		return f.linkUp(h.Name, "lo")
	})
	if err != nil {
		return err
	}
	if err := f.wireVPC(); err != nil {
		return err
	}
	if err := f.routeRepliesToNLBNodes(); err != nil {
		return err
	}
	var others, pods []topology.HostRef
	for _, h := range hosts {
		switch h.Kind {
		case topology.KindVPC:
		case topology.KindPod:
			pods = append(pods, h)
		default:
			others = append(others, h)
		}
	}
	if err := each(others, func(h topology.HostRef) error {
		if err := f.wireHost(h); err != nil {
			return fmt.Errorf("wiring %s: %w", h.Name, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return each(pods, func(h topology.HostRef) error {
		if err := f.wirePod(h); err != nil {
			return fmt.Errorf("wiring %s: %w", h.Name, err)
		}
		return nil
	})
}

// open takes a netlink handle on a host's namespace.
func (f *wiring) open(h topology.HostRef) error {
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return err
	}
	hd, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return fmt.Errorf("netlink handle in %s: %w", h.Namespace, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nsFDs[h.Name], f.handles[h.Name] = ns, hd
	return nil
}

// handle is a host's netlink handle.
func (f *wiring) handle(host string) *netlink.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handles[host]
}

// nsFD is a host's namespace.
func (f *wiring) nsFD(host string) netns.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nsFDs[host]
}

// AddPod wires one new pod of a running world, as VPC CNI does
// when kubelet starts a pod: its namespace, veth, routes and files.
func AddPod(w *topology.World, podName string) (err error) {
	pod, err := w.Lookup(podName)
	if err != nil {
		return err
	}
	f := newWiring(w)
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
	_, err := f.linkUpByName(host, name)
	return err
}

// linkUpByName sets a host's link up and returns it.
func (f *wiring) linkUpByName(host, name string) (netlink.Link, error) {
	h := f.handle(host)
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", host, name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("%s: setting %s up: %w", host, name, err)
	}
	return l, nil
}

func (f *wiring) addAddr(host, link string, p netip.Prefix) error {
	h := f.handle(host)
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
	vpc := f.handle(topology.VPCHost)
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

// veth creates a veth pair straight into two namespaces, both ends up,
// and returns them: a's end (created up) with only its name and b's end
// as the kernel reports it.
func (f *wiring) veth(aHost, aName, bHost, bName string) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = aName
	la.MTU = mtu
	la.Flags = net.FlagUp
	la.Namespace = netlink.NsFd(f.nsFD(aHost))
	v := &netlink.Veth{LinkAttrs: la, PeerName: bName, PeerMTU: mtu, PeerNamespace: netlink.NsFd(f.nsFD(bHost))}
	if err := f.handle(topology.VPCHost).LinkAdd(v); err != nil {
		return nil, fmt.Errorf("veth %s/%s–%s/%s: %w", aHost, aName, bHost, bName, err)
	}
	return f.linkUpByName(bHost, bName)
}

// uplink gives a host's eth0 its /32 address and returns the link.
func (f *wiring) uplink(h topology.HostRef) (netlink.Link, error) {
	hd := f.handle(h.Name)
	eth, err := hd.LinkByName(Uplink)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", h.Name, Uplink, err)
	}
	if err := hd.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(h.IP, 32))}); err != nil {
		return nil, err
	}
	return eth, nil
}

// wireHost links a host (bastion, node, NLB node, control-plane ENI) to the
// fabric: a /32 address with its subnet's router as on-link default gateway,
// so that every packet crosses the VPC router as on AWS.
func (f *wiring) wireHost(h topology.HostRef) error {
	fab, err := f.veth(h.Name, Uplink, topology.VPCHost, LinkName(f.w, h))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.fabIndex[h.Name] = fab.Attrs().Index
	f.mu.Unlock()
	eth, err := f.uplink(h)
	if err != nil {
		return err
	}
	sub, ok := f.w.SubnetOf(h.IP)
	if !ok {
		return fmt.Errorf("%s is in no subnet", h.IP)
	}
	hd := f.handle(h.Name)
	if err := hd.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: sub.Gateway.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	if err := hd.NeighAdd(staticNeighbour(eth, sub.Gateway, fab)); err != nil {
		return fmt.Errorf("gateway neighbour: %w", err)
	}
	vpc := f.handle(topology.VPCHost)
	if err := vpc.RouteAdd(&netlink.Route{LinkIndex: fab.Attrs().Index, Dst: hostRoute(h.IP), Scope: netlink.SCOPE_LINK}); err != nil {
		return err
	}
	if err := vpc.NeighAdd(staticNeighbour(fab, h.IP, eth)); err != nil {
		return fmt.Errorf("vpc: neighbour %s: %w", h.IP, err)
	}
	if h.Kind != topology.KindNLB {
		return nil
	}
	_, nodes := NLBLinks(f.w)
	for i, n := range nodes {
		if n.Name == h.Name {
			return vpc.RouteAdd(&netlink.Route{LinkIndex: fab.Attrs().Index, Gw: h.IP.AsSlice(), Table: flowTable(i), Flags: int(netlink.FLAG_ONLINK)})
		}
	}
	return nil
}

// staticNeighbour is a permanent neighbour entry on link for addr, at the
// address of the other end of that link (peer). The fabric gives every
// address it places such an entry wherever a host would otherwise ARP for
// it: each host for its subnet's router, the VPC for each host, each node
// for its pods, each pod for 169.254.1.1 (as VPC CNI does). The VPC's
// entries are faithful: AWS answers its instances' ARP from its mapping
// service, never by a broadcast on the subnet. A real node resolves its
// pods by ARP over their veths, in its own kernel; here every namespace
// shares one neighbour table, bounded by the root namespace's gc_thresh3
// (1024 by default), and only permanent entries are exempt from that
// bound (Linux 4.19 and later): dynamic entries would cap a world at some
// 500 pods.
func staticNeighbour(link netlink.Link, addr netip.Addr, peer netlink.Link) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
		IP: addr.AsSlice(), HardwareAddr: peer.Attrs().HardwareAddr}
}

// fabricIndex is the index of the VPC's link to a host: recorded when
// Build wired it, else looked up (a pod added to a running world).
func (f *wiring) fabricIndex(h topology.HostRef) (int, error) {
	f.mu.Lock()
	i, ok := f.fabIndex[h.Name]
	f.mu.Unlock()
	if ok {
		return i, nil
	}
	l, err := f.handle(topology.VPCHost).LinkByName(LinkName(f.w, h))
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// wirePod wires a pod as VPC CNI does: the pod holds its VPC address on eth0
// with a link-local default gateway; the node holds a /32 route to the pod
// over the veth; the VPC fabric routes the pod's address to its node.
func (f *wiring) wirePod(h topology.HostRef) error {
	pod, ok := f.w.Pod(h.Name)
	if !ok {
		return fmt.Errorf("pod %s is not in the world", h.Name)
	}
	nl, err := f.veth(h.Name, Uplink, pod.Node, PodLinkName(pod.Namespace, pod.Name))
	if err != nil {
		return err
	}
	eth, err := f.uplink(h)
	if err != nil {
		return err
	}
	node := f.handle(pod.Node)
	if err := node.RouteAdd(&netlink.Route{LinkIndex: nl.Attrs().Index, Dst: hostRoute(h.IP), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("node route: %w", err)
	}
	if err := node.NeighAdd(staticNeighbour(nl, h.IP, eth)); err != nil {
		return fmt.Errorf("node neighbour: %w", err)
	}
	ph := f.handle(h.Name)
	gw := netip.MustParseAddr(podGateway)
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: hostRoute(gw), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("gateway route: %w", err)
	}
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	if err := ph.NeighAdd(staticNeighbour(eth, gw, nl)); err != nil {
		return fmt.Errorf("gateway neighbour: %w", err)
	}
	n, _ := f.w.Node(pod.Node)
	fab, err := f.fabricIndex(topology.HostRef{Host: n.Host, Kind: topology.KindNode})
	if err != nil {
		return err
	}
	return f.handle(topology.VPCHost).RouteAdd(&netlink.Route{LinkIndex: fab, Dst: hostRoute(h.IP), Gw: n.IP.AsSlice()})
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
	if !up {
		return h.LinkSetDown(l)
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	// The default route and the router's static neighbour went with the
	// link.
	n, _ := w.Node(node)
	sub, _ := w.SubnetOf(n.IP)
	err = h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: sub.Gateway.AsSlice(), Flags: int(netlink.FLAG_ONLINK)})
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	fab, err := vpcLinkTo(w, n.Host)
	if err != nil {
		return err
	}
	return h.NeighSet(staticNeighbour(l, sub.Gateway, fab))
}

// vpcLinkTo is the VPC fabric's end of a host's link.
func vpcLinkTo(w *topology.World, h topology.Host) (netlink.Link, error) {
	ns, err := netns.Open(topology.Namespace(w.Cluster.Name, topology.VPCHost))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	vpc, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer vpc.Close()
	return vpc.LinkByName(LinkName(w, topology.HostRef{Host: h, Kind: topology.KindNode}))
}
