package feedback

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
)

// ends lists the end offset of every partition of topic.
func (l *LearningLoop) ends(ctx context.Context, topic string) (map[int32]int64, error) {
	return endOffsets(ctx, l.client, topic, l.partitions)
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
			l.handleOutcome(p, m)
		})
		progressed = progressed || n > 0
		if err != nil {
			return progressed, err
		}
	}
	if err := l.resolveMatches(ctx); err != nil {
		return progressed, err
	}
	l.flushDeadLetters(ctx)
	now := time.Now()
	l.decReads.ok(now)
	l.outReads.ok(now)
	l.checkWindow()
	l.pending.Store(int64(l.joiner.Pending()))
	l.early.Store(int64(l.joiner.Early()))
	l.recentBytes.Store(int64(l.recent.bytes))
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
	// The join keeps the id, the time and the position; the whole event
	// is decoded and validated when it is matched (resolveMatches).
	id, at, err := models.DecodeDecisionKey(m.Value)
	if err != nil {
		l.decisionsInvalid.Add(1)
		l.log.Warn("decision event skipped", zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		return
	}
	pos := models.DecisionPos{Partition: p, Offset: m.Offset}
	l.recent.add(pos, m.Value)
	l.joiner.AddDecision(pos, id, at, func(x models.Match) {
		if x.Pos == pos {
			l.inHand[pos] = m.Value // its early outcome: no need to read it again
		}
		l.matches = append(l.matches, match{Match: x})
	})
}

func (l *LearningLoop) handleOutcome(p int32, m kafka.Message) {
	l.outcomesRead.Add(1)
	pos := Position{Topic: m.Topic, Partition: p, Offset: m.Offset}
	var o models.Outcome
	if err := decodeOutcome(m.Value, &o); err != nil {
		l.deadLetter(m, pos, DLQReasonInvalidJSON, err)
	} else if err := o.Validate(); err != nil {
		l.deadLetter(m, pos, DLQReasonInvalidOutcome, err)
	} else {
		l.joiner.AddOutcome(o, func(x models.Match) { l.matches = append(l.matches, match{Match: x, outcomeTime: m.Time}) })
	}
	l.outOffsets[p] = m.Offset + 1
	l.dirty = true
}

// match is a join the round found, with the time of the outcome's message.
type match struct {
	models.Match
	outcomeTime time.Time
}

// resolveMatches reads the matched decisions again, partition by
// partition in offset order, and applies the matches in the order the
// join found them: the order of updates depends only on the topics.
func (l *LearningLoop) resolveMatches(ctx context.Context) error {
	if len(l.matches) == 0 {
		return nil
	}
	byPartition := map[int32][]int64{}
	for _, x := range l.matches {
		if _, ok := l.inHand[x.Pos]; ok {
			continue
		}
		if v, ok := l.recent.get(x.Pos); ok {
			l.inHand[x.Pos] = v
			continue
		}
		byPartition[x.Pos.Partition] = append(byPartition[x.Pos.Partition], x.Pos.Offset)
	}
	// the partitions' fetches overlap: a backlog's pace is their round trips
	type read struct {
		values map[models.DecisionPos][]byte
		err    error
	}
	results := make(chan read, len(byPartition))
	for p, offs := range byPartition {
		go func() {
			values := make(map[models.DecisionPos][]byte, len(offs))
			err := l.readAgain(ctx, p, offs, values)
			results <- read{values, err}
		}()
	}
	var err error
	for range byPartition {
		r := <-results
		if r.err != nil && err == nil {
			err = r.err
		}
		maps.Copy(l.inHand, r.values)
	}
	if err != nil {
		return err
	}
	for _, x := range l.matches {
		value, ok := l.inHand[x.Pos]
		if !ok {
			l.unjoined(x, unjoinedDecisionGone)
			continue
		}
		d, err := models.DecodeDecisionEvent(value)
		if err == nil {
			err = d.Validate(l.schema)
		}
		if err == nil && x.Outcome != nil && d.DecisionID != x.Outcome.DecisionID {
			err = fmt.Errorf("decision id %q, the outcome's %q: a hash collision", d.DecisionID, x.Outcome.DecisionID)
		}
		if err != nil {
			l.decisionsInvalid.Add(1)
			l.log.Warn("decision event skipped", zap.String("topic", l.cfg.Topics.Decisions), zap.Int32("partition", x.Pos.Partition), zap.Int64("offset", x.Pos.Offset), zap.Error(err))
			l.unjoined(x, unjoinedDecisionInvalid)
			continue
		}
		l.apply(models.Joined{Decision: d, Outcome: x.Outcome}, x.outcomeTime)
	}
	clear(l.matches)
	l.matches = l.matches[:0]
	clear(l.inHand)
	return nil
}

// unjoined counts a match whose decision could not be learned from.
func (l *LearningLoop) unjoined(x match, reason string) {
	if x.Outcome != nil {
		l.unjoinedOutcomes.add(reason)
	}
}

// readAgain reads the decisions at offs (partition p) into into with
// fetches from the first offset not yet read: one fetch covers a run of
// nearby decisions, a lone one costs a fetch of its own.
func (l *LearningLoop) readAgain(ctx context.Context, p int32, offs []int64, into map[models.DecisionPos][]byte) error {
	slices.Sort(offs)
	offs = slices.Compact(offs)
	for i := 0; i < len(offs); {
		resp, err := l.client.Fetch(ctx, &kafka.FetchRequest{Topic: l.cfg.Topics.Decisions, Partition: int(p), Offset: offs[i],
			MinBytes: 1, MaxBytes: reReadBytes, MaxWait: cursorMaxWait})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			l.decReads.failed(1)
			return fmt.Errorf("read %s/%d@%d again: %w", l.cfg.Topics.Decisions, p, offs[i], err)
		}
		if offs[i] < resp.LogStartOffset || offs[i] >= resp.HighWatermark {
			i++ // deleted by retention: counted by resolveMatches
			continue
		}
		progressed := false
		for resp.Records != nil {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				break
			}
			for i < len(offs) && offs[i] < r.Offset {
				i++ // not in the log (a compaction or transaction marker's place)
				progressed = true
			}
			if i < len(offs) && offs[i] == r.Offset {
				v, err := readValue(r.Value)
				if err != nil {
					return fmt.Errorf("read %s/%d@%d again: %w", l.cfg.Topics.Decisions, p, r.Offset, err)
				}
				into[models.DecisionPos{Partition: p, Offset: r.Offset}] = v
				l.decReads.read(1)
				i++
				progressed = true
				if i == len(offs) || offs[i]-r.Offset > reReadGap {
					break // the next one is far: fetch from it
				}
			}
		}
		if !progressed {
			i++ // nothing at this offset
		}
	}
	return nil
}

// reReadBytes bounds one fetch of decisions read again; reReadGap is the
// distance to the next wanted offset beyond which a new fetch starts
// there rather than reading on.
const (
	reReadBytes = 1 << 20
	reReadGap   = 256
)

func readValue(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	v := make([]byte, b.Len())
	_, err := io.ReadFull(b, v)
	return v, err
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

// windowSample is how much stream time the decision rate is measured
// over before checking that the window fits under the cap.
const windowSample = time.Minute

// checkWindow estimates, from the decisions read per minute of stream
// time, how many decisions one reward window holds, and warns (once per
// sample while it lasts, and in situ_learner_window_decisions) when that
// is more than the pending cap: outcomes later than cap/rate would then
// never be joined.
func (l *LearningLoop) checkWindow() {
	st := l.joiner.StreamTime()
	read := l.decisionsRead.Load()
	if l.rateFrom.IsZero() || st.Before(l.rateFrom) {
		l.rateFrom, l.rateRead = st, read
		return
	}
	span := st.Sub(l.rateFrom)
	if span < windowSample {
		return
	}
	rate := float64(read-l.rateRead) / span.Seconds()
	l.rateFrom, l.rateRead = st, read
	need := rate * l.joiner.Window().Seconds()
	l.windowNeed.Store(int64(need))
	if limit := l.joiner.MaxPending(); need > float64(limit) {
		l.log.Warn("the reward window cannot be held at the observed decision rate: outcomes later than the cap allows are never joined",
			zap.Float64("decisions_per_second", rate), zap.Duration("window", l.joiner.Window()),
			zap.Int64("window_decisions", int64(need)), zap.Int("max_pending", limit),
			zap.Duration("window_held", time.Duration(float64(limit)/rate*float64(time.Second))))
	}
}
