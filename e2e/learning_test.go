package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/simulation"
	"situ/simulation/plot"
)

// TestLearningBeatsFixedStrategies runs the whole loop as a user would:
// `situ serve` (embedded broker, default model and policy, learner) and
// `situ sim`, which scores contacts over HTTP and publishes their outcomes
// to Kafka. In the last window the served decisions must beat every fixed
// strategy and reach 90 % of the oracle's expected reward.
func TestLearningBeatsFixedStrategies(t *testing.T) {
	if testing.Short() {
		t.Skip("the learning run takes about a minute")
	}
	dir := t.TempDir()
	p := startSitu(t, "--broker-addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))

	reportFile := filepath.Join(dir, "report.json")
	sim := exec.Command(situBin, "sim", "--url", p.URL, "--kafka-brokers", p.BrokerAddr,
		"--contacts", strconv.Itoa(learningContacts), "--window", strconv.Itoa(learningContacts/15),
		"--population-seed", "7", "--concurrency", "8", "--json", reportFile)
	out, err := sim.CombinedOutput()
	require.NoError(t, err, "situ sim:\n%s", out)
	t.Logf("situ sim:\n%s", out)

	f, err := os.Open(reportFile)
	require.NoError(t, err)
	report, err := simulation.ReadReport(f)
	f.Close()
	require.NoError(t, err)
	require.Zero(t, report.Summary.Failed, "no contact failed")
	last := report.Windows[len(report.Windows)-1]
	require.Equal(t, learningContacts/15, last.Served, "the last window is a full window")
	require.Greater(t, report.Summary.LastModelVersion, report.Summary.FirstModelVersion, "the model was updated while serving")
	for i, name := range report.Strategies {
		require.Greater(t, last.Expected, last.Strategies[i], "served decisions must beat %s in the last window", name)
	}
	require.GreaterOrEqual(t, last.Expected, 0.9*last.Oracle, "served decisions must reach 90%% of the oracle in the last window")
	require.NoError(t, plot.WriteSVG(io.Discard, report), "situ-plot draws the report")
}

// learningContacts is the length of the learning run.
const learningContacts = 60000
