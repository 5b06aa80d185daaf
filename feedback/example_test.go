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

// What POST /v1/outcomes does: start (or reach) a broker, make sure the
// topics exist, and publish an outcome keyed by its decision_id. A channel
// that did not get the answer retries with the same outcome_id: the retry
// is acknowledged without a second message.
func ExampleOutcomePublisher() {
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

	pub, err := feedback.NewOutcomePublisher(feedback.OutcomePublisherConfig{Brokers: broker.Brokers()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close()
	csat := 4.0
	outcome := models.Outcome{
		OutcomeID: "o-1", DecisionID: "d-7f3a", Resolved: true, CSAT: &csat,
		HandleSeconds: 340, OccurredAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
	for range 2 { // the call and the channel's retry
		if err := pub.PublishOutcome(ctx, outcome); err != nil {
			fmt.Println(err)
			return
		}
	}

	// The last message of each key in the topic: a second write would
	// stand at offset 1.
	latest, err := feedback.ReadLatest(ctx, broker.Brokers(), feedback.DefaultOutcomesTopic)
	if err != nil {
		fmt.Println(err)
		return
	}
	for key, r := range latest {
		fmt.Println(key, "at", r.Position)
	}
	// Output:
	// d-7f3a at nba.outcomes/2@0
}
