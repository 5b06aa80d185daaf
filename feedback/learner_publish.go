package feedback

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// maxSnapshotBytes bounds a model snapshot message; the models topic is
// created with a matching max.message.bytes.
const maxSnapshotBytes = 16 << 20

// maxCheckpointBytes bounds a checkpoint message; the checkpoints topic is
// created with a matching max.message.bytes.
const maxCheckpointBytes = 16 << 20

// maybeCheckpoint writes a checkpoint when one is due (or, with force,
// whenever anything changed) and then publishes its model when the
// weights changed: the version grows only then. The checkpoint goes first:
// a crash between the two writes leaves the models topic behind, and the
// restore republishes the model from the checkpoint; the other order could
// serve weights that no checkpoint holds, which a restarted loop would
// then learn again under the same version.
func (l *LearningLoop) maybeCheckpoint(ctx context.Context, force bool) error {
	if !l.dirty && l.sinceSnap == 0 && !l.reweighted {
		return nil
	}
	now := l.cfg.Now()
	due := l.sinceSnap >= l.cfg.SnapshotEvery || now.Sub(l.lastSnap) >= l.cfg.SnapshotInterval
	if !due && !force {
		return nil
	}
	version := l.version
	if l.sinceSnap > 0 || l.reweighted {
		version++
	}
	snap := models.NewSnapshot(l.learner.Model(version, &l.reward), l.reward.Version, now)
	if version == l.version && l.served != nil {
		snap = *l.served // the weights did not change: the same model, as published
	}
	cp := Checkpoint{
		FormatVersion: CheckpointFormatVersion,
		Model:         snap,
		Learner:       l.learner.State(),
		Offsets:       map[string]Offsets{l.cfg.Topics.Decisions: l.decOffsets.Clone(), l.cfg.Topics.Outcomes: l.outOffsets.Clone()},
		Join:          joinCheckpoint(l.joiner),
		ConfigVersion: l.configVersion,
	}
	cp.Join.OutcomesFrom = l.outcomesFrom()
	value, err := cp.Encode()
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	if len(value) > maxCheckpointBytes-1024 {
		return fmt.Errorf("learner: checkpoint of %d bytes exceeds %d: lower the join's max pending decisions", len(value), maxCheckpointBytes)
	}
	if err := l.checkpoints.WriteMessages(ctx, kafka.Message{Key: []byte(l.cfg.Base.Name()), Value: value}); err != nil {
		l.checkpointWrites.wrote(1, 1)
		return fmt.Errorf("learner: checkpoint v%d: %w", version, err)
	}
	l.checkpointWrites.wrote(1, 0)
	l.checkpointed.Add(1)
	if version != l.version {
		if err := l.publishModel(ctx, snap); err != nil {
			return err
		}
	}
	if !l.oldestApply.IsZero() {
		l.applyLatency.Observe(l.cfg.Now().Sub(l.oldestApply).Seconds())
	}
	l.version, l.sinceSnap, l.dirty, l.lastSnap, l.oldestApply, l.reweighted = version, 0, false, now, time.Time{}, false
	l.served = &snap
	l.lastCP = markCheckpoint(value, version, l.decOffsets, l.outOffsets)
	if !force {
		l.snapshotJoin(false) // the final one is written when the loop stops
	}
	l.modelVersion.Store(version)
	l.log.Debug("checkpoint written", zap.Int64("version", version), zap.Int64("updates", l.learner.Updates()), zap.Int("bytes", len(value)))
	return nil
}

// publishModel writes the served model to the models topic.
func (l *LearningLoop) publishModel(ctx context.Context, snap models.Snapshot) error {
	value, err := snap.Encode()
	if err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	if len(value) > maxSnapshotBytes-1024 {
		return fmt.Errorf("learner: model of %d bytes exceeds %d", len(value), maxSnapshotBytes)
	}
	if err := l.models.WriteMessages(ctx, kafka.Message{Key: []byte(snap.Model.Name), Value: value}); err != nil {
		l.modelWrites.wrote(1, 1)
		return fmt.Errorf("learner: publish model v%d: %w", snap.Model.Version, err)
	}
	l.modelWrites.wrote(1, 0)
	l.snapshots.Add(1)
	return nil
}
