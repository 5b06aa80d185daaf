package feedback

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
)

// LearnerConfig configures the Learner. Zero fields take the defaults.
type LearnerConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topics names the topics. Default: TopicsConfig's defaults.
	Topics TopicsConfig
	// Base is the model learning starts from when nba.models holds no
	// snapshot of it yet (its name is the snapshot key). Required.
	Base *models.Model
	// Reward turns outcomes into rewards. Required (models.DefaultReward).
	Reward models.RewardDefinition
	// Learning tunes the online update (models.LearnerConfig defaults).
	Learning models.LearnerConfig
	// Join tunes the decision/outcome join (models.JoinConfig defaults:
	// 24 h window, expired decisions skipped).
	Join models.JoinConfig
	// SnapshotEvery publishes a snapshot after this many updates. Default 1000.
	SnapshotEvery int
	// SnapshotInterval publishes a snapshot this long after the last one
	// when anything changed. Default 500ms.
	SnapshotInterval time.Duration
	// RoundSize is the most outcomes read per partition per round; rounds
	// visit the partitions in order, so the order of updates depends only
	// on the topics' contents. Default 1000.
	RoundSize int
	// PollInterval is the pause when a round found nothing new. Default 50ms.
	PollInterval time.Duration
	// Now stamps snapshots. Default time.Now.
	Now func() time.Time
	// Registerer receives the metrics, among them the Kafka metrics by
	// topic of its readers (decisions, outcomes) and writers (models, DLQ).
	// Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the learner logs as "learner".
	Logger *zap.Logger
}

func (c *LearnerConfig) fill() error {
	c.Topics = c.Topics.WithDefaults()
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 1000
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 500 * time.Millisecond
	}
	if c.RoundSize == 0 {
		c.RoundSize = 1000
	}
	if c.PollInterval == 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	switch {
	case len(c.Brokers) == 0:
		return errors.New("learner: no brokers")
	case c.Base == nil:
		return errors.New("learner: a base model is required")
	case c.SnapshotEvery < 0 || c.SnapshotInterval < 0 || c.RoundSize < 0 || c.PollInterval < 0:
		return errors.New("learner: snapshot every, snapshot interval, round size and poll interval must not be negative")
	}
	if err := c.Reward.Validate(); err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	return c.Topics.Validate()
}

// Learner is the one active consumer that turns outcomes into weights. It
// reads nba.decisions and nba.outcomes partition by partition from the
// offsets stored in its last snapshot, joins each outcome with its
// decision, applies an importance-weighted update, and publishes snapshots
// (weights, optimiser state, offsets, join state) to nba.models. A learner
// that crashes resumes from its last snapshot: every outcome is applied
// exactly once, and the weights equal those of an uninterrupted run.
type Learner struct {
	cfg    LearnerConfig
	log    *zap.Logger
	schema *features.Schema
	tr     *kafka.Transport
	client *kafka.Client
	dlq    *kafka.Writer
	models *kafka.Writer

	learner     *models.OnlineLearner
	joiner      *models.Joiner
	version     int64
	decOffsets  Offsets
	outOffsets  Offsets
	cursors     map[string]map[int32]*partitionCursor
	partitions  []int32
	dirty       bool // offsets moved since the last snapshot
	sinceSnap   int  // updates since the last snapshot
	lastSnap    time.Time
	oldestApply time.Time // message time of the oldest outcome applied since the last snapshot
	running     atomic.Bool

	updates, snapshots, decisionsRead, decisionsInvalid, outcomesRead atomic.Uint64
	restarts                                                          atomic.Uint64
	dlqJSON, dlqInvalid, dlqErrors                                    atomic.Uint64
	modelVersion, pending, early                                      atomic.Int64
	joinStats                                                         atomic.Pointer[models.JoinStats]
	applyLatency                                                      prometheus.Histogram
	// per topic: the decisions and outcomes read, the snapshots and dead
	// letters written
	decReads, outReads     *readerMetrics
	modelWrites, dlqWrites *writerMetrics
}

// NewLearner checks cfg and returns a learner; Run learns.
func NewLearner(cfg LearnerConfig) (*Learner, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &Learner{cfg: cfg, log: cfg.Logger.Named("learner"), schema: cfg.Base.Schema(),
		tr: &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID}}
	l.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: l.tr}
	l.dlq = newSyncWriter(cfg.Brokers, cfg.Topics.OutcomesDLQ, time.Millisecond, 5*time.Second, l.tr, l.log)
	l.models = newSyncWriter(cfg.Brokers, cfg.Topics.Models, time.Millisecond, 10*time.Second, l.tr, l.log)
	l.models.BatchBytes = maxSnapshotBytes
	l.joinStats.Store(&models.JoinStats{})
	l.applyLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "situ_learner_outcome_to_model_seconds",
		Help:    "Time from an outcome's message timestamp to the snapshot that contains its update.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	join := func(name string, f func(s *models.JoinStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_learner_join_total", Help: "What the join of decisions and outcomes did, by result.",
			ConstLabels: prometheus.Labels{"result": name}}, func() float64 { return float64(f(l.joinStats.Load())) })
	}
	km, err := newKafkaMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	t := cfg.Topics
	l.decReads, l.outReads = km.reader(t.Decisions), km.reader(t.Outcomes)
	l.modelWrites, l.dlqWrites = km.writer(t.Models), km.writer(t.OutcomesDLQ)
	const dlq, dlqHelp = "situ_outcomes_dlq_total", "Outcome messages sent to the dead-letter topic, by reason."
	err = register(cfg.Registerer,
		counterFunc(&l.updates, "situ_learner_updates_total", "Outcomes (or expired decisions with the default reward) applied to the model.", nil),
		counterFunc(&l.snapshots, "situ_learner_snapshots_total", "Snapshots published to the models topic.", nil),
		counterFunc(&l.restarts, "situ_learner_restarts_total", "Times learning was interrupted by a Kafka failure and resumed from the last snapshot.", nil),
		counterFunc(&l.decisionsRead, "situ_learner_decisions_read_total", "Decision events read.", nil),
		counterFunc(&l.decisionsInvalid, "situ_learner_decisions_invalid_total", "Decision events skipped: undecodable or not matching the schema.", nil),
		counterFunc(&l.outcomesRead, "situ_learner_outcomes_read_total", "Outcome messages read (valid or not).", nil),
		counterFunc(&l.dlqJSON, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidJSON}),
		counterFunc(&l.dlqInvalid, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidOutcome}),
		counterFunc(&l.dlqErrors, "situ_outcomes_dlq_write_errors_total", "Dead letters that could not be written (logged, then skipped).", nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_model_version", Help: "Version of the last snapshot published."}, func() float64 { return float64(l.modelVersion.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_pending_decisions", Help: "Decisions waiting for their outcome."}, func() float64 { return float64(l.pending.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_early_outcomes", Help: "Outcomes waiting for their decision."}, func() float64 { return float64(l.early.Load()) }),
		join("joined", func(s *models.JoinStats) int64 { return s.Joined }),
		join("expired", func(s *models.JoinStats) int64 { return s.Expired }),
		join("expired_rewarded", func(s *models.JoinStats) int64 { return s.ExpiredRewarded }),
		join("unknown_decision", func(s *models.JoinStats) int64 { return s.EarlyExpired }),
		join("duplicate", func(s *models.JoinStats) int64 { return s.Duplicates }),
		join("dropped_pending_cap", func(s *models.JoinStats) int64 { return s.DroppedPending }),
		join("dropped_early_cap", func(s *models.JoinStats) int64 { return s.DroppedEarly }),
		l.applyLatency,
	)
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	return l, nil
}

// readers returns the reader metrics of topic (decisions or outcomes).
func (l *Learner) readers(topic string) *readerMetrics {
	if topic == l.cfg.Topics.Outcomes {
		return l.outReads
	}
	return l.decReads
}

// roundTimeout bounds one round: reading messages that the broker listed
// as present. A round that fails leaves the learner to be restarted from
// its last snapshot.
const roundTimeout = 30 * time.Second

// maxSnapshotBytes bounds a snapshot message; the models topic is created
// with a matching max.message.bytes.
const maxSnapshotBytes = 16 << 20

// LearnerStats are the learner's counters.
type LearnerStats struct {
	Updates, Snapshots, DecisionsRead, DecisionsInvalid, OutcomesRead uint64
	DLQInvalidJSON, DLQInvalidOutcome, Restarts                       uint64
	ModelVersion                                                      int64
	Join                                                              models.JoinStats
}

// Stats returns the counters.
func (l *Learner) Stats() LearnerStats {
	return LearnerStats{
		Updates: l.updates.Load(), Snapshots: l.snapshots.Load(), DecisionsRead: l.decisionsRead.Load(),
		DecisionsInvalid: l.decisionsInvalid.Load(), OutcomesRead: l.outcomesRead.Load(),
		DLQInvalidJSON: l.dlqJSON.Load(), DLQInvalidOutcome: l.dlqInvalid.Load(), Restarts: l.restarts.Load(),
		ModelVersion: l.modelVersion.Load(), Join: *l.joinStats.Load(),
	}
}

// Run restores the last snapshot and learns until ctx is cancelled; it
// then publishes a final snapshot and returns nil. When Kafka fails under
// it (a broker restart, a lost connection), it drops what it learned since
// its last snapshot, waits (1 s, doubling up to 30 s) and resumes from that
// snapshot: a broker outage delays learning, it never loses or repeats an
// outcome, and it never stops the process. Run may be called once.
func (l *Learner) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("learner: Run called twice")
	}
	defer l.close()
	pause := time.Second
	for {
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			if errors.Is(err, errFinalSnapshot) {
				return err
			}
			return nil // stopping: whatever failed meanwhile is read again next time
		}
		if time.Since(started) > time.Minute {
			pause = time.Second
		}
		// Learning stalls until a round succeeds again.
		l.decReads.down()
		l.outReads.down()
		l.restarts.Add(1)
		l.log.Error("learning interrupted; resuming from the last snapshot", zap.Error(err), zap.Duration("retry_in", pause))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// session restores the last snapshot and runs rounds until ctx ends (it
// then publishes a final snapshot) or Kafka fails.
func (l *Learner) session(ctx context.Context) error {
	defer l.closeCursors()
	if err := l.restore(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		// A round runs to its end even when ctx is cancelled meanwhile, so
		// snapshots always fall between rounds and a restart replays the
		// same rounds as an uninterrupted run.
		roundCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), roundTimeout)
		progressed, err := l.round(roundCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("learner: %w", err)
		}
		if err := l.maybeSnapshot(ctx, false); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if !progressed {
			select {
			case <-ctx.Done():
			case <-time.After(l.cfg.PollInterval):
			}
		}
	}
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.maybeSnapshot(final, true); err != nil {
		return fmt.Errorf("%w: %w", errFinalSnapshot, err)
	}
	return nil
}

// errFinalSnapshot marks the failure of the snapshot a stopping learner
// publishes: the only error Run returns.
var errFinalSnapshot = errors.New("learner: final snapshot")

func (l *Learner) closeCursors() {
	for _, byPartition := range l.cursors {
		for _, c := range byPartition {
			_ = c.reader.Close()
		}
	}
	l.cursors = nil
}

func (l *Learner) close() {
	l.closeCursors()
	_ = l.dlq.Close()
	_ = l.models.Close()
	l.tr.CloseIdleConnections()
}

// restore loads the latest snapshot of the base model's name, or starts
// from the base model at the beginning of the topics.
func (l *Learner) restore(ctx context.Context) error {
	t := l.cfg.Topics
	decParts, err := l.partitionsOf(ctx, t.Decisions)
	if err != nil {
		l.decReads.failed(1)
		return err
	}
	outParts, err := l.partitionsOf(ctx, t.Outcomes)
	if err != nil {
		l.outReads.failed(1)
		return err
	}
	if !slices.Equal(decParts, outParts) {
		return fmt.Errorf("learner: %s has partitions %v, %s %v: they must match", t.Decisions, decParts, t.Outcomes, outParts)
	}
	l.partitions = decParts

	latest, err := ReadLatest(ctx, l.cfg.Brokers, t.Models)
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	l.decOffsets, l.outOffsets = Offsets{}, Offsets{}
	rec, found := latest[l.cfg.Base.Name()]
	if !found {
		l.learner, err = models.NewOnlineLearner(l.cfg.Base, l.cfg.Learning)
		if err != nil {
			return err
		}
		l.joiner = models.NewJoiner(l.cfg.Join)
		l.version = l.cfg.Base.Version()
		l.log.Info("no snapshot yet, learning from the base model", zap.String("model", l.cfg.Base.Name()), zap.Int64("version", l.version))
	} else {
		snap, err := models.DecodeSnapshot(rec.Value)
		if err != nil {
			return fmt.Errorf("learner: restore %s: %w", rec.Position, err)
		}
		m, err := snap.Bind(l.schema)
		if err != nil {
			return fmt.Errorf("learner: restore: %w", err)
		}
		state := models.LearnerState{}
		if snap.Learner != nil {
			state = *snap.Learner
		}
		if l.learner, err = models.RestoreLearner(m, state, l.cfg.Learning); err != nil {
			return fmt.Errorf("learner: restore: %w", err)
		}
		for p, off := range snap.Offsets[t.Decisions] {
			l.decOffsets[p] = off
		}
		for p, off := range snap.Offsets[t.Outcomes] {
			l.outOffsets[p] = off
		}
		join := models.JoinState{}
		if snap.Join != nil {
			join = *snap.Join
		}
		l.joiner = models.RestoreJoiner(l.cfg.Join, join, l.decOffsets.Clone())
		l.version = m.Version()
		l.log.Info("restored snapshot", zap.Int64("version", l.version), zap.Int64("updates", m.Updates()),
			zap.Int("pending_ranges", len(join.Pending)), zap.Int("early", len(join.Early)))
	}
	l.modelVersion.Store(l.version)

	// Where each partition's reading starts: the stored offsets (decisions
	// from the first still-pending one), clamped to what retention kept.
	decStart := l.decOffsets.Clone()
	for p, off := range l.joiner.ReplayFrom() {
		decStart[p] = off
	}
	l.cursors = map[string]map[int32]*partitionCursor{}
	for _, tc := range []struct {
		topic string
		start Offsets
		into  Offsets
	}{{t.Decisions, decStart, l.decOffsets}, {t.Outcomes, l.outOffsets.Clone(), l.outOffsets}} {
		ranges, err := partitionRanges(ctx, l.cfg.Brokers, tc.topic, tc.start, l.log)
		if err != nil {
			l.readers(tc.topic).failed(1)
			return fmt.Errorf("learner: %w", err)
		}
		l.cursors[tc.topic] = map[int32]*partitionCursor{}
		for _, r := range ranges {
			p := int32(r.partition)
			c, err := newPartitionCursor(l.cfg.Brokers, tc.topic, r.partition, r.start, l.log)
			if err != nil {
				return fmt.Errorf("learner: %w", err)
			}
			l.cursors[tc.topic][p] = c
			if _, ok := tc.into[p]; !ok || tc.into[p] < r.start && tc.topic == t.Outcomes {
				tc.into[p] = r.start
			}
		}
	}
	// Re-read the decisions still pending at the snapshot, so the first
	// round starts where the snapshot's round ended.
	for _, p := range l.partitions {
		c := l.cursors[t.Decisions][p]
		if _, err := c.readUntil(ctx, l.decOffsets[p], math.MaxInt, l.decReads, func(m kafka.Message) {
			l.handleDecision(p, m)
		}); err != nil {
			return fmt.Errorf("learner: replay pending decisions: %w", err)
		}
	}
	l.dirty, l.sinceSnap, l.oldestApply = false, 0, time.Time{}
	l.lastSnap = l.cfg.Now()
	return nil
}

func (l *Learner) partitionsOf(ctx context.Context, topic string) ([]int32, error) {
	meta, err := l.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("learner: metadata of %s: %w", topic, err)
	}
	var ps []int32
	for _, tm := range meta.Topics {
		if tm.Name != topic {
			continue
		}
		if tm.Error != nil {
			return nil, fmt.Errorf("learner: topic %s: %w (create it with EnsureTopics)", topic, tm.Error)
		}
		for _, p := range tm.Partitions {
			ps = append(ps, int32(p.ID))
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("learner: topic %s does not exist", topic)
	}
	slices.Sort(ps)
	return ps, nil
}

// ends lists the end offset of every partition of topic.
func (l *Learner) ends(ctx context.Context, topic string) (map[int32]int64, error) {
	reqs := make([]kafka.OffsetRequest, 0, len(l.partitions))
	for _, p := range l.partitions {
		reqs = append(reqs, kafka.LastOffsetOf(int(p)))
	}
	resp, err := l.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(l.partitions))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[int32(po.Partition)] = po.LastOffset
	}
	return out, nil
}

// round reads, partition by partition, the decisions that are there and
// then up to RoundSize outcomes. Outcome ends are listed before decision
// ends, so a decision written before its outcome is read before it.
func (l *Learner) round(ctx context.Context) (bool, error) {
	t := l.cfg.Topics
	outEnds, err := l.ends(ctx, t.Outcomes)
	if err != nil {
		l.outReads.failed(1)
		return false, err
	}
	decEnds, err := l.ends(ctx, t.Decisions)
	if err != nil {
		l.decReads.failed(1)
		return false, err
	}
	progressed := false
	for _, p := range l.partitions {
		dc := l.cursors[t.Decisions][p]
		n, err := dc.readUntil(ctx, decEnds[p], 10*l.cfg.RoundSize, l.decReads, func(m kafka.Message) {
			l.handleDecision(p, m)
		})
		progressed = progressed || n > 0
		if err != nil {
			return progressed, err
		}
		oc := l.cursors[t.Outcomes][p]
		n, err = oc.readUntil(ctx, outEnds[p], l.cfg.RoundSize, l.outReads, func(m kafka.Message) {
			l.handleOutcome(ctx, p, m)
		})
		progressed = progressed || n > 0
		if err != nil {
			return progressed, err
		}
	}
	now := time.Now()
	l.decReads.ok(now)
	l.outReads.ok(now)
	l.pending.Store(int64(l.joiner.Pending()))
	l.early.Store(int64(l.joiner.Early()))
	s := l.joiner.Stats()
	l.joinStats.Store(&s)
	return progressed, nil
}

func (l *Learner) handleDecision(p int32, m kafka.Message) {
	l.decisionsRead.Add(1)
	if m.Offset+1 > l.decOffsets[p] {
		l.decOffsets[p] = m.Offset + 1
		l.dirty = true
	}
	d, err := models.DecodeDecisionEvent(m.Value)
	if err == nil {
		err = d.Validate(l.schema)
	}
	if err != nil {
		l.decisionsInvalid.Add(1)
		l.log.Warn("decision event skipped", zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		return
	}
	l.joiner.AddDecision(p, m.Offset, d, func(j models.Joined) { l.apply(j, time.Time{}) })
}

func (l *Learner) handleOutcome(ctx context.Context, p int32, m kafka.Message) {
	l.outcomesRead.Add(1)
	pos := Position{Topic: m.Topic, Partition: p, Offset: m.Offset}
	var o models.Outcome
	if err := decodeOutcome(m.Value, &o); err != nil {
		l.deadLetter(ctx, m, pos, DLQReasonInvalidJSON, err)
	} else if err := o.Validate(); err != nil {
		l.deadLetter(ctx, m, pos, DLQReasonInvalidOutcome, err)
	} else {
		l.joiner.AddOutcome(o, func(j models.Joined) { l.apply(j, m.Time) })
	}
	l.outOffsets[p] = m.Offset + 1
	l.dirty = true
}

// apply learns from one joined decision.
func (l *Learner) apply(j models.Joined, outcomeTime time.Time) {
	t, _ := features.ParseTreatment(j.Decision.Treatment) // validated on read
	var reward float64
	if j.Outcome != nil {
		reward = l.cfg.Reward.Reward(j.Outcome)
	} else {
		reward, _ = l.joiner.DefaultRewardValue()
	}
	l.learner.Update(t, j.Decision.Features, j.Decision.Propensity, reward)
	l.updates.Add(1)
	l.sinceSnap++
	if !outcomeTime.IsZero() && (l.oldestApply.IsZero() || outcomeTime.Before(l.oldestApply)) {
		l.oldestApply = outcomeTime
	}
}

// deadLetter writes an unusable outcome to the DLQ; a failed write is
// logged and counted, never retried: a poison message never stops learning.
func (l *Learner) deadLetter(ctx context.Context, m kafka.Message, pos Position, reason string, cause error) {
	if reason == DLQReasonInvalidJSON {
		l.dlqJSON.Add(1)
	} else {
		l.dlqInvalid.Add(1)
	}
	if err := writeDeadLetter(ctx, l.dlq, m, pos, reason, cause); err != nil {
		l.dlqWrites.wrote(1, 1)
		l.dlqErrors.Add(1)
		l.log.Error("dead letter not written, message skipped", zap.Stringer("position", pos), zap.String("reason", reason), zap.Error(err))
		return
	}
	l.dlqWrites.wrote(1, 0)
	l.log.Info("outcome dead-lettered", zap.Stringer("position", pos), zap.String("reason", reason), zap.NamedError("cause", cause))
}

// maybeSnapshot publishes a snapshot when one is due (or, with force,
// whenever anything changed). The version grows only when weights did.
func (l *Learner) maybeSnapshot(ctx context.Context, force bool) error {
	if !l.dirty && l.sinceSnap == 0 {
		return nil
	}
	now := l.cfg.Now()
	due := l.sinceSnap >= l.cfg.SnapshotEvery || now.Sub(l.lastSnap) >= l.cfg.SnapshotInterval
	if !due && !force {
		return nil
	}
	version := l.version
	if l.sinceSnap > 0 {
		version++
	}
	state := l.learner.State()
	join := l.joiner.State()
	snap := models.NewSnapshot(l.learner.Model(version), &state, l.cfg.Reward.Version, now)
	snap.Offsets = map[string]map[int32]int64{l.cfg.Topics.Decisions: l.decOffsets.Clone(), l.cfg.Topics.Outcomes: l.outOffsets.Clone()}
	snap.Join = &join
	value, err := snap.Encode()
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	if len(value) > maxSnapshotBytes-1024 {
		return fmt.Errorf("learner: snapshot of %d bytes exceeds %d: lower the join's max pending decisions", len(value), maxSnapshotBytes)
	}
	if err := l.models.WriteMessages(ctx, kafka.Message{Key: []byte(l.cfg.Base.Name()), Value: value}); err != nil {
		l.modelWrites.wrote(1, 1)
		return fmt.Errorf("learner: publish snapshot v%d: %w", version, err)
	}
	l.modelWrites.wrote(1, 0)
	if !l.oldestApply.IsZero() {
		l.applyLatency.Observe(l.cfg.Now().Sub(l.oldestApply).Seconds())
	}
	l.version, l.sinceSnap, l.dirty, l.lastSnap, l.oldestApply = version, 0, false, now, time.Time{}
	l.modelVersion.Store(version)
	l.snapshots.Add(1)
	l.log.Debug("snapshot published", zap.Int64("version", version), zap.Int64("updates", l.learner.Updates()), zap.Int("bytes", len(value)))
	return nil
}

// partitionCursor reads one partition in offset order.
type partitionCursor struct {
	reader *kafka.Reader
	next   int64
}

func newPartitionCursor(brokers []string, topic string, partition int, start int64, log *zap.Logger) (*partitionCursor, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          &kafka.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, ClientID: clientID},
		MinBytes:        1,
		MaxBytes:        defaultMaxBytes,
		MaxWait:         250 * time.Millisecond,
		ReadLagInterval: -1,
		ReadBackoffMin:  50 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		Logger:          kafkaLogger(log),
		ErrorLogger:     kafkaLogger(log),
	})
	if err := r.SetOffset(start); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("read %s/%d: set offset %d: %w", topic, partition, start, err)
	}
	return &partitionCursor{reader: r, next: start}, nil
}

// readUntil hands fn the messages before offset end, at most limit of
// them, and returns how many it read.
func (c *partitionCursor) readUntil(ctx context.Context, end int64, limit int, metrics *readerMetrics, fn func(kafka.Message)) (int, error) {
	n := 0
	for c.next < end && n < limit {
		m, err := c.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			metrics.failed(1)
			return n, fmt.Errorf("read %s/%d@%d: %w", c.reader.Config().Topic, c.reader.Config().Partition, c.next, err)
		}
		if m.Offset < c.next {
			continue
		}
		c.next = m.Offset + 1
		metrics.read(1)
		fn(m)
		n++
	}
	return n, nil
}
