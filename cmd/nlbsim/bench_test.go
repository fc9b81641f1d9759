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
		{[]string{"--proxy-mode", "nftables"}, "nftables mode is not available in this build"},
		{[]string{"--proxy-mode", "iptables,nftables"}, "nftables mode is not available in this build"},
		{[]string{"--proxy-mode", "ipvs"}, `unknown proxy mode "ipvs"`},
		{[]string{"--services", "0,1k"}, `--services: "1k" is not a number of Services`},
		{[]string{"--services", "0,0"}, "given twice"},
		{[]string{"--services", "-5"}, "out of range"},
		{[]string{"--services", ""}, "--services"},
		{[]string{"-n", "0"}, "-n: 0 samples"},
		{[]string{"--endpoints-per-service", "0"}, "--endpoints-per-service"},
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

// A small run gives a report of SPEC §6's shape, key for key, and a plot
// that is a valid PNG or SVG with the run's sizes and series.
func TestBenchSmallRun(t *testing.T) {
	simtest.RequireRoot(t)
	dir := t.TempDir()
	r := nlbsim(t, "bench", "--services", "0,50", "-n", "200", "-o", "json",
		"--plot", filepath.Join(dir, "bench.png"), "--plot", filepath.Join(dir, "bench.svg"))
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	left, _ := filepath.Glob("/run/netns/nlbsim.bench-*")
	assert.Empty(t, left, "bench removes its clusters")
	{
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
		assert.Equal(t, []string{"results", "schemaVersion"}, keys(doc))
		assert.EqualValues(t, 1, doc["schemaVersion"])
		results, _ := doc["results"].([]any)
		require.Len(t, results, 2)
		var rules []float64
		for i, res := range results {
			m := res.(map[string]any)
			assert.Equal(t, []string{"endpointsPerService", "firstPacketMs", "fullSyncMs", "incrementalSyncMs", "proxyMode", "restoreMaxRSSMiB", "rules", "services"}, keys(m))
			assert.Equal(t, "iptables", m["proxyMode"])
			assert.EqualValues(t, []int{0, 50}[i], m["services"])
			assert.EqualValues(t, 10, m["endpointsPerService"])
			fp := m["firstPacketMs"].(map[string]any)
			assert.Equal(t, []string{"fromNLB", "fromPod"}, keys(fp))
			for _, path := range []string{"fromPod", "fromNLB"} {
				p := fp[path].(map[string]any)
				assert.Equal(t, []string{"p50", "p99"}, keys(p))
				assert.Greater(t, p["p50"], 0.0, "%s p50", path)
				assert.GreaterOrEqual(t, p["p99"], p["p50"], "%s", path)
			}
			for _, k := range []string{"fullSyncMs", "incrementalSyncMs", "rules", "restoreMaxRSSMiB"} {
				assert.Greater(t, m[k], 0.0, k)
			}
			rules = append(rules, m["rules"].(float64))
		}
		assert.Greater(t, rules[1], rules[0]+50, "50 Services add rules")
	}
	for _, ext := range []string{"png", "svg"} {
		f, err := os.Open(filepath.Join(dir, "bench."+ext))
		require.NoError(t, err)
		if ext == "png" {
			_, err = png.Decode(f)
			require.NoError(t, err, "the plot is a PNG")
		} else {
			texts := svgTexts(t, f)
			for _, want := range []string{"0", "50", "iptables from a pod", "iptables through the NLB", "First-packet latency p99", "iptables full sync", "iptables incremental sync"} {
				assert.Contains(t, texts, want)
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
