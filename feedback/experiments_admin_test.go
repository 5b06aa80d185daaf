package feedback

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/internal/situtest"
	"situ/models"
)

// assigning is one version a replica applied and the number of
// experiments assigning units in it.
type assigning struct {
	version int64
	running int
	at      time.Time
}

// startAssigningReplica is a replica with the default tail wait (500 ms)
// whose applier reports, per version, how many experiments assign.
func startAssigningReplica(t *testing.T, brokers []string) (*ControlPlane, <-chan assigning) {
	t.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	model, err := models.DefaultModel(schema)
	require.NoError(t, err)
	seen := make(chan assigning, 100)
	log, err := NewControlLog(ControlLogConfig{
		Brokers: brokers, Schema: schema, Registerer: prometheus.NewRegistry(), Logger: testLogger(t),
		Appliers: []ConfigApplier{{Name: "experiments", Apply: func(v int64, a *control.Applied) error {
			seen <- assigning{version: v, running: a.Experiments.Len(), at: time.Now()}
			return nil
		}}},
	})
	require.NoError(t, err)
	plane, err := NewControlPlane(ControlPlaneConfig{Log: log, Model: func() *models.Model { return model },
		AuditLogger: zap.NewNop(), Logger: testLogger(t)})
	require.NoError(t, err)
	runBackground(t, log.Run)
	select {
	case <-log.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("control log did not catch up")
	}
	return plane, seen
}

// waitVersion waits until seen reports version v.
func waitVersion(t *testing.T, seen <-chan assigning, v int64) assigning {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case a := <-seen:
			if a.version >= v {
				return a
			}
		case <-deadline:
			t.Fatalf("version %d not applied within 10s", v)
		}
	}
}

// TestExperimentStopReachesEveryReplica stops an experiment through the
// admin API of one replica and checks that the other stops assigning
// within 2 s, as docs/admin.md promises.
func TestExperimentStopReachesEveryReplica(t *testing.T) {
	b, _ := startBroker(t)
	planeA, seenA := startAssigningReplica(t, b.Brokers())
	_, seenB := startAssigningReplica(t, b.Brokers())
	const token = "situ_admin-0123456789abcdefghijklmnopqrstuvwxyz0"
	tokens, err := api.NewTokens([]api.Token{{Name: "ana", Role: api.RoleAdmin, SHA256: sha256.Sum256([]byte(token))}})
	require.NoError(t, err)
	srv, err := api.New(api.Config{Decider: situtest.Engine(t, situtest.EngineOptions{}), Tokens: tokens, Control: planeA, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	post := func(path, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := ts.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out bytes.Buffer
		_, err = io.Copy(&out, res.Body)
		require.NoError(t, err)
		return res.StatusCode, out.String()
	}

	status, body := post(api.RouteAdminExperiments, `{"id": "philosophy", "author": "ana", "reason": "compare",
		"arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "tiers", "strategy": "value_tier", "weight": 0.5}]}`)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, 1, waitVersion(t, seenB, 1).running, "the other replica assigns")

	const rounds = 5
	var worst time.Duration
	for i := range rounds {
		id := "philosophy"
		if i > 0 { // another experiment to stop
			id = "e" + strconv.Itoa(i)
			status, body = post(api.RouteAdminExperiments, `{"id": "`+id+`", "author": "ana", "reason": "compare",
				"arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "same", "strategy": "uniform", "weight": 0.5}]}`)
			require.Equal(t, http.StatusCreated, status, body)
			require.Equal(t, 1, waitVersion(t, seenB, int64(2*i+1)).running)
		}
		started := time.Now()
		status, body = post("/v1/admin/experiments/"+id+"/stop", `{"author": "ana", "reason": "enough"}`)
		answered := time.Since(started)
		require.Equal(t, http.StatusOK, status, body)
		v := int64(2*i + 2)
		select {
		case a := <-drainTo(seenA, v):
			require.Zero(t, a.running, "stopped here before the answer")
		default:
			t.Fatalf("version %d not applied on the answering replica before its answer", v)
		}
		got := waitVersion(t, seenB, v)
		require.Zero(t, got.running)
		took := got.at.Sub(started)
		worst = max(worst, took)
		t.Logf("stop %d: answered after %s, applied on the other replica after %s", i, answered, took)
	}
	require.Less(t, worst, 2*time.Second, "a stop reaches every replica within 2 s")
}

// drainTo returns a channel holding the report of version v from seen
// when seen already holds it (nothing otherwise), dropping older ones.
func drainTo(seen <-chan assigning, v int64) <-chan assigning {
	out := make(chan assigning, 1)
	for {
		select {
		case a := <-seen:
			if a.version >= v {
				out <- a
				return out
			}
		default:
			return out
		}
	}
}
