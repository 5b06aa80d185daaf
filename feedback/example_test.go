package feedback_test

import (
	"context"
	"fmt"
	"time"

	"situ/feedback"
	"situ/models"
)

// The API's outcome sink: OutcomePublisher satisfies it.
var _ interface {
	PublishOutcome(ctx context.Context, o models.Outcome) error
} = (*feedback.OutcomePublisher)(nil)

// A learner's view: start (or reach) a broker, make sure the topics exist,
// and consume outcomes from the offsets its last snapshot stored.
func ExampleOutcomeConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	broker, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer broker.Close()
	if err := feedback.EnsureTopics(ctx, broker.Brokers(), feedback.TopicsConfig{}); err != nil {
		fmt.Println(err)
		return
	}

	// POST /v1/outcomes does this.
	pub, err := feedback.NewOutcomePublisher(feedback.OutcomePublisherConfig{Brokers: broker.Brokers()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close()
	csat := 4.0
	err = pub.PublishOutcome(ctx, models.Outcome{
		OutcomeID: "o-1", DecisionID: "d-7f3a", Resolved: true, CSAT: &csat,
		HandleSeconds: 340, OccurredAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	snapshotOffsets := feedback.Offsets{} // from the learner's last snapshot
	runCtx, stop := context.WithCancel(ctx)
	consumer, err := feedback.NewOutcomeConsumer(feedback.OutcomeConsumerConfig{
		Brokers: broker.Brokers(),
		Start:   snapshotOffsets,
		Handler: func(_ context.Context, r feedback.OutcomeRecord) error {
			snapshotOffsets.Advance(r.Position) // stored with the weights it updated
			fmt.Println(r.Outcome.OutcomeID, "for", r.Outcome.DecisionID, "at", r.Position)
			stop()
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := consumer.Run(runCtx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("resume from", snapshotOffsets)
	// Output:
	// o-1 for d-7f3a at nba.outcomes/2@0
	// resume from map[2:1]
}
