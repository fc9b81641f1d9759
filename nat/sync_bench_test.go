package nat_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// restoreArgs are the flags nat.Apply gives iptables-restore, as kube-proxy;
// replaceArgs those nat.Replace and nat.Install give it.
var (
	restoreArgs = []string{"-w", "5", "-W", "100000", "--noflush", "--counters"}
	replaceArgs = []string{"-w", "5", "-W", "100000"}
)

// syncWay is one way nlbsim loads a node's whole ruleset, with the flags
// the bare restore it is measured against gets.
type syncWay struct {
	suffix string
	flags  []string
	load   func(nat.Backend, *nat.Ruleset, nat.RunInNamespace) error
}

var syncWays = []syncWay{
	// How up loads a new node: generated, then streamed into a restore
	// without --noflush (the same kernel state; BenchmarkFirstSync).
	{"", replaceArgs, nat.Install},
	// As kube-proxy's first sync sends it: the whole text, --noflush.
	{"-noflush", restoreArgs, func(b nat.Backend, rs *nat.Ruleset, run nat.RunInNamespace) error {
		return nat.Apply(b, rs.RestoreText(), run)
	}},
}

// BenchmarkKubeProxySync times loading one node's rules for 5,000
// ClusterIP Services × 10 endpoints: nlbsim's path (nat.KubeProxy, then
// nat.Install, or RestoreText and nat.Apply for "-noflush") against a bare
// iptables-restore of the same, precomputed text with the same flags, for
// both backends. Each iteration applies both, in alternating order, each
// into a fresh scratch namespace. "generate" times generation alone and
// reads its peak memory. scripts/bench-rules.sh runs it.
func BenchmarkKubeProxySync(b *testing.B) {
	requireBenchRoot(b)
	w := benchWorld(benchServices, benchEndpoints)
	rs, err := nat.KubeProxy(w, benchNode)
	if err != nil {
		b.Fatal(err)
	}
	text := rs.RestoreText()
	b.Logf("%d services × %d endpoints on %s: %d rules, %d chains, %.1f MiB of restore text",
		benchServices, benchEndpoints, benchNode, len(rs.Rules), len(rs.Chains), float64(len(text))/(1<<20))

	b.Run("generate", func(b *testing.B) { benchGenerate(b, w) })
	for _, way := range syncWays {
		for _, backend := range []nat.Backend{nat.BackendNFT, nat.BackendLegacy} {
			b.Run(string(backend)+way.suffix, func(b *testing.B) { benchSync(b, backend, way, w, text) })
		}
	}
}

// benchGenerate times nat.KubeProxy plus RestoreText and reports the
// process's peak RSS during one generation, above what it held before.
func benchGenerate(b *testing.B, w *topology.World) {
	generate := func() string {
		rs, err := nat.KubeProxy(w, benchNode)
		if err != nil {
			b.Fatal(err)
		}
		return rs.RestoreText()
	}
	before, peak, err := peakRSS(func() { generate() })
	if err != nil {
		b.Fatal(err)
	}
	var gen series
	for b.Loop() {
		c := startClock()
		generate()
		gen = append(gen, c.stop())
	}
	b.ReportMetric(gen.wallMS(), "gen-ms")
	b.ReportMetric(gen.cpuMS(), "gen-cpu-ms")
	b.ReportMetric(mib(peak-before), "peak-above-MiB")
	b.ReportMetric(mib(peak), "peak-RSS-MiB")
}

// benchSync alternates the bare restore and nlbsim's sync, each into its
// own fresh namespace; namespaces are made and emptied, and memory
// settled, off the clock.
func benchSync(b *testing.B, backend nat.Backend, way syncWay, w *topology.World, text string) {
	want := countRules(text)
	var bare, gen, apply, total series
	var floor int64 // largest RSS of this process when a step started
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		sBare, err := newScratch()
		if err != nil {
			b.Fatal(err)
		}
		sSync, err := newScratch()
		if err != nil {
			b.Fatal(err)
		}
		bareArm := func() error {
			k, err := timedRestore(sBare, backend, text, way.flags...)
			bare = append(bare, k)
			return err
		}
		syncArm := func() error {
			c := startClock()
			rs, err := nat.KubeProxy(w, benchNode)
			if err != nil {
				return err
			}
			g, c := c.stop(), startClock()
			rec := &recorder{run: sSync.run}
			if err := way.load(backend, rs, rec.Run); err != nil {
				return err
			}
			a := c.stop(rec.last)
			gen, apply = append(gen, g), append(apply, a)
			total = append(total, cost{wall: g.wall + a.wall, cpu: g.cpu + a.cpu, rss: a.rss})
			return nil
		}
		arms := []func() error{bareArm, syncArm}
		if i%2 == 1 {
			arms[0], arms[1] = arms[1], arms[0]
		}
		for _, arm := range arms {
			rss, err := settle()
			if err != nil {
				b.Fatal(err)
			}
			floor = max(floor, rss)
			b.StartTimer()
			err = arm()
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("run %d: bare %.0f ms (CPU %.0f), nlbsim %.0f ms (CPU %.0f; generate %.0f + apply %.0f), ratio %.3f (CPU %.3f)",
			i+1, ms(bare[i].wall), ms(bare[i].cpu), ms(total[i].wall), ms(total[i].cpu), ms(gen[i].wall), ms(apply[i].wall),
			float64(total[i].wall)/float64(bare[i].wall), float64(total[i].cpu)/float64(bare[i].cpu))
		for _, s := range []*scratch{sBare, sSync} {
			if i == 0 {
				if err := checkInstalled(s, backend, want); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.empty(backend); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(bare.wallMS(), "bare-ms")
	b.ReportMetric(bare.cpuMS(), "bare-cpu-ms")
	b.ReportMetric(gen.wallMS(), "gen-ms")
	b.ReportMetric(apply.wallMS(), "apply-ms")
	b.ReportMetric(total.wallMS(), "nlbsim-ms")
	b.ReportMetric(total.cpuMS(), "nlbsim-cpu-ms")
	b.ReportMetric(total.wallMS()/bare.wallMS(), "ratio")
	b.ReportMetric(total.cpuMS()/bare.cpuMS(), "cpu-ratio")
	b.ReportMetric(mib(bare.maxRSS()), "restore-RSS-MiB")
	b.ReportMetric(mib(floor), "RSS-floor-MiB")
}

// checkInstalled reads a scratch namespace's rules back and counts them.
func checkInstalled(s *scratch, backend nat.Backend, want int) error {
	saved, err := nat.Save(backend, s.run)
	if err != nil {
		return err
	}
	if got := countRules(saved); got != want {
		return fmt.Errorf("%s: %d rules installed, want %d", backend, got, want)
	}
	return nil
}

// BenchmarkFirstSync loads one node's rules (NLBSIM_BENCH_SERVICES
// ClusterIP Services × 10 endpoints, 1,000 by default) into a fresh
// namespace as kube-proxy's first sync does (nat.Apply: --noflush) and as
// up does (nat.Replace: no --noflush; TestSavedTextMatchesKernel shows both
// leave the same kernel state), for each backend. The restore input is the
// one the conformance suite proves equal to upstream kube-proxy's, so what
// differs is iptables-restore's own work. scripts/bench-first-sync.sh runs it.
func BenchmarkFirstSync(b *testing.B) {
	requireBenchRoot(b)
	services := envInt("NLBSIM_BENCH_SERVICES", 1000)
	rs, err := nat.KubeProxy(benchWorld(services, benchEndpoints), benchNode)
	if err != nil {
		b.Fatal(err)
	}
	text := rs.RestoreText()
	b.Logf("%d services × %d endpoints: %d rules", services, benchEndpoints, len(rs.Rules))
	for _, backend := range []nat.Backend{nat.BackendNFT, nat.BackendLegacy} {
		for _, way := range []struct {
			name  string
			apply func(nat.Backend, string, nat.RunInNamespace) error
		}{{"noflush", nat.Apply}, {"replace", nat.Replace}} {
			b.Run(string(backend)+"-"+way.name, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					s, err := newScratch()
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := way.apply(backend, text, s.run); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := s.empty(backend); err != nil {
						b.Fatal(err)
					}
					s.Close()
					b.StartTimer()
				}
			})
		}
	}
}

// envInt reads a positive integer from the environment, or gives def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
