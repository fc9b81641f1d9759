package sim

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/topology"
)

// flow is one TCP connection as a host's conntrack table records it: the
// tuple of the packet that opened it and the tuple replies carry.
type flow struct {
	origSrc, origDst   netip.AddrPort
	replySrc, replyDst netip.AddrPort
}

// translated returns the packet as it leaves the host: its destination is
// where replies come from, its source where they go.
func (f flow) translated() (src, dst netip.AddrPort) { return f.replyDst, f.replySrc }

func (f flow) dnat() bool { return f.replySrc != f.origDst }
func (f flow) snat() bool { return f.replyDst != f.origSrc }

// conntrackFlows lists a host's TCP conntrack entries. A namespace without
// NAT rules keeps none (DESIGN.md): such a host only forwards.
func conntrackFlows(w *topology.World, host string) ([]flow, error) {
	ns, err := openNamespace(topology.Namespace(w.Cluster.Name, host))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack of %s: %w", host, err)
	}
	defer h.Close()
	raw, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("conntrack of %s: %w", host, err)
	}
	out := make([]flow, 0, len(raw))
	for _, r := range raw {
		if r.Forward.Protocol != unix.IPPROTO_TCP {
			continue
		}
		out = append(out, flow{
			origSrc: addrPort(r.Forward.SrcIP, r.Forward.SrcPort), origDst: addrPort(r.Forward.DstIP, r.Forward.DstPort),
			replySrc: addrPort(r.Reverse.SrcIP, r.Reverse.SrcPort), replyDst: addrPort(r.Reverse.DstIP, r.Reverse.DstPort),
		})
	}
	return out, nil
}

func addrPort(ip []byte, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}
