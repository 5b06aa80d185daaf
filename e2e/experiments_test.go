package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/experiments"
	"situ/internal/situtest"
	"situ/simulation"
)

// warmupContacts are played before the experiments start, and
// experimentContacts while they run: enough for the learned arm to lead
// the uniform arm by several standard errors of the results.
const (
	warmupContacts     = 20000
	experimentContacts = 60000
)

// TestExperimentNamesTheGroundTruthsWinner plays the experimenter's whole
// session on a learner and two API replicas: after a warm-up in which the
// learned model learns from everyone, two experiments are created
// with `situ admin experiments create` in disjoint parts of one namespace
// — learned vs value_tier vs uniform, and learned vs efficiency_first
// with a guardrail that stops it — `situ sim` plays a contact centre
// against one replica, and the results served by the other replica must
// agree with what the simulator knows: the units and decisions of each
// arm, each arm's realised mean reward, and the ground truth's winner;
// the per-tier table must show whom value tiers cost resolution; the
// harmful arm must be stopped by its guardrail, audited with the evidence,
// and its customers served by the learned model again.
func TestExperimentNamesTheGroundTruthsWinner(t *testing.T) {
	if testing.Short() {
		t.Skip("the experiment run takes about a minute")
	}
	b := startBroker(t, 3)
	authFile, keyFile := controlFiles(t)
	common := []string{"--kafka-brokers", b.Addr(), "--auth-file", authFile, "--customer-key-file", keyFile}
	startSitu(t, append([]string{"--role", "learner", "--data-dir", t.TempDir()}, common...)...)
	front := startSitu(t, append([]string{"--role", "api", "--data-dir", t.TempDir()}, common...)...)
	other := startSitu(t, append([]string{"--role", "api", "--data-dir", t.TempDir()}, common...)...)

	dir := t.TempDir()
	// the learned model first learns from everyone, as it would have
	// before anyone thought of an experiment
	warmup := exec.Command(situBin, "sim", "--url", front.URL, "--kafka-brokers", b.Addr(),
		"--contacts", strconv.Itoa(warmupContacts), "--population-seed", "11", "--concurrency", "8")
	out, err := warmup.CombinedOutput()
	require.NoError(t, err, "situ sim (warm-up):\n%s", out)

	tokenFile := filepath.Join(dir, "admin.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(adminToken), 0o600))
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(situBin, append([]string{"admin", "experiments"}, args...)...)
		cmd.Env = append(os.Environ(), "SITU_URL="+front.URL, "SITU_TOKEN_FILE="+tokenFile, "SITU_AUTHOR=eve")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "situ admin experiments %v:\n%s", args, out)
		return string(out)
	}
	t.Log(cli("create", "--id", "philosophy",
		"--hypothesis", "treating each situation on its merits serves customers better than value tiers or one service for all",
		"--arm", "control=learned:0.34", "--arm", "tiers=value_tier:0.33", "--arm", "same=uniform:0.33",
		"--namespace", "contact-centre:0:0.9", "--guardrail", "resolved:drop=0.05:segments=tier,first_contact",
		"--reason", "settle the service philosophy with our own customers"))
	t.Log(cli("create", "--id", "cheap-first", "--hypothesis", "self-service first costs resolution",
		"--arm", "control=learned:0.5", "--arm", "cheap=efficiency_first:0.5",
		"--namespace", "contact-centre:0.9:1", "--guardrail", "resolved:drop=0.05:segments=tier", "--on-breach", "stop",
		"--reason", "finance asks what self-service first would cost"))
	for _, p := range []*situtest.Process{front, other} {
		// probe without a customer id: in no experiment, so the results
		// count only the simulator's decisions
		poll(t, 10*time.Second, 10*time.Millisecond, func() bool {
			var d contract.ScoreResponse
			require.Equal(t, http.StatusOK, p.Post(t, "/v1/score", anonymous, &d))
			return d.ConfigVersion == 2
		}, func() string { return "replica " + p.Addr + " does not serve configuration 2" })
	}

	reportFile := filepath.Join(dir, "report.json")
	sim := exec.Command(situBin, "sim", "--url", front.URL, "--kafka-brokers", b.Addr(),
		"--contacts", strconv.Itoa(experimentContacts), "--population-seed", "12", "--concurrency", "8", "--json", reportFile)
	out, err = sim.CombinedOutput()
	require.NoError(t, err, "situ sim:\n%s", out)
	t.Logf("situ sim:\n%s", out)
	f, err := os.Open(reportFile)
	require.NoError(t, err)
	report, err := simulation.ReadReport(f)
	f.Close()
	require.NoError(t, err)
	require.Zero(t, report.Summary.Failed, "no contact failed")
	truth := report.Experiment("philosophy")
	require.NotNil(t, truth, "the simulator saw decisions of the experiment")

	// the other replica serves the results of every outcome within 10 s
	var res experiments.Results
	poll(t, 10*time.Second, 200*time.Millisecond, func() bool {
		res = results(t, other, "philosophy")
		return res.Decisions == int64(truth.Decisions) && res.Outcomes == int64(truth.Decisions)
	}, func() string {
		return fmt.Sprintf("results of %d decisions and %d outcomes, the simulator made %d", res.Decisions, res.Outcomes, truth.Decisions)
	})
	t.Log(cli("results", "philosophy"))
	require.False(t, res.SRM.Mismatch, "no sample ratio mismatch: p = %g", res.SRM.PValue)
	best, bestMean := "", math.Inf(-1)
	for _, arm := range res.Arms {
		want := truth.Arm(arm.Name)
		require.NotNil(t, want, "arm %s is in the ground truth", arm.Name)
		require.Equal(t, want.Strategy, arm.Strategy)
		require.EqualValues(t, want.Units, arm.Units, "units of %s", arm.Name)
		require.EqualValues(t, want.Decisions, arm.Exposures, "exposures of %s", arm.Name)
		require.EqualValues(t, want.Decisions, arm.Joined, "joined outcomes of %s", arm.Name)
		reward := arm.Metrics["reward"]
		require.InDelta(t, want.Realised.Reward, reward.Mean, 1e-9, "the results' mean reward of %s is that of the outcomes sent", arm.Name)
		require.InDelta(t, want.Realised.Resolved, arm.Metrics["resolved"].Mean, 1e-9, "resolution of %s", arm.Name)
		if reward.Mean > bestMean {
			best, bestMean = arm.Name, reward.Mean
		}
	}
	t.Logf("ground truth: %s (%s) leads %s by %.4f ± %.4f; results: %s leads", truth.Winner, truth.WinnerStrategy, truth.RunnerUp, truth.Margin, truth.MarginSE, best)
	require.Greater(t, truth.Margin, 3*truth.MarginSE, "the ground truth has a clear winner")
	require.Equal(t, truth.Winner, best, "the results name the ground truth's winner")
	tiers := res.Arms[armIndex(t, res.Arms, "tiers")].Metrics["reward"].Lift
	require.NotNil(t, tiers)
	require.Less(t, tiers.CI[1], 0.0, "value tiers lose against the learned model, significantly")

	// the parity view: value tiers cost the basic tier resolution, not silver
	status := map[string]string{}
	for _, g := range res.Guardrails {
		if g.Arm == "tiers" {
			status[g.Segment] = g.Status
		}
	}
	require.Equal(t, experiments.GuardrailBreached, status["tier=basic"], "value tiers send basic customers to self-service: %v", status)
	require.NotEqual(t, experiments.GuardrailBreached, status["tier=silver"], "silver is served as the control serves it: %v", status)
	basic := res.Segments["tier"]["basic"].Arms[armIndex(t, res.Arms, "tiers")].Metrics["resolved"].Lift
	require.NotNil(t, basic)
	require.Less(t, basic.CI[1], -0.05, "basic customers lose more than 5 %% of resolution under value tiers")

	// the harmful arm was stopped by its guardrail, with the evidence
	st, body := admin(t, other, http.MethodGet, "/v1/admin/experiments/cheap-first", nil)
	require.Equal(t, http.StatusOK, st, "%v", body)
	stopped := body["experiment"].(map[string]any)
	require.Equal(t, experiments.StateStopped, stopped["state"], "%v", body)
	stop := stopped["stop"].(map[string]any)
	require.Equal(t, "situ-guardrails", stop["by"])
	require.NotEmpty(t, stop["evidence"], "the stop carries the breached guardrails")
	harm := report.Experiment("cheap-first")
	require.NotNil(t, harm)
	// its part of the namespace is a ninth of the other's: running to the
	// end, it would have had a ninth of the other's decisions
	require.Less(t, harm.Decisions, truth.Decisions/9/4, "the harmful experiment was stopped early: %d decisions against %d in the other", harm.Decisions, truth.Decisions)
	// after the stop its customers are served by the default strategy
	served := 0
	for i := 0; i < 10000 && served < 20; i++ {
		id := fmt.Sprintf("c-%06d", i)
		if !experiments.InNamespace(id, experiments.Namespace{ID: "contact-centre", Start: 0.9, End: 1}) {
			continue
		}
		var d contract.ScoreResponse
		body := map[string]any{"customer": map[string]any{"id": id, "tier": "basic"}, "intent": map[string]any{"name": "password_reset"}, "channel": "web"}
		require.Equal(t, http.StatusOK, front.Post(t, "/v1/score", body, &d))
		require.Equal(t, "learned", d.Strategy, "customer %s", id)
		require.Nil(t, d.Experiment, "customer %s is in no experiment", id)
		served++
	}
	require.Equal(t, 20, served)
}

// anonymous is a contact without a customer id.
var anonymous = map[string]any{"intent": map[string]any{"name": "order_status"}, "channel": "app"}

// results reads an experiment's results from p.
func results(t *testing.T, p *situtest.Process, id string) experiments.Results {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/v1/admin/experiments/"+id+"/results", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", buf.String())
	var r experiments.Results
	require.NoError(t, json.Unmarshal(buf.Bytes(), &r))
	return r
}

func armIndex(t *testing.T, arms []experiments.ArmResult, name string) int {
	t.Helper()
	for i, a := range arms {
		if a.Name == name {
			return i
		}
	}
	t.Fatalf("no arm %s", name)
	return -1
}
