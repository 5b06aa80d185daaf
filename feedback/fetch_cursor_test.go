package feedback

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestFetchCursor reads one partition of the embedded broker through a
// fetchCursor, in reads of a few hundred messages: small values and
// values of 400 KB (fetches of 1 MiB then hold a few each), each message
// once, in offset order, with its key, value and time, scanned on the
// cursor's goroutine; a read up to an end the log has not reached yet
// waits for it, and goes on when the messages are written.
func TestFetchCursor(t *testing.T) {
	b, topics := startBroker(t)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(b.Brokers()...), Topic: topics.Outcomes, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		BatchBytes: 4 << 20, Transport: tr, Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 1 })}
	defer w.Close()
	value := func(i int) []byte {
		if i%100 == 50 {
			return bytes.Repeat([]byte{byte(i)}, 400<<10)
		}
		return fmt.Appendf(nil, "value %d", i)
	}
	write := func(from, to int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := from; i < to; i += 50 {
			var msgs []kafka.Message
			for k := i; k < min(i+50, to); k++ {
				msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", k), Value: value(k)})
			}
			require.NoError(t, w.WriteMessages(ctx, msgs...))
		}
	}
	write(0, 1000)

	client := &kafka.Client{Addr: kafka.TCP(b.Brokers()...), Timeout: 10 * time.Second, Transport: tr}
	c := newFetchCursor(client, topics.Outcomes, 1, 0, func(r *cursorRecord) { r.id = "scanned " + string(r.Key) })
	defer func() {
		done := make(chan struct{})
		go func() { _ = c.close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("close did not return")
		}
	}()
	next := 0
	check := func(r *cursorRecord) {
		require.EqualValues(t, next, r.Offset)
		require.Equal(t, fmt.Sprintf("k%d", next), string(r.Key))
		require.Equal(t, value(next), r.Value)
		require.Equal(t, "scanned k"+fmt.Sprint(next), r.id)
		require.False(t, r.Time.IsZero())
		next++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for next < 1000 {
		n, err := c.readUntil(ctx, 1000, 300, nil, check)
		require.NoError(t, err)
		require.Equal(t, min(300, 1000-(next-n)), n)
	}

	// an end past the log's: what is there, then a wait until ctx ends
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	n, err := c.readUntil(short, 1200, 1000, nil, check)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, n)
	write(1000, 1200)
	n, err = c.readUntil(ctx, 1200, 1000, nil, check)
	require.NoError(t, err)
	require.Equal(t, 200, n)
	require.Equal(t, 1200, next)
}
