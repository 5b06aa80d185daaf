package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/models"
)

// TestBuildEngineServesThePrior: whatever version the model file names,
// the engine starts with it as version 0, the prior, so that the
// learner's first model (version 1) replaces it on every replica.
func TestBuildEngineServesThePrior(t *testing.T) {
	file := filepath.Join(t.TempDir(), "model.yaml")
	doc := bytes.Replace(models.DefaultModelYAML(), []byte("\nversion: 1\n"), []byte("\nversion: 100\n"), 1)
	require.Contains(t, string(doc), "\nversion: 100\n")
	require.NoError(t, os.WriteFile(file, doc, 0o600))
	cases := []struct {
		name      string
		modelFile string
	}{
		{"embedded model (version 1)", ""},
		{"model file of version 100", file},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := buildEngine(serveOptions{modelFile: tc.modelFile, explorer: "squarecb", gamma0: 50})
			require.NoError(t, err)
			require.EqualValues(t, 0, e.Model().Version())
			require.Same(t, e.Model(), e.Learned(), "no override yet")
			spec, err := models.ParseSpec(doc)
			require.NoError(t, err)
			require.Equal(t, spec.Name, e.Model().Name())
		})
	}
}
