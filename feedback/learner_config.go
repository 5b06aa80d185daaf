package feedback

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"situ/internal/backoff"
	"situ/models"
)

// LearningLoopConfig configures the LearningLoop. Zero fields take the
// defaults.
type LearningLoopConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topics names the topics. Default: TopicsConfig's defaults.
	Topics TopicsConfig
	// Base is the model learning starts from when the checkpoints topic
	// holds no checkpoint of it yet (its name is the message key). Required.
	Base *models.Model
	// Reward turns outcomes into rewards. Required (models.DefaultReward).
	// With Control, it is the reward of configuration version 0 only.
	Reward models.RewardDefinition
	// Control, when set, is the process's nba.control log (the caller
	// runs it): the loop waits for it to catch up before it restores,
	// applies the configuration version its checkpoint names, and applies
	// each newer version between two rounds — the pins (pinned weights
	// never move) and the reward definition, which weighs the terms
	// learned so far at once (models.TermLearner); nothing is relearned. The version applied is in
	// every checkpoint, so what the loop applied follows from the topics.
	// Default nil: Reward, and no pins.
	Control *ControlLog
	// Learning tunes the online update (models.LearnerConfig defaults).
	Learning models.LearnerConfig
	// Join tunes the decision/outcome join (models.JoinConfig defaults:
	// 24 h window, expired decisions skipped). The loop's join is a
	// models.CompactJoiner: about 44 bytes per pending decision in its
	// reward window, 2.25 after it while the decision waits for its late
	// fields (MaxLate), outside the Go heap; the decision is read again
	// from nba.decisions when its outcome comes.
	Join models.JoinConfig
	// SnapshotEvery checkpoints and publishes the model after this many
	// updates. Default 1000.
	SnapshotEvery int
	// SnapshotInterval checkpoints this long after the last checkpoint
	// when anything changed. Default 500ms.
	SnapshotInterval time.Duration
	// StateDir, when set, is a directory of the loop's own (the data dir's
	// "learner"): after a checkpoint it keeps there a local copy of the
	// join, the join snapshot (join_snapshot.go), from which a restart
	// restores the pending decisions without reading them and the
	// outcomes of the window again. Default "": none; a restart reads the
	// topics.
	StateDir string
	// JoinSnapshotInterval is the time between two join snapshots (each
	// written right after a checkpoint, and one more when the loop stops).
	// A restart after a crash reads again what came after the last one.
	// Default 5m.
	JoinSnapshotInterval time.Duration
	// RoundSize is the most outcomes read per partition per round; rounds
	// visit the partitions in order, so the order of updates depends only
	// on the topics' contents. Default 1000.
	RoundSize int
	// PollInterval is the pause when a round found nothing new. Default 50ms.
	PollInterval time.Duration
	// Retry paces the restarts after Kafka failed under the loop. Default:
	// from 1s (First), doubling up to 30s (Max), ±20% jitter.
	Retry backoff.Policy
	// Now stamps snapshots. Default time.Now.
	Now func() time.Time
	// Registerer receives the metrics, among them the Kafka metrics by
	// topic of its readers (decisions, outcomes) and writers (checkpoints,
	// models, DLQ). Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the loop logs as "learner".
	Logger *zap.Logger
}

func (c *LearningLoopConfig) fill() error {
	c.Topics = c.Topics.WithDefaults()
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 1000
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 500 * time.Millisecond
	}
	if c.JoinSnapshotInterval == 0 {
		c.JoinSnapshotInterval = 5 * time.Minute
	}
	if c.RoundSize == 0 {
		c.RoundSize = 1000
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
		return errors.New("learner: no brokers")
	case c.Base == nil:
		return errors.New("learner: a base model is required")
	case c.SnapshotEvery < 0 || c.SnapshotInterval < 0 || c.RoundSize < 0 || c.PollInterval < 0 || c.JoinSnapshotInterval < 0:
		return errors.New("learner: snapshot every, snapshot interval, join snapshot interval, round size and poll interval must not be negative")
	}
	if err := c.Reward.Validate(); err != nil {
		return fmt.Errorf("learner: %w", err)
	}
	return c.Topics.Validate()
}
