package feedback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// decisionsPerRound is how many decisions a round reads per partition
// at most, in RoundSizes.
const decisionsPerRound = 10

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
	for _, p := range l.partitions { // fetch ahead in every partition at once
		l.cursors[t.Decisions][p].askFor(decEnds[p], decisionsPerRound*l.cfg.RoundSize)
		l.cursors[t.Outcomes][p].askFor(outEnds[p], l.cfg.RoundSize)
	}
	progressed := false
	for _, p := range l.partitions {
		dc := l.cursors[t.Decisions][p]
		n, err := dc.readUntil(ctx, decEnds[p], decisionsPerRound*l.cfg.RoundSize, l.decReads, func(r *cursorRecord) {
			l.handleDecision(p, r)
		})
		progressed = progressed || n > 0
		if err != nil {
			return progressed, err
		}
		oc := l.cursors[t.Outcomes][p]
		n, err = oc.readUntil(ctx, outEnds[p], l.cfg.RoundSize, l.outReads, func(r *cursorRecord) {
			l.handleOutcome(p, r)
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
	l.sampleOutcomes()
	l.pending.Store(int64(l.joiner.Pending()))
	l.joinStorageBytes.Store(l.joiner.StorageBytes())
	l.lateDecisions.Store(int64(l.joiner.LateDecisions()))
	l.lateStorageBytes.Store(l.joiner.LateStorageBytes())
	l.early.Store(int64(l.joiner.Early()))
	l.recentBytes.Store(int64(l.recent.held()))
	s := l.joiner.Stats()
	l.joinStats.Store(&s)
	return progressed, nil
}

// scanDecision reads the id and time of a decision, on the cursor's
// fetching goroutine: of every decision read, those the join does not
// take included (a restore's), as they go to the late tier's time index.
func scanDecision(r *cursorRecord) {
	r.id, r.at, r.err = models.DecodeDecisionKey(r.Value)
}

// scanOutcome decodes and validates an outcome on the cursor's fetching
// goroutine.
func scanOutcome(r *cursorRecord) {
	if err := decodeOutcome(r.Value, &r.outcome); err != nil {
		r.err, r.reason = err, DLQReasonInvalidJSON
	} else if err := r.outcome.Validate(); err != nil {
		r.err, r.reason = err, DLQReasonInvalidOutcome
	}
}

// handleDecision takes a decision a cursor read (scanDecision scanned it).
func (l *LearningLoop) handleDecision(p int32, r *cursorRecord) {
	l.decisionsRead.Add(1)
	if r.Offset+1 > l.decOffsets[p] {
		l.decOffsets[p] = r.Offset + 1
		l.dirty = true
	}
	if l.replaying && l.joiner.InLateRegion(p, r.Offset) {
		// in the late tier at the checkpoint, or closed before it
		if r.err == nil {
			l.joiner.RestoreLateDecision(models.DecisionPos{Partition: p, Offset: r.Offset}, r.id, r.at)
		}
		return
	}
	if !l.replay.adds(p, r.Offset) {
		// re-read after a restore: joined or expired before the checkpoint
		if r.err == nil {
			l.joiner.IndexDecision(models.DecisionPos{Partition: p, Offset: r.Offset}, r.id, r.at)
		}
		return
	}
	l.addDecision(models.DecisionPos{Partition: p, Offset: r.Offset}, r.Value, r.id, r.at, r.err)
}

// addDecision adds the decision at pos, of value, id and time at (or
// that could not be read: err), to the join. The join keeps the id, the
// time and the position; the whole event is decoded and validated when
// it is matched (resolveMatches). value must stay unchanged until then.
func (l *LearningLoop) addDecision(pos models.DecisionPos, value []byte, id string, at time.Time, err error) {
	if err != nil {
		l.decisionsInvalid.Add(1)
		l.log.Warn("decision event skipped", zap.String("topic", l.cfg.Topics.Decisions), zap.Int32("partition", pos.Partition), zap.Int64("offset", pos.Offset), zap.Error(err))
		return
	}
	if !l.replaying {
		l.recent.add(pos, value)
	}
	l.joiner.AddDecision(pos, id, at, func(x models.Match) {
		if x.Pos == pos {
			l.inHand[pos] = value // its early outcome: no need to read it again
		}
		l.matches = append(l.matches, match{Match: x})
	})
}

// handleOutcome takes an outcome a cursor read (scanOutcome decoded it).
func (l *LearningLoop) handleOutcome(p int32, r *cursorRecord) {
	l.outcomesRead.Add(1)
	if r.err != nil {
		l.deadLetter(r.Message, Position{Topic: r.Topic, Partition: p, Offset: r.Offset}, r.reason, r.err)
	} else {
		l.joiner.AddOutcomeFrom(p, r.outcome, func(x models.Match) { l.matches = append(l.matches, match{Match: x, outcomeTime: r.Time}) })
	}
	l.outOffsets[p] = r.Offset + 1
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
	if l.joiner.LateLookups() {
		resolved, err := l.resolveLate(ctx, l.inHand)
		if err != nil {
			return err
		}
		l.expandLate(resolved)
	}
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
	decoded := l.decodeMatches()
	for i, x := range l.matches {
		d, err := decoded[i].d, decoded[i].err
		if errors.Is(err, errDecisionGone) {
			l.unjoined(x, unjoinedDecisionGone)
			continue
		}
		if err != nil {
			l.decisionsInvalid.Add(1)
			l.log.Warn("decision event skipped", zap.String("topic", l.cfg.Topics.Decisions), zap.Int32("partition", x.Pos.Partition), zap.Int64("offset", x.Pos.Offset), zap.Error(err))
			l.unjoined(x, unjoinedDecisionInvalid)
			continue
		}
		l.apply(d, x.Match, x.outcomeTime)
	}
	clear(l.matches)
	l.matches = l.matches[:0]
	clear(l.inHand)
	return nil
}

// decodedMatch is the decision of a match, decoded and validated, or why
// it could not be learned from.
type decodedMatch struct {
	d   models.DecisionEvent
	err error
}

var errDecisionGone = errors.New("decision no longer in the log")

// decodeMatches decodes and validates the decisions of the round's
// matches, spread over the processors: decoding is pure, and the matches
// are applied afterwards in their order.
func (l *LearningLoop) decodeMatches() []decodedMatch {
	out := make([]decodedMatch, len(l.matches))
	decode := func(from, to int) {
		for i := from; i < to; i++ {
			x := l.matches[i]
			value, ok := l.inHand[x.Pos]
			if !ok {
				out[i].err = errDecisionGone
				continue
			}
			d, err := models.DecodeDecisionEvent(value)
			if err == nil {
				err = d.Validate(l.schema)
			}
			if err == nil && x.Outcome != nil && d.DecisionID != x.Outcome.DecisionID {
				err = fmt.Errorf("decision id %q, the outcome's %q: a hash collision", d.DecisionID, x.Outcome.DecisionID)
			}
			out[i] = decodedMatch{d: d, err: err}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(out)/decodeShare)
	if workers <= 1 {
		decode(0, len(out))
		return out
	}
	var wg sync.WaitGroup
	for w := range workers {
		from, to := w*len(out)/workers, (w+1)*len(out)/workers
		wg.Go(func() { decode(from, to) })
	}
	wg.Wait()
	return out
}

// decodeShare is the fewest matches worth a goroutine of their own.
const decodeShare = 64

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

// appendValue appends the bytes of b to dst and releases b.
func appendValue(dst []byte, b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return dst, nil
	}
	defer b.Close()
	n := len(dst)
	dst = slices.Grow(dst, b.Len())[:n+b.Len()]
	_, err := io.ReadFull(b, dst[n:])
	return dst, err
}

func closeBytes(b kafka.Bytes) {
	if b != nil {
		_ = b.Close()
	}
}

func readValue(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	v := make([]byte, b.Len())
	_, err := io.ReadFull(b, v)
	return v, err
}

// apply learns from one match of decision d, if the learned strategy made
// it (docs/admin.md, "Which decisions the learner learns from"):
// decisions of fixed rules and frozen models are joined, so that their
// outcomes are not waited for again, and counted, but teach the model
// nothing. Each field of the match teaches its term; a decision's first
// part teaches the prior 0, a window closed without any part the default
// reward (models.TermLearner).
func (l *LearningLoop) apply(d models.DecisionEvent, x models.Match, outcomeTime time.Time) {
	if !models.LearnsFrom(d) {
		l.notLearned.Add(1)
		return
	}
	t, _ := features.ParseTreatment(d.Treatment) // validated on read
	prior := 0.0
	if x.Outcome == nil {
		prior, _ = l.joiner.DefaultRewardValue()
	}
	l.learner.Learn(t, d.Features, d.Propensity, x.Fields, x.Outcome, &l.reward, x.First, prior)
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
// time, how many decisions the reward window and the late fields' window
// hold, and warns (once per sample while it lasts, and in
// situ_learner_window_decisions) when either is more than the pending
// cap: outcomes, or late fields, later than cap/rate would then never be
// joined.
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
	for _, w := range []struct {
		window, held time.Duration // the window, and the part of it its tier holds
		limit        int
		capName      string
		need         *atomic.Int64
		warn         string
	}{
		{l.joiner.Window(), l.joiner.Window(), l.joiner.MaxPending(), "max_pending", &l.windowNeed,
			"the reward window cannot be held at the observed decision rate: outcomes later than the cap allows are never joined"},
		{l.joiner.LateWindow(), l.joiner.LateWindow() - l.joiner.Window(), l.joiner.MaxLate(), "max_late", &l.lateWindowNeed,
			"the late fields' window cannot be held at the observed decision rate: late fields (recontact_7d, churned) later than the late tier's cap allows are never joined"},
	} {
		need := rate * w.held.Seconds()
		w.need.Store(int64(need))
		if need > float64(w.limit) {
			l.log.Warn(w.warn,
				zap.Float64("decisions_per_second", rate), zap.Duration("window", w.window),
				zap.Int64("window_decisions", int64(need)), zap.Int(w.capName, w.limit),
				zap.Duration("window_held", time.Duration(float64(w.limit)/rate*float64(time.Second))))
		}
	}
}
