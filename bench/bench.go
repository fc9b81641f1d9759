// Package bench measures what kube-proxy's rules cost a node as the cluster
// grows (nlbsim bench): for each proxy mode and each number of Services it
// brings up a real cluster (sim.Up with Spec.Services) and measures the
// first packet of new connections to the probe Service on sockets, a
// node's full and incremental sync, and the size and memory of its
// ruleset; the clusters are torn down at the end.
//
// It uses the sim facade, so it lives beside sim rather than under it
// (sim/layering_test.go).
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// Mode is a kube-proxy mode bench can measure: one entry of modes.
type Mode struct {
	Name string
	// spec sets the mode on a cluster's spec.
	spec func(*topology.Spec)
	// firstSync generates a node's kube-proxy rules and loads them into a
	// fresh namespace as up loads a new node; the loading command (the
	// restore, or nft) is started through run.
	firstSync func(b nat.Backend, w *topology.World, node string, run nat.RunInNamespace) error
	// empty removes what firstSync loaded.
	empty func(b nat.Backend, run nat.RunInNamespace) error
	// count counts what a live node's packets are matched against: the
	// rules of every iptables table and, in nftables mode, kube-proxy's
	// table's rules and set and map elements.
	count func(w *topology.World, node string) (int, error)
}

// modes are the proxy modes bench measures, in the order a run measures
// them.
var modes = []Mode{
	{Name: "iptables", spec: func(*topology.Spec) {}, firstSync: iptablesFirstSync, empty: iptablesEmpty, count: iptablesCount},
	{Name: "nftables", spec: func(s *topology.Spec) { s.ProxyMode = topology.ProxyNFTables },
		firstSync: nftablesFirstSync, empty: nftablesEmpty, count: nftablesCount},
}

// DefaultModes is the --proxy-mode of a run that names none: every mode.
func DefaultModes() string { return strings.Join(ModeNames(), ",") }

// ParseModes reads a comma-separated list of proxy modes.
func ParseModes(list string) ([]Mode, error) {
	var out []Mode
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(modes, func(m Mode) bool { return m.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown proxy mode %q (valid: %s)", name, strings.Join(ModeNames(), ", "))
		}
		if slices.ContainsFunc(out, func(m Mode) bool { return m.Name == name }) {
			return nil, fmt.Errorf("proxy mode %q given twice", name)
		}
		out = append(out, modes[i])
	}
	return out, nil
}

// ModeNames lists the proxy modes of this build.
func ModeNames() []string {
	var names []string
	for _, m := range modes {
		names = append(names, m.Name)
	}
	return names
}

// DefaultServices are the sizes a run measures unless told otherwise.
var DefaultServices = []int{0, 1000, 5000, 10000}

// ParseSizes reads a comma-separated list of Service counts, each in
// 0…topology.MaxBenchServices, none twice; they are measured in order.
func ParseSizes(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a number of Services", f)
		}
		if n < 0 || n > topology.MaxBenchServices {
			return nil, fmt.Errorf("%d Services is out of range [0, %d]", n, topology.MaxBenchServices)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%d Services given twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// Options say what a run measures.
type Options struct {
	Modes               []Mode
	Services            []int
	EndpointsPerService int // 0: topology.DefaultBenchEndpoints
	// Samples is the number of new connections timed per path and size.
	Samples int
	// TimeScale divides the clusters' AWS and Kubernetes timers (0: 1,
	// AWS's own): up's wait for healthy NLB targets and kube-proxy's
	// minSyncPeriod shrink; what bench times does not wait on them.
	TimeScale float64
	// InProcess runs each cluster's supervisor in this process (tests)
	// instead of a detached one (the CLI).
	InProcess bool
	// Progress, when set, hears of each step: done of total, and what runs
	// next.
	Progress func(done, total int, what string)
}

// Report is bench -o json.
type Report struct {
	SchemaVersion int      `json:"schemaVersion"`
	Results       []Result `json:"results"`
}

// Result is one proxy mode at one size.
type Result struct {
	ProxyMode           string      `json:"proxyMode"`
	Services            int         `json:"services"`
	EndpointsPerService int         `json:"endpointsPerService"`
	FirstPacketMs       FirstPacket `json:"firstPacketMs"`
	FullSyncMs          float64     `json:"fullSyncMs"`
	IncrementalSyncMs   float64     `json:"incrementalSyncMs"`
	Rules               int         `json:"rules"`
	RestoreMaxRSSMiB    float64     `json:"restoreMaxRSSMiB"`
}

// FirstPacket is the time from SYN to SYN-ACK of new connections to the
// probe Service, from a pod to its ClusterIP and from the bastion through
// the NLB.
type FirstPacket struct {
	FromPod Percentiles `json:"fromPod"`
	FromNLB Percentiles `json:"fromNLB"`
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// rounds is how many turns the clusters take at first-packet sampling: the
// samples of every size are spread over the run in turns, so that a change
// in the machine's load (other jobs) touches every size alike.
const rounds = 10

// Run measures every mode at every size. The clusters are brought up one
// after another and stay up together: first packets are sampled in turns
// over all of them, so that the ratios between sizes and modes compare
// measurements taken under the same load.
func Run(ctx context.Context, opts Options) (report *Report, err error) {
	if len(opts.Modes) == 0 || len(opts.Services) == 0 {
		return nil, errors.New("nothing to measure: no proxy mode or no size")
	}
	if opts.Samples < 1 {
		return nil, fmt.Errorf("%d samples: need at least 1", opts.Samples)
	}
	if opts.EndpointsPerService == 0 {
		opts.EndpointsPerService = topology.DefaultBenchEndpoints
	}
	if err := sim.RequireRoot(); err != nil {
		return nil, err
	}
	backend, err := sim.Backend()
	if err != nil {
		return nil, err
	}
	var cases []*benchCase
	for _, m := range opts.Modes {
		for i, n := range opts.Services {
			spec := topology.DefaultSpec()
			spec.Name = fmt.Sprintf("bench-%d-%s%d", os.Getpid(), m.Name[:2], i)
			spec.Mode = topology.TargetInstance // the NLB's packets go through the node's NodePort rules
			spec.Services, spec.EndpointsPerService = n, opts.EndpointsPerService
			if opts.TimeScale != 0 {
				spec.TimeScale = opts.TimeScale
			}
			m.spec(&spec)
			cases = append(cases, &benchCase{mode: m, spec: spec,
				label:  fmt.Sprintf("%s, %d Services:", m.Name, n),
				result: Result{ProxyMode: m.Name, Services: n, EndpointsPerService: opts.EndpointsPerService}})
		}
	}
	r := &run{opts: opts, backend: backend, total: 4*len(cases) + min(rounds, opts.Samples)}
	defer func() {
		for _, c := range cases {
			if c.cluster != nil {
				if derr := c.cluster.Down(); derr != nil && err == nil {
					report, err = nil, derr
				}
			}
		}
	}()

	// Full syncs first, while no cluster runs.
	for _, c := range cases {
		w, err := topology.Build(c.spec)
		if err != nil {
			return nil, err
		}
		r.step(c.label + " full sync of " + benchNode + " into a fresh namespace")
		full, err := fullSync(r.backend, c.mode, w, benchNode)
		if err != nil {
			return nil, c.fail(err)
		}
		c.result.FullSyncMs, c.result.RestoreMaxRSSMiB = ms(full.wall), float64(full.rssKiB)/1024
	}
	for _, c := range cases {
		r.step(c.label + " up")
		if c.cluster, err = sim.Up(ctx, c.spec, sim.Options{InProcess: opts.InProcess}); err != nil {
			return nil, c.fail(err)
		}
		r.step(c.label + " counting " + benchNode + "'s rules")
		if c.result.Rules, err = c.mode.count(c.cluster.World, benchNode); err != nil {
			return nil, c.fail(err)
		}
		if c.probe, err = probeOf(c.cluster.World); err != nil {
			return nil, c.fail(err)
		}
	}
	n := min(rounds, opts.Samples)
	for round := range n {
		r.step(fmt.Sprintf("first packets, turn %d of %d", round+1, n))
		samples := opts.Samples / n
		if round < opts.Samples%n {
			samples++
		}
		for _, c := range cases {
			w := c.cluster.World
			t, err := firstPackets(ctx, w, c.probe.from, c.probe.clusterIP, samples)
			if err != nil {
				return nil, c.fail(fmt.Errorf("from %s to %s: %w", c.probe.from, c.probe.clusterIP[0], err))
			}
			c.fromPod = append(c.fromPod, t...)
			if t, err = firstPackets(ctx, w, bastion, c.probe.nlb, samples); err != nil {
				return nil, c.fail(fmt.Errorf("from %s through the NLB: %w", bastion, err))
			}
			c.fromNLB = append(c.fromNLB, t...)
		}
	}
	for _, c := range cases {
		c.result.FirstPacketMs = FirstPacket{FromPod: percentiles(c.fromPod), FromNLB: percentiles(c.fromNLB)}
		r.step(c.label + " incremental sync after an endpoint change")
		if c.result.IncrementalSyncMs, err = incrementalSync(ctx, c.mode, c.cluster.World, c.result.Rules); err != nil {
			return nil, c.fail(err)
		}
		if err := c.cluster.Down(); err != nil {
			return nil, c.fail(err)
		}
		c.cluster = nil
	}
	r.step("done")
	report = &Report{SchemaVersion: 1}
	for _, c := range cases {
		report.Results = append(report.Results, c.result)
	}
	return report, nil
}

// benchCase is one proxy mode at one size: its cluster and what it gave.
type benchCase struct {
	mode             Mode
	spec             topology.Spec
	label            string
	cluster          *sim.Cluster
	probe            probe
	fromPod, fromNLB []time.Duration
	result           Result
}

func (c *benchCase) fail(err error) error {
	return fmt.Errorf("%s mode, %d Services: %w", c.mode.Name, c.spec.Services, err)
}

// run is one bench run's progress.
type run struct {
	opts    Options
	backend nat.Backend
	done    int
	total   int
}

// step reports what comes next and counts the step before it.
func (r *run) step(what string) {
	if r.opts.Progress != nil {
		r.opts.Progress(r.done, r.total, what)
	}
	r.done++
}

// benchNode is the node whose rules are synced and counted: the client pod
// of the first-packet measurement lives there.
const (
	benchNode = "node-1"
	bastion   = "bastion"
)

// probe is where first packets go.
type probe struct {
	from      string           // the client pod
	clusterIP []netip.AddrPort // the probe Service's ClusterIP and port
	nlb       []netip.AddrPort // its NLB's node addresses, one per AZ
}

// probeOf finds the probe Service (the one KUBE-SERVICES lists last; the
// walkthrough's) and a client pod on benchNode.
func probeOf(w *topology.World) (probe, error) {
	key := w.ProbeService
	if key == "" {
		for _, s := range w.Services {
			if s.Type == "LoadBalancer" {
				key = s.Key()
				break
			}
		}
	}
	var p probe
	ns, name, _ := strings.Cut(key, "/")
	svc, ok := w.Service(ns, name)
	if !ok || len(svc.Ports) == 0 {
		return p, fmt.Errorf("no probe Service in the world")
	}
	port := uint16(svc.Ports[0].Port)
	p.clusterIP = []netip.AddrPort{netip.AddrPortFrom(svc.ClusterIP, port)}
	for _, lb := range w.LoadBalancers {
		if lb.Service == key {
			for _, n := range lb.Nodes {
				p.nlb = append(p.nlb, netip.AddrPortFrom(n.IP, port))
			}
		}
	}
	if len(p.nlb) == 0 {
		return p, fmt.Errorf("the probe Service %s has no NLB", key)
	}
	for _, pod := range w.Pods {
		if pod.Node == benchNode && pod.Namespace == ns {
			p.from = pod.Name
			return p, nil
		}
	}
	return p, fmt.Errorf("no pod of namespace %s on %s", ns, benchNode)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
