package scoring_test

import (
	"context"
	"fmt"
	"testing"

	"situ/experiments"
	"situ/features"
	"situ/internal/situtest"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

func confidence(v float64) *float64 { return &v }

// realisticRequest is the contract example of docs/api.md.
func realisticRequest() scoring.Request {
	return scoring.Request{Context: situtest.ContractContext()}
}

// BenchmarkDecide decides the contract example: with the production
// UUIDv7 decision ids, with cheap sequential ids (the decision path
// alone), with sequential ids under a configuration that sets levers
// and overrides several weights (what the configuration costs a decision),
// and with sequential ids under three running experiments (what
// assignment costs: one targeted at chat, which the example's phone call
// is not, so its condition runs; one in a namespace; one that takes the
// request into its learned arm).
func BenchmarkDecide(b *testing.B) {
	schema, _ := features.DefaultSchema()
	model, _ := models.DefaultModel(schema)
	pol, _ := policy.Default()
	production, err := scoring.NewEngine(scoring.Config{Model: model, Policy: pol})
	if err != nil {
		b.Fatal(err)
	}
	configured := newTestEngine(b, nil)
	setLevers(b, configured, [features.NumTreatments]float64{features.PamperUpsell: -0.05, features.SelfService: 0.1})
	if err := configured.Update(func(bu scoring.Bundle) (scoring.Bundle, error) { return bu.WithOverride(biasOverride(0.5)) }); err != nil {
		b.Fatal(err)
	}
	inExperiments := newTestEngine(b, nil)
	withExperiments(b, inExperiments, benchExperiments(b, realisticRequest().Context.Customer.ID), nil)
	// the schema with situation × customer interactions (docs/features.md)
	interSchema := situtest.TestdataSchema(b, "interactions.yaml")
	interModel, err := models.DefaultModel(interSchema)
	if err != nil {
		b.Fatal(err)
	}
	interactions := situtest.Engine(b, situtest.EngineOptions{Model: interModel})
	for _, bc := range []struct {
		name string
		e    *scoring.Engine
	}{{"uuidv7-ids", production}, {"sequential-ids", newTestEngine(b, nil)}, {"levers-and-overrides", configured},
		{"three-experiments", inExperiments}, {"interactions-schema", interactions}} {
		b.Run(bc.name, func(b *testing.B) {
			req := realisticRequest()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.e.Decide(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchExperiments are three running experiments, the last of which takes
// customer id into its learned arm: one targeted at chat, one in a part of
// a namespace that id is outside of, and one for everyone.
func benchExperiments(b *testing.B, id string) *experiments.Assigner {
	b.Helper()
	arms := []experiments.Arm{{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "tiers", Strategy: "value_tier", Weight: 0.5}}
	chat := experiments.Definition{ID: "chat-only", Arms: arms, Targeting: "channel == 'chat'"}
	everyone := experiments.Definition{ID: "everyone", Arms: arms}
	ns := experiments.Namespace{ID: "ns"}
	for lo := 0.0; lo < 1; lo += 0.25 {
		if ns.Start, ns.End = lo, lo+0.25; !experiments.InNamespace(id, ns) {
			break
		}
	}
	spaced := experiments.Definition{ID: "spaced", Arms: arms, Namespace: &experiments.NamespaceSpec{ID: ns.ID, Range: [2]float64{ns.Start, ns.End}}}
	for i := 0; ; i++ {
		everyone.Seed = fmt.Sprintf("seed-%d", i)
		if n, _ := experiments.Hash(everyone.Seed, id, experiments.HashVersion); n < 0.5 {
			break // the learned arm: the decision path after assignment is the plain one
		}
	}
	a := newAssigner(b, chat, spaced, everyone)
	if got, ok := a.Assign(&features.Context{Customer: features.Customer{ID: id}, Channel: "phone"}, false); !ok || got.Experiment != "everyone" || got.Arm != "control" {
		b.Fatalf("the request is in %+v (%v), want everyone/control", got, ok)
	}
	return a
}

func BenchmarkDecideParallel(b *testing.B) {
	e := newTestEngine(b, nil)
	req := realisticRequest()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Decide(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendLogJSON encodes the decision event of the contract
// example, its context with the hashed customer id included, into a reused
// buffer, as the recording decider does per decision.
func BenchmarkAppendLogJSON(b *testing.B) {
	d, err := newTestEngine(b, nil).Decide(context.Background(), realisticRequest())
	if err != nil {
		b.Fatal(err)
	}
	ids := newTestHasher(b)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = d.AppendEventJSON(buf[:0], ids); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
