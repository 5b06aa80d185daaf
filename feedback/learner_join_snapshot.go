package feedback

import (
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"path/filepath"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"

	"situ/models"
)

// checkpointMark is what the loop remembers of its last checkpoint,
// written or restored, to tag a join snapshot with.
type checkpointMark struct {
	ok       bool
	hash     uint64 // xxHash64 of the checkpoint message's value
	version  int64
	dec, out Offsets
}

func markCheckpoint(value []byte, version int64, dec, out Offsets) checkpointMark {
	return checkpointMark{ok: true, hash: xxhash.Sum64(value), version: version, dec: dec.Clone(), out: out.Clone()}
}

func (l *LearningLoop) joinSnapshotPath() string {
	return filepath.Join(l.cfg.StateDir, JoinSnapshotFile)
}

// snapshotJoin writes the join snapshot of the last checkpoint, which the
// join's state is at: when the interval has passed since the last one, or
// with force (the loop stops) whenever the last one is of an earlier
// checkpoint. A snapshot that cannot be written is logged and counted;
// the loop goes on (the next restart reads the topics).
func (l *LearningLoop) snapshotJoin(force bool) {
	if l.cfg.StateDir == "" || !l.lastCP.ok || l.joinSnapHash == l.lastCP.hash {
		return
	}
	now := l.cfg.Now()
	if !force && now.Sub(l.joinSnapAt) < l.cfg.JoinSnapshotInterval {
		return
	}
	l.joinSnapAt = now
	start := time.Now()
	s := l.joiner.State()
	h := joinSnapshotHeader{Model: l.cfg.Base.Name(), Decisions: l.cfg.Topics.Decisions, Outcomes: l.cfg.Topics.Outcomes,
		CheckpointVersion: l.lastCP.version, CheckpointHash: l.lastCP.hash,
		DecisionOffsets: l.lastCP.dec, OutcomeOffsets: l.lastCP.out, StreamTime: s.StreamTime,
		WindowNanos: int64(l.joiner.Window()), LateWindowNanos: int64(l.joiner.LateWindow()), Early: s.Early}
	size, err := writeJoinSnapshot(l.joinSnapshotPath(), h, l.joiner)
	if err != nil {
		l.joinSnapFailed.Add(1)
		l.log.Warn("join snapshot not written: a restart will read the topics again", zap.String("path", l.joinSnapshotPath()), zap.Error(err))
		return
	}
	l.joinSnapHash = l.lastCP.hash
	l.joinSnapWritten.Add(1)
	l.log.Info("join snapshot written", zap.String("path", l.joinSnapshotPath()), zap.Int64("checkpoint_version", l.lastCP.version),
		zap.Int("pending", l.joiner.Pending()), zap.Int64("bytes", size), zap.Duration("took", time.Since(start)))
}

// loadJoinSnapshot fills the join, restored from checkpoint cp (whose
// message value hashes to hash) and still empty, from the join snapshot
// when the snapshot was taken at cp or at an earlier checkpoint of the
// same history, and returns its header. Otherwise it leaves the join
// empty (it may rebuild it) and returns false: the restore reads the
// topics as without a snapshot.
func (l *LearningLoop) loadJoinSnapshot(cp *Checkpoint, hash uint64) (joinSnapshotHeader, bool) {
	if l.cfg.StateDir == "" {
		return joinSnapshotHeader{}, false
	}
	start := time.Now()
	state := models.JoinState{Early: cp.Join.Early, StreamTime: cp.Join.StreamTime, Late: cp.Join.Late}
	kept := map[int32]int{}
	h, err := readJoinSnapshot(l.joinSnapshotPath(), func(h *joinSnapshotHeader) error {
		if err := l.joinSnapshotFits(h, cp, hash); err != nil {
			return err
		}
		l.joiner.Reserve(l.replay.pending())
		return nil
	}, func(t models.LateTierCopy, block func() (models.LateBlockCopy, error), state func() (uint16, error)) error {
		if err := l.joiner.AddLateTier(t, block, state); err != nil {
			return fmt.Errorf("join snapshot: %w", err)
		}
		return nil
	}, func(e models.PendingEntry) error {
		p := e.Pos.Partition
		if e.Pos.Offset >= l.joinSnapHeaderDec(p) {
			return fmt.Errorf("join snapshot: decision %d/%d at or after the snapshot's offset", p, e.Pos.Offset)
		}
		if l.joiner.RestoreLateEntry(e) {
			return nil // its early window closed between the snapshot and the checkpoint
		}
		if !l.replay.keepBits[p].has(e.Pos.Offset) {
			return nil // joined or closed between the snapshot and the checkpoint
		}
		if !l.joiner.AddPendingEntry(e) {
			return fmt.Errorf("join snapshot: decision %d/%d twice, or beyond the cap", p, e.Pos.Offset)
		}
		kept[p]++
		return nil
	})
	if err == nil {
		// every decision pending at the checkpoint and read before the
		// snapshot must be in it: otherwise it is of another history
		for p, b := range l.replay.keepBits {
			if n := b.countBelow(h.DecisionOffsets[p]); n != kept[p] {
				err = fmt.Errorf("join snapshot: %d of the checkpoint's pending decisions of partition %d before its offset %d, %d in the snapshot",
					n, p, h.DecisionOffsets[p], kept[p])
				break
			}
		}
	}
	l.joinSnapDec = nil
	if err != nil {
		if !errors.Is(err, errNoJoinSnapshot) {
			l.joinSnapNotUsed.Add(1)
			l.log.Warn("join snapshot not used: reading the topics again", zap.String("path", l.joinSnapshotPath()), zap.Error(err))
		}
		l.joiner = models.RestoreCompactJoiner(l.cfg.Join, state)
		return joinSnapshotHeader{}, false
	}
	l.joinSnapLoaded.Add(1)
	l.log.Info("join snapshot loaded", zap.String("path", l.joinSnapshotPath()), zap.Int64("snapshot_checkpoint_version", h.CheckpointVersion),
		zap.Bool("at_checkpoint", h.CheckpointHash == hash), zap.Int("pending", l.joiner.Pending()), zap.Duration("took", time.Since(start)))
	return h, true
}

// joinSnapshotFits reports why the snapshot of header h cannot be loaded
// into the join restored from checkpoint cp, or nil.
func (l *LearningLoop) joinSnapshotFits(h *joinSnapshotHeader, cp *Checkpoint, hash uint64) error {
	t := l.cfg.Topics
	cpDec, cpOut := cp.Offsets[t.Decisions], cp.Offsets[t.Outcomes]
	switch {
	case h.Model != l.cfg.Base.Name() || h.Decisions != t.Decisions || h.Outcomes != t.Outcomes:
		return fmt.Errorf("join snapshot: of model %q and topics %s, %s", h.Model, h.Decisions, h.Outcomes)
	case h.WindowNanos != int64(l.joiner.Window()) || h.LateWindowNanos != int64(l.joiner.LateWindow()):
		return fmt.Errorf("join snapshot: windows %s and %s, the join's are %s and %s",
			time.Duration(h.WindowNanos), time.Duration(h.LateWindowNanos), l.joiner.Window(), l.joiner.LateWindow())
	case len(cp.Join.Pending) > 0:
		return errors.New("join snapshot: the checkpoint lists pending decisions as ranges (an earlier build's)")
	case h.CheckpointVersion > cp.Model.Model.Version || h.StreamTime.After(cp.Join.StreamTime):
		return fmt.Errorf("join snapshot: of checkpoint version %d, stream time %s: after the checkpoint's (%d, %s)",
			h.CheckpointVersion, h.StreamTime.Format(time.RFC3339Nano), cp.Model.Model.Version, cp.Join.StreamTime.Format(time.RFC3339Nano))
	case h.CheckpointHash == hash && (!maps.Equal(h.DecisionOffsets, cpDec) || !maps.Equal(h.OutcomeOffsets, cpOut)):
		return errors.New("join snapshot: of the checkpoint, with other offsets")
	}
	for _, off := range []struct {
		name     string
		snap, cp Offsets
	}{{"decisions", h.DecisionOffsets, cpDec}, {"outcomes", h.OutcomeOffsets, cpOut}} {
		ps := make([]int32, 0, len(off.snap))
		for p := range off.snap {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		if !slices.Equal(ps, l.partitions) {
			return fmt.Errorf("join snapshot: %s partitions %v, the topic's %v", off.name, ps, l.partitions)
		}
		for p, o := range off.snap {
			if o > off.cp[p] {
				return fmt.Errorf("join snapshot: %s offset %d of partition %d after the checkpoint's %d", off.name, o, p, off.cp[p])
			}
		}
	}
	l.joinSnapDec = h.DecisionOffsets
	return nil
}

// joinSnapHeaderDec is the snapshot's decision offset of partition p
// while its entries are read.
func (l *LearningLoop) joinSnapHeaderDec(p int32) int64 {
	off, ok := l.joinSnapDec[p]
	if !ok {
		return -1
	}
	return off
}

// countBelow returns how many offsets before off are marked.
func (b PendingBitmap) countBelow(off int64) int {
	n := off - b.From
	if n <= 0 {
		return 0
	}
	whole := min(n/8, int64(len(b.Bits)))
	c := 0
	for _, x := range b.Bits[:whole] {
		c += bits.OnesCount8(x)
	}
	if rest := n % 8; whole < int64(len(b.Bits)) && rest > 0 {
		c += bits.OnesCount8(b.Bits[whole] & (1<<rest - 1))
	}
	return c
}
