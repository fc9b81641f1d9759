package nat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/topology"
)

// A full sync is what kube-proxy pipes to iptables-restore (reference
// upstream's partial syncs): filter and nat only, its chains only, no jumps from
// built-in chains and no canary.
func TestSyncTextFull(t *testing.T) {
	rs := ruleset(t, topology.Default(), "node-1")
	text := rs.FullSyncText(nil)
	assert.Equal(t, text, rs.PartialSyncText(nil))
	assert.True(t, strings.HasPrefix(text, `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
`), text)
	assert.Contains(t, text, "COMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]\n")
	assert.True(t, strings.HasSuffix(text, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n"))
	for _, absent := range []string{"*mangle", "CANARY", "AWS-", "-A INPUT", "-A PREROUTING", "-A POSTROUTING", "-X "} {
		assert.NotContains(t, text, absent)
	}
	// Every kube-proxy rule of filter and nat outside built-in chains is there.
	for _, r := range rs.Rules {
		if r.Owner == OwnerKubeProxy && r.Table != TableMangle && !strings.Contains("INPUT FORWARD OUTPUT PREROUTING POSTROUTING", r.Chain) {
			assert.Contains(t, text, r.String()+"\n")
		}
	}
}

// A partial sync after a pod went away rewrites the fixed chains and the
// changed Service's chains, and deletes the endpoint chain no longer used.
func TestSyncTextPartial(t *testing.T) {
	w := topology.Default()
	before := ruleset(t, w, "node-1")

	var pods []topology.Pod
	for _, p := range w.Pods {
		if p.IP.String() != "192.168.2.206" {
			pods = append(pods, p)
		}
	}
	w.Pods = pods
	after := ruleset(t, w, "node-1")
	assert.Equal(t, `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-EXT-VDXCGHLC7LJVQSZ7 - [0:0]
:KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]
:KUBE-SEP-LHC45K453FK42NFG - [0:0]
:KUBE-SEP-62QXZKLRNZ4Q2ZG5 - [0:0]
:KUBE-SEP-KZTINFDZQREWAZ5M - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 10.100.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES -m comment --comment "default/nginx-nlb-service cluster IP" -m tcp -p tcp -d 10.100.30.185 --dport 7777 -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-NODEPORTS -m comment --comment default/nginx-nlb-service -m tcp -p tcp --dport 32392 -j KUBE-EXT-VDXCGHLC7LJVQSZ7
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -m comment --comment "masquerade traffic for default/nginx-nlb-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-VDXCGHLC7LJVQSZ7 -j KUBE-SVC-VDXCGHLC7LJVQSZ7
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.1.248:7777" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-LHC45K453FK42NFG
-A KUBE-SVC-VDXCGHLC7LJVQSZ7 -m comment --comment "default/nginx-nlb-service -> 192.168.3.111:7777" -j KUBE-SEP-62QXZKLRNZ4Q2ZG5
-A KUBE-SEP-LHC45K453FK42NFG -m comment --comment default/nginx-nlb-service -s 192.168.1.248 -j KUBE-MARK-MASQ
-A KUBE-SEP-LHC45K453FK42NFG -m comment --comment default/nginx-nlb-service -m tcp -p tcp -j DNAT --to-destination 192.168.1.248:7777
-A KUBE-SEP-62QXZKLRNZ4Q2ZG5 -m comment --comment default/nginx-nlb-service -s 192.168.3.111 -j KUBE-MARK-MASQ
-A KUBE-SEP-62QXZKLRNZ4Q2ZG5 -m comment --comment default/nginx-nlb-service -m tcp -p tcp -j DNAT --to-destination 192.168.3.111:7777
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.100.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.100.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp -p tcp -d 10.100.0.10 --dport 9153 -j KUBE-SVC-JD5MR3NA4I4DYORP
-X KUBE-SEP-KZTINFDZQREWAZ5M
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`, after.PartialSyncText(before))

	// Nothing changed: only the fixed chains.
	again := after.PartialSyncText(after)
	assert.NotContains(t, again, "KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]")
	assert.NotContains(t, again, "-X ")
	assert.Contains(t, again, "-A KUBE-SERVICES -m comment --comment \"default/nginx-nlb-service cluster IP\"")
}

// A Service that loses every endpoint leaves nat for a filter REJECT; all
// its chains are deleted.
func TestSyncTextServiceLosesEndpoints(t *testing.T) {
	w := topology.Default()
	before := ruleset(t, w, "node-1")
	var pods []topology.Pod
	for _, p := range w.Pods {
		if p.Owner != topology.AppDeployment {
			pods = append(pods, p)
		}
	}
	w.Pods = pods
	text := ruleset(t, w, "node-1").PartialSyncText(before)
	assert.Contains(t, text, `-A KUBE-SERVICES -m comment --comment "default/nginx-nlb-service has no endpoints" -m tcp -p tcp -d 10.100.30.185 --dport 7777 -j REJECT`)
	assert.Contains(t, text, `-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/nginx-nlb-service has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 32392 -j REJECT`)
	assert.Contains(t, text, ":KUBE-EXT-VDXCGHLC7LJVQSZ7 - [0:0]\n:KUBE-SEP-62QXZKLRNZ4Q2ZG5 - [0:0]\n:KUBE-SEP-KZTINFDZQREWAZ5M - [0:0]\n:KUBE-SEP-LHC45K453FK42NFG - [0:0]\n:KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]\n")
	// The deletions come before the rule that must end KUBE-SERVICES.
	assert.True(t, strings.HasSuffix(text, "-X KUBE-EXT-VDXCGHLC7LJVQSZ7\n-X KUBE-SEP-62QXZKLRNZ4Q2ZG5\n-X KUBE-SEP-KZTINFDZQREWAZ5M\n-X KUBE-SEP-LHC45K453FK42NFG\n-X KUBE-SVC-VDXCGHLC7LJVQSZ7\n"+nodePortsTail+"COMMIT\n"), text)
	assert.NotContains(t, text, "-A KUBE-SVC-VDXCGHLC7LJVQSZ7")
}

// A full sync from a known ruleset also deletes the chains no longer used.
func TestFullSyncTextDeletesStaleChains(t *testing.T) {
	w := topology.Default()
	before := ruleset(t, w, "node-1")
	w.Pods = w.Pods[1:] // node-1's app pod goes away
	after := ruleset(t, w, "node-1")
	text := after.FullSyncText(before)
	assert.Contains(t, text, ":KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]\n") // unchanged, written anyway
	assert.True(t, strings.HasSuffix(text, "-X KUBE-SEP-LHC45K453FK42NFG\n"+nodePortsTail+"COMMIT\n"), text)
	assert.Equal(t, after.FullSyncText(nil), strings.Replace(strings.Replace(text,
		":KUBE-SEP-LHC45K453FK42NFG - [0:0]\n", "", 1), "-X KUBE-SEP-LHC45K453FK42NFG\n", "", 1))
}

const nodePortsTail = `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS` + "\n"

// A partial sync rewrites the chains of a Service whose endpoints changed
// even when the chains' text stays the same (a NotReady endpoint that starts
// terminating), as upstream's change trackers do; PartialSyncTextFor takes
// the changed Services as given.
func TestSyncTextPartialRewritesChangedServiceEvenIfSameText(t *testing.T) {
	w := topology.Default()
	setPod := func(ip string, edit func(*topology.Pod)) {
		for i := range w.Pods {
			if w.Pods[i].IP.String() == ip {
				edit(&w.Pods[i])
			}
		}
	}
	setPod("192.168.2.206", func(p *topology.Pod) { p.NotReady = true })
	before := ruleset(t, w, "node-1")
	setPod("192.168.2.206", func(p *topology.Pod) { p.Terminating = true })
	after := ruleset(t, w, "node-1")
	assert.Equal(t, before.RestoreText(), after.RestoreText())
	assert.Equal(t, map[string]bool{"default/nginx-nlb-service": true}, after.ChangedServices(before))
	assert.Contains(t, after.PartialSyncText(before), ":KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]\n")
	assert.NotContains(t, after.PartialSyncTextFor(before, nil), ":KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]\n")
	assert.Contains(t, after.PartialSyncTextFor(before, []string{"default/nginx-nlb-service"}), ":KUBE-SVC-VDXCGHLC7LJVQSZ7 - [0:0]\n")
	assert.Empty(t, after.ChangedServices(after))
}

func TestRuleString(t *testing.T) {
	r := Rule{Table: TableNAT, Chain: "KUBE-MARK-MASQ", Spec: "-j MARK --or-mark 0x00004000"}
	assert.Equal(t, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000", r.String())
}

// In large-cluster mode (more than 1000 endpoints) stale chains linger
// until more than syncPeriod has passed since they were last deleted, as
// upstream's lastIPTablesCleanup times it; then a later sync deletes them.
func TestSyncTextLargeClusterDefersStaleChains(t *testing.T) {
	w := buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
	var addrs []string
	for i := 0; len(addrs) < 260; i++ {
		if a := fmt.Sprintf("192.168.%d.%d", 1+i%3, 10+i/3); !usedAddress(w, a) {
			addrs = append(addrs, a)
		}
	}
	addPods(t, w, "big", "big", webPort, addrs...)
	w.Services = append(w.Services, clusterIPService("big", "big", "10.100.60.1",
		tcpPort("a", 80, "8080", 0), tcpPort("b", 81, "8080", 0), tcpPort("c", 82, "8080", 0), tcpPort("d", 83, "8080", 0)))
	t0 := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	period := 30 * time.Second

	first := ruleset(t, w, "node-1")
	first.SyncText(nil, SyncOptions{Full: true, Now: t0, SyncPeriod: period})
	w.Pods = w.Pods[:len(w.Pods)-1]
	second := ruleset(t, w, "node-1")
	text := second.SyncText(first, SyncOptions{Now: t0.Add(time.Second), SyncPeriod: period})
	assert.NotContains(t, text, "-X ")
	w.Pods = w.Pods[:len(w.Pods)-1]
	third := ruleset(t, w, "node-1")
	text = third.SyncText(second, SyncOptions{Now: t0.Add(31 * time.Second), SyncPeriod: period})
	assert.Equal(t, 8, strings.Count(text, "\n-X KUBE-SEP-"), "both pods' chains, 4 ports each:\n%s", text)
	// Without a time, every sync deletes them.
	assert.Equal(t, 4, strings.Count(second.PartialSyncText(first), "\n-X KUBE-SEP-"))
}
