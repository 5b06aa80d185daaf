package feedback

import (
	"context"

	"go.uber.org/zap"

	"situ/scoring"
)

// Decider makes decisions: the scoring engine.
type Decider interface {
	Decide(ctx context.Context, req scoring.Request) (scoring.Decision, error)
}

// RecordingDecider publishes every decision its Decider makes to the
// decisions topic, without ever making the caller wait: the publisher
// queues or drops.
type RecordingDecider struct {
	decider   Decider
	publisher *DecisionPublisher
}

// NewRecordingDecider wraps d so that its decisions go to p.
func NewRecordingDecider(d Decider, p *DecisionPublisher) *RecordingDecider {
	return &RecordingDecider{decider: d, publisher: p}
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
	buf := make([]byte, 0, eventSizeHint+len(d.ID)*2+featureSizeHint*len(d.Features))
	buf, err := d.AppendEventJSON(buf)
	if err != nil {
		r.publisher.droppedWrite.Add(1)
		r.publisher.log.Error("decision event not encodable, dropped", zap.Error(err))
		return
	}
	n := len(buf)
	buf = append(buf, d.ID...)
	r.publisher.PublishEncoded(buf[n:], buf[:n:n], d.Time)
}

// eventSizeHint and featureSizeHint estimate an encoded decision's size
// (fixed members, and per feature) so that encoding rarely grows the
// buffer.
const (
	eventSizeHint   = 384
	featureSizeHint = 32
)
