package nat_test

// Helpers shared by the rule benchmarks (scripts/bench-rules.sh,
// scripts/bench-explain.sh): a world of many ClusterIP Services, scratch
// network namespaces, and peak-memory readings.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
)

// The size the issues ask for: 5,000 ClusterIP Services × 10 endpoints,
// about 155,000 rules on one node.
const (
	benchServices  = 5000
	benchEndpoints = 10
	benchNode      = "node-1"
)

// benchWorld is the default world plus ClusterIP Services in namespace
// "bench", each with its own endpoints given as data (ManualEndpoints, no
// pods). Service s listens on 10.100.(128+s/250).(s%250+1):80; its
// endpoints take port 8080 at addresses spread over 10.0.0.0/8.
func benchWorld(services, endpoints int) *topology.World {
	w := topology.Default()
	for s := range services {
		svc := topology.Service{
			Name: fmt.Sprintf("svc-%05d", s), Namespace: "bench", Type: "ClusterIP",
			ClusterIP:       netip.AddrFrom4([4]byte{10, 100, byte(128 + s/250), byte(s%250 + 1)}),
			Ports:           []topology.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "8080"}},
			SessionAffinity: "None",
		}
		for e := range endpoints {
			svc.ManualEndpoints = append(svc.ManualEndpoints, benchEndpointIP(s*endpoints+e))
		}
		w.Services = append(w.Services, svc)
	}
	return w
}

// benchEndpointIP maps n to a distinct address of 10.0.0.0/8 other than
// 10.0.0.0: an odd multiplier is a bijection modulo 2^24, so neighbours
// land far apart.
func benchEndpointIP(n int) netip.Addr {
	v := uint32(n+1)*2654435761&(1<<24-1) | 10<<24
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// requireBenchRoot skips a benchmark that needs namespaces and iptables.
func requireBenchRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces and runs iptables-restore")
	}
}

// scratch is a fresh, unnamed network namespace of the benchmark's own,
// held by a handle: once the handle is closed and every command started in
// it has exited, the kernel frees it. It never gets a name in /run/netns.
type scratch struct{ ns netns.NsHandle }

func newScratch() (*scratch, error) {
	var ns netns.NsHandle
	err := onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		var err error
		ns, err = netns.Get()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &scratch{ns: ns}, nil
}

// run is a nat.RunInNamespace: the command is forked from a thread inside
// the namespace, which then returns to where it was.
func (s *scratch) run(cmd *exec.Cmd) error {
	if err := onLockedThread(func() error {
		if err := netns.Set(s.ns); err != nil {
			return fmt.Errorf("entering scratch namespace: %w", err)
		}
		return cmd.Start()
	}); err != nil {
		return err
	}
	return cmd.Wait()
}

// empty removes every rule and user chain of b's filter, nat and mangle
// tables, so that the kernel's work of freeing them is done here rather
// than in the background while the next measurement runs.
func (s *scratch) empty(b nat.Backend) error {
	cmd := exec.Command(restoreCommand(b))
	cmd.Stdin = strings.NewReader("*filter\nCOMMIT\n*nat\nCOMMIT\n*mangle\nCOMMIT\n")
	if out, err := combined(cmd, s.run); err != nil {
		return fmt.Errorf("emptying scratch namespace: %v: %s", err, out)
	}
	return nil
}

func (s *scratch) Close() { s.ns.Close() }

// onLockedThread runs fn on a locked OS thread and puts the thread back in
// its network namespace afterwards, whatever fn did to it.
func onLockedThread(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	err = fn()
	if rerr := netns.Set(orig); rerr != nil {
		// The thread stays locked and dies with its goroutine.
		panic(fmt.Sprintf("cannot return thread to its network namespace: %v", rerr))
	}
	runtime.UnlockOSThread()
	return err
}

// restoreCommand names a backend's iptables-restore, as nat.Apply does.
func restoreCommand(b nat.Backend) string {
	if b == nat.BackendLegacy {
		return "iptables-legacy-restore"
	}
	return "iptables-nft-restore"
}

func saveCommand(b nat.Backend) string {
	return strings.Replace(restoreCommand(b), "-restore", "-save", 1)
}

// combined runs cmd through run and returns its stdout and stderr.
func combined(cmd *exec.Cmd, run nat.RunInNamespace) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := run(cmd)
	return strings.TrimSpace(out.String()), err
}

// cost is what one measured step took: wall clock, CPU time (user and
// system, of this process and of the child it ran) and the child's peak
// resident set in KiB.
type cost struct {
	wall, cpu time.Duration
	rss       int64
}

// clock starts measuring a step.
type clock struct {
	t0   time.Time
	cpu0 time.Duration
}

func startClock() clock { return clock{time.Now(), selfCPU()} }

// stop ends the step; cmds are the children it ran, already waited for.
func (c clock) stop(cmds ...*exec.Cmd) cost {
	k := cost{wall: time.Since(c.t0), cpu: selfCPU() - c.cpu0}
	for _, cmd := range cmds {
		if cmd == nil || cmd.ProcessState == nil {
			continue
		}
		k.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			k.rss = max(k.rss, ru.Maxrss)
		}
	}
	return k
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recorder wraps a nat.RunInNamespace and keeps the last command it ran,
// so that a step run through nat.Apply can be charged for its child.
type recorder struct {
	run  nat.RunInNamespace
	last *exec.Cmd
}

func (r *recorder) Run(cmd *exec.Cmd) error {
	r.last = cmd
	return r.run(cmd)
}

// timedRestore feeds text to iptables-restore with args inside s.
func timedRestore(s *scratch, b nat.Backend, text string, args ...string) (cost, error) {
	cmd := exec.Command(restoreCommand(b), args...)
	cmd.Stdin = strings.NewReader(text)
	c := startClock()
	out, err := combined(cmd, s.run)
	k := c.stop(cmd)
	if err != nil {
		return k, fmt.Errorf("%s %s: %v: %s", restoreCommand(b), strings.Join(args, " "), err, out)
	}
	return k, nil
}

// countRules counts the "-A" lines of restore or save text.
func countRules(text string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[") { // iptables-save -c's counters
			if i := strings.IndexByte(line, ' '); i > 0 {
				line = line[i+1:]
			}
		}
		if strings.HasPrefix(line, "-A ") {
			n++
		}
	}
	return n
}

// peakRSS runs fn once and returns this process's resident set just
// before it (see settle) and the peak while it ran, in KiB.
func peakRSS(fn func()) (before, peak int64, err error) {
	if before, err = settle(); err != nil {
		return 0, 0, err
	}
	fn()
	peak, err = procStatus("VmHWM")
	return before, peak, err
}

// settle collects garbage, hands free memory back to the kernel and resets
// this process's peak RSS (VmHWM, through clear_refs); it returns the RSS
// left, in KiB. Run before each measured step, it keeps one step's garbage
// off the next one's clock, and it lowers what a child reports as its peak:
// a child forked with CLONE_VM (as Go starts commands) inherits its
// parent's VmHWM at exec, so ru_maxrss is never below the parent's RSS.
func settle() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("resetting the peak RSS: %w", err)
	}
	return procStatus("VmRSS")
}

// procStatus reads one "kB" field of /proc/self/status.
func procStatus(field string) (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// medians of a series of costs, in milliseconds, and the largest RSS.
type series []cost

func (s series) wallMS() float64 { return medianMS(s, func(k cost) time.Duration { return k.wall }) }
func (s series) cpuMS() float64  { return medianMS(s, func(k cost) time.Duration { return k.cpu }) }
func (s series) maxRSS() (m int64) {
	for _, k := range s {
		m = max(m, k.rss)
	}
	return m
}

func medianMS(s series, field func(cost) time.Duration) float64 {
	ds := make([]time.Duration, len(s))
	for i, k := range s {
		ds[i] = field(k)
	}
	slices.Sort(ds)
	n := len(ds)
	if n == 0 {
		return 0
	}
	m := ds[n/2]
	if n%2 == 0 {
		m = (ds[n/2-1] + ds[n/2]) / 2
	}
	return ms(m)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(kib int64) float64 { return float64(kib) / 1024 }

// BenchmarkParseAndExplainSaved parses the iptables-save dump
// of BenchmarkKubeProxySync's node (5,000 Services × 10 endpoints, about
// 155,000 rules) and walks a pod's packet to the Service KUBE-SERVICES
// lists last, against iptables-restore --test of the same dump with both
// backends, each in a fresh scratch namespace; the three alternate order.
// scripts/bench-explain.sh runs it.
func BenchmarkParseAndExplainSaved(b *testing.B) {
	requireBenchRoot(b)
	w := benchWorld(benchServices, benchEndpoints)
	dump, err := savedDump(w)
	if err != nil {
		b.Fatal(err)
	}
	node, _ := w.Node(benchNode)
	last := w.Services[len(w.Services)-1]
	packet := explain.Packet{Src: netip.MustParseAddr("192.168.1.77"), Dst: netip.AddrPortFrom(last.ClusterIP, 80), Proto: "tcp", From: explain.FromPod}
	opts := explain.Options{NodeIPs: []netip.Addr{node.IP}}
	b.Logf("iptables-save dump: %d rules, %.1f MiB; packet to %s (%s)", countRules(dump), float64(len(dump))/(1<<20), packet.Dst, last.Key())

	parseAndExplain := func() (parse, walk cost) {
		c := startClock()
		d, err := ruleset.Parse(strings.NewReader(dump))
		if err != nil {
			b.Fatal(err)
		}
		parse, c = c.stop(), startClock()
		r, err := explain.Walk(d, packet, opts)
		if err != nil {
			b.Fatal(err)
		}
		walk = c.stop()
		if dist := r.Distribution(); len(dist) != benchEndpoints {
			b.Fatalf("%d DNAT targets, want %d", len(dist), benchEndpoints)
		}
		return parse, walk
	}
	before, peak, err := peakRSS(func() { parseAndExplain() })
	if err != nil {
		b.Fatal(err)
	}

	backends := []nat.Backend{nat.BackendNFT, nat.BackendLegacy}
	var parse, walk, total series
	test := map[nat.Backend]series{}
	var floor int64 // largest RSS of this process when a child started
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		arms := []func() error{func() error {
			p, w := parseAndExplain()
			parse, walk = append(parse, p), append(walk, w)
			total = append(total, cost{wall: p.wall + w.wall, cpu: p.cpu + w.cpu})
			return nil
		}}
		for _, backend := range backends {
			arms = append(arms, func() error {
				s, err := newScratch()
				if err != nil {
					return err
				}
				defer s.Close()
				k, err := timedRestore(s, backend, dump, "--test")
				test[backend] = append(test[backend], k)
				return err
			})
		}
		for k := range arms {
			rss, err := settle()
			if err != nil {
				b.Fatal(err)
			}
			floor = max(floor, rss)
			b.StartTimer()
			err = arms[(i+k)%len(arms)]()
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
		}
		nft, legacy := test[nat.BackendNFT][i], test[nat.BackendLegacy][i]
		b.Logf("run %d: parse+explain %.0f ms, CPU %.0f ms (parse %.0f + walk %.0f); restore --test wall/CPU: nf_tables %.0f/%.0f ms, legacy %.0f/%.0f ms",
			i+1, ms(total[i].wall), ms(total[i].cpu), ms(parse[i].wall), ms(walk[i].wall), ms(nft.wall), ms(nft.cpu), ms(legacy.wall), ms(legacy.cpu))
		b.StartTimer()
	}
	b.ReportMetric(parse.wallMS(), "parse-ms")
	b.ReportMetric(walk.wallMS(), "walk-ms")
	b.ReportMetric(total.wallMS(), "explain-ms")
	b.ReportMetric(total.cpuMS(), "explain-cpu-ms")
	b.ReportMetric(mib(peak-before), "peak-above-MiB")
	b.ReportMetric(mib(peak), "peak-RSS-MiB")
	for _, backend := range backends {
		name := map[nat.Backend]string{nat.BackendNFT: "nft", nat.BackendLegacy: "legacy"}[backend]
		t := test[backend]
		b.ReportMetric(t.wallMS(), name+"-test-ms")
		b.ReportMetric(t.cpuMS(), name+"-test-cpu-ms")
		b.ReportMetric(t.wallMS()/total.wallMS(), name+"-test/explain")
		b.ReportMetric(t.cpuMS()/total.cpuMS(), name+"-test/explain-cpu")
		b.ReportMetric(mib(t.maxRSS()), name+"-test-RSS-MiB")
	}
	b.ReportMetric(mib(floor), "RSS-floor-MiB")
}

// savedDump installs w's rules for benchNode in a scratch namespace and
// returns what iptables-save prints there (the backend on the PATH, no
// counters, as `iptables-save > node.rules`). The rules go in without
// --noflush, which in a fresh namespace installs the same and spares the
// nf_tables backend's slow path for many new chains.
func savedDump(w *topology.World) (string, error) {
	rs, err := nat.KubeProxy(w, benchNode)
	if err != nil {
		return "", err
	}
	backend, err := nat.DetectBackend()
	if err != nil {
		return "", err
	}
	s, err := newScratch()
	if err != nil {
		return "", err
	}
	defer s.Close()
	if _, err := timedRestore(s, backend, rs.RestoreText()); err != nil {
		return "", err
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(saveCommand(backend))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := s.run(cmd); err != nil {
		return "", fmt.Errorf("%s: %v: %s", saveCommand(backend), err, strings.TrimSpace(errb.String()))
	}
	dump := out.String()
	if got, want := countRules(dump), len(rs.Rules); got != want {
		return "", fmt.Errorf("%s lists %d rules, want %d", saveCommand(backend), got, want)
	}
	return dump, s.empty(backend)
}

// TestBenchWorld checks the benchmarks' world at a small size: every
// Service gets its own endpoints, all distinct, and 31 rules on the node
// (one in KUBE-SERVICES, ten in its KUBE-SVC chain, two per KUBE-SEP).
func TestBenchWorld(t *testing.T) {
	const services, endpoints = 40, 10
	base, err := nat.KubeProxy(benchWorld(0, 0), benchNode)
	if err != nil {
		t.Fatal(err)
	}
	w := benchWorld(services, endpoints)
	rs, err := nat.KubeProxy(w, benchNode)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rs.Rules)-len(base.Rules), services*(1+endpoints+2*endpoints); got != want {
		t.Errorf("%d rules more than the default world, want %d", got, want)
	}
	seen := map[netip.Addr]bool{}
	for _, svc := range w.Services[len(w.Services)-services:] {
		if !svc.ClusterIP.IsValid() || !w.Cluster.ServiceCIDR.Contains(svc.ClusterIP) {
			t.Errorf("%s: cluster IP %v outside %v", svc.Key(), svc.ClusterIP, w.Cluster.ServiceCIDR)
		}
		for _, ep := range w.Endpoints(svc, svc.Ports[0]) {
			if seen[ep.IP] || !netip.MustParsePrefix("10.0.0.0/8").Contains(ep.IP) {
				t.Errorf("%s: endpoint %v repeated or outside 10.0.0.0/8", svc.Key(), ep.IP)
			}
			seen[ep.IP] = true
		}
	}
	if got := countRules(rs.RestoreText()); got != len(rs.Rules) {
		t.Errorf("countRules = %d, want %d", got, len(rs.Rules))
	}
}
