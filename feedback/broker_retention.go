package feedback

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// DefaultBrokerMaxBytes is the embedded broker's disk budget unless
// configured: laptop-sized.
const DefaultBrokerMaxBytes = 512 << 20

// MinBrokerMaxBytes is the smallest budget SplitBrokerBudget accepts.
const MinBrokerMaxBytes = 16 << 20

// DefaultRetentionInterval is how often the embedded broker enforces its
// size retention and refreshes its retention metrics: at 10,000 decisions
// a second a topic grows by about 14 MB a second.
const DefaultRetentionInterval = time.Second

// retentionAgeEvery is how often the age of the oldest records (one fetch
// per partition) is read again.
const retentionAgeEvery = 5 * time.Second

// BrokerRetention bounds what the embedded broker keeps on disk. Topics
// with a time retention (decisions, outcomes, dead letters) also get a
// size retention; compacted topics are bounded by compaction and kept
// whatever their age.
type BrokerRetention struct {
	// Limits are the size limits of the topics with a delete policy.
	// Default none: time retention only.
	Limits []TopicLimit
	// Compacted names the compacted topics: the broker sets their
	// retention.ms to -1 so that only compaction removes their records (the
	// embedded broker would otherwise also delete records older than its
	// default retention, a week, from them).
	Compacted []string
	// RewardWindow is how long a decision waits for its outcome: the time a
	// limited topic should cover. A topic whose size limit keeps less warns
	// and reports it. Default 0: no such check.
	RewardWindow time.Duration
	// Interval is how often the limits are enforced and the metrics
	// refreshed. Default DefaultRetentionInterval. Between two runs a topic
	// may grow past its limit by what is produced in the meantime.
	Interval time.Duration
}

// TopicLimit is the size retention of one topic.
type TopicLimit struct {
	Topic      string
	Partitions int
	// PartitionBytes is the retention.bytes of each partition: the oldest
	// record batches beyond it are deleted.
	PartitionBytes int64
	// SegmentBytes is the segment.bytes of the topic: files are removed
	// whole, so a partition holds up to PartitionBytes+SegmentBytes on
	// disk.
	SegmentBytes int64
}

// Shares of a broker budget: what is left after the reserve for the
// compacted topics and the broker's own state goes to the decisions,
// outcomes and dead letters in these proportions: a decision event takes
// about 1.4 KB on disk, four times an outcome, and both topics should
// cover about the same time.
const (
	budgetReserve   = 1.0 / 8
	budgetDecisions = 0.74
	budgetOutcomes  = 0.18
	budgetDLQ       = 0.08
)

// SplitBrokerBudget divides a disk budget of total bytes over the topics
// of cfg (after WithDefaults): an eighth stays free for the compacted
// topics (bounded by compaction) and the broker's own state; of the rest
// the decisions get 74 %, the outcomes 18 % and the dead letters 8 %,
// each share split evenly over the topic's partitions. Every partition's
// share holds its retention.bytes and one segment (an eighth of the
// share), so that retention, which removes whole segment files, keeps the
// partition within its share. total 0 means no size limit.
func SplitBrokerBudget(total int64, cfg TopicsConfig) (BrokerRetention, error) {
	cfg = cfg.WithDefaults()
	r := BrokerRetention{Compacted: []string{cfg.Models, cfg.Control, cfg.Checkpoints, cfg.Results}}
	if total == 0 {
		return r, nil
	}
	if total < MinBrokerMaxBytes {
		return r, fmt.Errorf("broker budget must be 0 (no size limit) or at least %d MiB, got %d bytes", MinBrokerMaxBytes>>20, total)
	}
	rest := float64(total) * (1 - budgetReserve)
	for _, t := range []struct {
		name       string
		partitions int
		share      float64
	}{
		{cfg.Decisions, cfg.DecisionPartitions, budgetDecisions},
		{cfg.Outcomes, cfg.OutcomePartitions, budgetOutcomes},
		{cfg.OutcomesDLQ, cfg.DLQPartitions, budgetDLQ},
	} {
		perPartition := int64(rest * t.share / float64(t.partitions))
		segment := max(perPartition/8, 64<<10)
		if perPartition <= 2*segment {
			return r, fmt.Errorf("broker budget of %d bytes leaves %d bytes per partition of %s: too little", total, perPartition, t.name)
		}
		r.Limits = append(r.Limits, TopicLimit{Topic: t.name, Partitions: t.partitions, PartitionBytes: perPartition - segment, SegmentBytes: segment})
	}
	return r, nil
}

// retentionMetrics are the embedded broker's gauges, by topic.
type retentionMetrics struct {
	retainedBytes   *prometheus.GaugeVec
	retainedSeconds *prometheus.GaugeVec
	limitBytes      *prometheus.GaugeVec
	belowWindow     *prometheus.GaugeVec
	full            *prometheus.GaugeVec
	window          prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) (*retentionMetrics, error) {
	m := &retentionMetrics{
		retainedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "situ_broker_retained_bytes",
			Help: "Bytes of record batches the embedded broker retains, by topic."}, []string{"topic"}),
		retainedSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "situ_broker_retained_seconds",
			Help: "Age of the oldest record the embedded broker retains, by size-limited topic (0 when empty)."}, []string{"topic"}),
		limitBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "situ_broker_retention_limit_bytes",
			Help: "Size retention of a topic on the embedded broker (retention.bytes times partitions)."}, []string{"topic"}),
		belowWindow: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "situ_broker_retention_below_window",
			Help: "1 when a topic's size limit keeps less than the reward window, else 0."}, []string{"topic"}),
		full: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "situ_broker_retention_full",
			Help: "1 once retention has deleted records from every partition of a size-limited topic (its log start offset moved): the topic, and the broker's in-memory index of its batches, hold what they will hold; else 0."}, []string{"topic"}),
		window: prometheus.NewGauge(prometheus.GaugeOpts{Name: "situ_broker_reward_window_seconds",
			Help: "The reward window the embedded broker's retention should cover."}),
	}
	if err := register(reg, m.retainedBytes, m.retainedSeconds, m.limitBytes, m.belowWindow, m.full, m.window); err != nil {
		return nil, err
	}
	return m, nil
}

// retention enforces a BrokerRetention on the embedded broker's cluster.
type retention struct {
	b       *EmbeddedBroker
	cfg     BrokerRetention
	metrics *retentionMetrics
	log     *zap.Logger
	client  *kafka.Client
	tr      *kafka.Transport

	// warned is when each topic last warned about its window.
	warned map[string]time.Time
	// oldest is the time of each partition's oldest record, read at
	// ageRead.
	oldest  map[string]map[int32]time.Time
	ageRead time.Time
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// startRetention runs the retention loop until stop.
func (b *EmbeddedBroker) startRetention(cfg BrokerRetention, reg prometheus.Registerer, log *zap.Logger) error {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultRetentionInterval
	}
	if cfg.Interval < time.Millisecond {
		return fmt.Errorf("embedded broker: retention interval must be at least 1ms, got %s", cfg.Interval)
	}
	m, err := newRetentionMetrics(reg)
	if err != nil {
		return err
	}
	m.window.Set(cfg.RewardWindow.Seconds())
	for _, l := range cfg.Limits {
		m.limitBytes.WithLabelValues(l.Topic).Set(float64(l.PartitionBytes * int64(l.Partitions)))
	}
	tr := &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: clientID}
	r := &retention{
		b: b, cfg: cfg, metrics: m, log: log, tr: tr, warned: map[string]time.Time{}, oldest: map[string]map[int32]time.Time{},
		client: &kafka.Client{Addr: kafka.TCP(b.addr), Timeout: 5 * time.Second, Transport: tr},
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		r.run(ctx)
	}()
	b.retention = r
	return nil
}

func (r *retention) stop() {
	r.cancel()
	r.done.Wait()
	r.tr.CloseIdleConnections()
}

func (r *retention) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.enforce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("embedded broker retention", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// enforce brings the topics' configs to the limits (whoever created
// them, whenever), applies retention and refreshes the metrics.
func (r *retention) enforce(ctx context.Context) error {
	var errs []error
	if err := r.configure(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(r.cfg.Limits) > 0 {
		// Without size limits, kfake's own cleaner applies the time
		// retention (every CompactionInterval).
		r.b.cluster.ApplyRetention()
	}
	now := time.Now()
	readAge := now.Sub(r.ageRead) >= min(retentionAgeEvery, r.cfg.Interval*5)
	if readAge {
		r.ageRead = now
	}
	for _, l := range r.cfg.Limits {
		infos := r.b.cluster.PartitionInfos(l.Topic)
		if len(infos) == 0 {
			continue
		}
		var bytes, fullest int64
		oldest := now
		trimmed := true // every partition has lost its first records
		for _, p := range infos {
			trimmed = trimmed && p.LogStartOffset > 0
			bytes += p.NumBytes
			fullest = max(fullest, p.NumBytes)
			if p.NumBytes == 0 || p.LogStartOffset >= p.HighWatermark {
				delete(r.oldest[l.Topic], p.Partition)
				continue
			}
			if readAge {
				ts, err := r.firstTimestamp(ctx, l.Topic, p.Partition, p.LogStartOffset)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if r.oldest[l.Topic] == nil {
					r.oldest[l.Topic] = map[int32]time.Time{}
				}
				r.oldest[l.Topic][p.Partition] = ts
			}
			if ts, ok := r.oldest[l.Topic][p.Partition]; ok && ts.Before(oldest) {
				oldest = ts
			}
		}
		retained := max(now.Sub(oldest), 0)
		r.metrics.retainedBytes.WithLabelValues(l.Topic).Set(float64(bytes))
		r.metrics.retainedSeconds.WithLabelValues(l.Topic).Set(retained.Seconds())
		// The size limit cuts into the window when a partition is at its
		// limit and the oldest record is younger than the window.
		short := r.cfg.RewardWindow > 0 && fullest >= l.PartitionBytes*9/10 && retained < r.cfg.RewardWindow
		below := 0.0
		if short {
			below = 1
			if last, ok := r.warned[l.Topic]; !ok || now.Sub(last) >= 5*time.Minute {
				r.warned[l.Topic] = now
				r.log.Warn("size retention keeps less than the reward window: outcomes arriving later than this cannot be joined; raise --broker-max-bytes",
					zap.String("topic", l.Topic), zap.Duration("retained", retained.Round(time.Second)),
					zap.Duration("reward_window", r.cfg.RewardWindow), zap.Int64("limit_bytes", l.PartitionBytes*int64(l.Partitions)))
			}
		}
		r.metrics.belowWindow.WithLabelValues(l.Topic).Set(below)
		full := 0.0
		if trimmed {
			full = 1
		}
		r.metrics.full.WithLabelValues(l.Topic).Set(full)
	}
	for _, t := range r.cfg.Compacted {
		var bytes int64
		for _, p := range r.b.cluster.PartitionInfos(t) {
			bytes += p.NumBytes
		}
		r.metrics.retainedBytes.WithLabelValues(t).Set(float64(bytes))
	}
	return errors.Join(errs...)
}

// configure sets retention.bytes and segment.bytes of the limited topics
// and retention.ms=-1 of the compacted ones where they differ.
func (r *retention) configure(ctx context.Context) error {
	var res []kafka.IncrementalAlterConfigsRequestResource
	want := func(topic string, kv map[string]string) {
		info := r.b.cluster.TopicInfo(topic)
		if info == nil {
			return // not created yet
		}
		var cfgs []kafka.IncrementalAlterConfigsRequestConfig
		for k, v := range kv {
			if cur := info.Configs[k]; cur == nil || *cur != v {
				cfgs = append(cfgs, kafka.IncrementalAlterConfigsRequestConfig{Name: k, Value: v, ConfigOperation: kafka.ConfigOperationSet})
			}
		}
		if len(cfgs) > 0 {
			res = append(res, kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, Configs: cfgs})
		}
	}
	for _, l := range r.cfg.Limits {
		want(l.Topic, map[string]string{
			"retention.bytes": strconv.FormatInt(l.PartitionBytes, 10),
			"segment.bytes":   strconv.FormatInt(l.SegmentBytes, 10),
		})
	}
	for _, t := range r.cfg.Compacted {
		want(t, map[string]string{"retention.ms": "-1"})
	}
	if len(res) == 0 {
		return nil
	}
	resp, err := r.client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: res})
	if err != nil {
		return fmt.Errorf("set topic retention: %w", err)
	}
	var errs []error
	for _, x := range resp.Resources {
		if x.Error != nil {
			errs = append(errs, fmt.Errorf("set retention of topic %s: %w", x.ResourceName, x.Error))
		}
	}
	return errors.Join(errs...)
}

// firstTimestamp returns the time of the first record at or after offset.
func (r *retention) firstTimestamp(ctx context.Context, topic string, partition int32, offset int64) (time.Time, error) {
	resp, err := r.client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: int(partition), Offset: offset, MinBytes: 1, MaxBytes: 1, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return time.Time{}, fmt.Errorf("read the oldest record of %s/%d: %w", topic, partition, err)
	}
	if resp.Error != nil {
		return time.Time{}, fmt.Errorf("read the oldest record of %s/%d: %w", topic, partition, resp.Error)
	}
	for {
		rec, err := resp.Records.ReadRecord()
		if err != nil {
			return time.Time{}, fmt.Errorf("read the oldest record of %s/%d: %w", topic, partition, err)
		}
		if rec.Offset >= offset {
			return rec.Time, nil
		}
	}
}
