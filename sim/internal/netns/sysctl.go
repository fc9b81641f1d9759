package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// Sysctl is one /proc/sys/net setting, written inside a namespace.
type Sysctl struct {
	Key, Value string
}

// HostSysctls are the settings every host's namespace gets explicitly, since
// a new namespace inherits some of the machine's own values.
func HostSysctls(kind topology.HostKind) []Sysctl {
	forward := "0"
	switch kind {
	case topology.KindVPC, topology.KindNode, topology.KindNLB:
		forward = "1"
	}
	s := []Sysctl{
		{"net.ipv4.ip_forward", forward},
		{"net.ipv4.conf.all.forwarding", forward},
		{"net.ipv4.conf.default.forwarding", forward},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.conf.all.proxy_arp", "0"},
		{"net.ipv4.conf.default.proxy_arp", "0"},
		{"net.ipv4.conf.all.send_redirects", "0"},
		{"net.ipv4.conf.default.send_redirects", "0"},
		{"net.ipv4.conf.all.accept_redirects", "0"},
		{"net.ipv4.conf.default.accept_redirects", "0"},
		{"net.ipv4.conf.all.arp_ignore", "0"},
		{"net.ipv4.conf.default.arp_ignore", "0"},
		{"net.ipv4.conf.all.route_localnet", "0"},
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
		// Thousands of short connections must not exhaust ports while
		// sockets wait in TIME_WAIT.
		{"net.ipv4.ip_local_port_range", "1024\t65000"},
		{"net.ipv4.tcp_tw_reuse", "1"},
	}
	if kind == topology.KindNode {
		// kube-proxy sets route_localnet for localhost NodePorts.
		s = append(s, Sysctl{"net.ipv4.conf.all.route_localnet", "1"})
		// Strict reverse-path filtering on the node's links drops a packet
		// that arrives from the VPC with one of the node's own pods as its
		// source: AWS's NLB hairpin with client IP preservation, which times
		// out as on AWS.
		s = append(s, Sysctl{"net.ipv4.conf.default.rp_filter", "1"})
	}
	return s
}

// ConntrackEstablishedTimeout is the conntrack timeout of established TCP
// flows, per namespace: an NLB node's is the NLB's idle timeout.
const ConntrackEstablishedTimeout = "net.netfilter.nf_conntrack_tcp_timeout_established"

// ConntrackTimeWaitTimeout is how long conntrack keeps a closed TCP flow,
// per namespace: an NLB node keeps it beyond the targets' own TIME_WAIT
// (60 s), so that its SNAT never gives a new connection a tuple still in
// use at the target.
const ConntrackTimeWaitTimeout = "net.netfilter.nf_conntrack_tcp_timeout_time_wait"

// SetSysctls writes settings inside a namespace.
func SetSysctls(ns Handle, settings []Sysctl) error {
	return In(ns, func() error { return writeSysctls(settings) })
}

// SysctlKeys lists every sysctl nlbsim writes in some namespace, so that a
// safety test can check that the host's own values never change.
func SysctlKeys() []string {
	seen := map[string]bool{ConntrackEstablishedTimeout: true, ConntrackTimeWaitTimeout: true}
	out := []string{ConntrackEstablishedTimeout, ConntrackTimeWaitTimeout}
	for _, k := range []topology.HostKind{topology.KindVPC, topology.KindNode, topology.KindPod} {
		for _, s := range HostSysctls(k) {
			if !seen[s.Key] {
				seen[s.Key] = true
				out = append(out, s.Key)
			}
		}
	}
	return out
}

// SysctlPath is where a sysctl is read and written in the calling
// thread's namespace.
func SysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// writeSysctls writes settings in the calling thread's network namespace.
func writeSysctls(settings []Sysctl) error {
	for _, s := range settings {
		if err := os.WriteFile(SysctlPath(s.Key), []byte(s.Value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
		}
	}
	return nil
}
