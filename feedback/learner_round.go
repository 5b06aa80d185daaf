package feedback

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
)

// ends lists the end offset of every partition of topic.
func (l *LearningLoop) ends(ctx context.Context, topic string) (map[int32]int64, error) {
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
func (l *LearningLoop) round(ctx context.Context) (bool, error) {
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
	l.flushDeadLetters(ctx)
	now := time.Now()
	l.decReads.ok(now)
	l.outReads.ok(now)
	l.pending.Store(int64(l.joiner.Pending()))
	l.early.Store(int64(l.joiner.Early()))
	s := l.joiner.Stats()
	l.joinStats.Store(&s)
	return progressed, nil
}

func (l *LearningLoop) handleDecision(p int32, m kafka.Message) {
	l.decisionsRead.Add(1)
	if m.Offset+1 > l.decOffsets[p] {
		l.decOffsets[p] = m.Offset + 1
		l.dirty = true
	}
	if !l.replay.adds(p, m.Offset) {
		return // re-read after a restore: joined or expired before the checkpoint
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
	l.joiner.AddDecision(decisionRef{partition: p, offset: m.Offset}, d, func(j models.Joined) { l.apply(j, time.Time{}) })
}

func (l *LearningLoop) handleOutcome(ctx context.Context, p int32, m kafka.Message) {
	l.outcomesRead.Add(1)
	pos := Position{Topic: m.Topic, Partition: p, Offset: m.Offset}
	var o models.Outcome
	if err := decodeOutcome(m.Value, &o); err != nil {
		l.deadLetter(m, pos, DLQReasonInvalidJSON, err)
	} else if err := o.Validate(); err != nil {
		l.deadLetter(m, pos, DLQReasonInvalidOutcome, err)
	} else {
		l.joiner.AddOutcome(o, func(j models.Joined) { l.apply(j, m.Time) })
	}
	l.outOffsets[p] = m.Offset + 1
	l.dirty = true
}

// apply learns from one joined decision, if the learned strategy made it
// (docs/admin.md, "Which decisions the learner learns from"): decisions
// of fixed rules and frozen models are joined, so that their outcomes are
// not waited for again, and counted, but teach the model nothing.
func (l *LearningLoop) apply(j models.Joined, outcomeTime time.Time) {
	if !models.LearnsFrom(j.Decision) {
		l.notLearned.Add(1)
		return
	}
	t, _ := features.ParseTreatment(j.Decision.Treatment) // validated on read
	var reward float64
	if j.Outcome != nil {
		reward = l.reward.Reward(j.Outcome)
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

// deadLetter queues an unusable outcome for the DLQ; flushDeadLetters
// writes the round's dead letters in one batch.
func (l *LearningLoop) deadLetter(m kafka.Message, pos Position, reason string, cause error) {
	if reason == DLQReasonInvalidJSON {
		l.dlqJSON.Add(1)
	} else {
		l.dlqInvalid.Add(1)
	}
	l.deadLetters = append(l.deadLetters, deadLetterMessage(m, pos, reason, cause))
	l.log.Info("outcome dead-lettered", zap.Stringer("position", pos), zap.String("reason", reason), zap.NamedError("cause", cause))
}

// flushDeadLetters writes the dead letters of the round in one batch (one
// synchronous write per message would bound a backlog's pace by the
// broker's round trip); a failed write is logged and counted, never
// retried: a poison message never stops learning.
func (l *LearningLoop) flushDeadLetters(ctx context.Context) {
	n := len(l.deadLetters)
	if n == 0 {
		return
	}
	err := l.dlq.WriteMessages(ctx, l.deadLetters...)
	clear(l.deadLetters)
	l.deadLetters = l.deadLetters[:0]
	if err != nil {
		l.dlqWrites.wrote(n, n)
		l.dlqErrors.Add(uint64(n))
		l.log.Error("dead letters not written, messages skipped", zap.Int("messages", n), zap.Error(err))
		return
	}
	l.dlqWrites.wrote(n, 0)
}
