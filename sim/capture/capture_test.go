package capture_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/capture"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// capturedFile is a pcapng read back: interface names and packets in file order.
type capturedFile struct {
	ifaces  []pcapgo.NgInterface
	packets []capturedFrame
}

type capturedFrame struct {
	iface string
	ci    gopacket.CaptureInfo
	pkt   gopacket.Packet
}

func readCapture(t *testing.T, b []byte) capturedFile {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var f capturedFile
	type raw struct {
		ci   gopacket.CaptureInfo
		data []byte
	}
	var raws []raw
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		raws = append(raws, raw{ci, data})
	}
	for i := 0; i < r.NInterfaces(); i++ {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		f.ifaces = append(f.ifaces, intf)
	}
	for _, p := range raws {
		require.Less(t, p.ci.InterfaceIndex, len(f.ifaces))
		f.packets = append(f.packets, capturedFrame{
			iface: f.ifaces[p.ci.InterfaceIndex].Name,
			ci:    p.ci,
			pkt:   gopacket.NewPacket(p.data, f.ifaces[p.ci.InterfaceIndex].LinkType, gopacket.Default),
		})
	}
	return f
}

func (f capturedFile) names() []string {
	var out []string
	for _, i := range f.ifaces {
		out = append(out, i.Name)
	}
	return out
}

// startCapture runs capture.Run in the background and returns once every
// socket is open; stop ends it and returns the file and the statistics.
func startCapture(t *testing.T, c *sim.Cluster, hosts []string, opts capture.Options) (ifaces []capture.Interface, stop func() ([]byte, capture.Stats)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	started := make(chan []capture.Interface, 1)
	opts.Started = func(i []capture.Interface) { started <- i }
	var buf bytes.Buffer
	type result struct {
		stats capture.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		st, err := capture.Run(ctx, c.World, hosts, &buf, opts)
		done <- result{st, err}
	}()
	select {
	case ifaces = <-started:
	case r := <-done:
		t.Fatalf("capture ended before it started: %v", r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("capture did not start in 30s")
	}
	return ifaces, func() ([]byte, capture.Stats) {
		t.Helper()
		cancel()
		r := <-done
		require.NoError(t, r.err)
		return buf.Bytes(), r.stats
	}
}

// captureExec runs a command on a host, as ip netns exec does.
func captureExec(t *testing.T, c *sim.Cluster, host string, args ...string) {
	t.Helper()
	h, err := c.World.Lookup(host)
	require.NoError(t, err)
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.Namespace}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s: %v: %s", host, args, out)
}

func isSYN(p gopacket.Packet) (*layers.TCP, bool) {
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp, ok && tcp.SYN && !tcp.ACK
}

func ipv4(p gopacket.Packet) *layers.IPv4 {
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	return ip
}

// One capture of every host holds a request's SYN at every hop from the
// bastion through the NLB node to the pod, in path order, and packets
// nlbsim did not send itself (a ping, an ARP).
func TestCaptureWholePath(t *testing.T) {
	c := simtest.Up(t)
	ifaces, stop := startCapture(t, c, nil, capture.Options{})

	// Its static entry for the router gone, the bastion resolves it by ARP.
	captureExec(t, c, "bastion", "ip", "neigh", "flush", "all", "nud", "permanent")
	captureExec(t, c, "bastion", "ping", "-c", "1", "-W", "5", "192.168.3.111")
	r, err := c.Get(context.Background(), "bastion", "http://192.168.2.149:7777/")
	require.NoError(t, err)
	require.Equal(t, "192.168.2.206", r.PodIP, "cross-zone off: nlb-b sends to the pod in AZ b")
	b, stats := stop()

	f := readCapture(t, b)
	names := f.names()
	// One interface per host link (lo excepted), named host/link.
	valid := regexp.MustCompile(`^[a-z0-9-]+/[a-z0-9-]+$`)
	for _, n := range names {
		assert.Regexp(t, valid, n)
		assert.NotContains(t, n, "/lo")
	}
	// Every host but the fabric has eth0, whose other end (the fabric's
	// to-<host>, or for a pod its node's eni…) is in the file too.
	for _, h := range c.World.Hosts() {
		if h.Kind == topology.KindVPC {
			continue
		}
		eth0 := h.Name + "/eth0"
		assert.Contains(t, names, eth0)
		peer := peerLink(t, ifaces, eth0)
		assert.Contains(t, names, peer)
		assert.Equal(t, eth0, peerLink(t, ifaces, peer))
	}
	assert.Len(t, names, len(ifaces))
	require.Len(t, stats.Interfaces, len(names))
	for i, s := range stats.Interfaces {
		assert.Equal(t, names[i], s.Name)
	}

	// The pod's end and the node's end of its veth.
	pod := r.Pod
	eni := peerLink(t, ifaces, pod+"/eth0")
	require.Regexp(t, `^node-2/eni[0-9a-f]{11}$`, eni)

	// The SYN leaves the bastion; the NLB keeps its sequence number.
	var seq uint32
	found := false
	for _, p := range f.packets {
		if tcp, ok := isSYN(p.pkt); ok && p.iface == "bastion/eth0" && tcp.DstPort == 7777 && ipv4(p.pkt).DstIP.String() == "192.168.2.149" {
			require.False(t, found, "one SYN to the NLB from the bastion")
			seq, found = tcp.Seq, true
		}
	}
	require.True(t, found, "the SYN on bastion/eth0")
	var hops []string
	var last time.Time
	for _, p := range f.packets {
		if tcp, ok := isSYN(p.pkt); ok && tcp.Seq == seq {
			hops = append(hops, p.iface)
			assert.False(t, p.ci.Timestamp.Before(last), "file in timestamp order")
			last = p.ci.Timestamp
		}
	}
	assert.Equal(t, []string{
		"bastion/eth0", "vpc/to-bastion", "vpc/to-nlb-b",
		"nlb-b/eth0", "nlb-b/eth0", // in to the NLB's address, out DNATed to the pod
		"vpc/to-nlb-b", "vpc/to-node-2", "node-2/eth0", eni, pod + "/eth0",
	}, hops)

	// Traffic nlbsim did not send: the ping and the bastion's ARP.
	var echoAt, arpAt []string
	for _, p := range f.packets {
		if icmp, ok := p.pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok &&
			icmp.TypeCode.Type() == layers.ICMPv4TypeEchoRequest && ipv4(p.pkt).DstIP.String() == "192.168.3.111" {
			echoAt = append(echoAt, p.iface)
		}
		if arp, ok := p.pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok && arp.Operation == layers.ARPRequest &&
			bytes.Equal(arp.SourceProtAddress, []byte{192, 168, 1, 100}) {
			arpAt = append(arpAt, p.iface)
		}
	}
	pod3, ok := c.World.HostByIP(netip.MustParseAddr("192.168.3.111"))
	require.True(t, ok)
	assert.Subset(t, echoAt, []string{"bastion/eth0", "vpc/to-bastion", "vpc/to-node-3", "node-3/eth0", pod3.Name + "/eth0"})
	assert.Subset(t, arpAt, []string{"bastion/eth0", "vpc/to-bastion"})

	// What each interface's count says is what the file holds.
	perIface := map[string]uint64{}
	for _, p := range f.packets {
		perIface[p.iface]++
	}
	for _, s := range stats.Interfaces {
		assert.Equal(t, s.Written, perIface[s.Name], s.Name)
		assert.Zero(t, s.Filtered, s.Name)
	}
	assert.Equal(t, uint64(len(f.packets)), stats.Written())
}

// peerLink finds the other end of a host link among the capture's interfaces.
func peerLink(t *testing.T, ifaces []capture.Interface, name string) string {
	t.Helper()
	for _, i := range ifaces {
		if i.Name == name {
			require.NotEmpty(t, i.Peer, name)
			return i.Peer
		}
	}
	t.Fatalf("no interface %s", name)
	return ""
}

// --port keeps TCP and UDP of that port, ARP and ICMP; named hosts take
// aliases and repeat harmlessly.
func TestCapturePortFilter(t *testing.T) {
	c := simtest.Up(t)
	ifaces, stop := startCapture(t, c, []string{"bastion", "nlb", "bastion"}, capture.Options{Port: 7777})
	require.Len(t, ifaces, 2)
	assert.Equal(t, "bastion/eth0", ifaces[0].Name)
	assert.Equal(t, "nlb-a/eth0", ifaces[1].Name)
	assert.Equal(t, "vpc/to-bastion", ifaces[0].Peer)

	captureExec(t, c, "bastion", "ip", "neigh", "flush", "all", "nud", "permanent")
	captureExec(t, c, "bastion", "ping", "-c", "1", "-W", "5", "192.168.3.111")
	_, err := c.Get(context.Background(), "bastion", "http://192.168.1.51:7777/")
	require.NoError(t, err)
	// Traffic on other ports: DNS (UDP 53) and the API server (TCP 443).
	captureExec(t, c, "bastion", "getent", "hosts", c.World.LoadBalancers[0].DNSName)
	client, err := c.HTTPClient("bastion")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://192.168.2.40:443/", nil)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	b, stats := stop()

	f := readCapture(t, b)
	assert.Equal(t, []string{"bastion/eth0", "nlb-a/eth0"}, f.names())
	assert.Equal(t, "tcp port 7777 or udp port 7777 or arp or icmp", f.ifaces[0].Filter)
	kinds := map[string]int{}
	for _, p := range f.packets {
		switch {
		case p.pkt.Layer(layers.LayerTypeARP) != nil:
			kinds["arp"]++
		case p.pkt.Layer(layers.LayerTypeICMPv4) != nil:
			kinds["icmp"]++
		case p.pkt.Layer(layers.LayerTypeTCP) != nil:
			tcp := p.pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			assert.True(t, tcp.SrcPort == 7777 || tcp.DstPort == 7777, "%s: %v", p.iface, p.pkt)
			kinds["tcp "+p.iface]++
		default:
			t.Errorf("%s: a packet --port 7777 drops: %v", p.iface, p.pkt)
		}
	}
	assert.NotZero(t, kinds["arp"])
	assert.NotZero(t, kinds["icmp"])
	assert.NotZero(t, kinds["tcp bastion/eth0"])
	assert.NotZero(t, kinds["tcp nlb-a/eth0"])
	assert.NotZero(t, stats.Interfaces[0].Filtered, "DNS and port 443 went by on the bastion")
	assert.Equal(t, uint64(len(f.packets)), stats.Written())
}

// Names resolve before anything needs root; a duration ends the capture.
func TestCaptureUnknownHost(t *testing.T) {
	w, err := topology.Build(topology.DefaultSpec())
	require.NoError(t, err)
	_, err = capture.Run(context.Background(), w, []string{"bastion", "node-9"}, io.Discard, capture.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown host "node-9"`)
	_, err = capture.Run(context.Background(), w, nil, io.Discard, capture.Options{Port: 65536})
	assert.ErrorContains(t, err, "out of range")
}

func TestCaptureDuration(t *testing.T) {
	c := simtest.Up(t, simtest.Minimal())
	var buf bytes.Buffer
	start := time.Now()
	stats, err := capture.Run(context.Background(), c.World, []string{"vpc"}, &buf, capture.Options{Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	assert.Less(t, time.Since(start), 10*time.Second)
	f := readCapture(t, buf.Bytes())
	assert.Len(t, f.names(), len(stats.Interfaces))
	assert.Contains(t, f.names(), "vpc/to-bastion")
}
