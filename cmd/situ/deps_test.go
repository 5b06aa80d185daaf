package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoPlottingInTheBinary holds the situ binary to what it serves: the
// plot of a simulator report (gonum/plot, its fonts, PDF and SVG
// backends) belongs to cmd/situ-plot.
func TestNoPlottingInTheBinary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".").Output()
	require.NoError(t, err, "go list -deps")
	modules := strings.Fields(string(out))
	require.NotEmpty(t, modules)
	require.Contains(t, modules, "go.uber.org/zap", "go list -deps lists the modules")
	for _, forbidden := range []string{"gonum.org/v1/plot", "codeberg.org/go-fonts/liberation", "codeberg.org/go-pdf/fpdf"} {
		require.NotContains(t, modules, forbidden, "cmd/situ depends on %s: plotting belongs to cmd/situ-plot", forbidden)
	}
}
