package nftables

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

// Environment (the same as the iptables half's, in ..):
//
//	NLBSIM_CONFORMANCE_WORLDS=DIR   compare the worlds already in DIR (else nlbsim's
//	                                writer, go test ./nat in the main module, makes them)
//	NLBSIM_CONFORMANCE_SEED=N       first seed of the random worlds (default: from the clock)
//	NLBSIM_CONFORMANCE_RANDOM=N     how many random worlds (default 200)
const (
	envWorlds = "NLBSIM_CONFORMANCE_WORLDS"
	envSeed   = "NLBSIM_CONFORMANCE_SEED"
	envRandom = "NLBSIM_CONFORMANCE_RANDOM"
	envNetns  = "NLBSIM_CONFORMANCE_IN_NETNS"
)

func TestMain(m *testing.M) {
	flag.Parse()
	quietKlog()
	made := ""
	if os.Getenv(envWorlds) == "" && os.Getenv(envNetns) == "" {
		dir, err := os.MkdirTemp("", "nlbsim-conformance-nft-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		made = dir
		if err := writeWorlds(dir); err != nil {
			fmt.Fprintln(os.Stderr, "nlbsim's side of the conformance suite failed:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		os.Setenv(envWorlds, dir)
	}
	code := runIsolated(m)
	if made != "" {
		os.RemoveAll(made)
	}
	os.Exit(code)
}

// writeWorlds runs nlbsim's writer (nat's TestWriteConformanceWorlds in the
// main module, two directories up) into dir.
func writeWorlds(dir string) error {
	if os.Getenv(envSeed) == "" {
		os.Setenv(envSeed, fmt.Sprint(1+time.Now().UnixNano()%1_000_000_000))
	}
	fmt.Fprintf(os.Stderr, "conformance (nftables): random worlds from seed %s (set %s to reproduce)\n", os.Getenv(envSeed), envSeed)
	cmd := exec.Command(goTool(), "test", "-count=1", "-run", "^TestWriteConformanceWorlds$", "./nat")
	cmd.Dir = filepath.Join("..", "..")
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

// runIsolated runs the tests in a network namespace of their own: upstream's
// NewProxier runs nft once to check that it works, and that belongs nowhere
// near the host's namespace. Without a namespace (not root and no
// unprivileged user namespaces) the suite cannot run.
func runIsolated(m *testing.M) int {
	if os.Getenv(envNetns) != "" {
		return m.Run()
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance (nftables): no network namespace of its own: %v\n", err)
		return 1
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

// TestConformance runs every world's syncs through upstream's nftables
// proxier and compares each sync's transactions, and the table after it,
// with nlbsim's.
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
				if diffs := CompareSync(step.NFT, step.NFTDump, got[i]); len(diffs) > 0 {
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

// TestComparisonCatchesAlteredObject proves the comparison is not blind: in
// worlds that agree with upstream, altering one object of nlbsim's output —
// a rule's text, its place in its chain, a rule or an element left out, an
// element's verdict, a numgen modulus — makes it fail.
func TestComparisonCatchesAlteredObject(t *testing.T) {
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
		for i, step := range w.Steps {
			if len(CompareSync(step.NFT, step.NFTDump, got[i])) > 0 {
				continue // TestConformance reports it
			}
			for ti, tx := range step.NFT {
				for _, m := range mutate(tx, r) {
					mutations++
					altered := append([]string(nil), step.NFT...)
					altered[ti] = m.text
					if len(CompareSync(altered, step.NFTDump, got[i])) == 0 {
						t.Errorf("%s on %s, sync %d: %s (transaction) went unnoticed", w.Name, w.Host, i+1, m.what)
					}
				}
			}
			for _, m := range mutate(step.NFTDump, r) {
				mutations++
				if len(CompareSync(step.NFT, m.text, got[i])) == 0 {
					t.Errorf("%s on %s, sync %d: %s (table) went unnoticed", w.Name, w.Host, i+1, m.what)
				}
			}
		}
	}
	t.Logf("%d single-object alterations of nlbsim's output, every one caught", mutations)
	if mutations < 20 {
		t.Errorf("only %d mutations tried", mutations)
	}
}

type mutation struct{ what, text string }

// mutate returns copies of nft input with one object changed each.
func mutate(text string, r *rand.Rand) []mutation {
	lines := strings.Split(text, "\n")
	var rules, elements, ordered []int
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		switch f[1] {
		case "rule":
			rules = append(rules, i)
			for j := i + 1; j < len(lines); j++ {
				g := strings.Fields(lines[j])
				if len(g) >= 5 && g[1] == "rule" && g[4] == f[4] && lines[j] != l {
					ordered = append(ordered, i)
					break
				}
			}
		case "element":
			if f[0] == "add" {
				elements = append(elements, i)
			}
		}
	}
	with := func(edit func([]string) []string) string {
		c := append([]string(nil), lines...)
		return strings.Join(edit(c), "\n")
	}
	var out []mutation
	if len(rules) > 0 {
		i := rules[r.Intn(len(rules))]
		out = append(out, mutation{"a changed rule (" + lines[i] + ")", with(func(c []string) []string {
			c[i] += " comment \"altered\""
			return c
		})})
		i = rules[r.Intn(len(rules))]
		out = append(out, mutation{"a dropped rule (" + lines[i] + ")", with(func(c []string) []string {
			return append(c[:i:i], c[i+1:]...)
		})})
	}
	if len(ordered) > 0 {
		i := ordered[r.Intn(len(ordered))]
		f := strings.Fields(lines[i])
		for j := i + 1; j < len(lines); j++ {
			g := strings.Fields(lines[j])
			if len(g) >= 5 && g[1] == "rule" && g[4] == f[4] && lines[j] != lines[i] {
				out = append(out, mutation{"two rules of a chain swapped (" + lines[i] + ")", with(func(c []string) []string {
					c[i], c[j] = c[j], c[i]
					return c
				})})
				break
			}
		}
	}
	if len(elements) > 0 {
		i := elements[r.Intn(len(elements))]
		out = append(out, mutation{"a dropped element (" + lines[i] + ")", with(func(c []string) []string {
			return append(c[:i:i], c[i+1:]...)
		})})
		for _, j := range elements {
			if strings.Contains(lines[j], ": goto ") {
				out = append(out, mutation{"an element's verdict changed (" + lines[j] + ")", with(func(c []string) []string {
					c[j] = strings.Replace(c[j], ": goto ", ": jump ", 1)
					return c
				})})
				break
			}
		}
	}
	for _, j := range rules {
		if strings.Contains(lines[j], "numgen random mod ") {
			out = append(out, mutation{"a numgen modulus changed (" + lines[j] + ")", with(func(c []string) []string {
				c[j] = strings.Replace(c[j], "numgen random mod ", "numgen random mod 1", 1)
				return c
			})})
			break
		}
	}
	return out
}

// What upstream orders at random may come in any order; nothing else may.
func TestCompare(t *testing.T) {
	sample := `add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy service-A-ns/a/tcp/
flush chain ip kube-proxy service-A-ns/a/tcp/
add chain ip kube-proxy service-B-ns/b/tcp/
flush chain ip kube-proxy service-B-ns/b/tcp/
add element ip kube-proxy cluster-ips { 10.0.0.1 }
add element ip kube-proxy cluster-ips { 10.0.0.2 }
add rule ip kube-proxy service-A-ns/a/tcp/ ip saddr @affinity-X goto endpoint-X
add rule ip kube-proxy service-A-ns/a/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-X }
add rule ip kube-proxy service-B-ns/b/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-Y }
`
	if d := Compare(sample, sample); len(d) != 0 {
		t.Fatalf("nft input differs from itself: %v", d)
	}
	swap := func(text, a, b string) string { return strings.NewReplacer(a, b, b, a).Replace(text) }
	reordered := swap(sample, "add element ip kube-proxy cluster-ips { 10.0.0.1 }", "add element ip kube-proxy cluster-ips { 10.0.0.2 }")
	reordered = swap(reordered, "add rule ip kube-proxy service-A-ns/a/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-X }",
		"add rule ip kube-proxy service-B-ns/b/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-Y }")
	if d := Compare(reordered, sample); len(d) != 0 {
		t.Errorf("map order made a difference: %v", d)
	}
	for name, text := range map[string]string{
		"rules of one chain swapped": swap(sample, "add rule ip kube-proxy service-A-ns/a/tcp/ ip saddr @affinity-X goto endpoint-X",
			"add rule ip kube-proxy service-A-ns/a/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-X }"),
		"an element missing": strings.Replace(sample, "add element ip kube-proxy cluster-ips { 10.0.0.2 }\n", "", 1),
		"a flush missing":    strings.Replace(sample, "flush chain ip kube-proxy service-B-ns/b/tcp/\n", "", 1),
		"a chain declared after its rules": strings.Replace(strings.Replace(sample,
			"add chain ip kube-proxy service-B-ns/b/tcp/\nflush chain ip kube-proxy service-B-ns/b/tcp/\n", "", 1), "", "", 1) +
			"add chain ip kube-proxy service-B-ns/b/tcp/\nflush chain ip kube-proxy service-B-ns/b/tcp/\n",
	} {
		if d := Compare(text, sample); len(d) == 0 {
			t.Errorf("%s went unnoticed", name)
		}
	}
}
