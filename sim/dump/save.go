// Package dump saves everything of a cluster's hosts for debugging: rules,
// conntrack, links, routes, sysctls and state, as `nlbsim save DIR` writes it.
package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/kubectl"
	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// SaveReport says what Save wrote.
type SaveReport struct {
	Dir string
	// Hosts is the number of host folders written, Files of files.
	Hosts, Files int
	// SupervisorAlive tells whether the cluster's supervisor was running.
	SupervisorAlive bool
	// Problems lists what could not be saved (also in problems.txt).
	Problems []string
}

// hostFiles are what Save writes per host: a file name and the ip(8)
// command (run inside the host's namespace) that produces it.
var hostFiles = []struct {
	file string
	args []string
}{
	{"ip-addr.txt", []string{"addr"}},
	{"ip-link.txt", []string{"-d", "link"}},
	{"ip-route.txt", []string{"route", "show", "table", "all"}},
	{"ip-rule.txt", []string{"rule"}},
	{"ip-neigh.txt", []string{"neigh"}},
}

// Save writes everything needed to debug a cluster into dir, as kind's
// `export logs` does: per host (one folder each) iptables-save with
// counters, the conntrack table, ip addr/link/route/rule/neigh, the sysctls
// nlbsim sets and the host's /etc/netns files; at the top the cluster's
// state files (world.json, targets.json, supervisor.log, …), a summary like
// `nlbsim get all -A -o wide` plus the targets, and problems.txt listing
// what could not be saved. It only reads: it works with a dead supervisor,
// a missing namespace or a missing state file, and fails only when the
// cluster has neither state nor namespaces.
func Save(ctx context.Context, cluster, dir string, detectBackend func() (nat.Backend, error)) (*SaveReport, error) {
	if err := topology.ValidateClusterName(cluster); err != nil {
		return nil, err
	}
	if err := simerr.RequireRoot(); err != nil {
		return nil, err
	}
	w, werr := state.LoadWorld(cluster)
	namespaces, err := netns.List(topology.Namespace(cluster, ""))
	if err != nil {
		return nil, err
	}
	if werr != nil && len(namespaces) == 0 {
		return nil, werr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("saving cluster %q: %w", cluster, err)
	}
	s := &saver{dir: dir, report: &SaveReport{Dir: dir}}
	if werr != nil {
		s.problem("world: %v", werr)
	}
	backend, berr := detectBackend()
	if berr != nil {
		s.problem("iptables: %v", berr)
	}

	// Hosts: every namespace of the cluster, whether the world knows it or
	// not; and every host of the world whose namespace is gone.
	hosts := map[string]string{} // host -> namespace
	for _, n := range namespaces {
		if _, host, ok := topology.ClusterOfNamespace(n); ok {
			hosts[host] = n
		}
	}
	var missing []string
	if w != nil {
		for _, h := range w.Hosts() {
			if _, ok := hosts[h.Name]; !ok {
				missing = append(missing, h.Name)
				s.problem("host %s: its namespace %s is missing", h.Name, h.Namespace)
			}
		}
	}
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(8, len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				s.host(ctx, backend, h, hosts[h])
			}
		}()
	}
	for _, h := range names {
		work <- h
	}
	close(work)
	wg.Wait()
	s.report.Hosts = len(names)

	files := s.stateFiles(cluster)
	pid, _, alive := state.SupervisorPID(cluster)
	s.report.SupervisorAlive = alive
	s.summary(cluster, w, names, missing, files, backend, pid, alive)
	if len(s.report.Problems) > 0 {
		s.write("problems.txt", []byte(strings.Join(s.report.Problems, "\n")+"\n"))
	}
	return s.report, nil
}

type saver struct {
	dir    string
	mu     sync.Mutex
	report *SaveReport
}

func (s *saver) problem(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.report.Problems = append(s.report.Problems, fmt.Sprintf(format, a...))
}

// write writes one file of the bundle (path relative to its directory).
func (s *saver) write(rel string, b []byte) {
	path := filepath.Join(s.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.problem("%s: %v", rel, err)
		return
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.problem("%s: %v", rel, err)
		return
	}
	s.mu.Lock()
	s.report.Files++
	s.mu.Unlock()
}

// host saves one host's folder.
func (s *saver) host(ctx context.Context, backend nat.Backend, host, namespace string) {
	if backend != "" {
		text, err := nat.Save(backend, runInContext(ctx, namespace))
		if err != nil {
			s.problem("%s: iptables-save: %v", host, err)
		} else {
			if text == "" {
				text = "# no iptables rules in this namespace\n"
			}
			s.write(filepath.Join(host, "iptables-save.txt"), []byte(text))
		}
	}
	// kube-proxy's nftables mode keeps its rules in table ip kube-proxy;
	// nft list ruleset shows it (and iptables-nft's tables) with what nft
	// keeps of counters.
	if _, err := exec.LookPath("nft"); err == nil {
		if text, err := nat.ListNFT(runInContext(ctx, namespace), "list", "ruleset"); err != nil {
			s.problem("%s: nft list ruleset: %v", host, err)
		} else {
			s.write(filepath.Join(host, "nft-ruleset.txt"), []byte(text))
		}
	}
	if text, err := conntrackDump(namespace); err != nil {
		s.problem("%s: conntrack: %v", host, err)
	} else {
		s.write(filepath.Join(host, "conntrack.txt"), []byte(text))
	}
	for _, f := range hostFiles {
		cmd := exec.Command("ip", f.args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := runInContext(ctx, namespace)(cmd); err != nil {
			s.problem("%s: ip %s: %v: %s", host, strings.Join(f.args, " "), err, strings.TrimSpace(out.String()))
			continue
		}
		s.write(filepath.Join(host, f.file), out.Bytes())
	}
	if text, err := sysctlDump(namespace); err != nil {
		s.problem("%s: sysctls: %v", host, err)
	} else {
		s.write(filepath.Join(host, "sysctl.txt"), []byte(text))
	}
	for _, name := range []string{"hosts", "resolv.conf"} {
		if b, err := os.ReadFile(filepath.Join(netns.EtcDir, namespace, name)); err == nil {
			s.write(filepath.Join(host, "etc-"+name), b)
		}
	}
}

// runInContext is runIn whose command is killed when ctx ends.
func runInContext(ctx context.Context, namespace string) nat.RunInNamespace {
	return func(cmd *exec.Cmd) error {
		ns, err := netns.Open(namespace)
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := netns.In(ns, cmd.Start); err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
		defer stop()
		return cmd.Wait()
	}
}

// tcpStates are the kernel's TCP conntrack states, by number.
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// conntrackDump lists a namespace's conntrack table over netlink, one flow
// a line as conntrack -L prints it.
func conntrackDump(namespace string) (string, error) {
	ns, err := netns.Open(namespace)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return "", err
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return "", err
	}
	lines := make([]string, 0, len(flows))
	for _, f := range flows {
		lines = append(lines, conntrackLine(f))
	}
	sort.Strings(lines)
	var b strings.Builder
	fmt.Fprintf(&b, "# conntrack table of %s: %d flows (IPv4)\n", namespace, len(flows))
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String(), nil
}

func conntrackLine(f *netlink.ConntrackFlow) string {
	var b strings.Builder
	proto := nl.L4ProtoMap[f.Forward.Protocol]
	if proto == "" {
		proto = "unknown"
	}
	fmt.Fprintf(&b, "%-8s %d %d ", proto, f.Forward.Protocol, f.TimeOut)
	if tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok && int(tcp.State) < len(tcpStates) {
		b.WriteString(tcpStates[tcp.State] + " ")
	}
	tuple := func(t netlink.IPTuple) {
		fmt.Fprintf(&b, "src=%s dst=%s sport=%d dport=%d ", t.SrcIP, t.DstIP, t.SrcPort, t.DstPort)
		if t.Packets > 0 || t.Bytes > 0 {
			fmt.Fprintf(&b, "packets=%d bytes=%d ", t.Packets, t.Bytes)
		}
	}
	tuple(f.Forward)
	tuple(f.Reverse)
	fmt.Fprintf(&b, "mark=%d", f.Mark)
	if f.Zone != 0 {
		fmt.Fprintf(&b, " zone=%d", f.Zone)
	}
	return b.String()
}

// sysctlDump reads, inside a namespace, the sysctls nlbsim sets and the
// per-interface values of the ones that matter for forwarding.
func sysctlDump(namespace string) (string, error) {
	ns, err := netns.Open(namespace)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	var b strings.Builder
	err = netns.In(ns, func() error {
		keys := netns.SysctlKeys()
		conf := "/proc/sys/net/ipv4/conf"
		entries, err := os.ReadDir(conf)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Name() == "all" || e.Name() == "default" {
				continue
			}
			for _, k := range []string{"forwarding", "rp_filter", "proxy_arp", "route_localnet"} {
				keys = append(keys, "net.ipv4.conf."+e.Name()+"."+k)
			}
		}
		for _, k := range keys {
			v, err := os.ReadFile(netns.SysctlPath(k))
			if err != nil {
				fmt.Fprintf(&b, "%s: %v\n", k, err)
				continue
			}
			fmt.Fprintf(&b, "%s = %s\n", k, strings.TrimSpace(string(v)))
		}
		return nil
	})
	return b.String(), err
}

// stateFiles copies the cluster's state directory's files (not its socket)
// and returns their names. A supervisor running in a test process writes
// no supervisor.log, so only world.json and targets.json must be there.
func (s *saver) stateFiles(cluster string) []string {
	entries, err := os.ReadDir(state.Dir(cluster))
	if err != nil {
		s.problem("state: %v", err)
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(state.Dir(cluster), e.Name()))
		if err != nil {
			s.problem("state file %s: %v", e.Name(), err)
			continue
		}
		seen[e.Name()] = true
		names = append(names, e.Name())
		s.write(e.Name(), b)
	}
	for _, want := range []string{"world.json", "targets.json"} {
		if !seen[want] {
			s.problem("state file %s is missing", want)
		}
	}
	return names
}

// summary writes summary.txt: the supervisor, the namespaces, and the
// cluster as `nlbsim get all -A -o wide` and `nlbsim get targets -o wide`
// show it.
func (s *saver) summary(cluster string, w *topology.World, hosts, missing, files []string, backend nat.Backend, pid int, alive bool) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "nlbsim save of cluster %q at %s\n", cluster, time.Now().UTC().Format(time.RFC3339))
	switch {
	case alive:
		fmt.Fprintf(&b, "supervisor: running, pid %d\n", pid)
	case pid > 0:
		fmt.Fprintf(&b, "supervisor: NOT running (its pid file says %d)\n", pid)
	default:
		b.WriteString("supervisor: NOT running (no pid file)\n")
	}
	fmt.Fprintf(&b, "state files: %s\n", orNone(strings.Join(files, ", ")))
	fmt.Fprintf(&b, "iptables backend: %s\n", orNone(string(backend)))
	fmt.Fprintf(&b, "namespaces: %d (%s)\n", len(hosts), strings.Join(hosts, ", "))
	if len(missing) > 0 {
		fmt.Fprintf(&b, "MISSING namespaces: %s\n", strings.Join(missing, ", "))
	}
	if w != nil {
		fmt.Fprintf(&b, "spec: mode %s, %d nodes, %d replicas, minimal %v, time scale %g\n",
			w.Spec.Mode, w.Spec.Nodes, w.Spec.Replicas, w.Spec.Minimal, w.Spec.TimeScale)
		proxyMode := "iptables (KUBE-* chains in iptables-save.txt)"
		if w.NFTables() {
			proxyMode = "nftables (table ip kube-proxy in nft-ruleset.txt)"
		}
		fmt.Fprintf(&b, "kube-proxy: %s mode, Kubernetes %s\n", proxyMode, w.Cluster.KubernetesVersion)
		b.WriteString("\n$ nlbsim get all -A -o wide\n")
		if err := kubectl.Get(&b, w, kubectl.Request{Resource: "all", AllNamespaces: true, Output: "wide"}); err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		b.WriteString("\n$ nlbsim get targets -o wide\n")
		targets, err := state.LoadTargets(cluster)
		if err == nil {
			err = kubectl.GetTargets(&b, w, targets, kubectl.Request{Resource: "targets", Output: "wide"})
		}
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	} else {
		b.WriteString("\n(no world.json: the cluster's objects are unknown)\n")
	}
	if len(s.report.Problems) > 0 {
		fmt.Fprintf(&b, "\n%d problems, see problems.txt\n", len(s.report.Problems))
	}
	s.write("summary.txt", b.Bytes())
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
