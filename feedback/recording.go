package feedback

import (
	"context"

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
		r.publisher.Publish(d.Log())
	}
	return d, err
}
