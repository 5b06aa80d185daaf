package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/api"
	"situ/control"
	"situ/experiments"
	"situ/features"
	"situ/internal/backoff"
	"situ/models"
)

// StopFunc stops a running experiment whose guardrails are breached,
// with the breached statuses as evidence (cmd/situ proposes the stop to
// the control plane as "situ-guardrails").
type StopFunc func(ctx context.Context, id string, evidence []experiments.GuardrailStatus) error

// ResultsLoopConfig configures a ResultsLoop. Zero fields take the
// defaults.
type ResultsLoopConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topics names the topics: it reads Decisions and Outcomes and writes
	// Results. Default: TopicsConfig's defaults.
	Topics TopicsConfig
	// Control is the process's nba.control log (the caller runs it): the
	// experiments' definitions and states, and the reward definitions of
	// the configuration versions the decisions name. Required.
	Control *ControlLog
	// Interval is how often the results of the experiments whose data or
	// state changed are published. Default 2s.
	Interval time.Duration
	// Join tunes the join of experiment decisions and their outcome
	// parts (experiments.PartsJoin): the learner's windows, a 24 h
	// Window (--reward-window) for the fields but recontact_7d and
	// churned and a 7-day LateWindow (--late-window) for those two;
	// 500,000 pending decisions (MaxPending, situ_results_pending_decisions)
	// and 10,000 decisions whose parts wait for them (outcomes of
	// decisions outside experiments wait too, until they are pushed out).
	Join models.JoinConfig
	// Stop, when set, is called when a running experiment with on_breach
	// "stop" has a breached guardrail; on an error it is called again at
	// the next publication. Default nil: breaches are only reported.
	Stop StopFunc
	// RoundSize sizes a round: it reads at most RoundSize outcomes and
	// 10 RoundSizes of decisions per partition (over all partitions: the
	// streams are read in event-time order, readStreams). Default 5000.
	RoundSize int
	// PollInterval is the pause when a round found nothing new. Default
	// 50ms.
	PollInterval time.Duration
	// Retry paces the rebuilds after Kafka failed under the loop. Default
	// from 1s doubling up to 30s.
	Retry backoff.Policy
	// Now stamps the results. Default time.Now.
	Now func() time.Time
	// Registerer receives the situ_results_* metrics and the writer
	// metrics of the results topic. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the loop logs as "results".
	Logger *zap.Logger
}

func (c *ResultsLoopConfig) fill() error {
	c.Topics = c.Topics.WithDefaults()
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.Join.MaxEarly == 0 {
		c.Join.MaxEarly = 10_000
	}
	if c.Join.MaxPending == 0 {
		c.Join.MaxPending = 500_000
	}
	c.Join.DefaultReward = nil // a decision without outcome is no observation
	if c.RoundSize == 0 {
		c.RoundSize = 5000
	}
	if c.PollInterval == 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.Retry.First == 0 {
		c.Retry.First = time.Second
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	switch {
	case len(c.Brokers) == 0:
		return errors.New("results: no brokers")
	case c.Control == nil:
		return errors.New("results: a control log is required")
	case c.Interval < 0 || c.RoundSize < 0 || c.PollInterval < 0:
		return errors.New("results: interval, round size and poll interval must not be negative")
	}
	if _, err := backoff.New(c.Retry); err != nil {
		return fmt.Errorf("results: retry: %w", err)
	}
	return c.Topics.Validate()
}

// Reasons a record is left out of the results
// (situ_results_skipped_total{reason}).
const (
	resultsSkipInvalidDecision = "invalid_decision" // not a decision event this build reads
	resultsSkipNoContext       = "no_context"       // an experiment's decision without the hashed customer id
	resultsSkipInvalidOutcome  = "invalid_outcome"  // not a valid outcome (the learner dead-letters it)
)

// ResultsLoop computes the results of every experiment and publishes them:
// it reads nba.decisions and nba.outcomes from their first offsets, joins
// the decisions that were made in an experiment with the parts of their
// outcomes (experiments.PartsJoin: the latest value of each field, within
// the learner's windows; parts of other decisions are dropped), feeds an
// experiments.Aggregator — a decision's first part adds its observation,
// each later part that changes its values replaces it — and every
// Interval writes the results of each experiment whose data or state
// changed to the compacted results topic, keyed by experiment id. A
// running experiment with on_breach "stop" and a breached guardrail is
// stopped through Stop.
//
// It keeps no state of its own: a restart, or a Kafka failure under it,
// rebuilds the results from the streams (time-retained, so they hold
// every experiment of the retention period), and publishes only once it
// has read them up to where they ended when it started, so the results
// topic keeps the last complete results meanwhile. Each partition's
// decisions and outcomes are read in the order of their event times
// (readStreams), so a rebuild closes the same windows as the run that
// followed the streams; each decision's values are rewarded by the reward
// definition of the configuration version it names, so a rebuild gives
// the same numbers.
type ResultsLoop struct {
	cfg     ResultsLoopConfig
	log     *zap.Logger
	tr      *kafka.Transport
	client  *kafka.Client
	writer  *kafka.Writer
	writes  *writerMetrics
	running atomic.Bool

	// one session's state (rebuilt by each)
	agg        *experiments.Aggregator
	joiner     *experiments.PartsJoin[experiments.UnitRef]
	outcome    models.Outcome // decoding scratch
	cursors    map[string]map[int32]*partitionCursor
	heads      [][2]resultsHead // per partition (in the order of partitions): the next decision and outcome, read and not yet handled
	partitions []int32
	targets    map[string]map[int32]int64 // ends at the session's start: caught up when reached
	caughtUp   bool
	published  map[string]publishedResults
	toStop     map[string][]experiments.GuardrailStatus // breaches of running experiments to stop, with the evidence
	rewards    map[int64]models.RewardDefinition
	lastPub    time.Time

	decisionsRead, experimentDecisions, outcomesRead, outcomesJoined atomic.Uint64
	publishedN, publishErrors, stops, stopErrors                     atomic.Uint64
	skipped                                                          map[string]*atomic.Uint64
	lagDecisions, lagOutcomes                                        atomic.Int64
	pending                                                          atomic.Int64
	joinStats                                                        atomic.Pointer[models.JoinStats]
	joinBefore                                                       models.JoinStats // the stats of the sessions before this one
}

// publishedResults is what was published last for an experiment.
type publishedResults struct {
	version uint64
	state   string
}

// NewResultsLoop checks cfg and returns a loop; Run computes.
func NewResultsLoop(cfg ResultsLoopConfig) (*ResultsLoop, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &ResultsLoop{cfg: cfg, log: cfg.Logger.Named("results"),
		tr:      &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID},
		skipped: map[string]*atomic.Uint64{}}
	l.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: l.tr}
	l.writer = newSyncWriter(cfg.Brokers, cfg.Topics.Results, time.Millisecond, 10*time.Second, l.tr, l.log)
	if err := l.registerMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *ResultsLoop) registerMetrics(reg prometheus.Registerer) error {
	km, err := newKafkaMetrics(reg)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	l.writes = km.writer(l.cfg.Topics.Results)
	cs := []prometheus.Collector{
		counterFunc(&l.decisionsRead, "situ_results_decisions_read_total", "Decision events the results engine read.", nil),
		counterFunc(&l.experimentDecisions, "situ_results_experiment_decisions_total", "Decisions made in an experiment that the results engine counted as exposures.", nil),
		counterFunc(&l.outcomesRead, "situ_results_outcomes_read_total", "Outcome events the results engine read.", nil),
		counterFunc(&l.outcomesJoined, "situ_results_outcomes_joined_total", "Decisions made in an experiment that an outcome part joined (each counted once, at its first part).", nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_results_pending_decisions", Help: "Experiment decisions the results engine holds, waiting for outcome parts (until their late window closes)."},
			func() float64 { return float64(l.pending.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_results_pending_decisions_max", Help: "The cap on experiment decisions the results engine holds; beyond it the oldest is dropped."},
			func() float64 { return float64(l.cfg.Join.MaxPending) }),
		counterFunc(&l.publishedN, "situ_results_published_total", "Experiment results written to the results topic.", nil),
		counterFunc(&l.publishErrors, "situ_results_publish_errors_total", "Experiment results that could not be encoded or written (published again at the next interval).", nil),
		counterFunc(&l.stops, "situ_results_guardrail_stops_total", "Experiments stopped because a guardrail was breached.", nil),
		counterFunc(&l.stopErrors, "situ_results_guardrail_stop_errors_total", "Failed attempts to stop an experiment with a breached guardrail (tried again at the next interval).", nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_results_lag_records", Help: "Records of the topic the results engine has not read yet, as of its last listing.",
			ConstLabels: prometheus.Labels{"topic": l.cfg.Topics.Decisions}}, func() float64 { return float64(l.lagDecisions.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_results_lag_records", Help: "Records of the topic the results engine has not read yet, as of its last listing.",
			ConstLabels: prometheus.Labels{"topic": l.cfg.Topics.Outcomes}}, func() float64 { return float64(l.lagOutcomes.Load()) }),
	}
	for _, r := range []struct {
		name string
		get  func(models.JoinStats) int64
	}{
		{"applied", func(s models.JoinStats) int64 { return s.Joined }},
		{"duplicate", func(s models.JoinStats) int64 { return s.Duplicates }},
		{"stale", func(s models.JoinStats) int64 { return s.Stale }},
		{"late", func(s models.JoinStats) int64 { return s.Late }},
		{"dropped_early", func(s models.JoinStats) int64 { return s.DroppedEarly }},
		{"unknown_decision", func(s models.JoinStats) int64 { return s.EarlyExpired }},
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_results_parts_total",
			Help: "Outcome parts the results engine read, by what its join did with them: applied (changed a decision's values), duplicate (every field already held at that occurred_at; duplicate decision events count here too), " +
				"stale (a field older than the value held), late (after its window), dropped_early (waited for its decision beyond the cap), unknown_decision (its decision never came: most are parts of decisions outside experiments).",
			ConstLabels: prometheus.Labels{"result": r.name}}, func() float64 { return l.joinStat(r.get) }))
	}
	for _, r := range []struct {
		name string
		get  func(models.JoinStats) int64
	}{
		{"cap", func(s models.JoinStats) int64 { return s.DroppedPending }},
		{"cap_late", func(s models.JoinStats) int64 { return s.DroppedLate }},
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_results_decisions_dropped_total",
			Help:        "Experiment decisions dropped from the results join because situ_results_pending_decisions_max was reached: cap before their early window closed, cap_late after (their late fields are lost).",
			ConstLabels: prometheus.Labels{"reason": r.name}}, func() float64 { return l.joinStat(r.get) }))
	}
	for _, r := range []string{resultsSkipInvalidDecision, resultsSkipNoContext, resultsSkipInvalidOutcome} {
		n := &atomic.Uint64{}
		l.skipped[r] = n
		cs = append(cs, counterFunc(n, "situ_results_skipped_total", "Records the results engine left out, by reason.", prometheus.Labels{"reason": r}))
	}
	if err := register(reg, cs...); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// joinStat reads one counter of the join's stats as of the last round,
// those of earlier sessions included.
func (l *ResultsLoop) joinStat(get func(models.JoinStats) int64) float64 {
	if s := l.joinStats.Load(); s != nil {
		return float64(get(*s))
	}
	return 0
}

// Run computes and publishes results until ctx is cancelled; it then
// returns nil. When Kafka fails under it, it waits (Retry) and rebuilds
// from the streams. Run may be called once.
func (l *ResultsLoop) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("results: Run called twice")
	}
	defer l.close()
	retry, err := backoff.New(l.cfg.Retry)
	if err != nil {
		return fmt.Errorf("results: retry: %w", err)
	}
	for {
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			retry.Reset()
		}
		pause := retry.Next()
		l.log.Error("results interrupted; rebuilding from the streams", zap.Error(err), zap.Duration("retry_in", pause))
		if retry.Sleep(ctx, pause) != nil {
			return nil
		}
	}
}

func (l *ResultsLoop) close() {
	l.closeCursors()
	_ = l.writer.Close()
	l.tr.CloseIdleConnections()
}

func (l *ResultsLoop) closeCursors() {
	for _, byPartition := range l.cursors {
		for _, c := range byPartition {
			_ = c.close()
		}
	}
	l.cursors = nil
}

// session rebuilds the results from the first offsets and follows the
// streams until ctx ends or Kafka fails.
func (l *ResultsLoop) session(ctx context.Context) error {
	defer l.closeCursors()
	select {
	case <-l.cfg.Control.CaughtUp():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := l.start(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		progressed, err := l.round(ctx)
		if err != nil {
			return fmt.Errorf("results: %w", err)
		}
		if l.caughtUp && l.cfg.Now().Sub(l.lastPub) >= l.cfg.Interval {
			l.publish(ctx)
		}
		if !progressed {
			select {
			case <-ctx.Done():
			case <-time.After(l.cfg.PollInterval):
			}
		}
	}
	return nil
}

// start resets the session state and opens a cursor at the first offset
// of every partition of both streams.
func (l *ResultsLoop) start(ctx context.Context) error {
	l.agg = experiments.NewAggregator()
	if l.joiner != nil {
		l.joinBefore = addJoinStats(l.joinBefore, l.joiner.Stats())
	}
	l.joiner = experiments.NewPartsJoin[experiments.UnitRef](l.cfg.Join)
	l.cursors = map[string]map[int32]*partitionCursor{}
	l.targets = map[string]map[int32]int64{}
	l.caughtUp = false
	l.published = map[string]publishedResults{}
	l.toStop = map[string][]experiments.GuardrailStatus{}
	l.rewards = map[int64]models.RewardDefinition{}
	l.lastPub = time.Time{}
	t := l.cfg.Topics
	for _, topic := range []string{t.Decisions, t.Outcomes} {
		ranges, err := partitionRanges(ctx, l.cfg.Brokers, topic, nil, l.log)
		if err != nil {
			return fmt.Errorf("results: %w", err)
		}
		l.cursors[topic] = map[int32]*partitionCursor{}
		l.targets[topic] = map[int32]int64{}
		var parts []int32
		for _, r := range ranges {
			c, err := newPartitionCursor(l.cfg.Brokers, topic, r.partition, r.start, l.log)
			if err != nil {
				return fmt.Errorf("results: %w", err)
			}
			l.cursors[topic][int32(r.partition)] = c
			l.targets[topic][int32(r.partition)] = r.end
			parts = append(parts, int32(r.partition))
		}
		if topic == t.Decisions {
			l.partitions = parts
			l.heads = make([][2]resultsHead, len(parts))
		} else if len(parts) != len(l.partitions) {
			return fmt.Errorf("results: %s has %d partitions, %s %d: they must be equal", t.Outcomes, len(parts), t.Decisions, len(l.partitions))
		}
	}
	l.log.Info("rebuilding experiment results from the streams", zap.Int("partitions", len(l.partitions)))
	return nil
}

// ends lists the end offset of every partition of topic.
func (l *ResultsLoop) ends(ctx context.Context, topic string) (map[int32]int64, error) {
	return endOffsets(ctx, l.client, topic, l.partitions)
}

// round reads the decisions and outcomes of every partition that are
// there (readStreams), at most 10 RoundSizes of decisions and one of
// outcomes per partition; outcome ends are listed first, so a decision
// written before its outcome is within reach when its outcome is.
func (l *ResultsLoop) round(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	t := l.cfg.Topics
	outEnds, err := l.ends(ctx, t.Outcomes)
	if err != nil {
		return false, err
	}
	decEnds, err := l.ends(ctx, t.Decisions)
	if err != nil {
		return false, err
	}
	n, err := l.readStreams(ctx, decEnds, outEnds)
	if err != nil {
		return n > 0, err
	}
	var lagD, lagO int64
	caught := true
	for i, p := range l.partitions {
		dc, oc, h := l.cursors[t.Decisions][p], l.cursors[t.Outcomes][p], &l.heads[i]
		held := [2]int64{}
		for k := range h {
			if h[k].ok {
				held[k] = 1
			}
		}
		lagD += max(0, decEnds[p]-dc.next+held[0])
		lagO += max(0, outEnds[p]-oc.next+held[1])
		caught = caught && held == [2]int64{} && dc.next >= l.targets[t.Decisions][p] && oc.next >= l.targets[t.Outcomes][p]
	}
	l.lagDecisions.Store(lagD)
	l.lagOutcomes.Store(lagO)
	l.pending.Store(int64(l.joiner.Pending()))
	s := addJoinStats(l.joinBefore, l.joiner.Stats())
	l.joinStats.Store(&s)
	if caught && !l.caughtUp {
		l.caughtUp = true
		l.log.Info("experiment results rebuilt from the streams", zap.Uint64("experiment_decisions", l.experimentDecisions.Load()),
			zap.Uint64("outcomes_joined", l.outcomesJoined.Load()), zap.Int("pending", l.joiner.Pending()))
	}
	return n > 0, nil
}

// addJoinStats returns the sums of a's and b's counters.
func addJoinStats(a, b models.JoinStats) models.JoinStats {
	return models.JoinStats{Joined: a.Joined + b.Joined, Expired: a.Expired + b.Expired, ExpiredRewarded: a.ExpiredRewarded + b.ExpiredRewarded,
		EarlyExpired: a.EarlyExpired + b.EarlyExpired, Duplicates: a.Duplicates + b.Duplicates, DroppedPending: a.DroppedPending + b.DroppedPending,
		DroppedEarly: a.DroppedEarly + b.DroppedEarly, Stale: a.Stale + b.Stale, Late: a.Late + b.Late, DroppedLate: a.DroppedLate + b.DroppedLate,
		Closed: a.Closed + b.Closed}
}

// resultsHead is the next record of one stream of a partition, read and
// not yet handled, with its event time: a decision's time, an outcome's
// occurred_at (zero, handled at once, when it could not be read).
type resultsHead struct {
	ok  bool
	msg kafka.Message
	at  time.Time
	err error // the outcome's decoding or validation error
	o   models.Outcome
}

// readStreams hands the decisions and outcomes of every partition, up to
// their ends, to the join in the order of their event times — a decision
// at its time, an outcome part at its occurred_at, a decision before a
// part of the same time — and returns how many it handled. The join's
// windows are measured in stream time, the latest decision time read:
// read this way a part meets the stream time it was sent at, whether the
// streams are followed as they are written or read again from their
// start (a rebuild), so that both close the same windows. Each
// partition's stream is read in order; the next record handled is the
// earliest of their next records, and only while every partition's
// stream that has more to read has shown its next record, so that none
// is overtaken. The budgets (10 RoundSizes of decisions and one of
// outcomes per partition) end the round when a stream has used its
// share.
func (l *ResultsLoop) readStreams(ctx context.Context, decEnds, outEnds map[int32]int64) (int, error) {
	t := l.cfg.Topics
	budget := [2]int{10 * l.cfg.RoundSize * len(l.partitions), l.cfg.RoundSize * len(l.partitions)}
	var used [2]int
	for {
		var best *resultsHead
		bestK := 0
		for i, p := range l.partitions {
			h := &l.heads[i]
			for k, topic := range [2]string{t.Decisions, t.Outcomes} {
				c, end := l.cursors[topic][p], [2]int64{decEnds[p], outEnds[p]}[k]
				if !h[k].ok && c.next < end {
					if used[k] >= budget[k] {
						return used[0] + used[1], nil // its next record is not known: none may overtake it
					}
					if err := l.fetchHead(ctx, c, end, k == 1, &h[k]); err != nil {
						return used[0] + used[1], err
					}
				}
				if !h[k].ok {
					continue // nothing more to read
				}
				if best == nil || h[k].at.Before(best.at) || h[k].at.Equal(best.at) && k < bestK {
					best, bestK = &h[k], k
				}
			}
		}
		if best == nil {
			return used[0] + used[1], nil
		}
		best.ok = false
		used[bestK]++
		if bestK == 0 {
			l.handleDecision(best.msg)
		} else {
			l.addOutcome(best.msg, &best.o, best.err)
		}
	}
}

// fetchHead reads the next record of cursor c into h, with its event
// time: an outcome is decoded and validated.
func (l *ResultsLoop) fetchHead(ctx context.Context, c *partitionCursor, end int64, outcome bool, h *resultsHead) error {
	_, err := c.readUntil(ctx, end, 1, nil, func(m kafka.Message) {
		*h = resultsHead{ok: true, msg: m}
		if !outcome {
			if _, at, err := models.DecodeDecisionKey(m.Value); err == nil {
				h.at = at
			}
			return
		}
		if h.err = decodeOutcome(m.Value, &h.o); h.err == nil {
			if h.err = h.o.Validate(); h.err == nil {
				h.at = h.o.OccurredAt
			}
		}
	})
	return err
}

// experimentMember is how a decision event names its experiment.
const experimentMember = `"experiment":`

func (l *ResultsLoop) handleDecision(m kafka.Message) {
	l.decisionsRead.Add(1)
	if !bytes.Contains(m.Value, []byte(experimentMember)) {
		return // no experiment: not decoded (situ writes the member as "experiment":)
	}
	d, err := models.DecodeDecisionEvent(m.Value)
	if err != nil {
		l.skip(resultsSkipInvalidDecision, m, err)
		return
	}
	if d.Experiment == "" {
		return
	}
	if d.Context == nil || d.Context.Customer.ID == "" || d.DecisionID == "" {
		l.skip(resultsSkipNoContext, m, nil)
		return
	}
	if l.joiner.Holds(d.DecisionID) {
		l.joiner.AddDecision(experiments.JoinDecision[experiments.UnitRef]{ID: d.DecisionID, Time: d.Time}, l.observe) // counts the duplicate
		return                                                                                                         // a decision written twice is one exposure
	}
	// the exposure first, so that parts that waited for the decision
	// find its unit in its segments
	cu := d.Context.Customer
	l.experimentDecisions.Add(1)
	unit := l.agg.AddExposure(experiments.Exposure{Experiment: d.Experiment, Arm: d.Arm, Unit: cu.ID, Tier: cu.Tier,
		FirstContact: cu.FirstContact, DecisionID: d.DecisionID, Time: d.Time})
	l.joiner.AddDecision(experiments.JoinDecision[experiments.UnitRef]{ID: d.DecisionID, Time: d.Time, Ref: unit,
		ConfigVersion: d.ConfigVersion}, l.observe)
}

// handleOutcome decodes and adds an outcome part.
func (l *ResultsLoop) handleOutcome(m kafka.Message) {
	err := decodeOutcome(m.Value, &l.outcome)
	if err == nil {
		err = l.outcome.Validate()
	}
	l.addOutcome(m, &l.outcome, err)
}

// addOutcome adds the outcome part o read from m (err: it could not be).
func (l *ResultsLoop) addOutcome(m kafka.Message, o *models.Outcome, err error) {
	l.outcomesRead.Add(1)
	if err != nil {
		l.skip(resultsSkipInvalidOutcome, m, err)
		return
	}
	l.joiner.AddOutcome(o, l.observe)
}

// observe gives the aggregator what a part changed: the decision's first
// values, or its new values in place of the old. Both are rewarded from
// the decision's latest fields by the reward definition of the
// configuration version the decision names.
func (l *ResultsLoop) observe(c *experiments.Change[experiments.UnitRef]) {
	d := &c.Decision
	reward := l.rewardFor(d.ConfigVersion)
	after := experiments.ValuesOf(&c.After, reward.Reward(&c.After))
	if c.First() {
		l.outcomesJoined.Add(1)
		l.agg.Observe(d.Ref, &after)
		return
	}
	before := experiments.ValuesOf(&c.Before, reward.Reward(&c.Before))
	l.agg.Replace(d.Ref, &before, &after)
}

// rewardFor returns the reward definition of configuration version v, or
// the current one when the history does not hold v.
func (l *ResultsLoop) rewardFor(v int64) *models.RewardDefinition {
	if r, ok := l.rewards[v]; ok {
		return &r
	}
	cfg, ok := l.cfg.Control.history.At(v)
	if !ok {
		_, cfg = l.cfg.Control.Current()
		r := cfg.Reward
		return &r // not cached: v may be read later
	}
	l.rewards[v] = cfg.Reward
	r := cfg.Reward
	return &r
}

func (l *ResultsLoop) skip(reason string, m kafka.Message, err error) {
	l.skipped[reason].Add(1)
	l.log.Debug("record left out of the results", zap.String("reason", reason), zap.String("topic", m.Topic),
		zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
}

// publish writes the results of every experiment of the configuration
// whose data or state changed since it was last published, then stops
// the running experiments whose guardrails say so.
func (l *ResultsLoop) publish(ctx context.Context) {
	now := l.cfg.Now()
	l.lastPub = now
	_, cfg := l.cfg.Control.Current()
	var msgs []kafka.Message
	var pending []string
	var pendingMark []publishedResults
	for _, e := range cfg.Experiments {
		id := e.Definition.ID
		mark := publishedResults{version: l.agg.Version(id), state: e.State}
		last, seen := l.published[id]
		if seen && last == mark {
			continue
		}
		res := l.agg.Results(e, now)
		if b := res.Breached(); e.Running() && e.Definition.OnBreach == experiments.OnBreachStop && l.cfg.Stop != nil && len(b) > 0 {
			l.toStop[id] = b
		}
		value, err := json.Marshal(res)
		if err != nil {
			l.publishErrors.Add(1)
			l.log.Error("experiment results not encoded", zap.String("experiment", id), zap.Error(err))
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: value})
		pending, pendingMark = append(pending, id), append(pendingMark, mark)
	}
	if len(msgs) > 0 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := l.writer.WriteMessages(wctx, msgs...)
		cancel()
		if err != nil {
			l.writes.wrote(len(msgs), len(msgs))
			l.publishErrors.Add(uint64(len(msgs)))
			l.log.Error("experiment results not written; trying again at the next interval", zap.Int("experiments", len(msgs)), zap.Error(err))
		} else {
			l.writes.wrote(len(msgs), 0)
			l.publishedN.Add(uint64(len(msgs)))
			for i, id := range pending {
				l.published[id] = pendingMark[i]
			}
		}
	}
	for _, e := range cfg.Experiments {
		id := e.Definition.ID
		if evidence, ok := l.toStop[id]; ok {
			if !e.Running() {
				delete(l.toStop, id)
				continue
			}
			l.stop(ctx, id, evidence)
		}
	}
}

// stop asks Stop to stop an experiment with its breaches as evidence.
func (l *ResultsLoop) stop(ctx context.Context, id string, evidence []experiments.GuardrailStatus) {
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := l.cfg.Stop(sctx, id, evidence); err != nil {
		var fe *features.FieldError
		if errors.As(err, &fe) {
			// already stopped by someone else, or gone: nothing to retry
			delete(l.toStop, id)
			l.log.Info("experiment with a breached guardrail not stopped", zap.String("experiment", id), zap.Error(err))
			return
		}
		l.stopErrors.Add(1)
		l.log.Error("experiment with a breached guardrail not stopped; trying again", zap.String("experiment", id), zap.Error(err))
		return
	}
	delete(l.toStop, id)
	l.stops.Add(1)
	l.log.Warn("experiment stopped: guardrail breached", zap.String("experiment", id),
		zap.String("reason", experiments.BreachReason(evidence)))
}

// GuardrailStop returns the StopFunc that proposes the stop of an
// experiment to the control plane, authored "situ-guardrails", with the
// breached guardrails as the evidence and the first of them as the reason.
func GuardrailStop(p *ControlPlane) StopFunc {
	return func(ctx context.Context, id string, evidence []experiments.GuardrailStatus) error {
		reason := experiments.BreachReason(evidence)
		_, err := p.Submit(ctx, api.ChangeRequest{Author: GuardrailsAuthor, Reason: reason, Principal: GuardrailsAuthor,
			Change: control.Change{Experiments: &control.ExperimentsChange{
				Stop: &control.ExperimentStop{ID: id, By: GuardrailsAuthor, Reason: reason, Evidence: evidence},
			}}})
		if err != nil {
			return fmt.Errorf("stop experiment %s: %w", id, err)
		}
		return nil
	}
}

// GuardrailsAuthor is the author of the automatic stops.
const GuardrailsAuthor = "situ-guardrails"
