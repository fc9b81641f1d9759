package explain

import (
	"fmt"
	"net/netip"
)

// Options describe the node the dump comes from.
type Options struct {
	// NodeIPs are the node's own addresses, all on the uplink. With
	// 127.0.0.0/8 (and ::1) they are LOCAL for routing and addrtype; the
	// first one is the source MASQUERADE picks, unless the route out has a
	// Source of its own. Without node IPs a masqueraded source is unknown.
	NodeIPs []netip.Addr
	// Uplink is the node's interface to the network; default "eth0".
	Uplink string
	// Routes send matching destinations out of another interface (e.g.
	// 172.17.0.0/16 via docker0); the longest prefix wins, everything else
	// leaves through the uplink.
	Routes []Route
	// InferInterfaces reads the dump's own CNI chains (InferInterfaces) for
	// what the caller left unset: a pod's interface, and routes to the pod
	// ranges of a bridge or overlay (after Routes). The report says what
	// was inferred, from which rules.
	InferInterfaces bool
}

// Route is a directly connected destination.
type Route struct {
	Prefix    netip.Prefix
	Interface string
	// Source is the interface's own address (docker0's 172.17.0.1), which
	// MASQUERADE uses; empty for interfaces without one (VPC CNI's pod
	// veths), where the kernel picks the node's primary address.
	Source netip.Addr
}

// node is the validated view of Options the walk uses.
type node struct {
	ips    []netip.Addr
	uplink string
	routes []Route
	// out, when set, is where every packet not for the node leaves.
	out string
}

var loopback4 = netip.MustParsePrefix("127.0.0.0/8")

func newNode(o Options) (*node, error) {
	n := &node{ips: o.NodeIPs, uplink: o.Uplink, routes: o.Routes}
	if n.uplink == "" {
		n.uplink = DefaultUplink
	}
	for _, ip := range n.ips {
		if !ip.IsValid() {
			return nil, fmt.Errorf("node-ip: invalid address")
		}
	}
	for _, r := range n.routes {
		if !r.Prefix.IsValid() || r.Interface == "" {
			return nil, fmt.Errorf("route %v via %q: want a prefix and an interface", r.Prefix, r.Interface)
		}
	}
	return n, nil
}

// isLocal reports whether the node owns addr.
func (n *node) isLocal(addr netip.Addr) bool {
	if loopback4.Contains(addr) || addr == netip.IPv6Loopback() {
		return true
	}
	for _, ip := range n.ips {
		if ip == addr {
			return true
		}
	}
	return false
}

// localOn reports whether addr is assigned to interface iface: loopback
// addresses to lo, node IPs to the uplink.
func (n *node) localOn(addr netip.Addr, iface string) bool {
	if loopback4.Contains(addr) || addr == netip.IPv6Loopback() {
		return iface == "lo"
	}
	return iface == n.uplink && n.isLocal(addr)
}

// outInterface is the routing decision for a packet leaving the node.
func (n *node) outInterface(dst netip.Addr) string {
	if n.isLocal(dst) {
		return "lo"
	}
	if n.out != "" {
		return n.out
	}
	best, bits := n.uplink, -1
	for _, r := range n.routes {
		if r.Prefix.Contains(dst) && r.Prefix.Bits() > bits {
			best, bits = r.Interface, r.Prefix.Bits()
		}
	}
	return best
}

// masqueradeSource is the address MASQUERADE gives a packet leaving through
// iface, if known.
func (n *node) masqueradeSource(iface string) (netip.Addr, bool) {
	for _, r := range n.routes {
		if r.Interface == iface && r.Source.IsValid() {
			return r.Source, true
		}
	}
	if len(n.ips) > 0 {
		return n.ips[0], true
	}
	return netip.Addr{}, false
}

// addressType is the kernel's route type of addr as addrtype sees it. With
// a limiting interface, a local address of another interface is UNICAST.
func (n *node) addressType(addr netip.Addr, limitTo string, limited bool) string {
	switch {
	case addr.Is4() && (addr == netip.IPv4Unspecified() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || addr.As4()[0] == 0):
		return "BROADCAST"
	case addr.IsMulticast():
		return "MULTICAST"
	case limited && n.localOn(addr, limitTo), !limited && n.isLocal(addr):
		return "LOCAL"
	}
	return "UNICAST"
}
