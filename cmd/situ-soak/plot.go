package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	simplot "situ/simulation/plot"
)

var (
	colRSS  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colHeap = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colFit  = color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 0xff}
	colWarm = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	colGoal = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// writePlot draws the samples to path as a PNG: memory (RSS, Go heap and
// their fitted lines) on top, the p99 score latency in the middle, the
// throughput at the bottom; a dashed vertical line marks the warm-up's end.
func writePlot(path string, r *result) (err error) {
	if len(r.samples) == 0 {
		return fmt.Errorf("plot: no samples")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	var rss, heap, goal, p99, tput plotter.XYs
	maxMem, maxP99, maxTput := 0.0, 0.0, 0.0
	for _, s := range r.samples {
		if !s.Scoring {
			continue
		}
		x := s.At.Minutes()
		rss = append(rss, plotter.XY{X: x, Y: s.RSS / mib})
		heap = append(heap, plotter.XY{X: x, Y: s.Heap / mib})
		goal = append(goal, plotter.XY{X: x, Y: s.HeapGoal / mib})
		p99 = append(p99, plotter.XY{X: x, Y: ms(s.P99)})
		tput = append(tput, plotter.XY{X: x, Y: s.Throughput})
		maxMem, maxP99, maxTput = max(maxMem, s.RSS/mib, s.HeapGoal/mib), max(maxP99, ms(s.P99)), max(maxTput, s.Throughput)
	}
	if len(rss) == 0 {
		return fmt.Errorf("plot: no samples taken while scoring")
	}
	end := rss[len(rss)-1].X
	warm := r.warmup.Minutes()

	line := simplot.AddLine
	dash := []vg.Length{vg.Points(4), vg.Points(3)}
	warmLine := func(p *gplot.Plot, top float64) error {
		return line(p, "", plotter.XYs{{X: warm, Y: 0}, {X: warm, Y: top}}, colWarm, vg.Points(1), dash)
	}
	fitted := func(f fit) plotter.XYs {
		return plotter.XYs{{X: warm, Y: f.Intercept + f.Slope*warm}, {X: end, Y: f.Intercept + f.Slope*end}}
	}

	mem := gplot.New()
	mem.Title.Text = fmt.Sprintf("Memory of situ serve (role all) at %.0f score requests/s", r.cfg.rate)
	mem.Y.Label.Text = "MiB"
	mem.Add(plotter.NewGrid())
	mem.Legend.Top, mem.Legend.Left = true, true
	mem.Legend.XOffs = vg.Millimeter * 4
	if err := line(mem, "RSS", rss, colRSS, vg.Points(2), nil); err != nil {
		return err
	}
	if err := line(mem, "Go heap in use", heap, colHeap, vg.Points(2), nil); err != nil {
		return err
	}
	if err := line(mem, "Go heap goal (next GC)", goal, colGoal, vg.Points(1.5), nil); err != nil {
		return err
	}
	if r.rssFit.N >= 2 {
		if err := line(mem, fmt.Sprintf("fits after warm-up: RSS %+.2f, heap %+.2f, goal %+.2f MiB/min", r.rssFit.Slope, r.heapFit.Slope, r.goalFit.Slope), fitted(r.rssFit), colFit, vg.Points(1), dash); err != nil {
			return err
		}
		for _, f := range []fit{r.heapFit, r.goalFit} {
			if err := line(mem, "", fitted(f), colFit, vg.Points(1), dash); err != nil {
				return err
			}
		}
	}
	if err := warmLine(mem, maxMem*1.55); err != nil {
		return err
	}
	mem.Y.Min, mem.Y.Max = 0, maxMem*1.55

	lat := gplot.New()
	lat.Title.Text = fmt.Sprintf("p99 of POST /v1/score per %s (client side)", r.cfg.sample)
	lat.Y.Label.Text = "ms"
	lat.Add(plotter.NewGrid())
	if err := line(lat, "", p99, colRSS, vg.Points(1.5), nil); err != nil {
		return err
	}
	if err := warmLine(lat, maxP99*1.1); err != nil {
		return err
	}
	lat.Y.Min, lat.Y.Max = 0, max(maxP99*1.1, 1)

	thr := gplot.New()
	thr.Title.Text = "Score answers per second"
	thr.X.Label.Text = "minutes"
	thr.Y.Label.Text = "per second"
	thr.Add(plotter.NewGrid())
	if err := line(thr, "", tput, colHeap, vg.Points(1.5), nil); err != nil {
		return err
	}
	if err := warmLine(thr, maxTput*1.1); err != nil {
		return err
	}
	thr.Y.Min, thr.Y.Max = 0, max(maxTput*1.1, 1)
	for _, p := range []*gplot.Plot{mem, lat, thr} {
		p.X.Min, p.X.Max = 0, end
	}

	const width, height = 18 * vg.Centimeter, 20 * vg.Centimeter
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5}
	canvases := gplot.Align([][]*gplot.Plot{{mem}, {lat}, {thr}}, tiles, dc)
	mem.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	thr.Draw(canvases[2][0])

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("plot: %w", cerr)
		}
	}()
	if _, err := c.WriteTo(f); err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	return nil
}
