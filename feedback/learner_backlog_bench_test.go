package feedback

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"situ/features"
	"situ/internal/situtest"
	"situ/models"
)

// BenchmarkLearnerBacklog measures only the backlog throughput of
// BenchmarkLearnerEndToEnd, for profiling.
func BenchmarkLearnerBacklog(b *testing.B) {
	for b.Loop() {
		benchThroughput(b, 50000)
	}
}

// BenchmarkLearnerRestorePending measures a restart with many decisions
// pending: RESTORE_PENDING decisions (default 1,000,000) in 3 partitions
// of the embedded broker, a learner that read them all and checkpointed,
// then a second learner from that checkpoint: the time until it has read
// every pending decision again (it is then ready to join), and the
// checkpoint's size. With RESTORE_PARTS=F, a share F (0 to 1) of the
// decisions has received its early fields (resolved, csat, handle_seconds)
// and waits for its late ones: the restart also reads those outcome
// parts again to rebuild the join's records of them. The restarts
// alternate between reading the topics again and loading the join
// snapshot the first learner wrote when it stopped (RESTORE_ROUNDS pairs,
// default 1). RESTORE_CPUPROFILE names a file for a CPU profile of the
// restarts.
func BenchmarkLearnerRestorePending(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("RESTORE_PENDING")); err == nil && v > 0 {
		n = v
	}
	parts := 0.0
	if v, err := strconv.ParseFloat(os.Getenv("RESTORE_PARTS"), 64); err == nil && v > 0 && v <= 1 {
		parts = v
	}
	for b.Loop() {
		brokers := benchBroker(b, 3)
		schema, base, reward := learnerFixture(b, "default")
		fp := models.FingerprintString(schema.Fingerprint())
		t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		tr := &kafka.Transport{}
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: DefaultDecisionsTopic, Balancer: Partitioner(), RequiredAcks: kafka.RequireOne,
			BatchTimeout: time.Millisecond, BatchSize: 5000, BatchBytes: maxMessageBytes, Transport: tr}
		ctx := context.Background()
		batch := make([]kafka.Message, 0, 5000)
		var id [36]byte
		bytes := 0
		for i := range n {
			at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
			d := models.DecisionEvent{DecisionID: situtest.UUIDv7(&id, at, uint64(i)), Time: at, ModelName: "default", ModelVersion: 1, SchemaVersion: 1,
				SchemaFingerprint: fp, Strategy: "learned", Treatment: "fast_resolution", Propensity: 0.5,
				Features: []features.Entry{{Index: 1, Value: 1}, {Index: int32(i % schema.Len()), Value: 0.5}}}
			v, err := d.AppendJSON(nil)
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(v)
			batch = append(batch, kafka.Message{Key: []byte(d.DecisionID), Value: v})
			if len(batch) == cap(batch) || i == n-1 {
				if err := w.WriteMessages(ctx, batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		_ = w.Close()
		withParts := writeEarlyParts(b, brokers, tr, t0, n, parts)
		tr.CloseIdleConnections()
		var lastCPU time.Duration // of the last run, the whole process's
		// restart: whether to wait for the end of the restore (the log line
		// the learner writes once every pending decision, and every outcome
		// part of them, has been read again) instead of the first read
		run := func(restart bool, stateDir string) (*observer.ObservedLogs, time.Duration) {
			core, logs := observer.New(zap.InfoLevel)
			l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, Logger: zap.New(core), StateDir: stateDir,
				Join: models.JoinConfig{Window: 48 * time.Hour, MaxPending: 20_000_000}})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			if prof := os.Getenv("RESTORE_CPUPROFILE"); restart && prof != "" {
				f, err := os.Create(prof)
				if err != nil {
					b.Fatal(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					b.Fatal(err)
				}
				defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
			}
			cpu0 := processCPU()
			start := time.Now()
			go func() { done <- l.Run(runCtx) }()
			for {
				if restart && logs.FilterMessage("pending decisions read again").Len() > 0 ||
					!restart && l.Stats().DecisionsRead >= uint64(n) && l.Stats().OutcomesRead >= uint64(withParts) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			took := time.Since(start)
			lastCPU = processCPU() - cpu0
			for _, e := range logs.FilterMessage("pending decisions read again").All() {
				b.Logf("restore: %v", e.ContextMap())
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			return logs, took
		}
		// The first learner keeps a join snapshot in dir (written when it
		// stops); the restarts alternate between one that reads the topics
		// again and one that loads the snapshot, RESTORE_ROUNDS times
		// (default 1).
		dir := b.TempDir()
		firstLogs, first := run(false, dir)
		cp, ok := latestCheckpoint(b, brokers, "default")
		if !ok {
			b.Fatal("no checkpoint")
		}
		value, _ := cp.Encode()
		written := firstLogs.FilterMessage("join snapshot written").All()
		if len(written) == 0 {
			b.Fatal("no join snapshot written")
		}
		last := written[len(written)-1].ContextMap()
		b.Logf("join snapshot written at the stop: %v bytes in %v", last["bytes"], last["took"])
		rounds := 1
		if v, err := strconv.Atoi(os.Getenv("RESTORE_ROUNDS")); err == nil && v > 0 {
			rounds = v
		}
		var again, fromSnap time.Duration
		var againCPU, fromSnapCPU time.Duration
		for r := range rounds {
			_, again = run(true, "")
			againCPU = lastCPU
			logs, took := run(true, dir)
			fromSnap, fromSnapCPU = took, lastCPU
			if logs.FilterMessage("join snapshot loaded").Len() != 1 {
				b.Fatal("the restart did not load the join snapshot")
			}
			b.Logf("round %d: restart reading the topics again %s (%s of CPU), from the join snapshot %s (%s of CPU)", r+1,
				again.Round(time.Millisecond), againCPU.Round(time.Millisecond), fromSnap.Round(time.Millisecond), fromSnapCPU.Round(time.Millisecond))
		}
		b.ReportMetric(again.Seconds(), "restart_s")
		b.ReportMetric(againCPU.Seconds(), "restart_cpu_s")
		b.ReportMetric(fromSnap.Seconds(), "snapshot_restart_s")
		b.ReportMetric(fromSnapCPU.Seconds(), "snapshot_restart_cpu_s")
		b.ReportMetric(float64(len(value))/(1<<20), "checkpoint_MiB")
		b.Logf("%d pending decisions (%d MB of events), %d of them with early parts: first read %s, restart until all read again %s (%s of CPU, broker included), from the join snapshot %s (%s of CPU), checkpoint %d bytes",
			n, bytes/1e6, withParts, first.Round(time.Millisecond), again.Round(time.Millisecond), againCPU.Round(time.Millisecond),
			fromSnap.Round(time.Millisecond), fromSnapCPU.Round(time.Millisecond), len(value))
	}
}

// writeEarlyParts writes, for a share of the n decisions of
// BenchmarkLearnerRestorePending, a part with their early fields, a minute
// after the decision, and returns how many it wrote.
func writeEarlyParts(b *testing.B, brokers []string, tr *kafka.Transport, t0 time.Time, n int, share float64) int {
	b.Helper()
	if share == 0 {
		return 0
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: DefaultOutcomesTopic, Balancer: Partitioner(), RequiredAcks: kafka.RequireOne,
		BatchTimeout: time.Millisecond, BatchSize: 5000, BatchBytes: maxMessageBytes, Transport: tr}
	defer w.Close()
	batch := make([]kafka.Message, 0, 5000)
	var id [36]byte
	csat, every, written := 4.0, int(math.Round(1/share)), 0
	late := models.OutcomeFields(0).With(models.FieldRecontact7d).With(models.FieldChurned).With(models.FieldUpsellAccepted).
		With(models.FieldRevenue).With(models.FieldEscalated)
	for i := 0; i < n; i += every {
		at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		o := models.Outcome{OutcomeID: fmt.Sprintf("early-%d", i), DecisionID: situtest.UUIDv7(&id, at, uint64(i)), Resolved: true, CSAT: &csat,
			HandleSeconds: 240, OccurredAt: at.Add(time.Minute), Missing: late}
		v, err := json.Marshal(&o)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, kafka.Message{Key: []byte(o.DecisionID), Value: v})
		written++
		if len(batch) == cap(batch) || i+every >= n {
			if err := w.WriteMessages(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return written
}

// processCPU returns the CPU time (user and system) the process used so
// far: with the embedded broker in the process, a figure that the
// machine's other work does not inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
