package bench

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotFormat is the image format a file name asks for: "png" or "svg".
func PlotFormat(name string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	default:
		return "", fmt.Errorf("%q: the plot is a .png or .svg file", name)
	}
}

// Plot draws a report in three panels side by side: first-packet latency
// p50 and p99 (from a pod and through the NLB) and sync time (full and
// incremental) against the number of Services, a line per proxy mode and
// measure.
// format is "png" or "svg".
func Plot(r *Report, format string, out io.Writer) error {
	p50 := newPlot("First-packet latency p50 (SYN to SYN-ACK)")
	p99 := newPlot("First-packet latency p99")
	sync := newPlot("A node's kube-proxy sync")
	all := []*plot.Plot{p50, p99, sync}
	var sizes []int
	for _, res := range r.Results {
		if !slices.Contains(sizes, res.Services) {
			sizes = append(sizes, res.Services)
		}
	}
	slices.Sort(sizes)
	var ticks []plot.Tick
	for _, n := range sizes {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	endpoints := 0
	if len(r.Results) > 0 {
		endpoints = r.Results[0].EndpointsPerService
	}
	for _, p := range all {
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Label.Text = fmt.Sprintf("extra ClusterIP Services (× %d endpoints)", endpoints)
	}

	var modes []string
	for _, res := range r.Results {
		if !slices.Contains(modes, res.ProxyMode) {
			modes = append(modes, res.ProxyMode)
		}
	}
	for i, mode := range modes {
		var results []Result
		for _, res := range r.Results {
			if res.ProxyMode == mode {
				results = append(results, res)
			}
		}
		slices.SortFunc(results, func(a, b Result) int { return a.Services - b.Services })
		series := func(p *plot.Plot, name string, dashed bool, shade int, y func(Result) float64) error {
			xys := make(plotter.XYs, len(results))
			for k, res := range results {
				xys[k] = plotter.XY{X: float64(res.Services), Y: y(res)}
				// Room above the lines for the legend.
				p.Y.Max = max(p.Y.Max, y(res)*legendRoom)
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			c := modeColor(i, shade)
			l.Color, pts.Color = c, c
			pts.Shape = draw.CircleGlyph{}
			if dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l, pts)
			p.Legend.Add(mode+" "+name, l, pts)
			return nil
		}
		for _, s := range []struct {
			p      *plot.Plot
			name   string
			dashed bool
			shade  int
			y      func(Result) float64
		}{
			{p50, "from a pod", false, 0, func(r Result) float64 { return r.FirstPacketMs.FromPod.P50 }},
			{p50, "through the NLB", true, 1, func(r Result) float64 { return r.FirstPacketMs.FromNLB.P50 }},
			{p99, "from a pod", false, 0, func(r Result) float64 { return r.FirstPacketMs.FromPod.P99 }},
			{p99, "through the NLB", true, 1, func(r Result) float64 { return r.FirstPacketMs.FromNLB.P99 }},
			{sync, "full sync", false, 0, func(r Result) float64 { return r.FullSyncMs }},
			{sync, "incremental sync", true, 1, func(r Result) float64 { return r.IncrementalSyncMs }},
		} {
			if err := series(s.p, s.name, s.dashed, s.shade, s.y); err != nil {
				return err
			}
		}
	}

	const width, height = 36 * vg.Centimeter, 11 * vg.Centimeter
	var canvas vg.CanvasWriterTo
	switch format {
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(144))
		canvas = vgimg.PngCanvas{Canvas: c}
	case "svg":
		canvas = vgsvg.New(width, height)
	default:
		return fmt.Errorf("unknown plot format %q (png or svg)", format)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: len(all), PadX: vg.Centimeter, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align([][]*plot.Plot{all}, tiles, dc)
	for i, p := range all {
		p.Draw(canvases[0][i])
	}
	_, err := canvas.WriteTo(out)
	return err
}

// legendRoom is how far above the highest point the y axis ends, so that
// the legend in the top left corner stays clear of the lines.
const legendRoom = 1.6

func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "ms"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// modeColor gives each mode a hue and each measure of it a shade.
func modeColor(mode, shade int) color.Color {
	palette := [][2]color.RGBA{
		{{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}, {R: 0xe6, G: 0x7e, B: 0x22, A: 0xff}}, // iptables: reds
		{{R: 0x1f, G: 0x5f, B: 0xa8, A: 0xff}, {R: 0x16, G: 0xa0, B: 0x85, A: 0xff}}, // nftables: blues
	}
	return palette[mode%len(palette)][shade%2]
}
