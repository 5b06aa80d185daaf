package feedback

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/models"
)

// replica is one process's control log and plane, with an applier that
// reports every version it is given.
type replica struct {
	log     *ControlLog
	plane   *ControlPlane
	applied chan int64
	audit   *observer.ObservedLogs
	reg     *prometheus.Registry
	stop    func() error
}

func startReplica(t *testing.T, brokers []string) *replica {
	t.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	model, err := models.DefaultModel(schema)
	require.NoError(t, err)
	r := &replica{applied: make(chan int64, 100), reg: prometheus.NewRegistry()}
	r.log, err = NewControlLog(ControlLogConfig{
		Brokers: brokers, Schema: schema, MaxWait: 100 * time.Millisecond, Registerer: r.reg, Logger: testLogger(t),
		Appliers: []ConfigApplier{{Name: "test", Apply: func(v int64, a *control.Applied) error {
			if a == nil || a.Policy == nil {
				return errors.New("no configuration")
			}
			r.applied <- v
			return nil
		}}},
	})
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	r.audit = logs
	r.plane, err = NewControlPlane(ControlPlaneConfig{Log: r.log, Model: func() *models.Model { return model },
		AuditLogger: zap.New(core), Registerer: r.reg, Logger: testLogger(t)})
	require.NoError(t, err)
	r.stop = runBackground(t, r.log.Run)
	select {
	case <-r.log.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("control log did not catch up")
	}
	return r
}

// waitApplied waits for the replica's applier to be given version v, and
// for its control log to record it as applied.
func (r *replica) waitApplied(t *testing.T, v int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.applied:
			if got >= v {
				// the applier is called before the log records the version
				// as applied (AppliedVersion, situ_config_version)
				eventually(t, func() bool { return r.log.AppliedVersion() >= v }, "version %d recorded as applied", v)
				return
			}
		case <-deadline:
			t.Fatalf("version %d not applied within 10s (applied %d)", v, r.log.AppliedVersion())
		}
	}
}

func i64(v int64) *int64     { return &v }
func f64(v float64) *float64 { return &v }

func leverChange(v float64) control.Change {
	return control.Change{Levers: map[string]float64{"pamper_upsell": v}}
}

func encodedRecords(t *testing.T, rs []control.Record) [][]byte {
	t.Helper()
	out := make([][]byte, len(rs))
	for i, r := range rs {
		b, err := control.EncodeRecord(r)
		require.NoError(t, err)
		out[i] = b
	}
	return out
}

func TestControlPlaneChangeReachesTheOtherReplica(t *testing.T) {
	b, topics := startBroker(t)
	a, other := startReplica(t, b.Brokers()), startReplica(t, b.Brokers())
	ctx := context.Background()

	started := time.Now()
	res, err := a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "less upsell", BaseVersion: i64(0),
		Change: leverChange(-0.05), Principal: "ana-token"})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Record.Version)
	require.NotEmpty(t, res.Record.ID)
	require.Equal(t, []control.Kind{control.KindLevers}, res.Record.Kinds)
	require.NotEmpty(t, res.Diff)
	require.EqualValues(t, 1, a.log.AppliedVersion(), "answered once applied here")
	other.waitApplied(t, 1)
	t.Logf("change applied on the other replica %s after it was submitted", time.Since(started))

	v, cfg := other.plane.Current()
	require.EqualValues(t, 1, v)
	require.Equal(t, -0.05, cfg.Levers["pamper_upsell"])
	require.Equal(t, encodedRecords(t, a.plane.Records()), encodedRecords(t, other.plane.Records()))
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_config_version", nil))
	require.EqualValues(t, 1, metricValue(t, other.reg, "situ_config_version", nil))
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_control_changes_total", map[string]string{"kind": "levers", "result": ChangeAccepted}))

	msgs := readAll(t, b.Brokers(), topics.Control)
	require.Len(t, msgs, 1)
	require.Equal(t, res.Record.Key(), string(msgs[0].Key))

	entries := a.audit.FilterMessage("configuration change").All()
	require.Len(t, entries, 1)
	fields := entries[0].ContextMap()
	require.Equal(t, "ana-token", fields["principal"])
	require.Equal(t, "ana", fields["author"])
	require.Equal(t, ChangeAccepted, fields["result"])
	require.EqualValues(t, 1, fields["version"])
	require.EqualValues(t, 0, fields["base_version"])
}

func TestControlPlaneConcurrentChangesOnOneBase(t *testing.T) {
	b, topics := startBroker(t)
	a, other := startReplica(t, b.Brokers()), startReplica(t, b.Brokers())
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*replica{a, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.plane.Submit(context.Background(), api.ChangeRequest{Author: "ana", Reason: "race",
				BaseVersion: i64(0), Change: leverChange(float64(i+1) / 10)})
		}()
	}
	wg.Wait()
	accepted, stale := 0, 0
	for _, err := range errs {
		var se *control.StaleError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se):
			stale++
			require.EqualValues(t, 1, se.Current)
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, accepted, "exactly one change accepted")
	require.Equal(t, 1, stale, "the other is stale")
	a.waitApplied(t, 1)
	other.waitApplied(t, 1)
	require.Equal(t, encodedRecords(t, a.plane.Records()), encodedRecords(t, other.plane.Records()), "both agree on the history")
	for _, r := range []*replica{a, other} {
		require.Len(t, r.plane.Records(), 1)
	}
	// The loser was refused before it wrote anything when its replica had
	// already read the winner; otherwise its record is on the topic and
	// every reader skips it as a conflict.
	msgs := readAll(t, b.Brokers(), topics.Control)
	require.Contains(t, []int{1, 2}, len(msgs), "the winner's record, and the loser's if it was written")
	conflicts := float64(len(msgs) - 1)
	eventually(t, func() bool {
		return metricValue(t, a.reg, "situ_control_records_skipped_total", map[string]string{"reason": SkipConflict}) == conflicts &&
			metricValue(t, other.reg, "situ_control_records_skipped_total", map[string]string{"reason": SkipConflict}) == conflicts
	})

	// without a base version a change goes on top of whatever is current
	res, err := other.plane.Submit(context.Background(), api.ChangeRequest{Author: "bo", Reason: "unbased", Change: leverChange(0.3)})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Record.Version)
}

func TestControlPlaneRestartReadsTheSameHistory(t *testing.T) {
	b, _ := startBroker(t)
	a := startReplica(t, b.Brokers())
	ctx := context.Background()
	for i, ch := range []control.Change{
		leverChange(-0.05),
		{Weights: []control.WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f64(0.4), Pin: true}}},
		{Exploration: &control.ExplorationChange{Epsilon: f64(0.05)}},
	} {
		_, err := a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "step", BaseVersion: i64(int64(i)), Change: ch})
		require.NoError(t, err)
	}
	// a record that is not one is skipped by every reader
	produce(t, b.Brokers(), DefaultControlTopic, kafka.Message{Key: []byte("config/4"), Value: []byte(`{"not": "a record"}`)})
	rolled, err := a.plane.Rollback(ctx, api.RollbackRequest{ToVersion: 1, Author: "ana", Reason: "undo", Principal: "ana-token"})
	require.NoError(t, err)
	require.EqualValues(t, 4, rolled.Version)
	require.EqualValues(t, 1, *rolled.RollbackOf)
	target, err := a.plane.Record(1)
	require.NoError(t, err)
	cfgBytes := func(c control.Config) []byte {
		b, err := control.EncodeConfig(c)
		require.NoError(t, err)
		return b
	}
	require.Equal(t, cfgBytes(target.After), cfgBytes(rolled.After), "the rollback restores version 1 byte for byte")
	require.NoError(t, a.stop())

	again := startReplica(t, b.Brokers())
	again.waitApplied(t, 4)
	v, cfg := again.plane.Current()
	require.EqualValues(t, 4, v)
	_, was := a.plane.Current()
	require.Equal(t, cfgBytes(was), cfgBytes(cfg), "same configuration bytes")
	require.Equal(t, encodedRecords(t, a.plane.Records()), encodedRecords(t, again.plane.Records()), "same history")
	require.EqualValues(t, 1, metricValue(t, again.reg, "situ_control_records_skipped_total", map[string]string{"reason": SkipUndecodable}))
	diff, err := again.plane.Diff(1, 4)
	require.NoError(t, err)
	require.Empty(t, diff)
	_, err = again.plane.Diff(1, 9)
	var unknown *control.UnknownVersionError
	require.ErrorAs(t, err, &unknown)
	_, err = again.plane.Record(9)
	require.ErrorAs(t, err, &unknown)

	table, err := again.plane.Weights(features.AllTreatments)
	require.NoError(t, err)
	require.EqualValues(t, 4, table.ConfigVersion)
	require.NotEmpty(t, table.Weights)
}

func TestControlPlaneDryRunAndInvalidChangesWriteNothing(t *testing.T) {
	b, topics := startBroker(t)
	a := startReplica(t, b.Brokers())
	ctx := context.Background()

	res, err := a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "try", DryRun: true, Change: leverChange(-0.05), Principal: "an"})
	require.NoError(t, err)
	require.True(t, res.DryRun)
	require.EqualValues(t, 1, res.Record.Version)
	require.NotEmpty(t, res.Diff)

	_, err = a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "typo", Change: control.Change{Levers: map[string]float64{"pamper_upsel": 1}}})
	var fe *features.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "change.levers.pamper_upsel", fe.Field)

	_, err = a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "stale", BaseVersion: i64(3), Change: leverChange(0.1)})
	var se *control.StaleError
	require.ErrorAs(t, err, &se)
	_, err = a.plane.Rollback(ctx, api.RollbackRequest{ToVersion: 7, Author: "ana", Reason: "no such"})
	var unknown *control.UnknownVersionError
	require.ErrorAs(t, err, &unknown)

	require.Empty(t, readAll(t, b.Brokers(), topics.Control), "nothing written")
	v, _ := a.plane.Current()
	require.EqualValues(t, 0, v)
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_control_changes_total", map[string]string{"kind": "levers", "result": ChangeRefusedInvalid}))
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_control_changes_total", map[string]string{"kind": "levers", "result": ChangeRefusedStale}))
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_control_changes_total", map[string]string{"kind": kindUnknown, "result": ChangeRefusedInvalid}))

	results := []string{}
	for _, e := range a.audit.FilterMessage("configuration change").All() {
		results = append(results, e.ContextMap()["result"].(string))
		if e.ContextMap()["result"] != changeDryRun {
			require.NotEmpty(t, e.ContextMap()["error"])
		}
	}
	require.Equal(t, []string{changeDryRun, ChangeRefusedInvalid, ChangeRefusedStale, ChangeRefusedInvalid}, results, "every attempt audited")
}

func TestControlPlaneWriteFailure(t *testing.T) {
	b, _ := startBroker(t)
	a := startReplica(t, b.Brokers())
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := a.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "down", Change: leverChange(0.1)})
	require.Error(t, err)
	var fe *features.FieldError
	var se *control.StaleError
	require.False(t, errors.As(err, &fe) || errors.As(err, &se), "a write error is neither invalid nor stale: %v", err)
	require.EqualValues(t, 1, metricValue(t, a.reg, "situ_control_changes_total", map[string]string{"kind": "levers", "result": ChangeFailed}))
	require.True(t, bytes.Contains([]byte(err.Error()), []byte("control record")), err.Error())
}
