package simulation

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Size of the plot.
const (
	plotWidth  = 24 * vg.Centimeter
	plotHeight = 20 * vg.Centimeter
)

// WritePNG draws the report as a PNG: average expected reward per window of
// the served decisions, the oracle and every fixed strategy (top), and the
// cumulative regret (bottom).
func (rep *Report) WritePNG(w io.Writer) error {
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))}
	if err := rep.draw(draw.New(c)); err != nil {
		return err
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	return nil
}

// WriteSVG draws the report as an SVG (see WritePNG).
func (rep *Report) WriteSVG(w io.Writer) error {
	c := vgsvg.New(plotWidth, plotHeight)
	if err := rep.draw(draw.New(c)); err != nil {
		return err
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// WritePlotFile writes the plot to path, as a PNG or an SVG by the path's
// extension (.png or .svg).
func (rep *Report) WritePlotFile(path string) (err error) {
	var write func(io.Writer) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		write = rep.WritePNG
	case ".svg":
		write = rep.WriteSVG
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
	return write(f)
}

// Line colours: served and oracle stand out, strategies are muted.
var (
	colServed   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colRealised = color.RGBA{R: 0xf0, G: 0x9a, B: 0x9a, A: 0xff}
	colOracle   = color.RGBA{A: 0xff}
	colStrategy = []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
		color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	}
)

func (rep *Report) draw(dc draw.Canvas) error {
	var served []WindowReport
	for _, wr := range rep.Windows {
		if wr.Served > 0 {
			served = append(served, wr)
		}
	}
	if len(served) == 0 {
		return errors.New("plot: the report has no served contacts")
	}
	xy := func(f func(WindowReport) float64) plotter.XYs {
		pts := make(plotter.XYs, len(served))
		for i, wr := range served {
			pts[i] = plotter.XY{X: float64(wr.End), Y: f(wr)}
		}
		return pts
	}

	top := plot.New()
	top.Title.Text = "Average reward per window (expected under the ground truth)"
	top.X.Label.Text = "contacts"
	top.Y.Label.Text = "reward per contact"
	top.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	add := func(p *plot.Plot, name string, pts plotter.XYs, col color.Color, width vg.Length, dashes []vg.Length) error {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		l.Color, l.Width, l.Dashes = col, width, dashes
		p.Add(l)
		if p == top {
			legend.Add(name, l)
		}
		return nil
	}
	dash := []vg.Length{vg.Points(4), vg.Points(3)}
	for i, name := range rep.Strategies {
		if err := add(top, name, xy(func(wr WindowReport) float64 { return wr.Strategies[i] }), colStrategy[i%len(colStrategy)], vg.Points(1.2), dash); err != nil {
			return err
		}
	}
	if err := add(top, "oracle", xy(func(wr WindowReport) float64 { return wr.Oracle }), colOracle, vg.Points(2), nil); err != nil {
		return err
	}
	if err := add(top, "served (realised)", xy(func(wr WindowReport) float64 { return wr.Realised }), colRealised, vg.Points(1), nil); err != nil {
		return err
	}
	if err := add(top, "served", xy(func(wr WindowReport) float64 { return wr.Expected }), colServed, vg.Points(2.5), nil); err != nil {
		return err
	}

	bottom := plot.New()
	bottom.Title.Text = "Cumulative regret (oracle − served, expected)"
	bottom.X.Label.Text = "contacts"
	bottom.Y.Label.Text = "reward"
	bottom.Add(plotter.NewGrid())
	if err := add(bottom, "cumulative regret", xy(func(wr WindowReport) float64 { return wr.CumulativeRegret }), colServed, vg.Points(2), nil); err != nil {
		return err
	}
	bottom.Y.Min = 0

	tiles := draw.Tiles{
		Rows: 2, Cols: 1,
		PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5,
	}
	plots := [][]*plot.Plot{{top}, {bottom}}
	// the plots on the left, the legend on the right
	legendWidth := dc.Size().X * 0.24
	canvases := plot.Align(plots, tiles, draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, dc.Size().X-legendWidth, 0, 0, -vg.Centimeter))
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	return nil
}
