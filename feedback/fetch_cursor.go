package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"situ/internal/backoff"
	"situ/models"
)

// fetchCursor reads one partition in offset order up to ends its caller
// asks for, as partitionCursor does, with fetches of its own through the
// loop's client: a goroutine fetches ahead (at most cursorAhead fetches
// of up to cursorFetchBytes) while the caller handles what came before,
// and hands over whole fetches, not one message at a time. It fetches
// only below the end last asked for (what the caller's next read will
// take), so a cursor that has caught up holds no fetch open at the
// broker, and a cursor fetches and scans little more than its reader
// takes. The learning loop reads its rounds with it.
type fetchCursor struct {
	client    *kafka.Client
	topic     string
	partition int32
	// scan, when set, runs on the fetching goroutine for every record:
	// work on the record that need not wait for the caller's goroutine.
	scan func(r *cursorRecord)

	next    int64          // the next offset handed to the caller
	records []cursorRecord // fetched, not yet handed over
	ahead   chan cursorFetch
	want    atomic.Int64  // the end the caller asked for
	wake    chan struct{} // the end moved
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// cursorRecord is one fetched message. Its Value and Key stay valid and
// unchanged for as long as they are referenced.
type cursorRecord struct {
	kafka.Message
	// What scan found: a decision's id and time, or an outcome; err, when
	// the value could not be used, and the dead-letter reason of an outcome.
	id      string
	at      time.Time
	outcome models.Outcome
	err     error
	reason  string
}

// cursorFetch is one fetch's records, or the error of a fetch.
type cursorFetch struct {
	records []cursorRecord
	err     error
}

const (
	cursorFetchBytes = 1 << 20
	cursorAhead      = 4
)

func newFetchCursor(client *kafka.Client, topic string, partition int32, start int64, scan func(*cursorRecord)) *fetchCursor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &fetchCursor{client: client, topic: topic, partition: partition, scan: scan, next: start,
		ahead: make(chan cursorFetch, cursorAhead), wake: make(chan struct{}, 1), stop: cancel}
	c.want.Store(start)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.fetch(ctx, start)
	}()
	return c
}

// askFor lets the cursor fetch what readUntil(end, limit) will read:
// up to offset end, at most limit offsets past the caller's position.
// Called by the caller's goroutine only.
func (c *fetchCursor) askFor(end int64, limit int) {
	if int64(limit) < end-c.next {
		end = c.next + int64(limit)
	}
	c.ask(end)
}

// ask lets the cursor fetch up to offset end.
func (c *fetchCursor) ask(end int64) {
	for {
		w := c.want.Load()
		if end <= w {
			return
		}
		if c.want.CompareAndSwap(w, end) {
			break
		}
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// readUntil hands fn the messages before offset end, at most limit of
// them, and returns how many it read. A failed fetch is counted and
// retried (the cursor keeps its place) until ctx ends; an offset the log
// no longer holds is an error.
func (c *fetchCursor) readUntil(ctx context.Context, end int64, limit int, metrics *readerMetrics, fn func(*cursorRecord)) (int, error) {
	c.askFor(end, limit)
	n := 0
	for c.next < end && n < limit {
		if len(c.records) == 0 {
			select {
			case f := <-c.ahead:
				if f.err != nil {
					metrics.failed(1)
					if errors.Is(f.err, kafka.OffsetOutOfRange) {
						return n, fmt.Errorf("read %s/%d@%d: %w", c.topic, c.partition, c.next, f.err)
					}
					continue
				}
				c.records = f.records
			case <-ctx.Done():
				return n, ctx.Err()
			}
			continue
		}
		r := &c.records[0]
		c.records = c.records[1:]
		if r.Offset < c.next {
			continue
		}
		c.next = r.Offset + 1
		metrics.read(1)
		fn(r)
		n++
	}
	return n, nil
}

// fetch fetches from offset from on, below the end asked for, until ctx
// ends.
func (c *fetchCursor) fetch(ctx context.Context, from int64) {
	retry, _ := backoff.New(fetchRetry)
	next := from
	for {
		for next >= c.want.Load() {
			select {
			case <-c.wake:
			case <-ctx.Done():
				return
			}
		}
		f, after, err := c.fetchOnce(ctx, next)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f = cursorFetch{err: err}
		} else {
			retry.Reset()
			next = after
		}
		if len(f.records) > 0 || err != nil {
			select {
			case c.ahead <- f:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if errors.Is(err, kafka.OffsetOutOfRange) || retry.Wait(ctx) != nil {
				return
			}
		}
	}
}

// fetchOnce fetches the records from offset next and returns them with
// the offset after them.
func (c *fetchCursor) fetchOnce(ctx context.Context, next int64) (cursorFetch, int64, error) {
	resp, err := c.client.Fetch(ctx, &kafka.FetchRequest{Topic: c.topic, Partition: int(c.partition), Offset: next,
		MinBytes: 1, MaxBytes: cursorFetchBytes, MaxWait: cursorMaxWait})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return cursorFetch{}, next, fmt.Errorf("read %s/%d@%d: %w", c.topic, c.partition, next, err)
	}
	// The records first (ReadRecord reuses its Record: copies), then one
	// allocation for all their bytes.
	var recs []kafka.Record
	size := 0
	for resp.Records != nil {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			break
		}
		if r.Offset < next {
			closeBytes(r.Key)
			closeBytes(r.Value)
			continue
		}
		size += bytesLen(r.Key) + bytesLen(r.Value)
		recs = append(recs, *r)
	}
	arena := make([]byte, 0, size)
	out := make([]cursorRecord, len(recs))
	for i, r := range recs {
		m := &out[i].Message
		m.Topic, m.Partition, m.Offset, m.Time = c.topic, int(c.partition), r.Offset, r.Time
		if len(r.Headers) > 0 {
			m.Headers = r.Headers
		}
		var kerr, verr error
		m.Key, arena, kerr = takeBytes(arena, r.Key)
		m.Value, arena, verr = takeBytes(arena, r.Value)
		if err := errors.Join(kerr, verr); err != nil {
			return cursorFetch{}, next, fmt.Errorf("read %s/%d@%d: %w", c.topic, c.partition, r.Offset, err)
		}
		if c.scan != nil {
			c.scan(&out[i])
		}
		next = r.Offset + 1
	}
	if len(out) == 0 && next < resp.HighWatermark && next >= resp.LogStartOffset {
		next++ // nothing at this offset (a compaction or transaction marker's place)
	}
	return cursorFetch{records: out}, next, nil
}

func bytesLen(b kafka.Bytes) int {
	if b == nil {
		return 0
	}
	return b.Len()
}

// takeBytes appends the bytes of b to arena, releases b, and returns them
// (nil for a nil b) with the arena.
func takeBytes(arena []byte, b kafka.Bytes) ([]byte, []byte, error) {
	if b == nil {
		return nil, arena, nil
	}
	from := len(arena)
	arena, err := appendValue(arena, b)
	return arena[from:len(arena):len(arena)], arena, err
}

// close stops the fetching goroutine and waits for it.
func (c *fetchCursor) close() error {
	c.stop()
	c.wg.Wait()
	return nil
}
