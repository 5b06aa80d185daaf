package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/simulation"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	rep := &simulation.Report{
		FormatVersion: simulation.ReportFormatVersion, Contacts: 200, Window: 100,
		Strategies: []string{"always_fast"},
		Windows: []simulation.WindowReport{
			{End: 100, Served: 100, Expected: 0.15, Oracle: 0.2, Strategies: []float64{0.16}, CumulativeRegret: 5},
			{End: 200, Served: 100, Expected: 0.19, Oracle: 0.2, Strategies: []float64{0.16}, CumulativeRegret: 6},
		},
	}
	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	report := filepath.Join(dir, "sim.json")
	require.NoError(t, os.WriteFile(report, buf.Bytes(), 0o644))
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}

	cases := []struct {
		name       string
		args       []string
		stdin      string
		want       int
		wantStderr string
		check      func(t *testing.T)
	}{
		{name: "png", args: []string{"--out", filepath.Join(dir, "sim.png"), report}, want: 0, wantStderr: "plot written to",
			check: func(t *testing.T) {
				f, err := os.Open(filepath.Join(dir, "sim.png"))
				require.NoError(t, err)
				defer f.Close()
				_, err = png.Decode(f)
				require.NoError(t, err)
			}},
		{name: "svg from stdin", args: []string{"--out", filepath.Join(dir, "sim.svg"), "-"}, stdin: buf.String(), want: 0,
			check: func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join(dir, "sim.svg"))
				require.NoError(t, err)
				require.Contains(t, string(b), "best fixed strategy (always_fast)")
			}},
		{name: "no report", args: nil, want: 2, wantStderr: "Usage"},
		{name: "two reports", args: []string{report, report}, want: 2, wantStderr: "Usage"},
		{name: "unknown flag", args: []string{"--plot", "x.png", report}, want: 2, wantStderr: "plot"},
		{name: "missing file", args: []string{filepath.Join(dir, "none.json")}, want: 1, wantStderr: "no such file"},
		{name: "not a report", args: []string{write("other.json", `{"windows":[]}`)}, want: 1, wantStderr: "not a situ sim report: no format_version"},
		{name: "a newer report", args: []string{write("v2.json", `{"format_version":2}`)}, want: 1, wantStderr: "format_version 2, this build reads 1"},
		{name: "bad extension", args: []string{"--out", filepath.Join(dir, "sim.pdf"), report}, want: 1, wantStderr: "must end in .png or .svg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			require.Equal(t, tc.want, run(tc.args, strings.NewReader(tc.stdin), &stderr), "stderr: %s", stderr.String())
			require.Contains(t, stderr.String(), tc.wantStderr)
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
