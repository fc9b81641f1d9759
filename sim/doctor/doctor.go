// Package doctor checks that this machine can run nlbsim: tools, iptables
// backend and the matches and targets the rules use, tried in a scratch
// namespace.
package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// Verdicts of an environment check.
const (
	CheckOK      = "ok"          // present and working
	CheckMissing = "missing"     // a required item is absent or does not work
	CheckWarn    = "warn"        // an optional item is absent
	CheckSkipped = "not checked" // could not be checked (needs root, or an earlier item failed)
)

// Check is one item of `nlbsim doctor`.
type Check struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Required bool   `json:"required"`
	// Detail says what was found; Fix what to install or do.
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the environment check: OK when every required item is.
type Report struct {
	SchemaVersion int     `json:"schemaVersion"`
	OK            bool    `json:"ok"`
	Backend       string  `json:"backend,omitempty"`
	Checks        []Check `json:"checks"`
}

// Missing lists the required items that failed, and counts those that
// could not be checked.
func (r *Report) Missing() (failed []string, unchecked int) {
	for _, c := range r.Checks {
		switch {
		case !c.Required || c.Status == CheckOK:
		case c.Status == CheckSkipped:
			unchecked++
		default:
			failed = append(failed, c.Name)
		}
	}
	return failed, unchecked
}

// scratchPrefix names the namespace the doctor makes and removes. It
// is not of the form nlbsim.<cluster>.<host>, so no cluster ever owns it.
const scratchPrefix = "nlbsim-doctor-"

// ruleFeature is a match or target nlbsim's rules use, with a rule that
// needs it, reachable from the built-in chain where nlbsim uses it (targets
// such as MASQUERADE are valid only in some chains). The rules match TEST-NET
// addresses only, and live in a scratch namespace.
type ruleFeature struct {
	name, module string
	table, hook  string
	rules        []string
}

var features = []ruleFeature{
	{"match statistic", "xt_statistic", "nat", "PREROUTING", []string{"-d 192.0.2.1/32 -m statistic --mode random --probability 0.3333333333 -j RETURN"}},
	{"match addrtype", "xt_addrtype", "nat", "PREROUTING", []string{"-d 192.0.2.1/32 -m addrtype --dst-type LOCAL -j RETURN"}},
	{"match conntrack", "xt_conntrack", "nat", "POSTROUTING", []string{
		"-s 192.0.2.1/32 -m conntrack --ctstate DNAT --ctorigdst 192.0.2.9 -j RETURN",
		"-s 192.0.2.1/32 -m conntrack --ctstate NEW -j RETURN",
		"-s 192.0.2.1/32 -m conntrack --ctdir REPLY -j RETURN",
	}},
	{"match comment", "xt_comment", "filter", "INPUT", []string{`-d 192.0.2.1/32 -m comment --comment "nlbsim doctor" -j ACCEPT`}},
	{"match mark", "xt_mark", "nat", "POSTROUTING", []string{"-s 192.0.2.1/32 -m mark ! --mark 0x4000/0x4000 -j RETURN"}},
	{"match connmark", "xt_connmark", "mangle", "PREROUTING", []string{"-d 192.0.2.1/32 -m connmark --mark 0x80/0x80 -j ACCEPT"}},
	{"match recent", "xt_recent", "nat", "PREROUTING", []string{
		"-d 192.0.2.1/32 -p tcp -m recent --name NLBSIM-DOCTOR --rcheck --seconds 10800 --reap -j RETURN",
		"-d 192.0.2.1/32 -p tcp -m recent --name NLBSIM-DOCTOR --set -j RETURN",
	}},
	{"match tcp", "xt_tcpudp", "filter", "INPUT", []string{"-d 192.0.2.1/32 -p tcp -m tcp --dport 7777 -j ACCEPT"}},
	{"match udp", "xt_tcpudp", "filter", "INPUT", []string{"-d 192.0.2.1/32 -p udp -m udp --dport 53 -j ACCEPT"}},
	{"target DNAT", "xt_nat", "nat", "PREROUTING", []string{"-d 192.0.2.1/32 -p tcp -m tcp --dport 7777 -j DNAT --to-destination 192.0.2.2:7777"}},
	{"target SNAT --random-fully", "xt_nat", "nat", "POSTROUTING", []string{"-s 192.0.2.1/32 -j SNAT --to-source 192.0.2.3 --random-fully"}},
	{"target MASQUERADE --random-fully", "xt_MASQUERADE", "nat", "POSTROUTING", []string{"-s 192.0.2.4/32 -j MASQUERADE --random-fully"}},
	{"target MARK", "xt_mark", "nat", "PREROUTING", []string{"-d 192.0.2.5/32 -j MARK --or-mark 0x4000"}},
	{"target CONNMARK", "xt_connmark", "mangle", "PREROUTING", []string{
		"-d 192.0.2.1/32 -j CONNMARK --set-xmark 0x80/0x80",
		"-d 192.0.2.1/32 -j CONNMARK --restore-mark --mask 0x80",
		"-d 192.0.2.1/32 -j CONNMARK --restore-mark --nfmask 0xffff0000 --ctmask 0xffff0000",
	}},
	{"target REJECT", "ipt_REJECT", "filter", "INPUT", []string{"-d 192.0.2.6/32 -p tcp -j REJECT --reject-with tcp-reset", "-d 192.0.2.7/32 -j REJECT"}},
}

// featureRestoreText is iptables-restore input holding the features' rules,
// each table's in one chain jumped to from the built-in chains they need.
func featureRestoreText(features []ruleFeature) string {
	var b strings.Builder
	for _, table := range []string{"filter", "nat", "mangle"} {
		var chains []string
		var rules []string
		hooks := map[string]bool{}
		for _, f := range features {
			if f.table != table {
				continue
			}
			chain := "NLBSIM-DOCTOR-" + f.hook
			if !hooks[f.hook] {
				hooks[f.hook] = true
				chains = append(chains, chain)
				rules = append(rules, fmt.Sprintf("-A %s -j %s", f.hook, chain))
			}
			for _, r := range f.rules {
				rules = append(rules, fmt.Sprintf("-A %s %s", chain, r))
			}
		}
		if len(chains) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range chains {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
		for _, r := range rules {
			b.WriteString(r + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

type checker struct {
	r *Report
}

func (d *checker) add(c Check) *Check {
	d.r.Checks = append(d.r.Checks, c)
	return &d.r.Checks[len(d.r.Checks)-1]
}

func (d *checker) ok(name string, required bool, detail string) {
	d.add(Check{Name: name, Status: CheckOK, Required: required, Detail: detail})
}

func (d *checker) fail(name string, required bool, detail, fix string) {
	status := CheckMissing
	if !required {
		status = CheckWarn
	}
	d.add(Check{Name: name, Status: status, Required: required, Detail: detail, Fix: fix})
}

func (d *checker) skip(name string, required bool, why string) {
	d.add(Check{Name: name, Status: CheckSkipped, Required: required, Detail: why})
}

// Run checks that this machine can run nlbsim and says, per item, what
// to install when it cannot. Matches, targets and conntrack are tried for
// real inside a scratch network namespace that it creates and removes; the
// root network namespace is never touched.
func Run() *Report {
	d := &checker{r: &Report{SchemaVersion: 1}}
	root := os.Geteuid() == 0
	if root {
		d.ok("root", true, "running as root")
	} else {
		d.fail("root", true, fmt.Sprintf("running as uid %d", os.Geteuid()), "run nlbsim with sudo: it creates network namespaces")
	}
	d.tool("ip", true, "iproute2", "-V")
	backend := d.iptables()
	d.restoreTools(backend)

	const needsRoot = "needs root to check"
	noScratch := "no scratch namespace (see /run/netns)"
	switch {
	case !root:
		d.skip("/run/netns", true, needsRoot)
	default:
		ns, err := d.scratch()
		if err != nil {
			break
		}
		noScratch = ""
		if backend == "" {
			for _, f := range features {
				d.skip(f.name, true, "no iptables to test it with")
			}
		} else {
			d.rules(backend, ns)
		}
		d.conntrack(ns, backend != "")
		d.nftables(ns)
		if err := netns.Delete(ns); err != nil {
			d.fail("scratch namespace removed", true, err.Error(), "remove it with: sudo ip netns del "+ns)
		}
	}
	if noScratch != "" {
		why := noScratch
		if !root {
			why = needsRoot
		}
		for _, f := range features {
			d.skip(f.name, true, why)
		}
		d.skip("conntrack netlink", true, why)
		d.skip(nftTableCheck, false, why)
	}
	d.nftVersions()
	d.tool("tcpdump", false, "tcpdump", "--version")
	d.tool("curl", false, "curl", "--version")
	d.tool("conntrack", false, "conntrack", "--version")
	failed, unchecked := d.r.Missing()
	d.r.OK = len(failed) == 0 && unchecked == 0
	return d.r
}

// nftTableCheck names the check that kube-proxy's nftables table loads.
const nftTableCheck = "kube-proxy nftables table"

// nftVersions checks what kube-proxy's nftables mode (up --proxy-mode
// nftables) needs beyond iptables mode: nft 1.0.1 or later (knftables
// refuses older ones) and kernel 5.13 or later (kube-proxy v1.33 refuses
// older ones). Not required for iptables mode.
func (d *checker) nftVersions() {
	const fix = "install nftables 1.0.1 or later: apt-get install nftables (scripts/provision.sh does); needed for --proxy-mode nftables only"
	path, err := exec.LookPath("nft")
	if err != nil {
		d.fail("nft", false, "not found on the PATH", fix)
	} else {
		out, _ := exec.Command(path, "--version").CombinedOutput()
		v := firstLine(out)
		if strings.Contains(v, "nftables v0.") || strings.Contains(v, "v1.0.0 ") {
			d.fail("nft", false, path+": "+v, fix)
		} else {
			d.ok("nft", false, path+": "+v)
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		release := unix.ByteSliceToString(u.Release[:])
		var major, minor int
		fmt.Sscanf(release, "%d.%d", &major, &minor)
		if major > 5 || (major == 5 && minor >= 13) {
			d.ok("kernel for nftables mode", false, release+" (kube-proxy's nftables mode needs 5.13 or later)")
		} else {
			d.fail("kernel for nftables mode", false, release, "kube-proxy's nftables mode needs kernel 5.13 or later; iptables mode works")
		}
	}
}

// nftables loads kube-proxy's table of the walkthrough's node-1 in
// nftables mode into the scratch namespace: verdict maps, numgen, fib,
// dnat, masquerade, reject and sets with timeouts, the kernel features
// nftables mode uses.
func (d *checker) nftables(ns string) {
	if _, err := exec.LookPath("nft"); err != nil {
		d.skip(nftTableCheck, false, "no nft")
		return
	}
	spec := topology.DefaultSpec()
	spec.ProxyMode = topology.ProxyNFTables
	w, err := topology.Build(spec)
	if err == nil {
		var text string
		if text, err = nat.NFTablesText(w, "node-1"); err == nil {
			err = nat.ApplyNFT(text, netns.RunIn(ns))
		}
	}
	if err != nil {
		d.fail(nftTableCheck, false, err.Error(), "the kernel must have nf_tables with its nat, fib, numgen and reject expressions (sudo modprobe nft_fib_ipv4 nft_numgen nft_reject_ipv4 nft_chain_nat); needed for --proxy-mode nftables only")
		return
	}
	d.ok(nftTableCheck, false, "the walkthrough's table in nftables mode loaded in a scratch namespace (vmaps, numgen, fib, dnat, masquerade, reject)")
}

// tool checks that a program is on the PATH and reports its version line.
func (d *checker) tool(name string, required bool, pkg, versionFlag string) {
	path, err := exec.LookPath(name)
	if err != nil {
		d.fail(name, required, "not found on the PATH", "install it: apt-get install "+pkg+" (scripts/provision.sh does)")
		return
	}
	out, _ := exec.Command(path, versionFlag).CombinedOutput()
	d.ok(name, required, path+": "+firstLine(out))
}

// iptables checks the iptables on the PATH and returns its backend.
func (d *checker) iptables() nat.Backend {
	path, err := exec.LookPath("iptables")
	if err != nil {
		d.fail("iptables", true, "not found on the PATH", "install it: apt-get install iptables (scripts/provision.sh does)")
		return ""
	}
	b, err := nat.DetectBackend()
	if err != nil {
		d.fail("iptables", true, err.Error(), "install an iptables of version 1.8 or later: apt-get install iptables")
		return ""
	}
	out, _ := exec.Command(path, "--version").CombinedOutput()
	d.r.Backend = string(b)
	d.ok("iptables", true, fmt.Sprintf("%s: %s; nlbsim uses its backend, %s", path, firstLine(out), b))
	return b
}

// restoreTools checks both backends' restore and the detected backend's
// save: the detected backend's tools are required, the other's are not.
func (d *checker) restoreTools(backend nat.Backend) {
	for _, b := range []nat.Backend{nat.BackendNFT, nat.BackendLegacy} {
		tools := []string{"restore"}
		if b == backend {
			tools = append(tools, "save")
		}
		for _, tool := range tools {
			name := backendTool(b, tool)
			required := b == backend || backend == ""
			if path, err := exec.LookPath(name); err == nil {
				d.ok(name, required, path)
				continue
			}
			detail := "not found on the PATH"
			if !required {
				detail += fmt.Sprintf(" (not needed: the iptables on the PATH uses %s)", backend)
			}
			d.fail(name, required, detail, "install it: apt-get install iptables (scripts/provision.sh does)")
		}
	}
}

func backendTool(b nat.Backend, tool string) string {
	if b == nat.BackendLegacy {
		return "iptables-legacy-" + tool
	}
	return "iptables-nft-" + tool
}

// scratch creates the scratch namespace with nlbsim's node sysctls.
func (d *checker) scratch() (string, error) {
	name := fmt.Sprintf("%s%d", scratchPrefix, os.Getpid())
	err := netns.PrepareDir()
	if err == nil {
		err = netns.Create(name, netns.HostSysctls(topology.KindNode))
	}
	if err != nil {
		d.fail("/run/netns", true, err.Error(), "nlbsim needs named network namespaces: a kernel with network namespaces and a writable /run (check `sudo ip netns add x && sudo ip netns del x`)")
		return "", err
	}
	d.ok("/run/netns", true, "created scratch namespace "+name+" there, with nlbsim's sysctls (removed at the end)")
	return name, nil
}

// rules restores every feature's rules into the scratch namespace at once;
// when that fails, each feature alone, to name the ones that fail.
func (d *checker) rules(backend nat.Backend, ns string) {
	if err := nat.Replace(backend, featureRestoreText(features), netns.RunIn(ns)); err == nil {
		for _, f := range features {
			d.ok(f.name, true, fmt.Sprintf("installed in the %s table of a scratch namespace", f.table))
		}
		return
	}
	for _, f := range features {
		err := nat.Replace(backend, featureRestoreText([]ruleFeature{f}), netns.RunIn(ns))
		if err == nil {
			d.ok(f.name, true, fmt.Sprintf("installed in the %s table of a scratch namespace", f.table))
			continue
		}
		d.fail(f.name, true, err.Error(), fmt.Sprintf("the kernel and iptables must support it: load the module (sudo modprobe %s); some cloud kernels ship it in a separate package (Ubuntu: linux-modules-extra-$(uname -r)); reinstall iptables if its extension is missing", f.module))
	}
}

// conntrack lists the scratch namespace's conntrack table over netlink
// after opening a connection over its loopback, which the NAT rules make
// conntrack track.
func (d *checker) conntrack(ns string, rulesInstalled bool) {
	const name = "conntrack netlink"
	fix := "nlbsim reads conntrack tables over netlink: load nf_conntrack_netlink (sudo modprobe nf_conntrack_netlink)"
	h, err := netns.Open(ns)
	if err != nil {
		d.fail(name, true, err.Error(), fix)
		return
	}
	defer h.Close()
	port, closeConn, err := loopbackConnection(h)
	if err != nil {
		d.fail(name, true, "opening a test connection: "+err.Error(), fix)
		return
	}
	defer closeConn()
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_NETFILTER)
	if err != nil {
		d.fail(name, true, err.Error(), fix)
		return
	}
	defer nh.Close()
	flows, err := nh.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		d.fail(name, true, err.Error(), fix)
		return
	}
	for _, f := range flows {
		if f.Forward.Protocol == unix.IPPROTO_TCP && f.Forward.DstPort == port {
			d.ok(name, true, fmt.Sprintf("listed %d entries in a scratch namespace, the test connection among them", len(flows)))
			return
		}
	}
	if !rulesInstalled {
		d.ok(name, true, fmt.Sprintf("listed %d entries in a scratch namespace (tracking not exercised: no rules installed)", len(flows)))
		return
	}
	d.fail(name, true, fmt.Sprintf("listed %d entries, but not the test connection: conntrack does not track in a namespace with NAT rules", len(flows)), fix)
}

// loopbackConnection brings up lo in a namespace and opens a TCP connection
// to a listener there; it returns the listener's port and a closer.
func loopbackConnection(ns netns.Handle) (uint16, func(), error) {
	lh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return 0, nil, err
	}
	defer lh.Close()
	lo, err := lh.LinkByName("lo")
	if err == nil {
		err = lh.LinkSetUp(lo)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("bringing up lo: %w", err)
	}
	l, err := netns.Listen(ns, "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	d := netns.NewDialer(ns, 2*time.Second)
	c, err := d.DialContext(context.Background(), "tcp4", l.Addr().String())
	if err != nil {
		l.Close()
		return 0, nil, err
	}
	return uint16(l.Addr().(*net.TCPAddr).Port), func() { c.Close(); l.Close() }, nil
}

// firstLine is a tool's version line, cut short at a word boundary.
func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(bytes.TrimSpace(b)), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 60 {
		if i := strings.LastIndexByte(line[:60], ' '); i > 0 {
			line = line[:i] + " …"
		}
	}
	return line
}
