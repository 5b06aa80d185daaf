package feedback

import (
	"context"

	"go.uber.org/zap"

	"situ/internal/custhash"
	"situ/scoring"
)

// Decider makes decisions: the scoring engine.
type Decider interface {
	Decide(ctx context.Context, req scoring.Request) (scoring.Decision, error)
}

// RecordingDecider publishes every decision its Decider makes to the
// decisions topic, without ever making the caller wait: the publisher
// queues or drops. Each event carries the decision's context with the
// customer id replaced by its keyed hash; it is the point where the id
// leaves the request path, so the hashing costs the decision itself
// nothing.
type RecordingDecider struct {
	decider   Decider
	publisher *DecisionPublisher
	ids       *custhash.Hasher
}

// NewRecordingDecider wraps d so that its decisions go to p, their
// contexts with the customer id hashed by ids. Without ids (nil) the
// events carry no context at all, never the id in clear.
func NewRecordingDecider(d Decider, p *DecisionPublisher, ids *custhash.Hasher) *RecordingDecider {
	return &RecordingDecider{decider: d, publisher: p, ids: ids}
}

// Decide decides and records the decision.
func (r *RecordingDecider) Decide(ctx context.Context, req scoring.Request) (scoring.Decision, error) {
	d, err := r.decider.Decide(ctx, req)
	if err == nil {
		r.record(&d)
	}
	return d, err
}

// record encodes d straight from the decision, with its key, into one
// buffer that the publisher owns from then on.
func (r *RecordingDecider) record(d *scoring.Decision) {
	size := eventSizeHint + len(d.ID)*2 + featureSizeHint*len(d.Features)
	if r.ids != nil && d.Context != nil {
		size += contextSizeHint + attributeSizeHint*len(d.Context.Attributes)
	}
	buf := make([]byte, 0, size)
	buf, err := d.AppendEventJSON(buf, r.ids)
	if err != nil {
		r.publisher.droppedWrite.Add(1)
		r.publisher.log.Error("decision event not encodable, dropped", zap.Error(err))
		return
	}
	n := len(buf)
	buf = append(buf, d.ID...)
	r.publisher.PublishEncoded(buf[n:], buf[:n:n], d.Time)
}

// eventSizeHint, featureSizeHint, contextSizeHint and attributeSizeHint
// estimate an encoded decision's size (fixed members, per feature, the
// context's fixed members, per attribute) so that encoding rarely grows
// the buffer.
const (
	eventSizeHint     = 384
	featureSizeHint   = 32
	contextSizeHint   = 448
	attributeSizeHint = 48
)
