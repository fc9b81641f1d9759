package explain

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireKernel skips a test that needs root and netfilter tools, with the
// reason, unless CI=true, where a skip would hide a failure.
func requireKernel(t *testing.T, tools ...string) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("needs root: it creates network namespaces and loads rules into them")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			stop("needs %s on the PATH (scripts/provision.sh installs it)", tool)
		}
	}
}

// scratch is a set of network namespaces of this test alone, removed when it
// ends. Nothing is created in the root namespace: each veth is created
// inside a scratch namespace with its peer moved straight into another.
type scratch struct {
	t      *testing.T
	prefix string
}

func newScratch(t *testing.T, tag string) *scratch {
	s := &scratch{t: t, prefix: fmt.Sprintf("nlbsim-expl-%d-%s", os.Getpid(), tag)}
	return s
}

func (s *scratch) ns(role string) string {
	name := s.prefix + "-" + role
	s.run("ip", "netns", "add", name)
	s.t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

func (s *scratch) run(args ...string) string {
	s.t.Helper()
	return s.runInput("", args...)
}

func (s *scratch) runInput(input string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(s.t, cmd.Run(), "%v: %s", args, errb.String())
	return out.String()
}

func (s *scratch) in(ns string, args ...string) string {
	s.t.Helper()
	return s.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// kernelVerdict is what the kernel did with one packet.
type kernelVerdict struct {
	forwarded  bool   // a confirmed conntrack entry: the packet passed POSTROUTING
	masquerade bool   // the MASQUERADE rule counted it
	replyDst   string // where replies go: the masquerade address, or the client
}

// sendThroughNode builds client → node → peer, loads dump into the node,
// sends one UDP datagram from the client, and reads the node's conntrack
// table and rule counters. in and out name the node's interfaces; when they
// are equal the destination is routed back out of the interface it came in
// by.
func sendThroughNode(t *testing.T, tag, dump, in, out string) kernelVerdict {
	s := newScratch(t, tag)
	node, client := s.ns("node"), s.ns("client")
	s.in(node, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	s.run("ip", "-n", node, "link", "add", in, "type", "veth", "peer", "name", "eth0", "netns", client)
	s.run("ip", "-n", node, "addr", "add", "172.17.0.1/16", "dev", in)
	s.run("ip", "-n", node, "link", "set", in, "up")
	s.run("ip", "-n", client, "addr", "add", "172.17.0.2/16", "dev", "eth0")
	s.run("ip", "-n", client, "link", "set", "eth0", "up")
	s.run("ip", "-n", client, "route", "add", "default", "via", "172.17.0.1")
	if out == in {
		s.run("ip", "-n", node, "route", "add", "203.0.113.0/24", "dev", in)
	} else {
		peer := s.ns("peer")
		s.run("ip", "-n", node, "link", "add", out, "type", "veth", "peer", "name", "eth0", "netns", peer)
		s.run("ip", "-n", node, "addr", "add", "192.168.0.10/24", "dev", out)
		s.run("ip", "-n", node, "link", "set", out, "up")
		s.run("ip", "-n", peer, "addr", "add", "192.168.0.20/24", "dev", "eth0")
		s.run("ip", "-n", peer, "link", "set", "eth0", "up")
		s.run("ip", "-n", node, "route", "add", "default", "via", "192.168.0.20")
	}
	rules, err := os.ReadFile("testdata/" + dump)
	require.NoError(t, err)
	s.runInput(string(rules), "ip", "netns", "exec", node, "iptables-restore")

	s.in(client, "bash", "-c", "echo probe > /dev/udp/203.0.113.7/9")
	// The datagram has reached the node once nat PREROUTING counted it; the
	// rest of its way through the node follows in the same call.
	prerouting := regexp.MustCompile(`(?m)^:PREROUTING ACCEPT \[(\d+):`)
	deadline := time.Now().Add(3 * time.Second)
	for {
		m := prerouting.FindStringSubmatch(s.in(node, "iptables-save", "-c", "-t", "nat"))
		if m != nil && m[1] != "0" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the datagram never reached the node")
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)

	var v kernelVerdict
	entry := s.in(node, "conntrack", "-L", "-p", "udp", "-d", "203.0.113.7")
	v.forwarded = strings.Contains(entry, "dst=203.0.113.7")
	if dsts := regexp.MustCompile(`dst=(\S+)`).FindAllStringSubmatch(entry, -1); len(dsts) == 2 {
		v.replyDst = dsts[1][1]
	}
	masq := regexp.MustCompile(`(?m)^\[(\d+):\d+\] -A POSTROUTING -s 172\.17\.0\.0/16 ! -o docker0 -j MASQUERADE$`)
	m := masq.FindStringSubmatch(s.in(node, "iptables-save", "-c", "-t", "nat"))
	require.NotNil(t, m, "the dump's MASQUERADE rule is loaded")
	n, _ := strconv.Atoi(m[1])
	v.masquerade = n > 0
	return v
}

// The interfaces a packet crosses decide docker's masquerade rule
// (-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE) and FORWARD's verdict: the
// walk with --in-interface/--out-interface agrees with the kernel, which
// runs the same dump in a scratch namespace on a real datagram.
func TestInterfacesDecideMasqueradeAsTheKernelDoes(t *testing.T) {
	requireKernel(t, "ip", "iptables-restore", "iptables-save", "conntrack", "bash")
	d := loadDump(t, "docker.rules")
	cases := []struct {
		tag, in, out string
		want         expect
	}{
		{"a", "docker0", "eth0", expect{verdict: VerdictAccept, p: 1, masq: true, snat: "192.168.0.10"}},
		{"b", "docker0", "docker0", expect{verdict: VerdictAccept, p: 1}},
		{"c", "eth1", "eth0", expect{verdict: VerdictDrop, p: 1}},
	}
	for _, c := range cases {
		t.Run(c.in+"-to-"+c.out, func(t *testing.T) {
			p := packet(t, "172.17.0.2", "203.0.113.7:9", "udp", FromPod)
			p.InInterface, p.OutInterface = c.in, c.out
			r, err := Walk(d, p, nodeOptions("192.168.0.10"))
			require.NoError(t, err)
			assertOutcomes(t, r, []expect{c.want})

			kernel := sendThroughNode(t, c.tag, "docker.rules", c.in, c.out)
			walked := r.Outcomes[0]
			assert.Equal(t, walked.Verdict != VerdictDrop, kernel.forwarded, "forwarded")
			assert.Equal(t, walked.Masquerade, kernel.masquerade, "masquerade")
			if walked.Verdict != VerdictDrop {
				replyDst := "172.17.0.2"
				if walked.SNAT != nil {
					replyDst = walked.SNAT.String()
				}
				assert.Equal(t, replyDst, kernel.replyDst, "the source the kernel gave the packet")
			}
		})
	}
}
