package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/features"
	"situ/internal/backoff"
	"situ/models"
)

// LearningLoop is the one active consumer that turns outcomes into
// weights: the process around models.OnlineLearner. It reads nba.decisions
// and nba.outcomes partition by partition from the offsets in its last
// checkpoint, joins each outcome with its decision, applies an
// online update, writes checkpoints (optimiser state, offsets,
// join state, the model) to the checkpoints topic and publishes the served
// model alone to nba.models. A loop that crashes resumes from its last
// checkpoint: every outcome is applied exactly once, and the weights equal
// those of an uninterrupted run.
//
// The job of each file: learner_config.go the configuration,
// learner_metrics.go the metrics, learner.go supervision,
// learner_restore.go the restore, learner_round.go the rounds,
// fetch_cursor.go the reading of each partition, recent_decisions.go the
// cache of the decisions read last, learner_publish.go checkpoints and
// models, checkpoint.go the checkpoint's format.
type LearningLoop struct {
	cfg         LearningLoopConfig
	log         *zap.Logger
	schema      *features.Schema
	tr          *kafka.Transport
	client      *kafka.Client
	dlq         *kafka.Writer
	models      *kafka.Writer
	checkpoints *kafka.Writer

	learner      *models.TermLearner
	joiner       *models.CompactJoiner
	matches      []match                       // of the current round (resolveMatches)
	inHand       map[models.DecisionPos][]byte // matched decisions' values, read again
	recent       *recentDecisions              // values of the decisions read last
	replaying    bool                          // a restore is reading pending decisions again: not cached
	replay       joinReplay                    // which re-read decisions the join takes again
	version      int64                         // of the last model published
	served       *models.Snapshot              // the last model published, nil before the first
	decOffsets   Offsets
	outOffsets   Offsets
	cursors      map[string]map[int32]*fetchCursor
	partitions   []int32
	dirty        bool // offsets moved since the last checkpoint
	sinceSnap    int  // updates since the last checkpoint
	lastSnap     time.Time
	oldestApply  time.Time // message time of the oldest outcome applied since the last checkpoint
	running      atomic.Bool
	restoreStart time.Time       // when the restore started re-reading pending decisions
	rateFrom     time.Time       // stream time the decision rate is measured from (checkWindow)
	rateRead     uint64          // decisions read then
	deadLetters  []kafka.Message // of the current round (flushDeadLetters)

	// where a restore reads outcomes again from (learner_parts.go)
	outSamples []outcomeSample
	outFloor   Offsets

	// the join snapshot (learner_join_snapshot.go)
	lastCP       checkpointMark // the last checkpoint written or restored
	joinSnapAt   time.Time      // when the last join snapshot was written (or tried)
	joinSnapHash uint64         // of the checkpoint the last join snapshot was taken at
	joinSnapDec  Offsets        // while a snapshot is read: its decision offsets

	// the configuration applied (learner_control.go)
	reward        models.RewardDefinition
	configVersion int64
	configFailed  int64 // a version that could not be applied: not tried again
	reweighted    bool  // pins moved weights since the last checkpoint

	loopMetrics
}

// NewLearningLoop checks cfg and returns a loop; Run learns.
func NewLearningLoop(cfg LearningLoopConfig) (*LearningLoop, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if _, err := backoff.New(cfg.Retry); err != nil {
		return nil, fmt.Errorf("learner: retry: %w", err)
	}
	l := &LearningLoop{cfg: cfg, log: cfg.Logger.Named("learner"), schema: cfg.Base.Schema(),
		tr: &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID}}
	l.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: l.tr}
	l.dlq = newSyncWriter(cfg.Brokers, cfg.Topics.OutcomesDLQ, time.Millisecond, 5*time.Second, l.tr, l.log)
	l.models = newSyncWriter(cfg.Brokers, cfg.Topics.Models, time.Millisecond, 10*time.Second, l.tr, l.log)
	l.models.BatchBytes = maxSnapshotBytes
	l.checkpoints = newSyncWriter(cfg.Brokers, cfg.Topics.Checkpoints, time.Millisecond, 10*time.Second, l.tr, l.log)
	l.checkpoints.BatchBytes = maxCheckpointBytes
	if err := l.loopMetrics.register(cfg.Registerer, cfg.Topics); err != nil {
		return nil, err
	}
	probe := models.NewCompactJoiner(cfg.Join)
	l.maxPending.Store(int64(probe.MaxPending()))
	l.maxLate.Store(int64(probe.MaxLate()))
	if cfg.Control != nil {
		if err := register(cfg.Registerer, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_learner_config_version",
			Help: "Version of the data team's configuration (nba.control) the learner applied: its pins and reward definition."},
			func() float64 { return float64(l.configApplied.Load()) })); err != nil {
			return nil, fmt.Errorf("learner: %w", err)
		}
	}
	return l, nil
}

// roundTimeout bounds one round: reading messages that the broker listed
// as present. A round that fails leaves the loop to be restarted from its
// last checkpoint.
const roundTimeout = 30 * time.Second

// Run restores the last checkpoint and learns until ctx is cancelled; it
// then writes a final checkpoint and returns nil. When Kafka fails under
// it (a broker restart, a lost connection), it drops what it learned since
// its last checkpoint, waits (Retry) and resumes from that checkpoint: a
// broker outage delays learning, it never loses or repeats an outcome, and
// it never stops the process. Run may be called once.
func (l *LearningLoop) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("learner: Run called twice")
	}
	defer l.close()
	retry, err := backoff.New(l.cfg.Retry)
	if err != nil {
		return fmt.Errorf("learner: retry: %w", err)
	}
	for {
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			if errors.Is(err, errFinalSnapshot) {
				return err
			}
			return nil // stopping: whatever failed meanwhile is read again next time
		}
		if time.Since(started) > time.Minute {
			retry.Reset() // a long session is a recovery, not one more failure in a row
		}
		// Learning stalls until a round succeeds again.
		l.decReads.down()
		l.outReads.down()
		l.restarts.Add(1)
		pause := retry.Next()
		l.log.Error("learning interrupted; resuming from the last checkpoint", zap.Error(err), zap.Duration("retry_in", pause))
		if retry.Sleep(ctx, pause) != nil {
			return nil
		}
	}
}

// session restores the last checkpoint and runs rounds until ctx ends (it
// then writes a final checkpoint) or Kafka fails.
func (l *LearningLoop) session(ctx context.Context) error {
	defer l.closeCursors()
	if err := l.restore(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		l.applyNewConfig()
		// A round runs to its end even when ctx is cancelled meanwhile, so
		// checkpoints always fall between rounds and a restart replays the
		// same rounds as an uninterrupted run.
		roundCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), roundTimeout)
		progressed, err := l.round(roundCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("learner: %w", err)
		}
		if err := l.maybeCheckpoint(ctx, false); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if !progressed {
			select {
			case <-ctx.Done():
			case <-time.After(l.cfg.PollInterval):
			}
		}
	}
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.maybeCheckpoint(final, true); err != nil {
		return fmt.Errorf("%w: %w", errFinalSnapshot, err)
	}
	l.snapshotJoin(true)
	return nil
}

// errFinalSnapshot marks the failure of the checkpoint a stopping loop
// writes: the only error Run returns.
var errFinalSnapshot = errors.New("learner: final checkpoint")

func (l *LearningLoop) closeCursors() {
	for _, byPartition := range l.cursors {
		for _, c := range byPartition {
			_ = c.close()
		}
	}
	l.cursors = nil
}

func (l *LearningLoop) close() {
	l.closeCursors()
	_ = l.dlq.Close()
	_ = l.models.Close()
	_ = l.checkpoints.Close()
	l.tr.CloseIdleConnections()
}
