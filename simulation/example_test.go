package simulation_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"situ/features"
	"situ/models"
	"situ/simulation"
)

// The ground truth's expected reward of each treatment in one situation,
// and the best of them.
func ExampleExpectedRewards() {
	c := features.Context{
		Customer: features.Customer{ID: "c-1", LifetimeValue: 1600, AnnualSpend: 500, TenureMonths: 36, Tier: "silver", PrefersSelfService: true},
		Intent:   features.Intent{Name: "password_reset"},
		Channel:  "app",
		Friction: features.Friction{Sentiment: 0.3},
	}
	reward, err := models.DefaultReward() // situ's embedded reward definition
	if err != nil {
		fmt.Println(err)
		return
	}
	e := simulation.ExpectedRewards(&c, &reward)
	best, v := simulation.Best(&e, features.AllTreatments)
	fmt.Printf("fast %.3f, pamper %.3f, self-service %.3f: best %s (%.3f)\n",
		e[features.FastResolution], e[features.PamperUpsell], e[features.SelfService], best, v)

	c.Friction.FailedSelfService24h = 1 // the app flow just failed them
	e = simulation.ExpectedRewards(&c, &reward)
	best, _ = simulation.Best(&e, features.AllTreatments)
	fmt.Println("after a failed attempt:", best)
	// Output:
	// fast 0.302, pamper 0.243, self-service 0.383: best self_service (0.383)
	// after a failed attempt: fast_resolution
}

// A run against a situ on localhost; publish would produce to nba.outcomes.
func ExampleRun() {
	publish := simulation.OutcomePublisherFunc(func(ctx context.Context, o models.Outcome) error {
		return nil // e.g. a Kafka producer keyed by o.DecisionID
	})
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL:  "http://127.0.0.1:8080",
		Client:    &http.Client{Timeout: 2 * time.Second},
		Publisher: publish,
		Contacts:  20_000,
		Window:    1_000,
		Seed:      42,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = rep.WriteText(os.Stdout)
	if f, err := os.Create("sim.json"); err == nil { // go run ./cmd/situ-plot sim.json draws it
		_ = rep.WriteJSON(f)
		_ = f.Close()
	}
}
