package explain

import (
	"fmt"
	"math"
	"strings"
)

// kubeProxyDump writes, in iptables-save's display form, a nat table as
// kube-proxy builds it for ClusterIP services with endpoints each (pod
// CIDR 10.0.0.0/8): service i listens on 172.30.x.y:80 and its endpoints
// are 10.x.y.z on port 8080.
func kubeProxyDump(services, endpoints int) string {
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	b.WriteString(":KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n")
	for s := 0; s < services; s++ {
		fmt.Fprintf(&b, ":KUBE-SVC-%016d - [0:0]\n", s)
		for e := 0; e < endpoints; e++ {
			fmt.Fprintf(&b, ":KUBE-SEP-%08d%08d - [0:0]\n", s, e)
		}
	}
	b.WriteString(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
`)
	for s := 0; s < services; s++ {
		name := fmt.Sprintf("ns/svc-%d:http", s)
		fmt.Fprintf(&b, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%016d\n", serviceIP(s), name, s)
		fmt.Fprintf(&b, "-A KUBE-SVC-%016d ! -s 10.0.0.0/8 -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", s, serviceIP(s), name)
		for e := 0; e < endpoints; e++ {
			ep := endpointIP(s, e)
			statistic := ""
			if left := endpoints - e; left > 1 {
				statistic = fmt.Sprintf(" -m statistic --mode random --probability %.11f", savedProbability(left))
			}
			fmt.Fprintf(&b, "-A KUBE-SVC-%016d -m comment --comment \"%s -> %s:8080\"%s -j KUBE-SEP-%08d%08d\n", s, name, ep, statistic, s, e)
		}
		for e := 0; e < endpoints; e++ {
			ep := endpointIP(s, e)
			fmt.Fprintf(&b, "-A KUBE-SEP-%08d%08d -s %s/32 -m comment --comment %s -j KUBE-MARK-MASQ\n", s, e, ep, name)
			fmt.Fprintf(&b, "-A KUBE-SEP-%08d%08d -p tcp -m comment --comment %s -m tcp -j DNAT --to-destination %s:8080\n", s, e, name, ep)
		}
	}
	b.WriteString("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n")
	return b.String()
}

// savedProbability is what iptables-save prints for kube-proxy's 1/k: the
// kernel's threshold scaled back.
func savedProbability(k int) float64 {
	threshold := math.Round((1 << 31) * (1 / float64(k)))
	return threshold / (1 << 31)
}

func serviceIP(s int) string { return fmt.Sprintf("172.30.%d.%d", s/250, s%250+1) }

func endpointIP(s, e int) string {
	n := s*64 + e
	return fmt.Sprintf("10.%d.%d.%d", n/62500+1, n/250%250, n%250+1)
}
