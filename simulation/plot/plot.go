// Package plot draws a simulator report (simulation.Report): per window,
// the served decisions' expected reward as a share of the oracle's beside
// the best fixed strategy's, and the cumulative regret, as a PNG or an SVG.
// It is the only part of the simulator that needs gonum/plot and its fonts,
// so it lives apart from package simulation and from the situ binary:
// cmd/situ-plot draws the report JSON that `situ sim --json` writes.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"situ/simulation"
)

// Size of the plot.
const (
	plotWidth  = 24 * vg.Centimeter
	plotHeight = 18 * vg.Centimeter
)

// WritePNG draws rep as a PNG: per window, the served decisions' expected
// reward as a share of the oracle's, with the best fixed strategy's share
// beside it (top), and the cumulative regret (bottom).
func WritePNG(w io.Writer, rep *simulation.Report) error {
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))}
	if err := drawReport(draw.New(c), rep); err != nil {
		return err
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	return nil
}

// WriteSVG draws rep as an SVG (see WritePNG).
func WriteSVG(w io.Writer, rep *simulation.Report) error {
	c := vgsvg.New(plotWidth, plotHeight)
	if err := drawReport(draw.New(c), rep); err != nil {
		return err
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// WriteFile draws rep to path, as a PNG or an SVG by the path's extension
// (.png or .svg).
func WriteFile(path string, rep *simulation.Report) (err error) {
	var write func(io.Writer, *simulation.Report) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		write = WritePNG
	case ".svg":
		write = WriteSVG
	default:
		return fmt.Errorf("plot %s: the file name must end in .png or .svg", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("plot: %w", cerr)
		}
	}()
	return write(f, rep)
}

// Line colours: served stands out, the best fixed strategy is muted.
var (
	colServed = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colBest   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
)

// series is what the plot draws, computed from a report.
type series struct {
	// Served is, per window, the served decisions' expected reward over
	// the oracle's; Best the same for the best fixed strategy (BestName).
	// Windows whose oracle reward is not positive have no ratio.
	Served, Best plotter.XYs
	BestName     string
	// YMin is the bottom of the ratio axis: a little below the lowest
	// ratio shown (the top is 1, the oracle).
	YMin float64
	// Regret is the cumulative regret at the end of each window.
	Regret plotter.XYs
}

// seriesOf computes the plot's series over the windows with served
// contacts. The best fixed strategy is the one with the highest expected
// reward summed over the run.
func seriesOf(rep *simulation.Report) (series, error) {
	var ps series
	best, bestTotal := -1, math.Inf(-1)
	for i := range rep.Strategies {
		total := 0.0
		for _, wr := range rep.Windows {
			if wr.Served > 0 && i < len(wr.Strategies) {
				total += wr.Strategies[i] * float64(wr.Served)
			}
		}
		if total > bestTotal {
			best, bestTotal = i, total
		}
	}
	if best >= 0 {
		ps.BestName = rep.Strategies[best]
	}
	lowest := 1.0
	for _, wr := range rep.Windows {
		if wr.Served == 0 {
			continue
		}
		x := float64(wr.End)
		ps.Regret = append(ps.Regret, plotter.XY{X: x, Y: wr.CumulativeRegret})
		if wr.Oracle <= 0 {
			continue
		}
		r := wr.Expected / wr.Oracle
		ps.Served = append(ps.Served, plotter.XY{X: x, Y: r})
		lowest = min(lowest, r)
		if best >= 0 && best < len(wr.Strategies) {
			r := wr.Strategies[best] / wr.Oracle
			ps.Best = append(ps.Best, plotter.XY{X: x, Y: r})
			lowest = min(lowest, r)
		}
	}
	if len(ps.Regret) == 0 {
		return ps, errors.New("plot: the report has no served contacts")
	}
	ps.YMin = lowest - max(0.1*(1-lowest), 0.01)
	return ps, nil
}

func drawReport(dc draw.Canvas, rep *simulation.Report) error {
	ps, err := seriesOf(rep)
	if err != nil {
		return err
	}
	add := AddLine

	top := gplot.New()
	top.Title.Text = "Expected reward per window as a share of the oracle's"
	top.X.Label.Text = "contacts"
	top.Y.Label.Text = "reward / oracle reward"
	top.Add(plotter.NewGrid())
	// top left: the served line starts low, and no ratio exceeds 1
	top.Legend.Top, top.Legend.Left = true, true
	top.Legend.YOffs = -vg.Millimeter * 2
	top.Legend.XOffs = vg.Millimeter * 4
	if ps.BestName != "" {
		if err := add(top, "best fixed strategy ("+ps.BestName+")", ps.Best, colBest, vg.Points(1.5), []vg.Length{vg.Points(5), vg.Points(3)}); err != nil {
			return err
		}
	}
	if err := add(top, "served", ps.Served, colServed, vg.Points(2.5), nil); err != nil {
		return err
	}
	top.Y.Min, top.Y.Max = ps.YMin, 1

	bottom := gplot.New()
	bottom.Title.Text = "Cumulative regret (oracle − served, expected reward)"
	bottom.X.Label.Text = "contacts"
	bottom.Y.Label.Text = "reward"
	bottom.Add(plotter.NewGrid())
	if err := add(bottom, "", ps.Regret, colServed, vg.Points(2), nil); err != nil {
		return err
	}
	bottom.Y.Min = 0
	for _, p := range []*gplot.Plot{top, bottom} {
		p.X.Min = 0
	}

	tiles := draw.Tiles{
		Rows: 2, Cols: 1,
		PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5,
	}
	canvases := gplot.Align([][]*gplot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	return nil
}

// AddLine adds to p a line through pts (none when pts is empty) in colour
// col, of the given width and dashes (nil: solid), with a legend entry
// when name is not empty.
func AddLine(p *gplot.Plot, name string, pts plotter.XYs, col color.Color, width vg.Length, dashes []vg.Length) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color, l.Width, l.Dashes = col, width, dashes
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}
