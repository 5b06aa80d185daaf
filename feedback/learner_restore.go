package feedback

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// restore loads the latest checkpoint of the base model's name, or starts
// from the base model at the beginning of the topics, and positions a
// cursor on every partition it reads.
func (l *LearningLoop) restore(ctx context.Context) error {
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

	latest, err := ReadLatest(ctx, l.cfg.Brokers, t.Checkpoints)
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	l.decOffsets, l.outOffsets = Offsets{}, Offsets{}
	clear(l.deadLetters) // of a round that failed: its outcomes are read again
	l.deadLetters = l.deadLetters[:0]
	clear(l.matches)
	l.matches = l.matches[:0]
	l.inHand = map[models.DecisionPos][]byte{}
	l.recent = newRecentDecisions(recentDecisionsBytes)
	rec, found := latest[l.cfg.Base.Name()]
	var cpConfigVersion int64
	var decStart Offsets                // decisions read again from here (nil: l.replay.from())
	var replayOut Offsets               // outcomes read again from here to outOffsets
	replayEarly := map[string]bool{}    // … but for the checkpoint's early parts
	var snapEarly []models.EarlyOutcome // early at the join snapshot: parts of decisions read after it
	l.outSamples, l.outFloor = nil, nil
	if !found {
		l.learner, err = models.NewTermLearner(l.cfg.Base, l.cfg.Learning)
		if err != nil {
			return err
		}
		l.joiner = models.NewCompactJoiner(l.cfg.Join)
		l.replay = joinReplay{}
		l.served = nil
		l.version = 0 // the learner's own sequence: its first model is v1, whatever the base's version
		l.lastCP = checkpointMark{}
		l.log.Info("no checkpoint yet, learning from the base model", zap.String("model", l.cfg.Base.Name()), zap.Int64("base_version", l.cfg.Base.Version()))
	} else {
		cp, err := DecodeCheckpoint(rec.Value)
		if err != nil {
			return fmt.Errorf("learner: restore %s: %w", rec.Position, err)
		}
		m, err := cp.Model.Bind(l.schema)
		if err != nil {
			return fmt.Errorf("learner: restore: %w", err)
		}
		if l.learner, err = models.RestoreTermLearner(m, cp.Learner, l.cfg.Learning); err != nil {
			return fmt.Errorf("learner: restore: %w", err)
		}
		for p, off := range cp.Offsets[t.Decisions] {
			l.decOffsets[p] = off
		}
		for p, off := range cp.Offsets[t.Outcomes] {
			l.outOffsets[p] = off
		}
		l.joiner = models.RestoreCompactJoiner(l.cfg.Join, models.JoinState{Early: cp.Join.Early, StreamTime: cp.Join.StreamTime, Late: cp.Join.Late})
		l.replay = joinReplay{resume: l.decOffsets.Clone(), keep: cp.Join.Pending, keepBits: cp.Join.PendingBits}
		l.version = m.Version()
		l.served = &cp.Model
		cpConfigVersion = cp.ConfigVersion
		replayOut, l.outFloor = cp.Join.OutcomesFrom, cp.Join.OutcomesFrom
		for _, e := range cp.Join.Early {
			replayEarly[e.Outcome.OutcomeID] = true
		}
		l.restoreStart = time.Now()
		hash := xxhash.Sum64(rec.Value)
		l.lastCP = markCheckpoint(rec.Value, l.version, l.decOffsets, l.outOffsets)
		l.joinSnapHash = 0
		if h, ok := l.loadJoinSnapshot(&cp, hash); ok {
			// from the snapshot on: the decisions and outcomes that came
			// after it, up to the checkpoint's offsets
			l.joiner.Expire(func(x models.Match) { l.matches = append(l.matches, match{Match: x}) })
			decStart = l.replay.from()
			for p, off := range h.DecisionOffsets {
				decStart[p] = max(decStart[p], off)
			}
			replayOut, snapEarly = h.OutcomeOffsets, h.Early
			if h.CheckpointHash == hash {
				l.joinSnapHash, l.joinSnapAt = hash, l.cfg.Now()
			}
		}
		l.log.Info("restored checkpoint", zap.Int64("version", l.version), zap.Int64("updates", m.Updates()),
			zap.Int("pending_ranges", len(cp.Join.Pending)), zap.Int("early", len(cp.Join.Early)))
		if err := l.republish(ctx, cp.Model); err != nil {
			return err
		}
	}
	l.modelVersion.Store(l.version)
	if err := l.restoreConfig(ctx, cpConfigVersion); err != nil {
		return err
	}

	// Where each partition's reading starts: the stored offsets (decisions
	// from the first still-pending one, or the join snapshot's), clamped to
	// what retention kept.
	if decStart == nil {
		decStart = l.replay.from()
		// the late tier is read again from the first block it spans: its
		// time index and its decisions; and the time index of the pending
		// decisions from their first block's start (its base, the first
		// decision read there, is what the late fields' times count from)
		for p := range decStart {
			decStart[p] = models.LateBlockStart(decStart[p])
			if from, ok := l.joiner.RestoreLateFrom(p); ok {
				decStart[p] = min(decStart[p], from)
			}
		}
	}
	l.cursors = map[string]map[int32]*fetchCursor{}
	for _, tc := range []struct {
		topic string
		start Offsets
		into  Offsets
		scan  func(p int32) func(*cursorRecord)
	}{
		{t.Decisions, decStart, l.decOffsets, func(int32) func(*cursorRecord) { return scanDecision }},
		{t.Outcomes, l.outOffsets.Clone(), l.outOffsets, func(int32) func(*cursorRecord) { return scanOutcome }},
	} {
		ranges, err := partitionRanges(ctx, l.cfg.Brokers, tc.topic, tc.start, l.log)
		if err != nil {
			l.readers(tc.topic).failed(1)
			return fmt.Errorf("learner: %w", err)
		}
		l.cursors[tc.topic] = map[int32]*fetchCursor{}
		for _, r := range ranges {
			p := int32(r.partition)
			if end, ok := l.decOffsets[p]; ok && tc.topic == t.Decisions && end > r.end {
				return fmt.Errorf("learner: replay pending decisions: %s/%d ends at %d, before the checkpoint's offset %d", tc.topic, p, r.end, end)
			}
			l.cursors[tc.topic][p] = newFetchCursor(l.client, tc.topic, p, r.start, tc.scan(p))
			if _, ok := tc.into[p]; !ok || tc.into[p] < r.start && tc.topic == t.Outcomes {
				tc.into[p] = r.start
			}
		}
	}
	// Re-read the decisions still pending at the checkpoint, so the first
	// round starts where the checkpoint's round ended.
	phase := time.Now()
	if err := l.replayPending(ctx); err != nil {
		return fmt.Errorf("learner: replay pending decisions: %w", err)
	}
	l.joiner.Restored()
	decisionsTook := time.Since(phase)
	phase = time.Now()
	for _, e := range snapEarly {
		if !replayEarly[e.Outcome.OutcomeID] {
			l.joiner.ReplayOutcome(e.Outcome)
		}
	}
	if err := l.replayOutcomes(ctx, replayOut, replayEarly); err != nil {
		return fmt.Errorf("learner: replay outcome parts: %w", err)
	}
	if err := l.resolveReplayed(ctx); err != nil {
		return fmt.Errorf("learner: replay outcome parts: %w", err)
	}
	outcomesTook := time.Since(phase)
	if err := l.resolveMatches(ctx); err != nil {
		return fmt.Errorf("learner: replay pending decisions: %w", err)
	}
	if !l.restoreStart.IsZero() {
		l.log.Info("pending decisions read again", zap.Int("pending", l.joiner.Pending()), zap.Int("late", l.joiner.LateDecisions()), zap.Duration("took", time.Since(l.restoreStart)),
			zap.Duration("decisions_took", decisionsTook), zap.Duration("outcomes_took", outcomesTook))
		l.restoreStart = time.Time{}
	}
	l.dirty, l.sinceSnap, l.oldestApply, l.reweighted = false, 0, time.Time{}, false
	l.lastSnap = l.cfg.Now()
	return nil
}

// republish writes the checkpoint's model to the models topic when the
// topic does not hold it yet: the loop stopped after writing a checkpoint
// and before publishing its model.
func (l *LearningLoop) republish(ctx context.Context, snap models.Snapshot) error {
	latest, err := ReadLatest(ctx, l.cfg.Brokers, l.cfg.Topics.Models)
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	if rec, ok := latest[l.cfg.Base.Name()]; ok {
		if served, err := models.DecodeSnapshot(rec.Value); err == nil && served.Model.Version >= snap.Model.Version {
			return nil
		}
	}
	if err := l.publishModel(ctx, snap); err != nil {
		return err
	}
	l.republished.Add(1)
	l.log.Info("models topic behind the checkpoint: model republished", zap.Int64("version", snap.Model.Version))
	return nil
}

func (l *LearningLoop) partitionsOf(ctx context.Context, topic string) ([]int32, error) {
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

// replayPending reads the decisions of every partition from the first
// pending one to the checkpoint's offset again (a restart with millions
// of pending decisions reads them all) and hands them to the join
// partition by partition in offset order. The cursors fetch every
// partition ahead at once and scan the ids and times on their own
// goroutines.
func (l *LearningLoop) replayPending(ctx context.Context) error {
	l.joiner.Reserve(l.replay.pending()) // those of a join snapshot included
	cursors := l.cursors[l.cfg.Topics.Decisions]
	for _, p := range l.partitions {
		cursors[p].askFor(l.decOffsets[p], math.MaxInt)
	}
	// Millions of values would pass through the cache of recent
	// decisions for the last 32 MiB of them to stay: it is left empty.
	l.replaying = true
	defer func() { l.replaying = false }()
	for _, p := range l.partitions {
		c, end := cursors[p], l.decOffsets[p]
		if _, err := c.readUntil(ctx, end, math.MaxInt, l.decReads, func(r *cursorRecord) { l.handleDecision(p, r) }); err != nil {
			return err
		}
	}
	return nil
}
