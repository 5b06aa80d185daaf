package plot_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/simulation"
	"situ/simulation/plot"
)

// learningReport is a report of three windows in which the served
// decisions overtake the best fixed strategy.
func learningReport() *simulation.Report {
	return &simulation.Report{
		FormatVersion: simulation.ReportFormatVersion,
		Seed:          1, Contacts: 300, Window: 100,
		Strategies: []string{"always_fast", "uniform_rules"},
		Windows: []simulation.WindowReport{
			{Index: 0, End: 100, Served: 100, Expected: 0.14, Oracle: 0.20, Strategies: []float64{0.16, 0.17}, CumulativeRegret: 6},
			{Index: 1, End: 200, Served: 100, Expected: 0.18, Oracle: 0.20, Strategies: []float64{0.16, 0.17}, CumulativeRegret: 8},
			{Index: 2, End: 300, Served: 100, Expected: 0.19, Oracle: 0.19, Strategies: []float64{0.15, 0.16}, CumulativeRegret: 8},
		},
	}
}

func TestWrite(t *testing.T) {
	rep := learningReport()
	var pngBuf, svgBuf bytes.Buffer
	require.NoError(t, plot.WritePNG(&pngBuf, rep))
	img, err := png.Decode(&pngBuf)
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 500)

	require.NoError(t, plot.WriteSVG(&svgBuf, rep))
	for _, want := range []string{"<svg", "share of the oracle", "best fixed strategy (uniform_rules)", "served", "Cumulative regret"} {
		require.Contains(t, svgBuf.String(), want)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		file    string
		wantErr string
	}{
		{name: "png", file: "sim.png"},
		{name: "svg", file: "sim.svg"},
		{name: "upper-case extension", file: "SIM.PNG"},
		{name: "pdf is refused", file: "sim.pdf", wantErr: "must end in .png or .svg"},
		{name: "no directory", file: "missing/sim.png", wantErr: "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			err := plot.WriteFile(path, learningReport())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.Greater(t, fi.Size(), int64(2_000))
		})
	}
}
