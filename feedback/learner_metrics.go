package feedback

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"situ/models"
)

// loopMetrics are the learning loop's counters and gauges, registered as
// situ_learner_* (and the Kafka metrics of its topics).
type loopMetrics struct {
	updates, snapshots, checkpointed, decisionsRead, decisionsInvalid, outcomesRead atomic.Uint64
	restarts, republished, notLearned                                               atomic.Uint64
	joinSnapWritten, joinSnapFailed, joinSnapLoaded, joinSnapNotUsed                atomic.Uint64
	dlqJSON, dlqInvalid, dlqErrors                                                  atomic.Uint64
	modelVersion, pending, early, configApplied, windowNeed, lateWindowNeed         atomic.Int64
	recentBytes, joinStorageBytes, lateDecisions, lateStorageBytes, maxLate         atomic.Int64
	lateReadBytes                                                                   atomic.Uint64
	joinStats                                                                       atomic.Pointer[models.JoinStats]
	unjoinedOutcomes                                                                unjoinedCounters
	maxPending                                                                      atomic.Int64
	applyLatency                                                                    prometheus.Histogram
	// per topic: the decisions and outcomes read, the checkpoints, models
	// and dead letters written
	decReads, outReads                       *readerMetrics
	checkpointWrites, modelWrites, dlqWrites *writerMetrics
}

// windowGauge is how many decisions a window holds at the observed
// rate: window="reward" for the fields of the reward window, "late" for
// the late fields, whose decisions stay pending longest.
const (
	windowGauge = "situ_learner_window_decisions"
	windowHelp  = "Decisions one window holds at the decision rate observed over the last minute of stream time: the reward window (window=\"reward\"), held in the queue, above situ_learner_max_pending_decisions cannot be held; the late fields' window (window=\"late\"), held in the late tier after the reward window, above situ_learner_max_late_decisions cannot (a warning is logged)."
)

// register creates the metrics for topics t and registers them with reg
// (nil: not registered).
func (m *loopMetrics) register(reg prometheus.Registerer, t TopicsConfig) error {
	m.joinStats.Store(&models.JoinStats{})
	m.applyLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "situ_learner_outcome_to_model_seconds",
		Help:    "Time from an outcome's message timestamp to the snapshot that contains its update.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	join := func(name string, f func(s *models.JoinStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_learner_join_total", Help: "What the join of decisions and outcomes did, by result.",
			ConstLabels: prometheus.Labels{"result": name}}, func() float64 { return float64(f(m.joinStats.Load())) })
	}
	km, err := newKafkaMetrics(reg)
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	m.decReads, m.outReads = km.reader(t.Decisions), km.reader(t.Outcomes)
	m.checkpointWrites, m.modelWrites, m.dlqWrites = km.writer(t.Checkpoints), km.writer(t.Models), km.writer(t.OutcomesDLQ)
	const joinSnaps, joinSnapsHelp = "situ_learner_join_snapshots_total", "Local join snapshots (--learner-state-dir), by result: written after a checkpoint, not written (an error, logged), loaded by a restore, or found and not used (damaged, or of another checkpoint history: the restore read the topics)."
	const dlq, dlqHelp = "situ_outcomes_dlq_total", "Outcome messages sent to the dead-letter topic, by reason."
	err = register(reg,
		counterFunc(&m.updates, "situ_learner_updates_total", "Outcomes (or expired decisions with the default reward) applied to the model.", nil),
		counterFunc(&m.snapshots, "situ_learner_snapshots_total", "Model snapshots published to the models topic.", nil),
		counterFunc(&m.checkpointed, "situ_learner_checkpoints_total", "Checkpoints written to the checkpoints topic.", nil),
		counterFunc(&m.republished, "situ_learner_models_republished_total", "Models republished at restore because the models topic was behind the checkpoint.", nil),
		counterFunc(&m.restarts, "situ_learner_restarts_total", "Times learning was interrupted by a Kafka failure and resumed from the last checkpoint.", nil),
		counterFunc(&m.joinSnapWritten, joinSnaps, joinSnapsHelp, prometheus.Labels{"result": "written"}),
		counterFunc(&m.joinSnapFailed, joinSnaps, joinSnapsHelp, prometheus.Labels{"result": "write_failed"}),
		counterFunc(&m.joinSnapLoaded, joinSnaps, joinSnapsHelp, prometheus.Labels{"result": "loaded"}),
		counterFunc(&m.joinSnapNotUsed, joinSnaps, joinSnapsHelp, prometheus.Labels{"result": "not_used"}),
		counterFunc(&m.decisionsRead, "situ_learner_decisions_read_total", "Decision events read.", nil),
		counterFunc(&m.decisionsInvalid, "situ_learner_decisions_invalid_total", "Decision events skipped: undecodable or not matching the schema.", nil),
		counterFunc(&m.notLearned, "situ_learner_not_learned_total", "Joined decisions the model did not learn from: made by an experiment arm whose strategy is not learned (a fixed rule or a frozen model).", nil),
		counterFunc(&m.outcomesRead, "situ_learner_outcomes_read_total", "Outcome messages read (valid or not).", nil),
		counterFunc(&m.dlqJSON, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidJSON}),
		counterFunc(&m.dlqInvalid, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidOutcome}),
		counterFunc(&m.dlqErrors, "situ_outcomes_dlq_write_errors_total", "Dead letters that could not be written (logged, then skipped).", nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_model_version", Help: "Version of the last snapshot published."}, func() float64 { return float64(m.modelVersion.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_pending_decisions", Help: "Decisions waiting for their outcome."}, func() float64 { return float64(m.pending.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: windowGauge, Help: windowHelp, ConstLabels: prometheus.Labels{"window": "reward"}}, func() float64 { return float64(m.windowNeed.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: windowGauge, Help: windowHelp, ConstLabels: prometheus.Labels{"window": "late"}}, func() float64 { return float64(m.lateWindowNeed.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_max_pending_decisions", Help: "The cap on decisions waiting for an outcome (--max-pending)."}, func() float64 { return float64(m.maxPending.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_late_decisions", Help: "Decisions in the join's late tier: their reward window closed, they wait for their late fields (recontact_7d, churned) until the late window closes."}, func() float64 { return float64(m.lateDecisions.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_late_storage_bytes", Help: "Bytes of the late tier's arrays (about 2.25 per offset it spans), outside the Go heap; part of situ_learner_join_storage_bytes."}, func() float64 { return float64(m.lateStorageBytes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_max_late_decisions", Help: "The cap on the offsets the late tier spans (--max-late)."}, func() float64 { return float64(m.maxLate.Load()) }),
		counterFunc(&m.lateReadBytes, "situ_learner_late_reread_bytes_total", "Bytes of nba.decisions read again to find the decisions of parts looked up in the late tier (keys compared, the values of those found kept).", nil),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_learner_late_lookups_total", Help: "Outcome parts looked up in the late tier by their decision id's time, by result: the decision found by message key, or not found in the offsets the id's time gave.",
			ConstLabels: prometheus.Labels{"result": "found"}}, func() float64 { return float64(m.joinStats.Load().LateFound) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_learner_late_lookups_total", Help: "Outcome parts looked up in the late tier by their decision id's time, by result: the decision found by message key, or not found in the offsets the id's time gave.",
			ConstLabels: prometheus.Labels{"result": "not_found"}}, func() float64 { return float64(m.joinStats.Load().LateNotFound) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_early_outcomes", Help: "Outcomes (parts) waiting for their decision: a decision may wait with several."}, func() float64 { return float64(m.early.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_join_storage_bytes", Help: "Bytes of the arrays in which the join holds its pending decisions (queue, part records, hash table); they are outside the Go heap, so go_memstats_* does not count them and process_resident_memory_bytes does."}, func() float64 { return float64(m.joinStorageBytes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_recent_decisions_bytes", Help: "Bytes of decision events the learner keeps from its last reads, so that an outcome soon after its decision needs no second read; at most situ_learner_recent_decisions_limit_bytes, which it reaches after that many bytes of decisions and then holds."}, func() float64 { return float64(m.recentBytes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_recent_decisions_limit_bytes", Help: "The bound of situ_learner_recent_decisions_bytes."}, func() float64 { return recentDecisionsBytes }),
		join("joined", func(s *models.JoinStats) int64 { return s.Joined }),
		join("expired", func(s *models.JoinStats) int64 { return s.Expired }),
		join("expired_rewarded", func(s *models.JoinStats) int64 { return s.ExpiredRewarded }),
		join("unknown_decision", func(s *models.JoinStats) int64 { return s.EarlyExpired }),
		join("duplicate", func(s *models.JoinStats) int64 { return s.Duplicates }),
		join("dropped_pending_cap", func(s *models.JoinStats) int64 { return s.DroppedPending }),
		join("dropped_late_cap", func(s *models.JoinStats) int64 { return s.DroppedLate }),
		join("closed", func(s *models.JoinStats) int64 { return s.Closed }),
		join("dropped_early_cap", func(s *models.JoinStats) int64 { return s.DroppedEarly }),
		join("stale_part", func(s *models.JoinStats) int64 { return s.Stale }),
		join("late_part", func(s *models.JoinStats) int64 { return s.Late }),
		join("late_not_found", func(s *models.JoinStats) int64 { return s.LateNotFound }),
		join("late_not_uuidv7", func(s *models.JoinStats) int64 { return s.LateNotUUID }),
		unjoinedFunc(func() int64 { return m.joinStats.Load().EarlyExpired }, unjoinedWindowPassed),
		unjoinedFunc(func() int64 { return m.joinStats.Load().DroppedEarly }, unjoinedEarlyCap),
		unjoinedFunc(func() int64 { return m.joinStats.Load().Late }, unjoinedAfterWindow),
		unjoinedFunc(func() int64 { return m.joinStats.Load().LateNotFound }, unjoinedLateNotFound),
		unjoinedFunc(func() int64 { return m.joinStats.Load().LateNotUUID }, unjoinedLateNotUUID),
		unjoinedFunc(func() int64 { return int64(m.unjoinedOutcomes.invalid.Load()) }, unjoinedDecisionInvalid),
		unjoinedFunc(func() int64 { return int64(m.unjoinedOutcomes.gone.Load()) }, unjoinedDecisionGone),
		m.applyLatency,
	)
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	return nil
}

// Why an outcome was never learned from: the reason label of
// situ_learner_outcomes_unjoined_total.
const (
	// unjoinedWindowPassed: no decision of its id was read within the
	// reward window (the id is not one of situ's, or its decision expired
	// or was dropped before the outcome came).
	unjoinedWindowPassed = "window_passed"
	// unjoinedEarlyCap: it waited for its decision among too many others.
	unjoinedEarlyCap = "early_cap"
	// unjoinedAfterWindow: a part that came after its decision's window
	// had closed (the decision was joined or expired by then).
	unjoinedAfterWindow = "after_window"
	// unjoinedLateNotFound: a part looked up in the late tier (its
	// decision's reward window had closed) whose decision was in none of
	// the offsets its id's time gave.
	unjoinedLateNotFound = "late_not_found"
	// unjoinedLateNotUUID: a part with late fields whose decision had
	// left the queue, of an id that is not a UUIDv7: the late tier
	// cannot look it up.
	unjoinedLateNotUUID = "late_not_uuidv7"
	// unjoinedDecisionInvalid: its decision, read again, did not decode or
	// match the learner's schema.
	unjoinedDecisionInvalid = "decision_invalid"
	// unjoinedDecisionGone: retention had deleted its decision before the
	// learner read it again.
	unjoinedDecisionGone = "decision_gone"
)

// unjoinedCounters count the unjoined outcomes the join's stats do not.
type unjoinedCounters struct{ invalid, gone atomic.Uint64 }

func (c *unjoinedCounters) add(reason string) {
	if reason == unjoinedDecisionInvalid {
		c.invalid.Add(1)
	} else {
		c.gone.Add(1)
	}
}

func unjoinedFunc(f func() int64, reason string) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_learner_outcomes_unjoined_total",
		Help:        "Valid outcomes the learner never learned from, by reason: no decision of the id within the reward window, a part after its decision's window closed, too many outcomes waiting for their decisions, a part's decision not found in the late tier or its id not a UUIDv7 there, the decision invalid, or the decision deleted by retention before it was read again.",
		ConstLabels: prometheus.Labels{"reason": reason}}, func() float64 { return float64(f()) })
}

// readers returns the reader metrics of topic (decisions or outcomes).
func (l *LearningLoop) readers(topic string) *readerMetrics {
	if topic == l.cfg.Topics.Outcomes {
		return l.outReads
	}
	return l.decReads
}

// LearningLoopStats are the loop's counters.
type LearningLoopStats struct {
	Updates, Snapshots, Checkpoints, DecisionsRead, DecisionsInvalid, OutcomesRead uint64
	DLQInvalidJSON, DLQInvalidOutcome, Restarts, Republished                       uint64
	ModelVersion                                                                   int64
	// NotLearned counts the joined decisions of strategies the model does
	// not learn from (models.LearnsFrom).
	NotLearned uint64
	// ConfigVersion is the configuration version applied (0 without
	// LearningLoopConfig.Control).
	ConfigVersion int64
	// JoinSnapshotsWritten and JoinSnapshotsLoaded count the local join
	// snapshots written and restored from (LearningLoopConfig.StateDir).
	JoinSnapshotsWritten, JoinSnapshotsLoaded uint64
	Join                                      models.JoinStats
}

// Stats returns the counters.
func (l *LearningLoop) Stats() LearningLoopStats {
	return LearningLoopStats{
		Updates: l.updates.Load(), Snapshots: l.snapshots.Load(), Checkpoints: l.checkpointed.Load(),
		DecisionsRead: l.decisionsRead.Load(), DecisionsInvalid: l.decisionsInvalid.Load(), OutcomesRead: l.outcomesRead.Load(),
		DLQInvalidJSON: l.dlqJSON.Load(), DLQInvalidOutcome: l.dlqInvalid.Load(), Restarts: l.restarts.Load(), Republished: l.republished.Load(),
		ModelVersion: l.modelVersion.Load(), NotLearned: l.notLearned.Load(), ConfigVersion: l.configApplied.Load(), Join: *l.joinStats.Load(),
		JoinSnapshotsWritten: l.joinSnapWritten.Load(), JoinSnapshotsLoaded: l.joinSnapLoaded.Load(),
	}
}
