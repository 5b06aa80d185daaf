package feedback

import (
	"context"
	"fmt"
	"time"
)

// The join keeps, for each pending decision that received outcome parts,
// which fields were applied and their occurred_at (models.CompactJoiner).
// Those records are not in the checkpoint: at 200 decisions/s they would
// be hundreds of megabytes. A restore rebuilds them by reading again the
// outcomes that may have reached a decision still pending, from
// Join.OutcomesFrom up to the checkpoint's outcome offsets
// (models.CompactJoiner.ReplayOutcome: nothing is learned twice).
//
// OutcomesFrom is found from samples of the outcome offsets taken as
// stream time advances. A part of a pending decision of time T was read
// at a stream time of at least T − window (T itself if its decision was
// there first; an early part waits at most one window): so every such
// part lies after the offsets sampled at a stream time before
// T₀ − window, T₀ being the oldest pending decision's time. A restore
// reads up to two windows of outcomes again.

// outcomeSample is the outcome offsets after a round, at stream time at.
type outcomeSample struct {
	at   time.Time
	offs Offsets
}

// outcomeSampleEvery is the stream time between two samples.
const outcomeSampleEvery = time.Minute

// sampleOutcomes records the outcome offsets after a round, once per
// minute of stream time.
func (l *LearningLoop) sampleOutcomes() {
	st := l.joiner.StreamTime()
	if st.IsZero() {
		return
	}
	if n := len(l.outSamples); n > 0 && st.Sub(l.outSamples[n-1].at) < outcomeSampleEvery {
		return
	}
	l.outSamples = append(l.outSamples, outcomeSample{at: st, offs: l.outOffsets.Clone()})
	l.outcomesFrom() // prune
}

// outcomesFrom returns, per outcomes partition, the first offset a
// restore reads again to rebuild the part records of the decisions now
// pending (nil: nothing is pending). It forgets the samples no restore
// needs any more.
func (l *LearningLoop) outcomesFrom() Offsets {
	oldest, ok := l.joiner.OldestPending()
	if late, lok := l.joiner.OldestLate(); lok && (!ok || late.Before(oldest)) {
		oldest, ok = late, true // its decisions' late states are rebuilt alike
	}
	if !ok {
		return nil
	}
	cut := oldest.Add(-l.joiner.Window())
	for len(l.outSamples) > 1 && l.outSamples[1].at.Before(cut) {
		l.outFloor = l.outSamples[0].offs
		l.outSamples = l.outSamples[1:]
	}
	from := l.outFloor
	if len(l.outSamples) > 0 && l.outSamples[0].at.Before(cut) {
		from = l.outSamples[0].offs
	}
	out := Offsets{}
	for _, p := range l.partitions {
		f, ok := from[p]
		if !ok {
			f = 0 // from the start of what retention kept
		}
		out[p] = min(f, l.outOffsets[p])
	}
	return out
}

// replayChunk is how many outcomes replayOutcomes takes from one
// partition before it turns to the next: meanwhile the cursors of the
// others fetch and decode ahead, on other cores.
const replayChunk = 4096

// replayOutcomes reads the outcomes of every partition in from, from
// there to the checkpoint's offsets (outOffsets), again and gives each
// valid part to the join's records, skipping the parts the checkpoint
// holds as early (they join when their decision comes, and are learned
// then). All partitions are fetched and decoded at once, each by its own
// cursor; the parts are applied on this goroutine, partition by partition
// in turns (a decision's parts are all in one partition, keyed by its id,
// so their order within it is all that matters).
func (l *LearningLoop) replayOutcomes(ctx context.Context, from Offsets, early map[string]bool) error {
	if len(from) == 0 {
		return nil
	}
	topic := l.cfg.Topics.Outcomes
	ranges, err := partitionRanges(ctx, l.cfg.Brokers, topic, from, l.log)
	if err != nil {
		l.outReads.failed(1)
		return fmt.Errorf("read %s again: %w", topic, err)
	}
	type replay struct {
		p      int32
		end    int64
		cursor *fetchCursor
	}
	var open []replay
	defer func() {
		for _, r := range open {
			_ = r.cursor.close()
		}
	}()
	for _, r := range ranges {
		p := int32(r.partition)
		end := l.outOffsets[p]
		if _, ok := from[p]; !ok || r.start >= end {
			continue
		}
		if r.end < end {
			return fmt.Errorf("read %s/%d again: the log ends at %d, before the checkpoint's offset %d", topic, p, r.end, end)
		}
		c := newFetchCursor(l.client, topic, p, r.start, scanOutcome)
		c.ask(end)
		open = append(open, replay{p: p, end: end, cursor: c})
	}
	apply := func(p int32) func(r *cursorRecord) {
		return func(r *cursorRecord) {
			if r.err == nil && !early[r.outcome.OutcomeID] {
				l.joiner.ReplayOutcomeFrom(p, r.outcome)
			}
		}
	}
	for left := len(open); left > 0; {
		left = 0
		for _, r := range open {
			if r.cursor.next >= r.end {
				continue
			}
			if _, err := r.cursor.readUntil(ctx, r.end, replayChunk, l.outReads, apply(r.p)); err != nil {
				return fmt.Errorf("read %s/%d again: %w", topic, r.p, err)
			}
			// the parts of the late tier's decisions wait for a re-read
			// of their ranges: a batch at a time
			if err := l.resolveReplayed(ctx); err != nil {
				return err
			}
			if r.cursor.next < r.end {
				left++
			}
		}
	}
	return nil
}
