package nat

import (
	"sort"
	"strings"
)

// Cleanup when kube-proxy changes mode, as kube-proxy's platformCleanup
// runs it before the new mode's proxier starts
// (https://github.com/kubernetes/kubernetes/blob/v1.33.13/cmd/kube-proxy/app/server_linux.go):
// the iptables proxier's CleanupLeftovers on the way to nftables mode, the
// nftables proxier's on the way back.

// NFTCleanupText is the nftables proxier's CleanupLeftovers: the whole
// kube-proxy table goes (a table that is not there is no error to
// upstream; the caller ignores "No such file or directory").
const NFTCleanupText = "delete table ip " + NFTTable + "\n"

// IPTablesCleanupText is iptables-restore input (for --noflush) that does
// what the iptables proxier's CleanupLeftovers
// (https://github.com/kubernetes/kubernetes/blob/v1.33.13/pkg/proxy/iptables/proxier.go)
// does to a node whose rules iptables-save printed as saved: it unlinks
// kube-proxy's jumps from the built-in chains, then flushes and deletes nat
// KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING and every per-Service
// chain, and filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-FORWARD and
// KUBE-NODEPORTS. Like upstream it leaves KUBE-MARK-MASQ (and its rule),
// KUBE-PROXY-FIREWALL and KUBE-PROXY-CANARY, which nothing jumps to any
// more, and kubelet's KUBE-FIREWALL. Empty when there is nothing to clean.
func IPTablesCleanupText(saved string) string {
	chains := map[string]map[string]bool{}
	rules := map[string]map[string]bool{}
	table := ""
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			chains[table], rules[table] = map[string]bool{}, map[string]bool{}
		case table == "":
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			chains[table][name] = true
		case strings.HasPrefix(line, "[") || strings.HasPrefix(line, "-A "):
			if _, rest, ok := strings.Cut(line, "-A "); ok {
				rules[table]["-A "+rest] = true
			}
		}
	}
	var b strings.Builder
	for _, t := range []string{TableFilter, TableNAT} {
		var del, unlink []string
		for _, r := range iptablesJumpRules(t) {
			if rules[t][r] {
				unlink = append(unlink, "-D"+strings.TrimPrefix(r, "-A"))
			}
		}
		fixed := []string{kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain}
		if t == TableNAT {
			fixed = []string{kubeServicesChain, kubeNodePortsChain, kubePostroutingChain}
		}
		for _, c := range fixed {
			if chains[t][c] {
				del = append(del, c)
			}
		}
		if t == TableNAT {
			var per []string
			for c := range chains[t] {
				if isServiceChain(c) {
					per = append(per, c)
				}
			}
			sort.Strings(per)
			del = append(del, per...)
		}
		if len(del)+len(unlink) == 0 {
			continue
		}
		b.WriteString("*" + t + "\n")
		for _, c := range del {
			writeChainLine(&b, c)
		}
		for _, l := range unlink {
			b.WriteString(l + "\n")
		}
		for _, c := range del {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// iptablesJumpRules are kube-proxy's rules in a table's built-in chains, in
// iptables-save's form.
func iptablesJumpRules(table string) []string {
	rs := &Ruleset{}
	builtinJumps(rs, vpcCNI{})
	var out []string
	for _, r := range rs.Rules {
		if r.Owner == OwnerKubeProxy && r.Table == table {
			out = append(out, SavedRule(r.String()))
		}
	}
	return out
}

// StartText is iptables-restore input (for --noflush) that starts
// kube-proxy's iptables mode on a node that carries kubelet's and the VPC
// CNI's rules only (one coming from nftables mode): kube-proxy's chains and
// rules as a full sync writes them, and its jumps from the built-in chains
// inserted on top, where kube-proxy's EnsureRule -I puts them, in the order
// a node ends up with.
func (rs *Ruleset) StartText() string {
	var b strings.Builder
	for _, t := range tables {
		var lines []string
		for _, c := range rs.Chains {
			if c.Table == t && c.Owner == OwnerKubeProxy {
				lines = append(lines, ":"+c.Name+" - [0:0]")
			}
		}
		builtin := map[string][]Rule{}
		var order []string
		for _, r := range rs.Rules {
			if r.Table != t || r.Owner != OwnerKubeProxy {
				continue
			}
			if isBuiltinChain(r.Chain) {
				if builtin[r.Chain] == nil {
					order = append(order, r.Chain)
				}
				builtin[r.Chain] = append(builtin[r.Chain], r)
				continue
			}
			lines = append(lines, r.String())
		}
		for _, c := range order {
			rules := builtin[c]
			for i := len(rules) - 1; i >= 0; i-- {
				lines = append(lines, "-I "+c+" 1 "+rules[i].Spec)
			}
		}
		if len(lines) == 0 {
			continue
		}
		b.WriteString("*" + t + "\n" + strings.Join(lines, "\n") + "\nCOMMIT\n")
	}
	return b.String()
}

func isBuiltinChain(c string) bool {
	switch c {
	case "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING":
		return true
	}
	return false
}
