package explain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Origin is where the packet enters the node.
type Origin string

const (
	// FromPod: the packet arrives from a local pod on its host-side
	// interface (eni…, veth…, docker0).
	FromPod Origin = "pod"
	// FromNode: a process on the node sends it (nat/filter OUTPUT).
	FromNode Origin = "node"
	// FromExternal: it arrives on the uplink from another host.
	FromExternal Origin = "external"
)

// Default interface names, for packets that do not name theirs.
const (
	DefaultUplink = "eth0"
	// DefaultPodInterface is a VPC CNI host-side veth name; set
	// Packet.InInterface for other CNIs (docker0, veth…, cali…).
	DefaultPodInterface = "eni0"
)

// Packet is the first packet of a connection.
type Packet struct {
	// Src is required, except from the node, where it defaults to the first
	// node IP.
	Src netip.Addr
	// SrcPort is the client port, 0 when unknown: rules that test it are then
	// listed as not modelled.
	SrcPort uint16
	Dst     netip.AddrPort
	// Proto is "tcp", "udp" or "sctp".
	Proto string
	From  Origin
	// InInterface is the interface the packet arrives on; empty means
	// Options.Uplink for external packets and DefaultPodInterface for pods.
	// Packets from the node have none.
	InInterface string
	// OutInterface, when set, is the interface the packet leaves by
	// whatever its destination (after DNAT), unless it is for the node
	// itself; empty means the routing decision (Options.Routes, else the
	// uplink).
	OutInterface string
}

// ParsePacket builds a Packet from command-line text; src may be empty.
func ParsePacket(src, dst, proto, from string) (Packet, error) {
	var p Packet
	var err error
	if src != "" {
		if p.Src, err = netip.ParseAddr(src); err != nil {
			return p, fmt.Errorf("src %q: not an IP address", src)
		}
	}
	if p.Dst, err = netip.ParseAddrPort(dst); err != nil {
		return p, fmt.Errorf("dst %q: want IP:PORT, e.g. 10.100.30.185:7777", dst)
	}
	p.Proto, p.From = strings.ToLower(proto), Origin(from)
	return p, p.validate()
}

// ParseNodeIPs parses the node's own addresses (--node-ip).
func ParseNodeIPs(values []string) ([]netip.Addr, error) {
	addrs := make([]netip.Addr, 0, len(values))
	for _, v := range values {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("node-ip %q: not an IP address", v)
		}
		addrs = append(addrs, a.Unmap())
	}
	return addrs, nil
}

func (p Packet) validate() error {
	switch p.From {
	case FromPod, FromNode, FromExternal:
	case "":
		return errors.New("from: missing; want pod, node or external")
	default:
		return fmt.Errorf("from %q: want pod, node or external", p.From)
	}
	if !ValidProtocol(p.Proto) {
		return fmt.Errorf("proto %q: want tcp, udp or sctp", p.Proto)
	}
	if p.From == FromNode && p.InInterface != "" {
		return fmt.Errorf("in-interface %q: a packet from the node arrives on no interface", p.InInterface)
	}
	for _, name := range []string{p.InInterface, p.OutInterface} {
		if err := ValidInterfaceName(name); name != "" && err != nil {
			return err
		}
	}
	if !p.Dst.Addr().IsValid() {
		return errors.New("dst: missing")
	}
	if p.Dst.Port() == 0 {
		return fmt.Errorf("dst %s: port 0 is not a valid destination port", p.Dst)
	}
	if p.Src.IsValid() && p.Src.Unmap().Is4() != p.Dst.Addr().Unmap().Is4() {
		return fmt.Errorf("src %s and dst %s are of different IP families", p.Src, p.Dst.Addr())
	}
	return nil
}

// ValidProtocol reports whether proto is one the walk follows: the first
// packet of a TCP, UDP or SCTP association, all walked alike (the tcp, udp
// and sctp modules match their own protocol only).
func ValidProtocol(proto string) bool {
	return proto == "tcp" || proto == "udp" || proto == "sctp"
}

// ValidInterfaceName checks an interface name as the kernel would take it
// (at most 15 bytes, no "/", blank or wildcard).
func ValidInterfaceName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ +:\t") {
		return fmt.Errorf("interface %q: not an interface name (at most 15 characters, no wildcard)", name)
	}
	return nil
}
