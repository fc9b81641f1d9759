package main

import (
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// bench's flags are checked before anything runs, for root and not.
func TestBenchBadUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--proxy-mode", "nftables,nftables"}, `proxy mode "nftables" given twice`},
		{[]string{"--proxy-mode", "ipvs"}, `unknown proxy mode "ipvs"`},
		{[]string{"--services", "0,1k"}, `--services: "1k" is not a number of Services`},
		{[]string{"--services", "0,0"}, "given twice"},
		{[]string{"--services", "-5"}, "out of range"},
		{[]string{"--services", ""}, "--services"},
		{[]string{"-n", "0"}, "-n: 0 samples"},
		{[]string{"--endpoints-per-service", "0"}, "--endpoints-per-service"},
		{[]string{"--time-scale", "0"}, "--time-scale: 0 is out of range"},
		{[]string{"-o", "yaml"}, `unknown format "yaml"`},
		{[]string{"--plot", "out.jpg"}, ".png or .svg"},
	}
	for _, c := range cases {
		for _, cred := range []*syscall.Credential{nil, nobody} {
			r := nlbsimAs(t, cred, append([]string{"bench"}, c.args...)...)
			assert.Equal(t, 2, r.code, "bench %v: %s", c.args, r.stderr)
			assert.Contains(t, r.stderr, c.want, "bench %v", c.args)
		}
	}
}

// Valid flags without root: exit 1 before anything is built.
func TestBenchNeedsRoot(t *testing.T) {
	r := nlbsimAs(t, nobody, "bench", "--services", "0", "-n", "1")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "needs root")
}

// A small run of both modes gives a report of SPEC §6's shape, key for
// key, both modes at both sizes, and a plot that is a valid PNG or SVG with
// every mode's series. bench itself fails unless each partial sync of its
// incremental measurement reached node-1's kernel (its count of rules grew
// with the added endpoint and shrank again after it went), so a run that
// succeeds has checked that too.
func TestBenchSmallRun(t *testing.T) {
	simtest.RequireRoot(t)
	dir := t.TempDir()
	const clusters = "/run/netns/nlbsim.bench-[0-9]*-[in][pf][0-9]*.*"
	before, _ := filepath.Glob(clusters) // another run's, on a shared machine
	r := nlbsim(t, "bench", "--services", "0,50", "-n", "100", "--time-scale", "10", "-o", "json",
		"--plot", filepath.Join(dir, "bench.png"), "--plot", filepath.Join(dir, "bench.svg"))
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	after, _ := filepath.Glob(clusters)
	for _, ns := range after {
		assert.Contains(t, before, ns, "bench removes its clusters")
	}
	{
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
		assert.Equal(t, []string{"results", "schemaVersion"}, keys(doc))
		assert.EqualValues(t, 1, doc["schemaVersion"])
		results, _ := doc["results"].([]any)
		require.Len(t, results, 4, "two modes at two sizes")
		rules := map[string][]float64{}
		for i, res := range results {
			m := res.(map[string]any)
			assert.Equal(t, []string{"endpointsPerService", "firstPacketMs", "fullSyncMs", "incrementalSyncMs", "proxyMode", "restoreMaxRSSMiB", "rules", "services"}, keys(m))
			mode := []string{"iptables", "nftables"}[i/2]
			assert.Equal(t, mode, m["proxyMode"], "the default measures both modes, iptables first")
			assert.EqualValues(t, []int{0, 50}[i%2], m["services"])
			assert.EqualValues(t, 10, m["endpointsPerService"])
			fp := m["firstPacketMs"].(map[string]any)
			assert.Equal(t, []string{"fromNLB", "fromPod"}, keys(fp))
			for _, path := range []string{"fromPod", "fromNLB"} {
				p := fp[path].(map[string]any)
				assert.Equal(t, []string{"p50", "p99"}, keys(p))
				assert.Greater(t, p["p50"], 0.0, "%s %s p50", mode, path)
				assert.GreaterOrEqual(t, p["p99"], p["p50"], "%s %s", mode, path)
			}
			for _, k := range []string{"fullSyncMs", "incrementalSyncMs", "rules", "restoreMaxRSSMiB"} {
				assert.Greater(t, m[k], 0.0, "%s %s", mode, k)
			}
			rules[mode] = append(rules[mode], m["rules"].(float64))
		}
		// 50 Services × 10 endpoints: iptables mode writes at least a
		// rule per endpoint; nftables mode a chain of rules per endpoint
		// and a set and a map element per Service.
		for mode, n := range rules {
			require.Len(t, n, 2, mode)
			assert.Greater(t, n[1], n[0]+500, "%s: 50 Services add rules", mode)
		}
	}
	for _, ext := range []string{"png", "svg"} {
		f, err := os.Open(filepath.Join(dir, "bench."+ext))
		require.NoError(t, err)
		if ext == "png" {
			_, err = png.Decode(f)
			require.NoError(t, err, "the plot is a PNG")
		} else {
			texts := svgTexts(t, f)
			assert.Contains(t, texts, "0")
			assert.Contains(t, texts, "50")
			assert.Contains(t, texts, "First-packet latency p99")
			for _, mode := range []string{"iptables", "nftables"} {
				for _, series := range []string{"from a pod", "through the NLB", "full sync", "incremental sync"} {
					assert.Contains(t, texts, mode+" "+series)
				}
			}
		}
		f.Close()
	}
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// svgTexts parses an SVG document as XML and returns its text elements.
func svgTexts(t *testing.T, f *os.File) []string {
	t.Helper()
	dec := xml.NewDecoder(f)
	var texts []string
	inText := false
	root := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF", "the plot parses as XML")
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	require.Equal(t, "svg", root)
	return texts
}
