package feedback

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"situ/models"
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

// replayFetchBytes bounds one fetch of replayOutcomes.
const replayFetchBytes = cursorFetchBytes

// replayOutcomes reads partition p of the outcomes from from to end again
// and gives each valid part to the join's records, skipping the parts the
// checkpoint holds as early (they join when their decision comes, and
// are learned then).
func (l *LearningLoop) replayOutcomes(ctx context.Context, p int32, from, end int64, early map[string]bool) error {
	topic := l.cfg.Topics.Outcomes
	next := from
	for next < end {
		resp, err := l.client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: int(p), Offset: next,
			MinBytes: 1, MaxBytes: replayFetchBytes, MaxWait: cursorMaxWait})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			l.outReads.failed(1)
			return fmt.Errorf("read %s/%d@%d again: %w", topic, p, next, err)
		}
		if next < resp.LogStartOffset {
			next = resp.LogStartOffset // deleted by retention
		}
		n := 0
		for resp.Records != nil && next < end {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				break
			}
			if r.Offset < next {
				continue
			}
			v, err := readValue(r.Value)
			if err != nil {
				return fmt.Errorf("read %s/%d@%d again: %w", topic, p, r.Offset, err)
			}
			next = r.Offset + 1
			n++
			var o models.Outcome
			if decodeOutcome(v, &o) == nil && o.Validate() == nil && !early[o.OutcomeID] {
				l.joiner.ReplayOutcome(o)
			}
		}
		l.outReads.read(n)
		if n == 0 && next < end {
			if next >= resp.HighWatermark {
				return fmt.Errorf("read %s/%d@%d again: the log ends at %d, before the checkpoint's offset %d", topic, p, next, resp.HighWatermark, end)
			}
			next++ // nothing at this offset
		}
	}
	return nil
}
