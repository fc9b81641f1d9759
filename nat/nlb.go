package nat

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sort"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// Candidates returns the targets an NLB node sends new connections of one
// listener to, as AWS chooses them: healthy targets in the node's own AZ
// (in every AZ with cross-zone load balancing); when none of those is
// healthy, all the unhealthy ones (fail-open). Initial, draining,
// unhealthy.draining and unused targets never get new connections: "The load balancer starts
// routing requests to a newly registered target as soon as the
// registration process completes and the target passes the initial health
// checks" (NLB user guide, "Health checks for Network Load Balancer target
// groups").
func Candidates(node topology.NLBNode, crossZone bool, targets []topology.TargetHealth) []topology.TargetHealth {
	var pool, healthy []topology.TargetHealth
	for _, t := range targets {
		if !crossZone && t.AZ != node.AZ {
			continue
		}
		switch t.State {
		case topology.TargetDraining, topology.TargetUnused, topology.TargetInitial, topology.TargetUnhealthyDraining:
			continue
		case topology.TargetHealthy:
			healthy = append(healthy, t)
		}
		pool = append(pool, t)
	}
	if len(healthy) > 0 {
		return healthy
	}
	return pool
}

// Serves reports whether the VPC resolver lists an NLB node: its AZ (every
// AZ with cross-zone) has a healthy target. When no node serves, all do.
func Serves(node topology.NLBNode, crossZone bool, targets []topology.TargetHealth) bool {
	for _, t := range targets {
		if t.State == topology.TargetHealthy && (crossZone || t.AZ == node.AZ) {
			return true
		}
	}
	return false
}

// nlbChain names an NLB node's chains: a prefix and the first 16 base32
// characters of sha256 of what the chain stands for, as kube-proxy does.
func nlbChain(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// TargetGroupChain is the chain of one target group on an NLB node.
func TargetGroupChain(tg string) string { return nlbChain("NLB-TG-", tg) }

// TargetChain is the chain that translates to one target.
func TargetChain(tg string, t topology.Target) string {
	return nlbChain("NLB-TARGET-", tg, t.Addr().String())
}

// NLBNodeRules is the nat and filter tables of one NLB node as
// iptables-restore input (replacing them): each listener's new connections
// are spread over the node's candidate targets and DNATed to one; without
// client IP preservation the source becomes the node's own address. Packets
// of existing connections to a target that turned unhealthy get a TCP
// reset (AWS's default, target_health_state.unhealthy.
// connection_termination.enabled), unless the node fails open.
func NLBNodeRules(lb topology.NLB, node topology.NLBNode, targets []topology.TargetHealth) string {
	return NLBNodeRulesTerminating(lb, node, targets, nil)
}

// NLBNodeRulesTerminating is NLBNodeRules with the targets whose
// connections end: deregistered targets at the end of their delay with
// deregistration_delay.connection_termination.enabled; their flows' next
// packets get a TCP reset.
func NLBNodeRulesTerminating(lb topology.NLB, node topology.NLBNode, targets []topology.TargetHealth, terminated []topology.Target) string {
	byListener := map[int][]topology.TargetHealth{}
	var ports []int
	for _, t := range targets {
		if _, ok := byListener[t.ListenerPort]; !ok {
			ports = append(ports, t.ListenerPort)
		}
		byListener[t.ListenerPort] = append(byListener[t.ListenerPort], t)
	}
	sort.Ints(ports)

	// A flow the node's conntrack has forgotten (the NLB's idle timeout:
	// the node's established timeout) is not translated again: its next
	// packet from the client reaches the node itself, which has no socket
	// and answers with a reset; one from the target is reset here.
	rules := []string{`-A PREROUTING -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW -m comment --comment "nlbsim: a forgotten idle flow is not translated again" -j RETURN`}
	resets := []string{`-A FORWARD -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW,INVALID -m comment --comment "nlbsim: packets of a forgotten idle flow get a reset" -j REJECT --reject-with tcp-reset`}
	var chains []string
	for _, port := range ports {
		cands := Candidates(node, lb.CrossZone, byListener[port])
		failingOpen := len(cands) > 0 && cands[0].State != topology.TargetHealthy
		for _, t := range byListener[port] {
			if t.State == topology.TargetUnhealthy && !failingOpen {
				resets = append(resets, fmt.Sprintf(`-A FORWARD -d %s/32 -p tcp -m tcp --dport %d -m conntrack --ctstate DNAT -m comment --comment "target group %s: %s is unhealthy: reset its connections" -j REJECT --reject-with tcp-reset`,
					t.IP, t.Port, t.TargetGroup, t.Addr()))
			}
		}
		if len(cands) == 0 {
			continue // nothing listens: the node itself answers with a reset
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].Addr().String() < cands[j].Addr().String() })
		tg := cands[0].TargetGroup
		tgChain := TargetGroupChain(tg)
		chains = append(chains, tgChain)
		rules = append(rules, fmt.Sprintf(`-A PREROUTING -d %s/32 -p tcp -m tcp --dport %d -m comment --comment "%s listener TCP:%d" -j %s`,
			node.IP, port, lb.Name, port, tgChain))
		for i, t := range cands {
			tChain := TargetChain(tg, t.Target)
			chains = append(chains, tChain)
			rule := fmt.Sprintf(`-A %s -m comment --comment "target group %s -> %s (%s, %s)"`, tgChain, tg, t.Addr(), t.AZ, t.State)
			if i < len(cands)-1 {
				rule += " -m statistic --mode random --probability " + StatisticProbability(len(cands)-i)
			}
			rules = append(rules, rule+" -j "+tChain)
			rules = append(rules, fmt.Sprintf(`-A %s -p tcp -m comment --comment "target group %s" -m tcp -j DNAT --to-destination %s`, tChain, tg, t.Addr()))
		}
	}
	for _, t := range terminated {
		resets = append(resets, fmt.Sprintf(`-A FORWARD -d %s/32 -p tcp -m tcp --dport %d -m conntrack --ctstate DNAT -m comment --comment "target group %s: %s deregistered: terminate its connections" -j REJECT --reject-with tcp-reset`,
			t.IP, t.Port, t.TargetGroup, t.Addr()))
	}
	if !lb.PreserveClientIP {
		rules = append(rules, fmt.Sprintf(`-A POSTROUTING -m conntrack --ctstate DNAT --ctorigdst %s -m comment --comment "%s: client IP not preserved" -j SNAT --to-source %s --random-fully`,
			node.IP, lb.Name, node.IP))
	}
	// With the nf_tables backend, once a namespace holds no NAT rule at
	// all the kernel stops translating its established flows: a node left
	// with no target would reset connections that AWS keeps (checked
	// here: a flow through an NLB node whose nat table kept only RETURN
	// rules was reset; with this rule it went on). A DNAT rule that never
	// matches (nothing reaches a node for 127.0.0.2 from outside) keeps
	// the translation.
	rules = append(rules,
		`-A PREROUTING -d 127.0.0.2/32 -p tcp -m comment --comment "nlbsim: never matches; keeps established flows translated" -j DNAT --to-destination 127.0.0.2`)
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	for _, c := range chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, r := range rules {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, r := range resets {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// FlowMark is the connection mark the VPC fabric gives flows that enter
// from the i-th NLB node (counting every NLB's nodes), so that replies are
// routed back through the node that owns the flow. It stays clear of VPC
// CNI's 0x80 and kube-proxy's 0x4000.
func FlowMark(i int) uint32 { return 0x10000 * uint32(i+1) }

// FlowMarkMask covers every FlowMark.
const FlowMarkMask = 0xffff0000

// FabricSteering is the VPC fabric's mangle table as iptables-restore
// input (replacing the table): new flows entering from an NLB node are
// marked with that node's FlowMark, and replies get the mark back, for the
// policy routes that send them to that node.
func FabricSteering(links []string) string {
	var b strings.Builder
	b.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	for i, link := range links {
		fmt.Fprintf(&b, `-A PREROUTING -i %s -m conntrack --ctstate NEW -m comment --comment "flows from NLB node on %s" -j CONNMARK --set-xmark %#x/%#x`+"\n",
			link, link, FlowMark(i), uint32(FlowMarkMask))
	}
	fmt.Fprintf(&b, `-A PREROUTING -m conntrack --ctdir REPLY -m comment --comment "replies go back through the NLB node that owns the flow" -j CONNMARK --restore-mark --nfmask %#x --ctmask %#x`+"\n",
		uint32(FlowMarkMask), uint32(FlowMarkMask))
	b.WriteString("COMMIT\n")
	return b.String()
}
