// Package capture records the real packets of a cluster's hosts into one
// pcapng file, an interface per host link.
package capture

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/sim/internal/fabric"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// SnapLen is the most of a packet capture keeps: tcpdump's default,
// large enough for the 64 KiB segments TCP hands a veth before segmentation.
const SnapLen = 262144

const (
	// captureTick is how often an idle socket confirms it is empty and the
	// writer writes what every socket has read past.
	captureTick = 50 * time.Millisecond
	// captureSlack covers a packet timestamped but not yet queued on its
	// socket when that socket was found empty.
	captureSlack = 20 * time.Millisecond
	// captureHoldMax is the longest the writer waits for a socket that
	// does not keep up before it writes without it.
	captureHoldMax = 5 * time.Second
	// captureRcvBuf is each packet socket's receive buffer.
	captureRcvBuf = 4 << 20
	// captureDrainMax bounds what one socket still reads after the stop.
	captureDrainMax = 100000
)

// Options change what Run keeps and when it stops.
type Options struct {
	// Port, when not 0, keeps only TCP and UDP packets from or to this port,
	// plus every ARP and ICMP packet (the neighbour resolution and the errors
	// a path depends on).
	Port int
	// Duration, when not 0, stops the capture this long after it started;
	// otherwise it runs until its context is done.
	Duration time.Duration
	// Started, when set, is called once every packet socket is open, bound
	// and listed in the file: traffic sent after it returns is captured.
	Started func(ifaces []Interface)
}

// Interface is one host link, an interface of the capture file.
type Interface struct {
	// Name is the interface's name in the file: host/link, e.g. node-2/eth0.
	Name      string
	Host      string
	Link      string
	Namespace string
	// Peer names the other end of the link (vpc/to-node-2), when known.
	Peer string
}

// InterfaceStats counts what one interface's socket did.
type InterfaceStats struct {
	Interface
	// Written packets went into the file; Filtered ones did not pass
	// --port; Dropped ones the kernel dropped because the socket's buffer
	// was full.
	Written, Filtered, Dropped uint64
	// Err is why the socket stopped early, if it did.
	Err string
}

// Stats reports a finished capture, interfaces in file order.
type Stats struct {
	Start, End time.Time
	Interfaces []InterfaceStats
}

// Written is the number of packets in the file.
func (s Stats) Written() uint64 {
	var n uint64
	for _, i := range s.Interfaces {
		n += i.Written
	}
	return n
}

// Run records the real packets on every link (but lo) of the named
// hosts — every host when none is named, the VPC fabric included — into one
// pcapng written to out, one interface per host link named host/link. It
// reads from AF_PACKET sockets opened inside each host's namespace, with the
// kernel's receive timestamps, and stops when ctx is done or after
// opts.Duration, then writes what the sockets still hold, the interfaces'
// statistics, and flushes. A packet crossing a veth is in the file twice,
// once for each end: that is the path. Host names and aliases resolve as
// World.Lookup does.
func Run(ctx context.Context, w *topology.World, hosts []string, out io.Writer, opts Options) (Stats, error) {
	var stats Stats
	if opts.Port < 0 || opts.Port > 65535 {
		return stats, fmt.Errorf("capture: port %d is out of range 1-65535", opts.Port)
	}
	if opts.Duration < 0 {
		return stats, fmt.Errorf("capture: duration %s is negative", opts.Duration)
	}
	refs, err := captureHosts(w, hosts)
	if err != nil {
		return stats, err
	}
	if err := simerr.RequireRoot(); err != nil {
		return stats, err
	}
	socks, err := openCaptureSockets(w, refs)
	defer func() {
		for _, s := range socks {
			s.file.Close()
		}
	}()
	if err != nil {
		return stats, err
	}
	if len(socks) == 0 {
		return stats, errors.New("capture: the hosts named have no links")
	}

	nw, err := newCaptureWriter(out, w, socks, opts.Port)
	if err != nil {
		return stats, fmt.Errorf("capture: writing the file header: %w", err)
	}
	stats.Start = time.Now()

	pkts := make(chan capturedPacket, 4096)
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.read(pkts, opts.Port)
		}()
	}
	writeErr := make(chan error, 1)
	go func() { writeErr <- nw.run(pkts, socks) }()

	runCtx := ctx
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	if opts.Started != nil {
		ifaces := make([]Interface, len(socks))
		for i, s := range socks {
			ifaces[i] = s.iface
		}
		opts.Started(ifaces)
	}
	select {
	case <-runCtx.Done():
	case <-nw.failed: // the file cannot take more: stop
	}
	for _, s := range socks {
		s.stop.Store(true)
		s.file.SetReadDeadline(time.Now())
	}
	wg.Wait()
	close(pkts)
	err = <-writeErr
	stats.End = time.Now()

	for _, s := range socks {
		st := InterfaceStats{Interface: s.iface, Written: s.written, Filtered: s.filtered, Dropped: s.dropped}
		if s.err != nil {
			st.Err = s.err.Error()
		}
		stats.Interfaces = append(stats.Interfaces, st)
	}
	if err == nil {
		err = nw.finish(stats)
	}
	if err != nil {
		return stats, fmt.Errorf("capture: writing the file: %w", err)
	}
	return stats, nil
}

// captureHosts resolves host names and aliases, every host when none is
// named, without repeats, in the order given.
func captureHosts(w *topology.World, names []string) ([]topology.HostRef, error) {
	if len(names) == 0 {
		return w.Hosts(), nil
	}
	var out []topology.HostRef
	seen := map[string]bool{}
	for _, n := range names {
		h, err := w.Lookup(n)
		if err != nil {
			return nil, err
		}
		if !seen[h.Name] {
			seen[h.Name] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// linkPeers names the other end of every link the fabric makes, as
// host/link, in both directions.
func linkPeers(w *topology.World) map[string]string {
	peers := map[string]string{}
	pair := func(a, b string) { peers[a], peers[b] = b, a }
	podNS := map[string]string{}
	for _, p := range w.Pods {
		podNS[p.Name] = p.Namespace
	}
	for _, h := range w.Hosts() {
		switch h.Kind {
		case topology.KindVPC:
		case topology.KindPod:
			pair(h.Name+"/"+fabric.Uplink, h.Node+"/"+fabric.PodLinkName(podNS[h.Name], h.Name))
		default:
			pair(h.Name+"/"+fabric.Uplink, topology.VPCHost+"/"+fabric.LinkName(w, h))
		}
	}
	return peers
}

// packetSocket is one AF_PACKET socket bound to one link inside a host's
// namespace. Only its reader goroutine touches the counters until it ends.
type packetSocket struct {
	iface Interface
	id    int // the interface's index in the file
	file  *os.File
	rc    syscall.RawConn
	buf   []byte
	oob   []byte

	// mark is a time (Unix ns) the socket has delivered every packet
	// before: the last packet's timestamp, or when it was last found empty.
	mark atomic.Int64
	stop atomic.Bool

	written, filtered, dropped uint64
	err                        error
}

// openCaptureSockets opens one packet socket per link (but lo) of each host,
// the links of a host in their kernel order.
func openCaptureSockets(w *topology.World, refs []topology.HostRef) ([]*packetSocket, error) {
	peers := linkPeers(w)
	var socks []*packetSocket
	for _, h := range refs {
		links, err := hostLinks(h)
		if err != nil {
			return socks, err
		}
		ns, err := netns.Open(h.Namespace)
		if err != nil {
			return socks, err
		}
		var fds []int
		err = netns.In(ns, func() error {
			for range links {
				// Protocol 0: the socket receives nothing until bind names the
				// link and ETH_P_ALL, so no other link's packet slips in.
				fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("capture: packet socket in %s: %w", h.Namespace, err)
				}
				fds = append(fds, fd)
			}
			return nil
		})
		ns.Close()
		for i, fd := range fds {
			l := links[i].Attrs()
			name := h.Name + "/" + l.Name
			s := &packetSocket{
				iface: Interface{Name: name, Host: h.Name, Link: l.Name, Namespace: h.Namespace, Peer: peers[name]},
				id:    len(socks),
				file:  os.NewFile(uintptr(fd), name),
			}
			socks = append(socks, s)
			if err == nil {
				err = s.setup(l.Index)
			}
		}
		if err != nil {
			return socks, err
		}
	}
	return socks, nil
}

// hostLinks lists a host's links but lo, by interface index.
func hostLinks(h topology.HostRef) ([]netlink.Link, error) {
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	hd, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", h.Namespace, err)
	}
	defer hd.Close()
	all, err := hd.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing the links of %s: %w", h.Name, err)
	}
	var links []netlink.Link
	for _, l := range all {
		if l.Attrs().Name == "lo" || l.Attrs().EncapType == "loopback" {
			continue
		}
		links = append(links, l)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	return links, nil
}

// setup binds the socket to one link for every protocol, asks for the
// kernel's receive timestamps and a large buffer.
func (s *packetSocket) setup(ifindex int) error {
	rc, err := s.file.SyscallConn()
	if err != nil {
		return err
	}
	s.rc = rc
	var serr error
	err = rc.Control(func(fd uintptr) {
		f := int(fd)
		if serr = unix.Bind(f, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); serr != nil {
			serr = fmt.Errorf("binding to %s: %w", s.iface.Name, serr)
			return
		}
		if serr = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); serr != nil {
			serr = fmt.Errorf("%s: SO_TIMESTAMPNS: %w", s.iface.Name, serr)
			return
		}
		if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureRcvBuf) != nil {
			unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, captureRcvBuf)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	s.buf = make([]byte, SnapLen)
	s.oob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*2)
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capturedPacket is one packet on its way to the file.
type capturedPacket struct {
	ci   gopacket.CaptureInfo
	data []byte
	seq  uint64 // arrival order, to keep the sort stable
}

// recv reads one packet: its length on the wire, the kernel's timestamp.
func (s *packetSocket) recv(fd, flags int) (n int, ts time.Time, err error) {
	n, oobn, _, _, err := unix.Recvmsg(fd, s.buf, s.oob, unix.MSG_TRUNC|flags)
	if err != nil {
		return 0, ts, err
	}
	if cmsgs, err := unix.ParseSocketControlMessage(s.oob[:oobn]); err == nil {
		for _, m := range cmsgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				t := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				ts = time.Unix(int64(t.Sec), int64(t.Nsec))
			}
		}
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	return n, ts, nil
}

// transient errors a packet socket reports once and goes on from: its link
// went down (it comes back up with its socket still bound).
func transient(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.EINTR)
}

// read sends the socket's packets to pkts until it is stopped, then drains
// what the kernel still holds, notes the drops and closes. It wakes at least
// every captureTick to move its mark when idle.
func (s *packetSocket) read(pkts chan<- capturedPacket, port int) {
	defer s.mark.Store(math.MaxInt64)
	f := newPortFilter(port)
	for !s.stop.Load() {
		s.file.SetReadDeadline(time.Now().Add(captureTick))
		for s.err == nil {
			var n int
			var ts time.Time
			var rerr error
			err := s.rc.Read(func(fd uintptr) bool {
				n, ts, rerr = s.recv(int(fd), 0)
				return !errors.Is(rerr, unix.EAGAIN)
			})
			if err != nil {
				break // a tick or the stop
			}
			s.handle(pkts, f, n, ts, rerr)
		}
		if s.err != nil {
			break
		}
		// Idle or not, look once more without waiting: found empty, the
		// socket has delivered everything before this moment.
		s.rc.Control(func(fd uintptr) {
			before := time.Now()
			n, ts, err := s.recv(int(fd), unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) {
				s.mark.Store(before.UnixNano())
				return
			}
			s.handle(pkts, f, n, ts, err)
		})
	}
	s.rc.Control(func(fd uintptr) {
		for i := 0; i < captureDrainMax; i++ {
			n, ts, err := s.recv(int(fd), unix.MSG_DONTWAIT)
			if transient(err) {
				continue
			}
			if err != nil {
				break
			}
			s.deliver(pkts, f, n, ts)
		}
		if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			s.dropped = uint64(st.Drops)
		}
	})
	s.file.Close()
}

// handle takes one read's outcome: a packet, a transient error, or the
// error that ends the socket.
func (s *packetSocket) handle(pkts chan<- capturedPacket, f *portFilter, n int, ts time.Time, err error) {
	switch {
	case err == nil:
		s.deliver(pkts, f, n, ts)
	case !transient(err) && !errors.Is(err, unix.EAGAIN):
		s.err = err
	}
}

func (s *packetSocket) deliver(pkts chan<- capturedPacket, f *portFilter, n int, ts time.Time) {
	c := min(n, len(s.buf))
	if !f.keep(s.buf[:c]) {
		s.filtered++
		s.mark.Store(ts.UnixNano())
		return
	}
	s.written++
	data := make([]byte, c)
	copy(data, s.buf[:c])
	pkts <- capturedPacket{ci: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: c, Length: n, InterfaceIndex: s.id}, data: data}
	// Sent before the mark moves: a writer that sees the mark finds the
	// packet in the channel.
	s.mark.Store(ts.UnixNano())
}

// portFilter keeps TCP and UDP packets from or to one port, and every ARP
// and ICMP packet; with port 0 it keeps everything. Each socket has its own.
type portFilter struct {
	port    uint16
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	ip      layers.IPv4
	decoded []gopacket.LayerType
}

func newPortFilter(port int) *portFilter {
	f := &portFilter{port: uint16(port)}
	if port != 0 {
		f.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &f.eth, &f.ip)
		f.parser.IgnoreUnsupported = true
	}
	return f
}

func (f *portFilter) keep(data []byte) bool {
	if f.parser == nil {
		return true
	}
	f.decoded = f.decoded[:0]
	f.parser.DecodeLayers(data, &f.decoded) // errors leave decoded short
	if len(f.decoded) == 0 {
		return false
	}
	if f.eth.EthernetType == layers.EthernetTypeARP {
		return true
	}
	if len(f.decoded) < 2 || f.decoded[1] != layers.LayerTypeIPv4 {
		return false
	}
	switch f.ip.Protocol {
	case layers.IPProtocolICMPv4:
		return true
	case layers.IPProtocolTCP, layers.IPProtocolUDP:
		// Both start with the source and destination port; a later
		// fragment carries no ports.
		p := f.ip.Payload
		if f.ip.FragOffset != 0 || len(p) < 4 {
			return false
		}
		return binary.BigEndian.Uint16(p[0:2]) == f.port || binary.BigEndian.Uint16(p[2:4]) == f.port
	}
	return false
}

// portFilterText says what a port filter keeps, in tcpdump's words, for the
// interfaces' if_filter option.
func portFilterText(port int) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("tcp port %d or udp port %d or arp or icmp", port, port)
}

// captureWriter writes packets to the pcapng in timestamp order.
type captureWriter struct {
	w      *pcapgo.NgWriter
	held   packetHeap
	seq    uint64
	failed chan struct{} // closed on the first write error
}

func newCaptureWriter(out io.Writer, w *topology.World, socks []*packetSocket, port int) (*captureWriter, error) {
	osName := runtime.GOOS
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		osName = unix.ByteSliceToString(uts.Sysname[:]) + " " + unix.ByteSliceToString(uts.Release[:])
	}
	intf := func(s *packetSocket) pcapgo.NgInterface {
		desc := fmt.Sprintf("%s in network namespace %s", s.iface.Link, s.iface.Namespace)
		if s.iface.Peer != "" {
			desc += ", peer " + s.iface.Peer
		}
		return pcapgo.NgInterface{
			Name:        s.iface.Name,
			Description: desc,
			Filter:      portFilterText(port),
			OS:          osName,
			LinkType:    layers.LinkTypeEthernet,
			SnapLength:  SnapLen,
		}
	}
	nw, err := pcapgo.NewNgWriterInterface(out, intf(socks[0]), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          osName,
		Application: "nlbsim capture",
		Comment:     fmt.Sprintf("nlbsim cluster %s (%s targets)", w.Cluster.Name, w.Spec.Mode),
	}})
	if err != nil {
		return nil, err
	}
	for _, s := range socks[1:] {
		if _, err := nw.AddInterface(intf(s)); err != nil {
			return nil, err
		}
	}
	return &captureWriter{w: nw, failed: make(chan struct{})}, nw.Flush()
}

// run writes what arrives on pkts in timestamp order, until pkts closes.
// A packet is written once every socket has read past its timestamp (a
// socket's mark), so packets of one path read from different sockets reach
// the file in the order they took. After a write error it keeps reading, so
// that readers never block.
func (cw *captureWriter) run(pkts <-chan capturedPacket, socks []*packetSocket) error {
	tick := time.NewTicker(captureTick)
	defer tick.Stop()
	var err error
	hold := func(p capturedPacket) {
		if err == nil {
			cw.seq++
			p.seq = cw.seq
			heap.Push(&cw.held, p)
		}
	}
	for {
		select {
		case p, ok := <-pkts:
			if !ok {
				if err == nil {
					err = cw.emit(time.Time{})
				}
				return err
			}
			hold(p)
		case now := <-tick.C:
			// Marks first, then what the channel holds: every packet read
			// before a mark moved is then held here.
			mark := int64(math.MaxInt64)
			for _, s := range socks {
				mark = min(mark, s.mark.Load())
			}
		drain:
			for {
				select {
				case p, ok := <-pkts:
					if !ok {
						break drain
					}
					hold(p)
				default:
					break drain
				}
			}
			if err != nil || len(cw.held) == 0 {
				continue
			}
			// Packets before every socket's mark, less the slack; after
			// captureHoldMax whatever a lagging socket holds.
			before := now.Add(-captureHoldMax)
			if mark == math.MaxInt64 {
				before = now
			} else if b := time.Unix(0, mark).Add(-captureSlack); b.After(before) {
				before = b
			}
			if err = cw.emit(before); err == nil {
				err = cw.w.Flush() // for readers of a pipe, e.g. wireshark -k -i -
			}
			if err != nil {
				close(cw.failed)
			}
		}
	}
}

// emit writes the held packets older than before; all of them when before
// is zero.
func (cw *captureWriter) emit(before time.Time) error {
	for len(cw.held) > 0 && (before.IsZero() || cw.held[0].ci.Timestamp.Before(before)) {
		p := heap.Pop(&cw.held).(capturedPacket)
		if err := cw.w.WritePacket(p.ci, p.data); err != nil {
			return err
		}
	}
	return nil
}

// finish writes each interface's statistics and flushes.
func (cw *captureWriter) finish(stats Stats) error {
	for i, s := range stats.Interfaces {
		err := cw.w.WriteInterfaceStats(i, pcapgo.NgInterfaceStatistics{
			LastUpdate:      stats.End,
			StartTime:       stats.Start,
			EndTime:         stats.End,
			PacketsReceived: s.Written + s.Filtered + s.Dropped,
			PacketsDropped:  s.Dropped,
		})
		if err != nil {
			return err
		}
	}
	return cw.w.Flush()
}

// packetHeap orders packets by timestamp, then arrival.
type packetHeap []capturedPacket

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].ci.Timestamp.Equal(h[j].ci.Timestamp) {
		return h[i].ci.Timestamp.Before(h[j].ci.Timestamp)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(capturedPacket)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}
