package feedback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"situ/internal/backoff"
)

// Default topic names (docs/kafka.md).
const (
	DefaultDecisionsTopic   = "nba.decisions"
	DefaultOutcomesTopic    = "nba.outcomes"
	DefaultOutcomesDLQTopic = "nba.outcomes.dlq"
	DefaultModelsTopic      = "nba.models"
	DefaultControlTopic     = "nba.control"
	DefaultCheckpointsTopic = "nba.learner.checkpoints"
	DefaultResultsTopic     = "nba.experiments.results"
)

// TopicsConfig names situ's topics and says how to create them.
type TopicsConfig struct {
	// Decisions is the topic of decision events. Default "nba.decisions".
	Decisions string
	// Outcomes is the topic of outcome events. Default "nba.outcomes".
	Outcomes string
	// OutcomesDLQ receives outcome messages that could not be used.
	// Default "nba.outcomes.dlq".
	OutcomesDLQ string
	// Models carries the served models, compacted. Default "nba.models".
	Models string
	// Checkpoints carries the learning loop's checkpoints (optimiser and
	// join state, offsets, the model), compacted. Default
	// "nba.learner.checkpoints".
	Checkpoints string
	// Control carries the data team's configuration records
	// (ControlLog), compacted. Default "nba.control".
	Control string
	// Results carries the latest results of every experiment, keyed by
	// experiment id (ResultsLoop), compacted. Default
	// "nba.experiments.results".
	Results string

	// DecisionPartitions is the partition count of Decisions. Default 3.
	DecisionPartitions int
	// OutcomePartitions is the partition count of Outcomes. Default 3. It
	// must equal DecisionPartitions so that a decision and its outcomes
	// (same key, decision_id) land on the same partition number.
	OutcomePartitions int
	// DLQPartitions is the partition count of OutcomesDLQ. Default 1.
	DLQPartitions int
	// ModelPartitions is the partition count of Models. Default 1.
	ModelPartitions int
	// ControlPartitions is the partition count of Control. Default 1; it
	// must be 1: every reader takes the first record for a version in the
	// one partition's order.
	ControlPartitions int
	// CheckpointPartitions is the partition count of Checkpoints. Default 1.
	CheckpointPartitions int
	// ResultsPartitions is the partition count of Results. Default 1.
	ResultsPartitions int
	// ReplicationFactor of every topic. Default -1: the broker's
	// default.replication.factor (1 on the embedded broker; use 3 on a
	// production cluster).
	ReplicationFactor int

	// DecisionRetention is how long decision events are kept: longer than
	// the late fields' window (a decision is read again when its late
	// fields come) plus the longest learner outage. Default 8 days.
	DecisionRetention time.Duration
	// OutcomeRetention is how long outcome events are kept: a restore
	// reads the parts of the pending decisions again. Default 8 days.
	OutcomeRetention time.Duration
	// DLQRetention is how long dead letters are kept. Default 14 days.
	DLQRetention time.Duration
}

// WithDefaults returns c with every zero field set to its default.
func (c TopicsConfig) WithDefaults() TopicsConfig {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Decisions, DefaultDecisionsTopic)
	def(&c.Outcomes, DefaultOutcomesTopic)
	def(&c.OutcomesDLQ, DefaultOutcomesDLQTopic)
	def(&c.Models, DefaultModelsTopic)
	def(&c.Control, DefaultControlTopic)
	def(&c.Checkpoints, DefaultCheckpointsTopic)
	def(&c.Results, DefaultResultsTopic)
	defInt(&c.DecisionPartitions, 3)
	defInt(&c.OutcomePartitions, 3)
	defInt(&c.DLQPartitions, 1)
	defInt(&c.ModelPartitions, 1)
	defInt(&c.ControlPartitions, 1)
	defInt(&c.CheckpointPartitions, 1)
	defInt(&c.ResultsPartitions, 1)
	defInt(&c.ReplicationFactor, -1)
	defDur(&c.DecisionRetention, 8*24*time.Hour)
	defDur(&c.OutcomeRetention, 8*24*time.Hour)
	defDur(&c.DLQRetention, 14*24*time.Hour)
	return c
}

// Validate checks a config after WithDefaults.
func (c TopicsConfig) Validate() error {
	names := []string{c.Decisions, c.Outcomes, c.OutcomesDLQ, c.Models, c.Control, c.Checkpoints, c.Results}
	for i, n := range names {
		if n == "" {
			return errors.New("topics: every topic needs a name")
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("topics: %q is used for two purposes", n)
		}
	}
	for _, p := range []struct {
		name string
		n    int
	}{
		{"decision", c.DecisionPartitions}, {"outcome", c.OutcomePartitions}, {"dlq", c.DLQPartitions},
		{"model", c.ModelPartitions}, {"control", c.ControlPartitions}, {"checkpoint", c.CheckpointPartitions},
		{"results", c.ResultsPartitions},
	} {
		if p.n < 1 || p.n > 10000 {
			return fmt.Errorf("topics: %s partitions must be between 1 and 10000, got %d", p.name, p.n)
		}
	}
	if c.ControlPartitions != 1 {
		return fmt.Errorf("topics: %s needs exactly 1 partition, got %d: every reader takes the first record for a version in the partition's order", c.Control, c.ControlPartitions)
	}
	if c.DecisionPartitions != c.OutcomePartitions {
		return fmt.Errorf("topics: %s and %s need the same partition count so a decision and its outcomes share a partition number (got %d and %d)",
			c.Decisions, c.Outcomes, c.DecisionPartitions, c.OutcomePartitions)
	}
	if c.ReplicationFactor == 0 || c.ReplicationFactor < -1 || c.ReplicationFactor > 32767 {
		return fmt.Errorf("topics: replication factor must be -1 (broker default) or between 1 and 32767, got %d", c.ReplicationFactor)
	}
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"decision", c.DecisionRetention}, {"outcome", c.OutcomeRetention}, {"dlq", c.DLQRetention}} {
		if r.d < time.Minute {
			return fmt.Errorf("topics: %s retention must be at least 1m, got %s", r.name, r.d)
		}
	}
	return nil
}

// ErrTopicMismatch marks an EnsureTopics error about a topic that exists
// with settings situ cannot use (a partition count, a cleanup policy):
// retrying does not help, an operator has to change the topic or the
// configuration. Every other EnsureTopics error (a broker not reachable
// or not ready yet) may pass when retried.
var ErrTopicMismatch = errors.New("topic settings differ")

// topicSpec is one topic to create.
type topicSpec struct {
	name       string
	partitions int
	configs    map[string]string
}

func (c TopicsConfig) specs() []topicSpec {
	retention := func(d time.Duration) map[string]string {
		return map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(d.Milliseconds(), 10)}
	}
	compact := map[string]string{"cleanup.policy": "compact"}
	snapshots := map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(maxSnapshotBytes)}
	checkpoints := map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(maxCheckpointBytes)}
	return []topicSpec{
		{c.Decisions, c.DecisionPartitions, retention(c.DecisionRetention)},
		{c.Outcomes, c.OutcomePartitions, retention(c.OutcomeRetention)},
		{c.OutcomesDLQ, c.DLQPartitions, retention(c.DLQRetention)},
		{c.Models, c.ModelPartitions, snapshots},
		{c.Control, c.ControlPartitions, compact},
		{c.Checkpoints, c.CheckpointPartitions, checkpoints},
		{c.Results, c.ResultsPartitions, compact},
	}
}

// EnsureTopics creates situ's topics on the cluster at brokers, with the
// configured partition counts, retention and cleanup.policy=compact for
// the models, control, checkpoints and results topics. Topics that already exist are kept, but
// they must match what situ relies on: the configured partition count of
// the decisions and outcomes topics, and compaction of the models,
// control, checkpoints and results topics; otherwise EnsureTopics returns an error that says what
// differs, wrapping ErrTopicMismatch.
func EnsureTopics(ctx context.Context, brokers []string, cfg TopicsConfig) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(brokers) == 0 {
		return errors.New("ensure topics: no brokers")
	}
	transport := &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}

	specs := cfg.specs()
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.name, NumPartitions: s.partitions, ReplicationFactor: cfg.ReplicationFactor}
		for k, v := range s.configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, terr)
		}
	}

	counts, err := partitionCounts(ctx, client, cfg.Decisions, cfg.Outcomes, cfg.OutcomesDLQ, cfg.Models, cfg.Control, cfg.Checkpoints, cfg.Results)
	if err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		want int
	}{{cfg.Decisions, cfg.DecisionPartitions}, {cfg.Outcomes, cfg.OutcomePartitions}} {
		if got := counts[t.name]; got != t.want {
			return fmt.Errorf("%w: topic %s has %d partitions, configured %d: decisions and outcomes must share the partition count (configure %d or recreate the topic)",
				ErrTopicMismatch, t.name, got, t.want, got)
		}
	}
	return checkCompacted(ctx, client, cfg.Models, cfg.Control, cfg.Checkpoints, cfg.Results)
}

// partitionCounts returns the partition count of each topic, waiting (up to
// ctx) for topics that were just created to show up in the metadata.
func partitionCounts(ctx context.Context, client *kafka.Client, topics ...string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	retry, err := backoff.New(backoff.Policy{First: 50 * time.Millisecond, Max: time.Second})
	if err != nil {
		return nil, fmt.Errorf("wait for topics: %w", err)
	}
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return nil, fmt.Errorf("read topic metadata: %w", err)
		}
		counts := make(map[string]int, len(topics))
		var missing error
		for _, t := range meta.Topics {
			if t.Error != nil {
				missing = fmt.Errorf("topic %s: %w", t.Name, t.Error)
				continue
			}
			counts[t.Name] = len(t.Partitions)
		}
		for _, t := range topics {
			if counts[t] == 0 && missing == nil {
				missing = fmt.Errorf("topic %s: not in the cluster metadata", t)
			}
		}
		if missing == nil {
			return counts, nil
		}
		if err := retry.Wait(ctx); err != nil {
			return nil, fmt.Errorf("wait for topics: %w (last: %w)", err, missing)
		}
	}
}

// checkCompacted returns an error if a topic's cleanup.policy lacks compact.
func checkCompacted(ctx context.Context, client *kafka.Client, topics ...string) error {
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"cleanup.policy"},
		})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	policies := make(map[string]string, len(topics))
	for _, r := range resp.Resources {
		if r.Error != nil {
			return fmt.Errorf("describe config of topic %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policies[r.ResourceName] = e.ConfigValue
			}
		}
	}
	for _, t := range topics {
		if !slices.Contains(strings.Split(policies[t], ","), "compact") {
			return fmt.Errorf("%w: topic %s has cleanup.policy=%q: it must be compacted so the latest value of every key is kept (set cleanup.policy=compact)", ErrTopicMismatch, t, policies[t])
		}
	}
	return nil
}
