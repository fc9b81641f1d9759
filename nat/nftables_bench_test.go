package nat_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// BenchmarkNFTablesSync (issue 19) times one node in nftables mode with
// 5,000 ClusterIP Services × 10 endpoints:
//
//   - full: nlbsim's first sync (nat.NFTProxier: generate the transaction
//     with knftables, then nat.ApplyNFT, one `nft -f -`) against a bare
//     `nft -f -` of the same, precomputed text, alternating which goes
//     first, each into a fresh scratch namespace;
//   - incremental: after that full sync, one endpoint of one Service
//     changes (it goes, then comes back), and the partial sync — generate
//     plus `nft -f -` of its transaction — is timed end to end.
//
// scripts/bench-nft.sh runs it.
func BenchmarkNFTablesSync(b *testing.B) {
	requireBenchRoot(b)
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nft is not installed")
	}
	w := benchWorld(benchServices, benchEndpoints)
	w.Cluster.KubeProxy.Mode = string(topology.ProxyNFTables)
	text, err := nat.NFTablesText(w, benchNode)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d services × %d endpoints on %s: %d nft operations, %.1f MiB of nft -f text",
		benchServices, benchEndpoints, benchNode, strings.Count(text, "\n"), float64(len(text))/(1<<20))
	b.Run("full", func(b *testing.B) { benchNFTFull(b, w, text) })
	b.Run("incremental", func(b *testing.B) { benchNFTIncremental(b, w) })
}

func timedNFT(s *scratch, text string) (cost, error) {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	c := startClock()
	out, err := combined(cmd, s.run)
	k := c.stop(cmd)
	if err != nil {
		return k, fmt.Errorf("nft -f: %v: %s", err, out)
	}
	return k, nil
}

func benchNFTFull(b *testing.B, w *topology.World, text string) {
	var bare, gen, apply, total series
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
			k, err := timedNFT(sBare, text)
			bare = append(bare, k)
			return err
		}
		syncArm := func() error {
			c := startClock()
			var g cost
			var a cost
			rec := &recorder{run: sSync.run}
			_, err := nat.NewNFTProxier(benchNode).Sync(w, nat.NFTSyncOptions{Full: true}, func(t string) error {
				g = c.stop()
				c2 := startClock()
				err := nat.ApplyNFT(t, rec.Run)
				a = c2.stop(rec.last)
				c = startClock()
				return err
			})
			if err != nil {
				return err
			}
			rest := c.stop() // recording the transaction in the shadow table
			g.wall += rest.wall
			g.cpu += rest.cpu
			gen, apply = append(gen, g), append(apply, a)
			total = append(total, cost{wall: g.wall + a.wall, cpu: g.cpu + a.cpu, rss: a.rss})
			return nil
		}
		arms := []func() error{bareArm, syncArm}
		if i%2 == 1 {
			arms[0], arms[1] = arms[1], arms[0]
		}
		for _, arm := range arms {
			if _, err := settle(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			err = arm()
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("run %d: bare nft -f %.0f ms, nlbsim %.0f ms (generate %.0f + apply %.0f), ratio %.3f",
			i+1, ms(bare[i].wall), ms(total[i].wall), ms(gen[i].wall), ms(apply[i].wall), float64(total[i].wall)/float64(bare[i].wall))
		sBare.Close()
		sSync.Close()
		b.StartTimer()
	}
	b.ReportMetric(bare.wallMS(), "bare-ms")
	b.ReportMetric(gen.wallMS(), "gen-ms")
	b.ReportMetric(apply.wallMS(), "apply-ms")
	b.ReportMetric(total.wallMS(), "nlbsim-ms")
	b.ReportMetric(total.wallMS()/bare.wallMS(), "ratio")
	b.ReportMetric(mib(bare.maxRSS()), "nft-RSS-MiB")
}

func benchNFTIncremental(b *testing.B, w *topology.World) {
	s, err := newScratch()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	apply := func(t string) error { return nat.ApplyNFT(t, s.run) }
	p := nat.NewNFTProxier(benchNode)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := p.Sync(w, nat.NFTSyncOptions{Now: now}, apply); err != nil {
		b.Fatal(err)
	}
	// One endpoint of one Service goes, and comes back at the next sync.
	less := *w
	less.Services = append([]topology.Service(nil), w.Services...)
	i := len(less.Services) - 1
	svc := less.Services[i]
	svc.ManualEndpoints = svc.ManualEndpoints[1:]
	less.Services[i] = svc
	worlds := []*topology.World{&less, w}
	var total, nft series
	ops := 0
	for n := 0; b.Loop(); n++ {
		now = now.Add(100 * time.Millisecond) // stale chains wait more than 1 s: not in these syncs
		var a cost
		timedApply := func(t string) error {
			c := startClock()
			err := apply(t)
			a = c.stop()
			return err
		}
		c := startClock()
		r, err := p.Sync(worlds[n%2], nat.NFTSyncOptions{Now: now}, timedApply)
		if err != nil {
			b.Fatal(err)
		}
		total, nft = append(total, c.stop()), append(nft, a)
		ops = r.Operations
		b.Logf("partial sync %d: %.0f ms end to end, of which nft -f %.0f ms", n+1, ms(total[n].wall), ms(a.wall))
	}
	b.Logf("a partial sync after one endpoint change: %d operations in its transaction", ops)
	b.ReportMetric(total.wallMS(), "incremental-ms")
	b.ReportMetric(nft.wallMS(), "incremental-nft-ms")
}
