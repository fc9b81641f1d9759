package explain

import (
	"strings"
	"testing"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// BenchmarkParseAndExplain parses a dump of 5,000 services with 10
// endpoints each (about 160,000 rules, kube-proxy's display form) and
// explains a packet to the last service, which KUBE-SERVICES lists last.
func BenchmarkParseAndExplain(b *testing.B) {
	const services, endpoints = 5000, 10
	text := kubeProxyDump(services, endpoints)
	p, err := ParsePacket("10.0.0.2", serviceIP(services-1)+":80", "tcp", "pod")
	if err != nil {
		b.Fatal(err)
	}
	opts := nodeOptions("192.168.0.2")
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		d, err := ruleset.Parse(strings.NewReader(text))
		if err != nil {
			b.Fatal(err)
		}
		r, err := Walk(d, p, opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Outcomes) != endpoints {
			b.Fatalf("%d outcomes, want %d", len(r.Outcomes), endpoints)
		}
	}
}
