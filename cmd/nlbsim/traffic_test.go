package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// upForTest brings a cluster up with the binary and removes it at the end.
func upForTest(t *testing.T, args ...string) (string, *topology.World) {
	t.Helper()
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	nlbsim(t, "down", "--name", name)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	r := nlbsim(t, append([]string{"up", "--name", name}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)
	return name, w
}

func trafficJSON(t *testing.T, name string, args ...string) sim.TrafficReport {
	t.Helper()
	r := nlbsim(t, append([]string{"traffic", "--name", name, "-o", "json", "--fail-on-errors", "--alpha", "1e-4"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var report sim.TrafficReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	return report
}

func traceJSON(t *testing.T, name string, args ...string) sim.TraceReport {
	t.Helper()
	r := nlbsim(t, append([]string{"trace", "--name", name, "-o", "json"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var report sim.TraceReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	return report
}

func kindOf(t *testing.T, w *topology.World, addrPort string) topology.HostKind {
	t.Helper()
	ap, err := netip.ParseAddrPort(addrPort)
	require.NoError(t, err, addrPort)
	h, ok := w.HostByIP(ap.Addr())
	require.True(t, ok, addrPort)
	return h.Kind
}

// Both modes end to end: the distribution fits the installed rules, and the
// paths are the walkthrough's.
func TestTrafficAndTraceInBothModes(t *testing.T) {
	for _, mode := range []string{"ip", "instance"} {
		t.Run(mode, func(t *testing.T) {
			name, w := upForTest(t, "--mode", mode)
			report := trafficJSON(t, name, "-n", "3000")
			assert.Equal(t, mode, report.Mode)
			assert.Zero(t, report.Errors)
			require.NotNil(t, report.PValue)
			assert.Greater(t, *report.PValue, 1e-4)
			assert.False(t, report.RulesChanged)
			assert.Len(t, report.ByPod, 3)
			assert.Len(t, report.ByNLBAddress, 3)
			for src := range report.BySourceSeen {
				want := map[string]topology.HostKind{"ip": topology.KindNLB, "instance": topology.KindNode}[mode]
				assert.Equal(t, want, kindOf(t, w, src+":0"), "source seen %s", src)
			}
			if mode == "ip" {
				assert.Empty(t, report.ByNode)
			} else {
				assert.Len(t, report.ByNode, 3)
			}

			trace := traceJSON(t, name, "-n", "12")
			require.Len(t, trace.Requests, 12)
			for _, req := range trace.Requests {
				require.Empty(t, req.Error)
				last := req.Hops[len(req.Hops)-1]
				assert.Equal(t, req.Pod, last.Host, "the last hop is the pod that answered")
				nodeDNAT := false
				for _, h := range req.Hops {
					if kind := mustLookup(t, w, h.Host); kind == topology.KindNode {
						if mode == "ip" {
							assert.Nil(t, h.NAT, "in ip mode no node translates: %+v", h)
							assert.NotEqual(t, topology.KindNode, kindOf(t, w, h.Src), "no node address in ip mode: %+v", h)
							assert.NotEqual(t, topology.KindNode, kindOf(t, w, h.Dst), "no node address in ip mode: %+v", h)
						} else if h.NAT != nil && strings.HasPrefix(h.NAT.Kind, "DNAT") {
							nodeDNAT = true
							assert.Contains(t, h.NAT.By, "KUBE-SEP-")
						}
					}
				}
				if mode == "instance" {
					assert.True(t, nodeDNAT, "in instance mode a node hop DNATs: %+v", req.Hops)
				}
			}
		})
	}
}

func mustLookup(t *testing.T, w *topology.World, host string) topology.HostKind {
	t.Helper()
	h, err := w.Lookup(host)
	require.NoError(t, err)
	return h.Kind
}

// Rules changed by hand on every node show up everywhere: traffic's counts
// and expectation, trace, and the counters.
func TestTamperedRulesShowEverywhere(t *testing.T) {
	name, w := upForTest(t, "--mode", "instance")
	pod3, err := w.Lookup("pod-3")
	require.NoError(t, err)
	sep := "KUBE-SEP-62QXZKLRNZ4Q2ZG5" // default/nginx-nlb-service → 192.168.3.111:7777
	require.Equal(t, "192.168.3.111", pod3.IP.String())
	for _, n := range w.Nodes {
		r := nlbsim(t, "exec", "--name", name, n.Name, "--", "iptables", "-t", "nat", "-I", "KUBE-SVC-VDXCGHLC7LJVQSZ7", "1", "-j", sep)
		require.Equal(t, 0, r.code, r.stderr)
	}
	report := trafficJSON(t, name, "-n", "300")
	assert.Equal(t, map[string]int{pod3.Name: 300}, report.ByPod)
	assert.InDelta(t, 1.0, report.Expected[pod3.Name], 1e-9)
	for _, req := range traceJSON(t, name, "-n", "5").Requests {
		assert.Equal(t, pod3.Name, req.Pod)
	}
	r := nlbsim(t, "iptables", "--name", name, "node-2", "-t", "nat")
	require.Equal(t, 0, r.code, r.stderr)
	var first string
	inSVC := false
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Chain KUBE-SVC-VDXCGHLC7LJVQSZ7") {
			inSVC = true
			continue
		}
		if inSVC && strings.Contains(line, "KUBE-SEP-") {
			first = line
			break
		}
	}
	assert.Contains(t, first, sep)
	assert.NotRegexp(t, `^\s+0\s`, first, "the tampered rule's counter rose: %q", first)
}

// Two runs of 10,000 new connections in a row: no ephemeral-port
// exhaustion, no errors.
func TestTenThousandTwice(t *testing.T) {
	name, _ := upForTest(t)
	for i := 0; i < 2; i++ {
		report := trafficJSON(t, name, "-n", "10000", "-c", "8")
		assert.Zero(t, report.Errors, "run %d: %v", i+1, report.ErrorsByKind)
		assert.Equal(t, 10000, report.Requests)
	}
}

func TestTrafficBadUsage(t *testing.T) {
	name, _ := upForTest(t, "--minimal")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"traffic", "--to", "clusterip"}, "not routable from bastion"},
		{[]string{"traffic", "-n", "0"}, "-n and -c must be at least 1"},
		{[]string{"traffic", "--to", "nowhere"}, "neither dns, clusterip, nodeport nor IP:PORT"},
		{[]string{"traffic", "--from", "node-9"}, "unknown host"},
		{[]string{"traffic", "--alpha", "2"}, "--alpha"},
		{[]string{"trace", "-o", "dot"}, "unknown format"},
	} {
		r := nlbsim(t, append(c.args, "--name", name)...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
	r := nlbsim(t, "traffic", "--name", name, "--from", "pod-1", "--to", "clusterip", "-n", "30", "-o", "json")
	assert.Equal(t, 0, r.code, r.stderr)
}
