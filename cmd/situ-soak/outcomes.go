package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"situ/feedback"
	"situ/models"
)

// kind is what the soak does with the outcome of one decision.
type kind int

const (
	kindNone           kind = iota // no outcome: the decision expires
	kindOnTime                     // within seconds
	kindLate                       // 0.5–0.8 windows later: still joins
	kindTooLate                    // 1.5–2.5 windows later: its decision expired
	kindRetryHTTP                  // POST twice with the same outcome_id: the second is de-duplicated by the API
	kindDupKafka                   // on time, then the same message again on nba.outcomes: a duplicate for the join
	kindMalformedHTTP              // a POST the API rejects with 400; the decision expires
	kindMalformedJSON              // not JSON, on nba.outcomes: a dead letter (invalid_json)
	kindInvalidOutcome             // JSON with csat 9, on nba.outcomes: a dead letter (invalid_outcome)
	kindUnknown                    // a valid outcome for a decision id situ never made; the decision expires
	numKinds
)

var kindNames = [numKinds]string{"none", "on time", "late (in window)", "too late (after window)", "retried POST (same id)",
	"duplicate on Kafka", "malformed POST (400)", "not JSON on Kafka", "invalid outcome on Kafka", "unknown decision id"}

// mix is the cumulative share of each kind, in kind order after kindNone:
// 70 % on time, 5 % late, 5 % too late, 1.5 % retried, 1.5 % duplicated,
// 1 % malformed POST, 0.5 % not JSON, 0.5 % invalid, 2 % unknown ids;
// the remaining 13 % get no outcome.
var mix = [numKinds]float64{
	kindOnTime: 0.70, kindLate: 0.75, kindTooLate: 0.80, kindRetryHTTP: 0.815, kindDupKafka: 0.83,
	kindMalformedHTTP: 0.84, kindMalformedJSON: 0.845, kindInvalidOutcome: 0.85, kindUnknown: 0.87,
}

// kindOf draws the kind of decision i's outcome.
func kindOf(u float64) kind {
	for k := kindOnTime; k < numKinds; k++ {
		if u < mix[k] {
			return k
		}
	}
	return kindNone
}

// route is how an outcome reaches situ.
type route int

const (
	viaHTTP route = iota
	viaKafka
)

// delivery is one message to send at due.
type delivery struct {
	due   time.Time
	route route
	key   string // decision id (Kafka key)
	body  []byte
	kind  kind
	// retry marks the second POST of kindRetryHTTP (expected 202 without a write)
	retry bool
	// want is the HTTP status expected (HTTP deliveries)
	want int
	// refusedFrom, when set, is the time from which situ must refuse the
	// POST with 400 although the outcome is well formed: its decision id
	// is then not one of the reward window's (an id situ never makes, from
	// the start; a decision older than the window, from one window after
	// it). Within refusalSlack of that time either answer is right.
	refusedFrom time.Time
}

// refusalSlack is how close to delivery.refusedFrom a POST may be answered
// either way: the service's clock and the decision id's millisecond time
// are not the driver's.
const refusalSlack = 250 * time.Millisecond

// plan returns the deliveries of decision i's outcome o, whose kind is k,
// for a decision made at now. r draws delays and routes.
func plan(k kind, o models.Outcome, now time.Time, window time.Duration, r *rand.Rand) ([]delivery, error) {
	body, err := json.Marshal(&o)
	if err != nil {
		return nil, fmt.Errorf("encode outcome: %w", err)
	}
	between := func(lo, hi time.Duration) time.Time {
		return now.Add(lo + time.Duration(r.Float64()*float64(hi-lo)))
	}
	soon := func() time.Time { return between(200*time.Millisecond, min(10*time.Second, window/6)) }
	w := func(f float64) time.Duration { return time.Duration(f * float64(window)) }
	// again is when a second copy follows the first: within a quarter
	// window, while situ still remembers the first (its de-duplication
	// cache and the join's memory of joined decisions hold one window)
	again := func(first time.Time, most time.Duration) time.Time {
		hi := min(most, window/4)
		return first.Add(hi/5 + time.Duration(r.Float64()*float64(hi-hi/5)))
	}
	rt := viaHTTP
	if r.IntN(2) == 1 {
		rt = viaKafka
	}
	one := func(due time.Time, rt route) []delivery {
		return []delivery{{due: due, route: rt, key: o.DecisionID, body: body, kind: k, want: http.StatusAccepted}}
	}
	switch k {
	case kindNone:
		return nil, nil
	case kindOnTime:
		return one(soon(), rt), nil
	case kindLate:
		return one(between(w(0.5), w(0.8)), rt), nil
	case kindTooLate:
		d := one(between(w(1.5), w(2.5)), rt)
		if rt == viaHTTP {
			d[0].refusedFrom = now.Add(window)
		}
		return d, nil
	case kindRetryHTTP:
		first := soon()
		return []delivery{
			{due: first, route: viaHTTP, key: o.DecisionID, body: body, kind: k, want: http.StatusAccepted},
			{due: again(first, 3*time.Second), route: viaHTTP, key: o.DecisionID, body: body, kind: k, retry: true, want: http.StatusAccepted},
		}, nil
	case kindDupKafka:
		first := soon()
		return []delivery{
			{due: first, route: rt, key: o.DecisionID, body: body, kind: k, want: http.StatusAccepted},
			{due: again(first, 5*time.Second), route: viaKafka, key: o.DecisionID, body: body, kind: k},
		}, nil
	case kindMalformedHTTP:
		bad := append([]byte(nil), body...)
		bad = append(bad[:len(bad)-1], `,"resolved":false}`...) // a field given twice
		return []delivery{{due: soon(), route: viaHTTP, key: o.DecisionID, body: bad, kind: k, want: http.StatusBadRequest}}, nil
	case kindMalformedJSON:
		return []delivery{{due: soon(), route: viaKafka, key: o.DecisionID, body: body[:len(body)/2], kind: k}}, nil
	case kindInvalidOutcome:
		csat := 9.0
		o.CSAT = &csat
		bad, err := json.Marshal(&o)
		if err != nil {
			return nil, fmt.Errorf("encode outcome: %w", err)
		}
		return []delivery{{due: soon(), route: viaKafka, key: o.DecisionID, body: bad, kind: k}}, nil
	case kindUnknown:
		o.DecisionID = "soak-unknown-" + o.OutcomeID
		unknown, err := json.Marshal(&o)
		if err != nil {
			return nil, fmt.Errorf("encode outcome: %w", err)
		}
		d := delivery{due: soon(), route: rt, key: o.DecisionID, body: unknown, kind: k, want: http.StatusAccepted}
		if rt == viaHTTP {
			d.refusedFrom = now
		}
		return []delivery{d}, nil
	}
	return nil, fmt.Errorf("unknown kind %d", k)
}

// deliveryHeap orders deliveries by due time.
type deliveryHeap []delivery

func (h deliveryHeap) Len() int           { return len(h) }
func (h deliveryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h deliveryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)        { *h = append(*h, x.(delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// outcomeSender sends deliveries when they are due: HTTP ones through a
// pool of workers, Kafka ones in batches through one writer.
type outcomeSender struct {
	url    string
	client *http.Client
	writer *kafka.Writer

	mu      sync.Mutex
	queue   deliveryHeap
	flushed bool // every delivery is due now

	// what was sent, by kind (planned decisions) and by result
	planned                                 [numKinds]atomic.Int64
	http202, httpRetry202, http400, http5xx atomic.Int64
	// httpRefused counts the 400s of well-formed outcomes for decision
	// ids outside the reward window (delivery.refused)
	httpRefused            atomic.Int64
	httpOther, httpErr     atomic.Int64
	kafkaWritten, kafkaErr atomic.Int64
	kafkaByKind            [numKinds]atomic.Int64
}

func newOutcomeSender(url, brokerAddr string, client *http.Client) *outcomeSender {
	return &outcomeSender{
		url: url, client: client,
		writer: &kafka.Writer{
			Addr: kafka.TCP(brokerAddr), Topic: feedback.DefaultOutcomesTopic, Balancer: feedback.Partitioner(),
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 1,
			WriteTimeout: 10 * time.Second,
		},
	}
}

// add schedules ds, the plan of one decision of kind k.
func (s *outcomeSender) add(k kind, ds []delivery) {
	s.planned[k].Add(1)
	s.mu.Lock()
	for _, d := range ds {
		heap.Push(&s.queue, d)
	}
	s.mu.Unlock()
}

// flush makes every scheduled delivery due now.
func (s *outcomeSender) flush() {
	s.mu.Lock()
	s.flushed = true
	s.mu.Unlock()
}

// due pops the deliveries due at now.
func (s *outcomeSender) due(now time.Time) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for len(s.queue) > 0 && (s.flushed || !s.queue[0].due.After(now)) {
		out = append(out, heap.Pop(&s.queue).(delivery))
	}
	return out
}

// waiting returns the deliveries not sent yet.
func (s *outcomeSender) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// run sends due deliveries until ctx ends and, after flush, until none is
// left.
func (s *outcomeSender) run(ctx context.Context, workers int) {
	jobs := make(chan delivery, 4096)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				s.post(ctx, d)
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			batch := s.due(now)
			var msgs []kafka.Message
			var kinds []kind
			for _, d := range batch {
				if d.route == viaKafka {
					msgs = append(msgs, kafka.Message{Key: []byte(d.key), Value: d.body})
					kinds = append(kinds, d.kind)
					continue
				}
				select {
				case jobs <- d:
				case <-ctx.Done():
					return
				}
			}
			if len(msgs) > 0 {
				s.write(ctx, msgs, kinds)
			}
			s.mu.Lock()
			done := s.flushed && len(s.queue) == 0
			s.mu.Unlock()
			if done {
				return
			}
		}
	}
}

// write writes one batch to nba.outcomes.
func (s *outcomeSender) write(ctx context.Context, msgs []kafka.Message, kinds []kind) {
	err := s.writer.WriteMessages(ctx, msgs...)
	if err == nil {
		s.kafkaWritten.Add(int64(len(msgs)))
		for _, k := range kinds {
			s.kafkaByKind[k].Add(1)
		}
		return
	}
	if we, ok := err.(kafka.WriteErrors); ok {
		for i, e := range we {
			if e != nil {
				s.kafkaErr.Add(1)
			} else {
				s.kafkaWritten.Add(1)
				s.kafkaByKind[kinds[i]].Add(1)
			}
		}
		return
	}
	s.kafkaErr.Add(int64(len(msgs)))
}

// post sends one HTTP delivery and counts its answer.
func (s *outcomeSender) post(ctx context.Context, d delivery) {
	sent := time.Now()
	status, err := postJSON(ctx, s.client, s.url+"/v1/outcomes", d.body)
	want := d.want
	if !d.refusedFrom.IsZero() {
		switch {
		case !sent.Before(d.refusedFrom.Add(refusalSlack)):
			want = http.StatusBadRequest
		case !sent.Before(d.refusedFrom.Add(-refusalSlack)) && status == http.StatusBadRequest:
			want = http.StatusBadRequest // at the window's edge: either answer is right
		}
	}
	switch {
	case err != nil:
		s.httpErr.Add(1)
	case status >= 500:
		s.http5xx.Add(1)
	case status != want:
		s.httpOther.Add(1)
	case status == http.StatusAccepted && d.retry:
		s.httpRetry202.Add(1)
	case status == http.StatusAccepted:
		s.http202.Add(1)
	case status == http.StatusBadRequest && !d.refusedFrom.IsZero():
		s.httpRefused.Add(1)
	case status == http.StatusBadRequest:
		s.http400.Add(1)
	}
}

// close releases the Kafka writer.
func (s *outcomeSender) close() error { return s.writer.Close() }
