package feedback

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

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
	if !found {
		l.learner, err = models.NewOnlineLearner(l.cfg.Base, l.cfg.Learning)
		if err != nil {
			return err
		}
		l.joiner = models.NewCompactJoiner(l.cfg.Join)
		l.replay = joinReplay{}
		l.served = nil
		l.version = 0 // the learner's own sequence: its first model is v1, whatever the base's version
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
		if l.learner, err = models.RestoreLearner(m, cp.Learner, l.cfg.Learning); err != nil {
			return fmt.Errorf("learner: restore: %w", err)
		}
		for p, off := range cp.Offsets[t.Decisions] {
			l.decOffsets[p] = off
		}
		for p, off := range cp.Offsets[t.Outcomes] {
			l.outOffsets[p] = off
		}
		l.joiner = models.RestoreCompactJoiner(l.cfg.Join, models.JoinState{Early: cp.Join.Early, StreamTime: cp.Join.StreamTime})
		l.replay = joinReplay{resume: l.decOffsets.Clone(), keep: cp.Join.Pending, keepBits: cp.Join.PendingBits}
		l.version = m.Version()
		l.served = &cp.Model
		cpConfigVersion = cp.ConfigVersion
		l.log.Info("restored checkpoint", zap.Int64("version", l.version), zap.Int64("updates", m.Updates()),
			zap.Int("pending_ranges", len(cp.Join.Pending)), zap.Int("early", len(cp.Join.Early)))
		l.restoreStart = time.Now()
		if err := l.republish(ctx, cp.Model); err != nil {
			return err
		}
	}
	l.modelVersion.Store(l.version)
	if err := l.restoreConfig(ctx, cpConfigVersion); err != nil {
		return err
	}

	// Where each partition's reading starts: the stored offsets (decisions
	// from the first still-pending one), clamped to what retention kept.
	l.cursors = map[string]map[int32]*partitionCursor{}
	for _, tc := range []struct {
		topic string
		start Offsets
		into  Offsets
	}{{t.Decisions, l.replay.from(), l.decOffsets}, {t.Outcomes, l.outOffsets.Clone(), l.outOffsets}} {
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
	// Re-read the decisions still pending at the checkpoint, so the first
	// round starts where the checkpoint's round ended.
	if err := l.replayPending(ctx); err != nil {
		return fmt.Errorf("learner: replay pending decisions: %w", err)
	}
	if err := l.resolveMatches(ctx); err != nil {
		return fmt.Errorf("learner: replay pending decisions: %w", err)
	}
	if !l.restoreStart.IsZero() {
		l.log.Info("pending decisions read again", zap.Int("pending", l.joiner.Pending()), zap.Duration("took", time.Since(l.restoreStart)))
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

// replayFetchBytes bounds one fetch of the restore's re-read;
// replayAhead is how many fetches each partition's reader may have
// waiting.
const (
	replayFetchBytes = 1 << 20
	replayAhead      = 4
)

// replayed is a decision read again by a restore: its offset and value,
// and, when the join takes it again, its id and time (or why they could
// not be read).
type replayed struct {
	offset int64
	value  []byte
	id     string
	at     time.Time
	err    error
}

// replayBatch is one fetch of a partition's re-read: its decisions, the
// offset after them, or the error that ended the re-read.
type replayBatch struct {
	decisions []replayed
	next      int64
	err       error
	failed    bool // err is a failed fetch
}

// replayPending reads the decisions of every partition from the first
// pending one to the checkpoint's offset again (a restart with millions
// of pending decisions reads them all), hands them to the join partition
// by partition in offset order, and moves each partition's cursor past
// them. The partitions are fetched and their ids and times scanned
// concurrently, ahead of the join (replayAhead fetches each), which
// takes them on this goroutine in the order an uninterrupted restore
// would.
func (l *LearningLoop) replayPending(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	l.joiner.Reserve(l.joiner.Pending() + l.replay.pending())
	batches := map[int32]chan replayBatch{}
	for _, p := range l.partitions {
		c := l.cursors[l.cfg.Topics.Decisions][p]
		if c.next >= l.decOffsets[p] {
			continue
		}
		ch := make(chan replayBatch, replayAhead)
		batches[p] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			l.fetchPending(ctx, p, c.next, l.decOffsets[p], ch)
		}()
	}
	for _, p := range l.partitions {
		ch, ok := batches[p]
		if !ok {
			continue
		}
		c := l.cursors[l.cfg.Topics.Decisions][p]
		for b := range ch {
			if b.err != nil {
				if b.failed {
					l.decReads.failed(1)
				}
				return b.err
			}
			for i := range b.decisions {
				l.replayDecision(p, &b.decisions[i])
			}
			l.decReads.read(len(b.decisions))
			c.next = b.next
		}
		if c.next < l.decOffsets[p] {
			return fmt.Errorf("read %s/%d@%d: stopped: %w", l.cfg.Topics.Decisions, p, c.next, context.Cause(ctx))
		}
		if err := c.reader.SetOffset(l.decOffsets[p]); err != nil {
			return fmt.Errorf("read %s/%d: set offset %d: %w", l.cfg.Topics.Decisions, p, l.decOffsets[p], err)
		}
	}
	return nil
}

// fetchPending fetches partition p of the decisions from offset next up
// to end, scans the id and time of each decision the join takes again,
// and sends the fetches to ch. It touches nothing of the loop's but its
// client and configuration and the (read-only) replay.
func (l *LearningLoop) fetchPending(ctx context.Context, p int32, next, end int64, ch chan<- replayBatch) {
	topic := l.cfg.Topics.Decisions
	send := func(b replayBatch) bool {
		select {
		case ch <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for next < end {
		resp, err := l.client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: int(p), Offset: next,
			MinBytes: 1, MaxBytes: replayFetchBytes, MaxWait: cursorMaxWait})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			send(replayBatch{err: fmt.Errorf("read %s/%d@%d: %w", topic, p, next, err), failed: true})
			return
		}
		if next < resp.LogStartOffset {
			next = resp.LogStartOffset // deleted by retention
		}
		var (
			decisions []replayed
			arena     []byte // the values, one allocation per fetch
			spans     [][2]int
		)
		for resp.Records != nil && next < end {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				break
			}
			if r.Offset < next {
				closeBytes(r.Value)
				continue
			}
			from := len(arena)
			arena, err = appendValue(arena, r.Value)
			if err != nil {
				send(replayBatch{err: fmt.Errorf("read %s/%d@%d: %w", topic, p, r.Offset, err)})
				return
			}
			decisions = append(decisions, replayed{offset: r.Offset})
			spans = append(spans, [2]int{from, len(arena)})
			next = r.Offset + 1
		}
		for i := range decisions {
			d := &decisions[i]
			d.value = arena[spans[i][0]:spans[i][1]:spans[i][1]]
			if l.replay.adds(p, d.offset) {
				d.id, d.at, d.err = models.DecodeDecisionKey(d.value)
			}
		}
		if len(decisions) == 0 && next < end {
			if next >= resp.HighWatermark {
				send(replayBatch{err: fmt.Errorf("read %s/%d@%d: the log ends at %d, before the checkpoint's offset %d", topic, p, next, resp.HighWatermark, end)})
				return
			}
			next++ // nothing at this offset (a compaction or transaction marker's place)
		}
		if !send(replayBatch{decisions: decisions, next: next}) {
			return
		}
	}
}

// replayDecision hands a decision read again by the restore to the join,
// as handleDecision does a decision read by a round.
func (l *LearningLoop) replayDecision(p int32, d *replayed) {
	l.decisionsRead.Add(1)
	if !l.replay.adds(p, d.offset) {
		return // joined or expired before the checkpoint
	}
	l.addDecision(models.DecisionPos{Partition: p, Offset: d.offset}, d.value, d.id, d.at, d.err)
}
