package conformance

import (
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// Environment:
//
//	NLBSIM_CONFORMANCE_WORLDS=DIR   compare the worlds already in DIR (else nlbsim's
//	                                writer, go test ./nat in the main module, makes them)
//	NLBSIM_CONFORMANCE_SEED=N       first seed of the random worlds (default: from the clock)
//	NLBSIM_CONFORMANCE_RANDOM=N     how many random worlds (default 200)
//
// A failing random world prints its seed; NLBSIM_CONFORMANCE_SEED=N
// NLBSIM_CONFORMANCE_RANDOM=1 reproduces it alone.
const (
	envWorlds = "NLBSIM_CONFORMANCE_WORLDS"
	envSeed   = "NLBSIM_CONFORMANCE_SEED"
	envRandom = "NLBSIM_CONFORMANCE_RANDOM"
	envNetns  = "NLBSIM_CONFORMANCE_IN_NETNS"
)

func TestMain(m *testing.M) {
	flag.Parse()
	quietKlog()
	if os.Getenv(envWorlds) == "" {
		dir, err := os.MkdirTemp("", "nlbsim-conformance-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		if err := writeWorlds(dir); err != nil {
			fmt.Fprintln(os.Stderr, "nlbsim's side of the conformance suite failed:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		os.Setenv(envWorlds, dir)
	}
	code := runIsolated(m)
	if dir := os.Getenv(envWorlds); strings.Contains(dir, "nlbsim-conformance-") && os.Getenv(envNetns) == "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// writeWorlds runs nlbsim's writer (nat's TestWriteConformanceWorlds in the
// main module, one directory up) into dir.
func writeWorlds(dir string) error {
	if os.Getenv(envSeed) == "" {
		os.Setenv(envSeed, fmt.Sprint(1+time.Now().UnixNano()%1_000_000_000)) // seed 0 marks a fixed world
	}
	fmt.Fprintf(os.Stderr, "conformance: random worlds from seed %s (set %s to reproduce)\n", os.Getenv(envSeed), envSeed)
	cmd := exec.Command(goTool(), "test", "-count=1", "-run", "^TestWriteConformanceWorlds$", "./nat")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "NLBSIM_CONFORMANCE_OUT="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// runIsolated runs the tests in a network namespace of their own when it
// can (root, or unprivileged user namespaces): upstream's proxier opens a
// health-check listener for every Service with a healthCheckNodePort, and
// those belong nowhere near the host's namespace. Elsewhere the tests run
// in place (listeners on unused high ports, closed at the end).
func runIsolated(m *testing.M) int {
	if os.Getenv(envNetns) != "" {
		// A new namespace's loopback is down; the health checks use it.
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: ip link set lo up: %v: %s\n", err, out)
			return 1
		}
		return m.Run()
	}
	if runtime.GOOS != "linux" {
		return m.Run()
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		// Root inside its own user namespace, so that it may bring the new
		// namespace's loopback up.
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: no network namespace of its own (%v); running in place\n", err)
		return m.Run()
	}
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

func quietKlog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

func worlds(t *testing.T) []World {
	t.Helper()
	ws, err := ReadWorlds(os.Getenv(envWorlds))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		t.Fatalf("no worlds in %s", os.Getenv(envWorlds))
	}
	return ws
}

// TestConformance runs every world's syncs through upstream's proxier and
// compares each restore input with nlbsim's.
func TestConformance(t *testing.T) {
	for _, line := range Deliberate {
		t.Log("deliberate:", line)
	}
	random := 0
	for _, w := range worlds(t) {
		if w.Seed != 0 {
			random++
		}
		t.Run(strings.TrimSuffix(w.File, ".json"), func(t *testing.T) {
			got, err := RunUpstream(w)
			if err != nil {
				t.Fatalf("upstream: %v", err)
			}
			for i, step := range w.Steps {
				kind := "full"
				if i > 0 {
					kind = "partial"
				}
				diffs := Compare(step.Restore, got[i].Restore)
				if i == 0 {
					diffs = append(diffs, CompareBuiltin(w.Builtin, got[i].Builtin)...)
				}
				diffs = append(diffs, CompareHealth(step.Health, got[i].Health)...)
				if len(diffs) > 0 {
					where := ""
					if w.Seed != 0 {
						where = fmt.Sprintf(" (random world, seed %d: reproduce with %s=%d %s=1)", w.Seed, envSeed, w.Seed, envRandom)
					}
					t.Errorf("%s on %s, sync %d (%s)%s differs from upstream:\n  %s", w.Name, w.Host, i+1, kind, where, strings.Join(diffs, "\n  "))
				}
			}
		})
	}
	if n := os.Getenv(envRandom); n == "" && random < 200 {
		t.Errorf("only %d random worlds; the suite runs at least 200", random)
	}
}

// TestComparisonCatchesAlteredRule proves the comparison is not blind: in
// worlds that agree with upstream, altering a single rule of nlbsim's
// output — its text, its place in an ordered chain, its presence, the
// nodeports rule's place, a deletion — makes it fail.
func TestComparisonCatchesAlteredRule(t *testing.T) {
	var picked []World
	for _, w := range worlds(t) {
		if w.Name == "default" || w.Name == "sequence" || w.Name == "services" {
			picked = append(picked, w)
		}
	}
	if len(picked) == 0 {
		t.Fatal("no default, services or sequence world")
	}
	r := rand.New(rand.NewSource(1))
	mutations := 0
	for _, w := range picked {
		got, err := RunUpstream(w)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Builtin) > 1 && len(CompareBuiltin(w.Builtin, got[0].Builtin)) == 0 {
			swapped := append([]string(nil), w.Builtin...)
			swapped[0], swapped[1] = swapped[1], swapped[0]
			mutations++
			if len(CompareBuiltin(swapped, got[0].Builtin)) == 0 {
				t.Errorf("%s on %s: two jumps from a built-in chain swapped went unnoticed", w.Name, w.Host)
			}
		}
		for i, step := range w.Steps {
			if len(Compare(step.Restore, got[i].Restore)) > 0 {
				continue // TestConformance reports it
			}
			for _, m := range mutate(step.Restore, r) {
				mutations++
				if len(Compare(m.text, got[i].Restore)) == 0 {
					t.Errorf("%s on %s, sync %d: %s went unnoticed", w.Name, w.Host, i+1, m.what)
				}
			}
		}
	}
	t.Logf("%d single-rule alterations of nlbsim's output, every one caught", mutations)
	if mutations < 20 {
		t.Errorf("only %d mutations tried", mutations)
	}
}

type mutation struct{ what, text string }

// mutate returns copies of a restore input with one rule changed each.
func mutate(text string, r *rand.Rand) []mutation {
	lines := strings.Split(text, "\n")
	var rules, ordered []int
	tail := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, i)
			chain, _, _ := strings.Cut(l[3:], " ")
			if isServiceChain(chain) && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "-A "+chain+" ") && lines[i+1] != l {
				ordered = append(ordered, i)
			}
			if strings.Contains(l, nodePortsTailComment) {
				tail = i
			}
		}
	}
	with := func(edit func([]string) []string) string {
		c := append([]string(nil), lines...)
		return strings.Join(edit(c), "\n")
	}
	var out []mutation
	i := rules[r.Intn(len(rules))]
	out = append(out, mutation{"a changed rule (" + lines[i] + ")", with(func(c []string) []string {
		if strings.Contains(c[i], "--dport ") {
			c[i] = strings.Replace(c[i], "--dport ", "--dport 1", 1)
		} else {
			c[i] += " -m comment --comment altered"
		}
		return c
	})})
	i = rules[r.Intn(len(rules))]
	out = append(out, mutation{"a dropped rule (" + lines[i] + ")", with(func(c []string) []string {
		return append(c[:i:i], c[i+1:]...)
	})})
	if len(ordered) > 0 {
		i := ordered[r.Intn(len(ordered))]
		out = append(out, mutation{"two rules swapped (" + lines[i] + ")", with(func(c []string) []string {
			c[i], c[i+1] = c[i+1], c[i]
			return c
		})})
	}
	for _, j := range rules {
		if strings.Contains(lines[j], "--probability") {
			out = append(out, mutation{"a probability changed (" + lines[j] + ")", with(func(c []string) []string {
				c[j] = strings.Replace(c[j], "--probability 0.", "--probability 0.1", 1)
				return c
			})})
			break
		}
	}
	if tail > 0 {
		for j := tail - 1; j >= 0; j-- {
			if strings.HasPrefix(lines[j], "-A KUBE-SERVICES ") {
				out = append(out, mutation{"the nodeports rule not last", with(func(c []string) []string {
					c[j], c[tail] = c[tail], c[j]
					return c
				})})
				break
			}
		}
	}
	for j, l := range lines {
		if strings.HasPrefix(l, "-X ") {
			out = append(out, mutation{"a deletion left out (" + l + ")", with(func(c []string) []string {
				return append(c[:j:j], c[j+1:]...)
			})})
			if tail > j {
				out = append(out, mutation{"the deletions after the nodeports rule", with(func(c []string) []string {
					t := c[tail]
					c = append(c[:tail:tail], c[tail+1:]...)
					return append(c[:j:j], append([]string{t}, c[j:]...)...)
				})})
			}
			break
		}
	}
	return out
}
