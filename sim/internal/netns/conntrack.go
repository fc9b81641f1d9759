package netns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/topology"
)

// Flow is one TCP connection as a host's conntrack table records it: the
// tuple of the packet that opened it and the tuple replies carry.
type Flow struct {
	OrigSrc, OrigDst   netip.AddrPort
	ReplySrc, ReplyDst netip.AddrPort
}

// Translated returns the packet as it leaves the host: its destination is
// where replies come from, its source where they go.
func (f Flow) Translated() (src, dst netip.AddrPort) { return f.ReplyDst, f.ReplySrc }

// DNAT reports whether the host translated the destination.
func (f Flow) DNAT() bool { return f.ReplySrc != f.OrigDst }

// SNAT reports whether the host translated the source.
func (f Flow) SNAT() bool { return f.ReplyDst != f.OrigSrc }

// Conntrack lists a host's TCP conntrack entries. A namespace without
// NAT rules keeps none: such a host only forwards.
func Conntrack(w *topology.World, host string) ([]Flow, error) {
	ns, err := Open(topology.Namespace(w.Cluster.Name, host))
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
	out := make([]Flow, 0, len(raw))
	for _, r := range raw {
		if r.Forward.Protocol != unix.IPPROTO_TCP {
			continue
		}
		out = append(out, Flow{
			OrigSrc: addrPort(r.Forward.SrcIP, r.Forward.SrcPort), OrigDst: addrPort(r.Forward.DstIP, r.Forward.DstPort),
			ReplySrc: addrPort(r.Reverse.SrcIP, r.Reverse.SrcPort), ReplyDst: addrPort(r.Reverse.DstIP, r.Reverse.DstPort),
		})
	}
	return out, nil
}

func addrPort(ip []byte, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}
