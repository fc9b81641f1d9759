package conformance

import (
	"strings"
	"testing"
)

const sample = `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
-A KUBE-SERVICES -m comment --comment "a/x has no endpoints" -m tcp -p tcp -d 10.0.0.1 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "a/y has no endpoints" -m tcp -p tcp -d 10.0.0.2 --dport 80 -j REJECT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SVC-B - [0:0]
:KUBE-SEP-C - [0:0]
-A KUBE-SERVICES -m comment --comment "a/b cluster IP" -m tcp -p tcp -d 10.0.0.3 --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A
-A KUBE-SVC-A -j KUBE-SEP-B
-A KUBE-SERVICES -m comment --comment "a/c cluster IP" -m tcp -p tcp -d 10.0.0.4 --dport 80 -j KUBE-SVC-B
-X KUBE-SEP-C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`

func swapLines(text, a, b string) string {
	return strings.NewReplacer(a, b, b, a).Replace(text)
}

// What upstream orders at random may come in any order; nothing else may.
func TestCompare(t *testing.T) {
	if d := Compare(sample, sample); len(d) != 0 {
		t.Fatalf("a restore input differs from itself: %v", d)
	}
	mapOrder := swapLines(sample,
		`-A KUBE-SERVICES -m comment --comment "a/x has no endpoints" -m tcp -p tcp -d 10.0.0.1 --dport 80 -j REJECT`,
		`-A KUBE-SERVICES -m comment --comment "a/y has no endpoints" -m tcp -p tcp -d 10.0.0.2 --dport 80 -j REJECT`)
	mapOrder = swapLines(mapOrder, ":KUBE-SVC-A - [0:0]", ":KUBE-SVC-B - [0:0]")
	mapOrder = swapLines(mapOrder,
		`-A KUBE-SERVICES -m comment --comment "a/b cluster IP" -m tcp -p tcp -d 10.0.0.3 --dport 80 -j KUBE-SVC-A`,
		`-A KUBE-SERVICES -m comment --comment "a/c cluster IP" -m tcp -p tcp -d 10.0.0.4 --dport 80 -j KUBE-SVC-B`)
	if d := Compare(mapOrder, sample); len(d) != 0 {
		t.Errorf("service order, as upstream's map gives it, made a difference: %v", d)
	}
	for name, text := range map[string]string{
		"endpoint order": swapLines(sample, "-A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A", "-A KUBE-SVC-A -j KUBE-SEP-B"),
		"nodeports rule not last": swapLines(sample,
			`-A KUBE-SERVICES -m comment --comment "a/c cluster IP" -m tcp -p tcp -d 10.0.0.4 --dport 80 -j KUBE-SVC-B`,
			`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`),
		"-X after the nodeports rule": swapLines(sample, "-X KUBE-SEP-C",
			`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`),
		"a chain not declared": strings.Replace(sample, ":KUBE-SVC-B - [0:0]\n", "", 1),
		"a deletion missing":   strings.Replace(sample, "-X KUBE-SEP-C\n", "", 1),
	} {
		if d := Compare(text, sample); len(d) == 0 {
			t.Errorf("%s went unnoticed", name)
		}
	}
}
