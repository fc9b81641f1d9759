package bench

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseModes(t *testing.T) {
	m, err := ParseModes("iptables")
	require.NoError(t, err)
	require.Len(t, m, 1)
	assert.Equal(t, "iptables", m[0].Name)

	m, err = ParseModes(DefaultModes())
	require.NoError(t, err)
	require.Len(t, m, 2)
	assert.Equal(t, []string{"iptables", "nftables"}, []string{m[0].Name, m[1].Name})
	m, err = ParseModes("nftables, iptables")
	require.NoError(t, err)
	assert.Equal(t, []string{"nftables", "iptables"}, []string{m[0].Name, m[1].Name}, "measured in the order given")

	for _, bad := range []string{"ipvs", "", "iptables,iptables", "iptables,", "nftables,nftables"} {
		_, err := ParseModes(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// countNFT counts rules and set and map elements, not chains, sets or
// the table.
func TestCountNFT(t *testing.T) {
	doc := `{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "kube-proxy"}},
	  {"chain": {"name": "services"}}, {"set": {"name": "cluster-ips", "elem": ["10.100.0.1", "10.100.0.10"]}},
	  {"set": {"name": "nodeport-ips"}},
	  {"map": {"name": "service-ips", "elem": [[{"concat": ["10.100.0.1", "tcp", 443]}, {"goto": {"target": "service-X"}}]]}},
	  {"rule": {"chain": "services", "expr": []}}, {"rule": {"chain": "services", "expr": []}}]}`
	n, err := countNFT([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	_, err = countNFT([]byte("table ip kube-proxy {"))
	assert.Error(t, err)
}

func TestParseSizes(t *testing.T) {
	s, err := ParseSizes("0, 1000,5000,10000")
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1000, 5000, 10000}, s)
	for _, bad := range []string{"", "1k", "-1", "50001", "5,5", "1,,2"} {
		_, err := ParseSizes(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestPlotFormat(t *testing.T) {
	for name, want := range map[string]string{"a.png": "png", "dir/b.SVG": "svg"} {
		got, err := PlotFormat(name)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"a.jpg", "plot", "a.png.txt"} {
		_, err := PlotFormat(bad)
		assert.Error(t, err, bad)
	}
}

// sampleReport is two modes at two sizes, as a run would give them.
func sampleReport() *Report {
	r := &Report{SchemaVersion: 1}
	for _, mode := range []string{"iptables", "nftables"} {
		for i, n := range []int{0, 50} {
			f := float64(i + 1)
			r.Results = append(r.Results, Result{
				ProxyMode: mode, Services: n, EndpointsPerService: 10,
				FirstPacketMs: FirstPacket{FromPod: Percentiles{0.05 * f, 0.2 * f}, FromNLB: Percentiles{0.1 * f, 0.4 * f}},
				FullSyncMs:    10 * f, IncrementalSyncMs: 5 * f, Rules: 74 + 1550*i, RestoreMaxRSSMiB: 3 * f,
			})
		}
	}
	return r
}

func TestPlotPNG(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Plot(sampleReport(), "png", &buf))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 1000)
}

func TestPlotSVG(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Plot(sampleReport(), "svg", &buf))
	texts := svgTexts(t, &buf)
	for _, want := range []string{"0", "50", "iptables from a pod", "nftables through the NLB", "First-packet latency p99", "nftables full sync", "iptables incremental sync"} {
		assert.Contains(t, texts, want)
	}
}

// svgTexts parses an SVG document as XML and returns its text elements.
func svgTexts(t testing.TB, r io.Reader) []string {
	t.Helper()
	dec := xml.NewDecoder(r)
	var texts []string
	inText, root := false, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
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
