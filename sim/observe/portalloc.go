package observe

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// Port allocation on the NLB nodes. Without client IP preservation an NLB
// node gives each connection a source port of its own; AWS counts the
// connections it could not give one as PortAllocationErrorCount
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html)
// and documents about 55,000 connections per minute to one target before
// such errors grow likely. An NLB node here translates with the kernel's
// SNAT, which never picks a tuple its conntrack still holds: a closed
// flow's entry stays for conntrack's TIME_WAIT (120 s), longer than the
// target's own TIME_WAIT (60 s), so a new connection never meets a socket
// still in use at the target. A connection for which no free tuple is left
// fails to enter conntrack: the kernel counts it as insert_failed, which
// is what the NLB's count is taken from.

// translatingNLBNodes are the NLB nodes that translate the client's source.
func translatingNLBNodes(w *topology.World) []topology.NLBNode {
	var out []topology.NLBNode
	for _, lb := range w.LoadBalancers {
		if !lb.PreserveClientIP {
			out = append(out, lb.Nodes...)
		}
	}
	return out
}

// portAllocationFailures sums each translating NLB node's conntrack
// insert failures, by node.
func portAllocationFailures(w *topology.World) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, n := range translatingNLBNodes(w) {
		ns, err := netns.Open(topology.Namespace(w.Cluster.Name, n.Name))
		if err != nil {
			return nil, err
		}
		var text []byte
		err = netns.In(ns, func() error {
			var err error
			text, err = os.ReadFile("/proc/thread-self/net/stat/nf_conntrack")
			return err
		})
		ns.Close()
		if err != nil {
			return nil, fmt.Errorf("conntrack statistics of %s: %w", n.Name, err)
		}
		v, err := conntrackStat(string(text), "insert_failed")
		if err != nil {
			return nil, fmt.Errorf("conntrack statistics of %s: %w", n.Name, err)
		}
		out[n.Name] = v
	}
	return out, nil
}

// conntrackStat sums one column of /proc/net/stat/nf_conntrack (a header
// line, then one line of hexadecimal counters per CPU).
func conntrackStat(text, column string) (uint64, error) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("no counters")
	}
	col := -1
	for i, name := range strings.Fields(lines[0]) {
		if name == column {
			col = i
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("no column %s", column)
	}
	var sum uint64
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if col >= len(f) {
			continue
		}
		v, err := strconv.ParseUint(f[col], 16, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}
