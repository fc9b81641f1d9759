package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// iptablesFirstSync is what up does for each new node: kube-proxy's rules
// generated and loaded without --noflush into a namespace that holds none
// (the same kernel state as kube-proxy's --noflush first sync; see
// BENCHMARKS.md, "A node's first sync into a fresh namespace").
func iptablesFirstSync(b nat.Backend, w *topology.World, node string, run nat.RunInNamespace) error {
	rs, err := nat.KubeProxy(w, node)
	if err != nil {
		return err
	}
	return nat.Install(b, rs, run)
}

// iptablesEmpty leaves the tables a first sync fills empty.
func iptablesEmpty(b nat.Backend, run nat.RunInNamespace) error {
	return nat.Replace(b, "*filter\nCOMMIT\n*nat\nCOMMIT\n*mangle\nCOMMIT\n", run)
}

// iptablesCount counts the rules of every table of a live node, as
// iptables-save shows them.
func iptablesCount(w *topology.World, node string) (int, error) {
	saved, err := sim.SaveRules(w, node)
	if err != nil {
		return 0, err
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(saved))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[") { // -c's counters
			_, line, _ = strings.Cut(line, " ")
		}
		if strings.HasPrefix(line, "-A ") {
			n++
		}
	}
	return n, sc.Err()
}

// syncCost is one measured full sync: its wall time and the loading
// command's peak resident set.
type syncCost struct {
	wall   time.Duration
	rssKiB int64
}

// gnuTime reports a command's peak RSS from a process of its own; without
// it the figure comes from wait4, which counts this process's RSS too.
const gnuTime = "/usr/bin/time"

// fullSync times a node's first sync, generation included, into a fresh,
// unnamed namespace that dies with it, and reads the peak RSS of the
// loading command.
func fullSync(b nat.Backend, m Mode, w *topology.World, node string) (syncCost, error) {
	var k syncCost
	ns, err := newScratch()
	if err != nil {
		return k, err
	}
	defer ns.Close()
	rssFile, err := os.CreateTemp("", "nlbsim-bench-rss-")
	if err != nil {
		return k, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	_, statErr := os.Stat(gnuTime)
	useTime := statErr == nil
	var last *exec.Cmd
	run := func(cmd *exec.Cmd) error {
		if cmd.Err == nil && useTime {
			// GNU time forks the command itself: its peak is its own, not
			// this process's (a child started with CLONE_VM, as Go starts
			// them, inherits its parent's peak at exec).
			cmd.Args = append([]string{gnuTime, "-q", "-f", "%M", "-o", rssFile.Name(), cmd.Path}, cmd.Args[1:]...)
			cmd.Path = gnuTime
		}
		last = cmd
		return runIn(ns, cmd)
	}
	// Start from a cold, small heap, as a node's first sync does.
	runtime.GC()
	debug.FreeOSMemory()
	t0 := time.Now()
	if err := m.firstSync(b, w, node, run); err != nil {
		return k, err
	}
	k.wall = time.Since(t0)
	if useTime {
		data, err := os.ReadFile(rssFile.Name())
		if err != nil {
			return k, err
		}
		lines := strings.Fields(string(data))
		if len(lines) == 0 {
			return k, fmt.Errorf("%s wrote no peak RSS", gnuTime)
		}
		if k.rssKiB, err = strconv.ParseInt(lines[len(lines)-1], 10, 64); err != nil {
			return k, fmt.Errorf("%s: %w", gnuTime, err)
		}
	} else if last != nil && last.ProcessState != nil {
		if ru, ok := last.ProcessState.SysUsage().(*syscall.Rusage); ok {
			k.rssKiB = ru.Maxrss
		}
	}
	// Empty the namespace here, so that the kernel frees the rules now
	// rather than in the background during the next measurement.
	if err := m.empty(b, func(cmd *exec.Cmd) error { return runIn(ns, cmd) }); err != nil {
		return k, fmt.Errorf("emptying the scratch namespace: %w", err)
	}
	return k, nil
}

// newScratch makes a fresh network namespace, held only by the handle it
// returns: it never gets a name, and the kernel frees it once the handle
// is closed and its commands have exited.
func newScratch() (netns.NsHandle, error) {
	ns := netns.None()
	err := onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		var err error
		ns, err = netns.Get()
		return err
	})
	return ns, err
}

// runIn starts cmd from a thread inside ns and waits for it.
func runIn(ns netns.NsHandle, cmd *exec.Cmd) error {
	if err := onLockedThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("entering the scratch namespace: %w", err)
		}
		return cmd.Start()
	}); err != nil {
		return err
	}
	return cmd.Wait()
}

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
		panic(fmt.Sprintf("cannot return a thread to its network namespace: %v", rerr))
	}
	runtime.UnlockOSThread()
	return err
}

// syncTimeout bounds the wait for every node's sync after a change: a
// node of 10,000 Services syncs in 11–13 s on a loaded 2-core machine
// (BENCHMARKS.md), 50,000 take several times that.
const syncTimeout = 10 * time.Minute

// syncEvent reads the duration from the supervisor's RulesSynced message
// ("… in 12 ms", and in nftables mode "… in 12 ms (nftables, 43
// operations)").
var syncEvent = regexp.MustCompile(`^kube-proxy (full|partial) sync on (\S+) in (\d+) ms(?: \(.*\))?$`)

// incrementalSync changes one endpoint of the world's first Deployment
// (CoreDNS's) twice (a replica more, then back) and returns the median of the partial
// syncs that follow on every node, as the supervisor's RulesSynced events
// time them (generation, sync text and its iptables-restore --noflush or
// nft -f). It checks that each change reached the kernel: benchNode's
// count of rules (rules before the first change) grows with the replica
// and shrinks again after it goes (not always to rules: in a large
// cluster, iptables mode leaves stale endpoint chains for a later sync).
func incrementalSync(ctx context.Context, m Mode, w *topology.World, rules int) (float64, error) {
	if len(w.Deployments) == 0 {
		return 0, fmt.Errorf("no Deployment to scale")
	}
	d := w.Deployments[0]
	cluster := w.Cluster.Name
	var durations []float64
	for _, replicas := range []int{d.Replicas + 1, d.Replicas} {
		_, offset, err := sim.ReadEvents(cluster, 0)
		if err != nil {
			return 0, err
		}
		if err := sim.Do(ctx, cluster, sim.Action{Verb: sim.VerbScale, Namespace: d.Namespace, Name: d.Name, Replicas: replicas}); err != nil {
			return 0, fmt.Errorf("scaling %s/%s to %d: %w", d.Namespace, d.Name, replicas, err)
		}
		synced := map[string]float64{}
		deadline := time.Now().Add(syncTimeout)
		for len(synced) < len(w.Nodes) {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("after scaling to %d replicas, only %d of %d nodes synced within %s", replicas, len(synced), len(w.Nodes), syncTimeout)
			}
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			time.Sleep(20 * time.Millisecond)
			events, next, err := sim.ReadEvents(cluster, offset)
			if err != nil {
				return 0, err
			}
			offset = next
			for _, e := range events {
				if e.Reason == "SyncFailed" {
					return 0, fmt.Errorf("%s: %s", e.Object, e.Message)
				}
				m := syncEvent.FindStringSubmatch(e.Message)
				if e.Reason != "RulesSynced" || m == nil || m[1] != "partial" {
					continue
				}
				if _, seen := synced[m[2]]; !seen {
					v, _ := strconv.ParseFloat(m[3], 64)
					synced[m[2]] = v
				}
			}
		}
		for _, v := range synced {
			durations = append(durations, v)
		}
		n, err := m.count(w, benchNode)
		if err != nil {
			return 0, err
		}
		if grew := replicas > d.Replicas; (grew && n <= rules) || (!grew && n >= rules) {
			return 0, fmt.Errorf("after the partial sync for %d replicas of %s/%s, %s holds %d rules (%d before the change): the sync did not reach the kernel",
				replicas, d.Namespace, d.Name, benchNode, n, rules)
		}
		rules = n
	}
	return median(durations), nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
