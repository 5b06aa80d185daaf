package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/simulation"
)

// TestSimTruthStrategies: situ sim --truth-strategies says what the ground
// truth expects of the fixed strategies without a situ to play against,
// as a table and, with --json, as JSON.
func TestSimTruthStrategies(t *testing.T) {
	dir := t.TempDir()
	reward := filepath.Join(dir, "reward.yaml")
	require.NoError(t, os.WriteFile(reward, []byte("version: 2\nweights: {resolved: 1}\nclip: [-1, 1]\n"), 0o644))
	cases := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string
		stderr   string
		check    func(t *testing.T, rep *simulation.TruthReport)
	}{
		{name: "table and JSON", args: []string{"--contacts", "3000", "--population-seed", "2"}, stdout: []string{
			"ground truth of fixed strategies: population seed 2, 10000 customers, 3000 contacts",
			"best fixed strategy on unit reward: uniform", "resolved relative to uniform", "delight_first", "decisions per unit: 1: ",
		}, check: func(t *testing.T, rep *simulation.TruthReport) {
			require.Equal(t, 3000, rep.Contacts)
			require.Equal(t, "uniform", rep.Best)
			require.Len(t, rep.Strategies, 5)
		}},
		{name: "another reward and population", args: []string{"--contacts", "2000", "--customers", "500", "--reward", reward}, stdout: []string{"500 customers, 2000 contacts"},
			check: func(t *testing.T, rep *simulation.TruthReport) {
				u := rep.Strategy("uniform")
				require.InDelta(t, u.PerUnit.Resolved, u.PerUnit.Reward, 1e-12, "the reward is the resolution")
			}},
		{name: "a reward file that is not there", args: []string{"--reward", filepath.Join(dir, "nope.yaml")}, wantCode: 2, stderr: "--reward"},
		{name: "no contacts", args: []string{"--contacts", "-5"}, wantCode: 2, stderr: "contacts must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "truth.json")
			var stdout, stderr bytes.Buffer
			args := append([]string{"sim", "--truth-strategies", "--json", out}, tc.args...)
			code := runMain(context.Background(), args, &stdout, &stderr)
			require.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			for _, s := range tc.stdout {
				require.Contains(t, stdout.String(), s)
			}
			if tc.stderr != "" {
				require.Contains(t, stderr.String(), tc.stderr)
			}
			if tc.check == nil {
				return
			}
			raw, err := os.ReadFile(out)
			require.NoError(t, err)
			var rep simulation.TruthReport
			require.NoError(t, json.Unmarshal(raw, &rep))
			tc.check(t, &rep)
			_, err = simulation.ReadReport(bytes.NewReader(raw))
			require.Error(t, err, "not a run's report")
		})
	}
}
