package feedback

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/internal/backoff"
)

// Position is where a message sits in Kafka.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

func (p Position) String() string {
	return p.Topic + "/" + strconv.Itoa(int(p.Partition)) + "@" + strconv.FormatInt(p.Offset, 10)
}

// Offsets maps a partition to the next offset to read in it, Kafka's
// committed-offset convention. The learner stores them in its snapshot and
// resumes reading from them.
type Offsets map[int32]int64

// Clone returns a copy of o.
func (o Offsets) Clone() Offsets { return maps.Clone(o) }

// Default reader settings.
const (
	defaultMaxWait  = 500 * time.Millisecond
	defaultMaxBytes = 4 << 20
)

// readerConfig configures readTopic, which reads every partition from
// its first offset.
type readerConfig struct {
	brokers []string
	topic   string
	// maxWait bounds a fetch, and so Close, which waits for it (≤ 1 s).
	maxWait time.Duration
	log     *zap.Logger
	// metrics, if not nil, count the records and the fetch errors (the
	// reader retries them) and tell whether fetching works.
	metrics *readerMetrics
	// untilEnd makes readTopic return once every partition has been read up
	// to its end offset as of the start.
	untilEnd bool
	// caughtUp, if not nil, is called once when every partition has been
	// read up to its end offset as of the start.
	caughtUp func()
}

// validateReaderSettings checks the settings every reader config shares.
func validateReaderSettings(brokers []string, maxWait time.Duration) error {
	if len(brokers) == 0 {
		return errors.New("no brokers")
	}
	if maxWait < 0 || maxWait > time.Second {
		return fmt.Errorf("max wait must be between 0 (default 500ms) and 1s, got %s", maxWait)
	}
	return nil
}

// partitionRange is where reading a partition starts and where its log
// ended when reading started.
type partitionRange struct {
	partition  int
	start, end int64
}

// readTopic reads every partition of a topic from its first offset, one
// kafka-go Reader per partition without a consumer group, and calls handle
// for each message in one goroutine: handle never runs concurrently with
// itself and sees each partition's messages in offset order. It returns
// nil when ctx is cancelled (or, with untilEnd, when the end is reached)
// and the error of handle, wrapped, when handle fails.
func readTopic(ctx context.Context, cfg readerConfig, handle func(context.Context, kafka.Message) error) error {
	if cfg.maxWait == 0 {
		cfg.maxWait = defaultMaxWait
	}
	ranges, err := partitionRanges(ctx, cfg.brokers, cfg.topic, nil, cfg.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cfg.metrics.ok(time.Now())

	pending := make(map[int]int64, len(ranges)) // partition → end still to reach
	for _, r := range ranges {
		if r.start < r.end {
			pending[r.partition] = r.end
		}
	}
	caughtUp := func() bool {
		if len(pending) > 0 {
			return false
		}
		if cfg.caughtUp != nil {
			cfg.caughtUp()
			cfg.caughtUp = nil
		}
		return true
	}
	if caughtUp() && cfg.untilEnd {
		return nil
	}

	readCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		// Cancel before Close: a Reader's Close waits for its fetch.
		cancel()
		wg.Wait()
	}()
	msgs := make(chan kafka.Message)
	readers := make([]*kafka.Reader, 0, len(ranges))
	for _, r := range ranges {
		reader, err := newPartitionReader(cfg.brokers, cfg.topic, r.partition, r.start, cfg.maxWait, cfg.log)
		if err != nil {
			return err
		}
		readers = append(readers, reader)
		retry, err := backoff.New(fetchRetry)
		if err != nil {
			_ = reader.Close()
			return fmt.Errorf("read %s: %w", cfg.topic, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer reader.Close()
			fetchPartition(readCtx, reader, msgs, cfg, r.partition, retry)
		}()
	}
	if cfg.metrics != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchFetches(readCtx, readers, cfg.metrics, 2*cfg.maxWait)
		}()
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if ctx.Err() != nil {
				return nil // never handle past a message a stopping handler left
			}
			if err := handle(ctx, m); err != nil {
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return nil // stopped while handling
				}
				return fmt.Errorf("handle %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
			}
			if end, ok := pending[m.Partition]; ok && m.Offset+1 >= end {
				delete(pending, m.Partition)
				if caughtUp() && cfg.untilEnd {
					return nil
				}
			}
		}
	}
}

// newPartitionReader returns a reader of one partition, without a
// consumer group, positioned at offset start.
func newPartitionReader(brokers []string, topic string, partition int, start int64, maxWait time.Duration, log *zap.Logger) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          &kafka.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, ClientID: clientID},
		MinBytes:        1,
		MaxBytes:        defaultMaxBytes,
		MaxWait:         maxWait,
		ReadLagInterval: -1,
		ReadBackoffMin:  50 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		Logger:          kafkaLogger(log),
		ErrorLogger:     kafkaLogger(log),
	})
	if err := r.SetOffset(start); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("read %s/%d: set offset %d: %w", topic, partition, start, err)
	}
	return r, nil
}

// partitionCursor reads one partition in offset order, on the caller's
// goroutine, up to an end the caller lists: the learning loop's reader,
// whose rounds must end at offsets it chose.
type partitionCursor struct {
	reader *kafka.Reader
	next   int64
}

// cursorMaxWait bounds a cursor's fetch.
const cursorMaxWait = 250 * time.Millisecond

func newPartitionCursor(brokers []string, topic string, partition int, start int64, log *zap.Logger) (*partitionCursor, error) {
	r, err := newPartitionReader(brokers, topic, partition, start, cursorMaxWait, log)
	if err != nil {
		return nil, err
	}
	return &partitionCursor{reader: r, next: start}, nil
}

// readUntil hands fn the messages before offset end, at most limit of
// them, and returns how many it read.
func (c *partitionCursor) readUntil(ctx context.Context, end int64, limit int, metrics *readerMetrics, fn func(kafka.Message)) (int, error) {
	n := 0
	for c.next < end && n < limit {
		m, err := c.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			metrics.failed(1)
			return n, fmt.Errorf("read %s/%d@%d: %w", c.reader.Config().Topic, c.reader.Config().Partition, c.next, err)
		}
		if m.Offset < c.next {
			continue
		}
		c.next = m.Offset + 1
		metrics.read(1)
		fn(m)
		n++
	}
	return n, nil
}

func (c *partitionCursor) close() error { return c.reader.Close() }

// fetchRetry paces a partition's fetches after errors.
var fetchRetry = backoff.Policy{First: 100 * time.Millisecond, Max: 5 * time.Second}

// fetchPartition feeds one partition's messages to msgs until ctx ends.
// Fetch errors are logged and retried with a growing pause: kafka-go's
// Reader keeps its position and reconnects by itself.
func fetchPartition(ctx context.Context, r *kafka.Reader, msgs chan<- kafka.Message, cfg readerConfig, partition int, retry *backoff.Backoff) {
	failing := false
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.metrics.failed(1)
			if !failing {
				cfg.log.Warn("read failed, retrying", zap.String("topic", cfg.topic), zap.Int("partition", partition), zap.Error(err))
				failing = true
			}
			if retry.Wait(ctx) != nil {
				return
			}
			continue
		}
		cfg.metrics.read(1)
		if failing {
			cfg.log.Info("read recovered", zap.String("topic", cfg.topic), zap.Int("partition", partition))
			failing = false
			retry.Reset()
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

// watchFetches tells the metrics, every interval, whether the readers'
// fetches work. A Reader at the end of its partition fetches again every
// MaxWait without returning a message, and retries failed fetches inside
// itself: its Stats (counts since the last call) show both. An interval
// with errors marks the topic down (and counts them), one with fetches and
// no errors marks it up; one with neither changes nothing.
func watchFetches(ctx context.Context, readers []*kafka.Reader, m *readerMetrics, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			var fetches, errs int64
			for _, r := range readers {
				s := r.Stats()
				fetches += s.Fetches
				errs += s.Errors
			}
			switch {
			case errs > 0:
				m.failed(int(errs))
			case fetches > 0:
				m.ok(now)
			}
		}
	}
}

// partitionRanges lists the topic's partitions with their current end
// offsets and where reading them starts: the offset in start, clamped to
// the first offset retention kept, or else the first offset. A start offset
// past the end of its partition, or for a partition the topic does not
// have, is an error: the topic was recreated or lost data.
func partitionRanges(ctx context.Context, brokers []string, topic string, start Offsets, log *zap.Logger) ([]partitionRange, error) {
	transport := &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}

	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read %s: metadata: %w", topic, err)
	}
	var partitions []int
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("read %s: %w (create it with EnsureTopics)", topic, t.Error)
		}
		for _, p := range t.Partitions {
			partitions = append(partitions, p.ID)
		}
	}
	if len(partitions) == 0 {
		return nil, fmt.Errorf("read %s: topic does not exist (create it with EnsureTopics)", topic)
	}
	slices.Sort(partitions)
	for p := range start {
		if !slices.Contains(partitions, int(p)) {
			return nil, fmt.Errorf("read %s: start offset given for partition %d, but the topic has partitions 0-%d", topic, p, len(partitions)-1)
		}
	}

	reqs := make([]kafka.OffsetRequest, 0, 2*len(partitions))
	for _, p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("read %s: list offsets: %w", topic, err)
	}
	bounds := make(map[int]kafka.PartitionOffsets, len(partitions))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("read %s/%d: list offsets: %w", topic, po.Partition, po.Error)
		}
		bounds[po.Partition] = po
	}

	ranges := make([]partitionRange, 0, len(partitions))
	for _, p := range partitions {
		b, ok := bounds[p]
		if !ok {
			return nil, fmt.Errorf("read %s/%d: no offsets listed", topic, p)
		}
		r := partitionRange{partition: p, end: b.LastOffset, start: b.FirstOffset}
		if off, ok := start[int32(p)]; ok {
			switch {
			case off > b.LastOffset:
				return nil, fmt.Errorf("read %s/%d: start offset %d is past the end of the log (%d): the topic was recreated or lost data", topic, p, off, b.LastOffset)
			case off < b.FirstOffset:
				log.Warn("start offset before the log start, messages deleted by retention are skipped",
					zap.String("topic", topic), zap.Int("partition", p), zap.Int64("start", off), zap.Int64("log_start", b.FirstOffset))
				r.start = b.FirstOffset
			default:
				r.start = off
			}
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

// endOffsets lists the end offset of each of partitions of topic.
func endOffsets(ctx context.Context, client *kafka.Client, topic string, partitions []int32) (map[int32]int64, error) {
	reqs := make([]kafka.OffsetRequest, 0, len(partitions))
	for _, p := range partitions {
		reqs = append(reqs, kafka.LastOffsetOf(int(p)))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(partitions))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[int32(po.Partition)] = po.LastOffset
	}
	return out, nil
}
