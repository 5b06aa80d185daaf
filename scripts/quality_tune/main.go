// Command quality_tune runs the decision-quality loop in process, for
// tuning on worlds that make bench-quality does not use: the same
// scoring.Engine, learner (models.TermLearner, one model per reward term,
// each outcome learned as situ serve's learning loop learns a full
// outcome; -learner single: the one model of the scalar reward,
// models.OnlineLearner, for comparison; -learner ridge: ridge least
// squares over an exponentially weighted window, ridge.go, a candidate
// measured against it in docs/model.md), policy, schema, model and reward
// as situ serve, the simulator's population and random worlds, and a new
// model served every -snapshot-every updates (situ serve publishes one
// every 1,000 updates or 500 ms). It prints, per world, the served
// decisions' share of the oracle over the last window, "greedy" (the
// share the model's best-scoring eligible treatment would have earned:
// the model without the cost of exploring), with -drift-at the shares
// in the window before the change and the first after it, and the share
// of every window; then the means over the worlds. It refuses make
// bench-quality's held-out worlds. It has no Kafka, HTTP or decision log in between: the served
// loop (make bench-quality) is the measurement; this is for iteration.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
	"situ/simulation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quality_tune:", err)
		os.Exit(1)
	}
}

func run() error {
	worlds := flag.String("worlds", "11 12 13 14 15 16 17 18 19 20", "world seeds (space-separated); the tuning worlds by default, never bench-quality's (101-110, 201-205, 1201-1205)")
	contacts := flag.Int("contacts", 20000, "contacts per world")
	window := flag.Int("window", 2000, "contacts per window")
	driftAt := flag.Int("drift-at", 0, "switch to world SEED+1000 at this contact (0: no drift)")
	schemaFile := flag.String("schema", "", "schema YAML file (default: the embedded schema)")
	lr := flag.Float64("learning-rate", 0, "learner η (0: default)")
	minStep := flag.Float64("min-step-rate", 0, "learner step floor")
	forget := flag.Float64("forgetting", 0, "learner β (0: default)")
	l2 := flag.Float64("l2", 0, "learner L2 (0: default)")
	gamma0 := flag.Float64("gamma0", scoring.DefaultExplorer.Gamma0, "SquareCB γ₀")
	eps := flag.Float64("epsilon", scoring.DefaultExplorer.Epsilon, "SquareCB ε")
	maxIW := flag.Float64("max-iw", 0, "learner max importance weight (0: default; -learner ridge: the clip of the weight a decision enters the statistics with)")
	g0 := flag.Float64("initial-accumulator", 0, "learner G₀ (0: default)")
	snapEvery := flag.Int("snapshot-every", 1000, "updates between served models")
	average := flag.Float64("average-updates", 0, "horizon in updates of the moving average of the weights the learner serves (0: default; 1: the last weights; -learner single: ignored)")
	popSeed := flag.Uint64("population-seed", 1, "population seed")
	priorScale := flag.Float64("prior-scale", 1, "multiply the default model's weights (not its biases) by this")
	resetAtDrift := flag.Bool("reset-at-drift", false, "with -drift-at: start the learner and the served model again from the prior exactly at the change (an upper bound of what detecting the change and starting over could buy)")
	learnerKind := flag.String("learner", "terms", "terms: situ serve's learner, one model per reward term (models.TermLearner); single: one model of the scalar reward (models.OnlineLearner); ridge: ridge least squares per term over an exponentially weighted window, solved every -solve-every decisions (ridge.go)")
	ridgeWindow := flag.Float64("ridge-window", 0, "-learner ridge: effective window in decisions (0: default)")
	ridgeRho := flag.Float64("ridge", 0, "-learner ridge: ridge ρ towards the prior (0: default)")
	solveEvery := flag.Int64("solve-every", 0, "-learner ridge: decisions between solves (0: default)")
	ridgeExp := flag.Float64("ridge-experience", 0, "-learner ridge: cap the model's updates, which set SquareCB's γ, at this many windows (0: no cap)")
	flag.Parse()
	if *learnerKind != "terms" && *learnerKind != "single" && *learnerKind != "ridge" {
		return fmt.Errorf("-learner: terms, single or ridge, got %q", *learnerKind)
	}
	rcfg := ridgeConfig{Window: *ridgeWindow, Ridge: *ridgeRho, SolveEvery: *solveEvery, MaxImportanceWeight: *maxIW, Experience: *ridgeExp}

	schema, err := features.DefaultSchema()
	if *schemaFile != "" {
		doc, rerr := os.ReadFile(*schemaFile)
		if rerr != nil {
			return rerr
		}
		schema, err = features.ParseSchema(doc)
	}
	if err != nil {
		return err
	}
	base, err := models.DefaultModel(schema)
	if err != nil {
		return err
	}
	if *priorScale != 1 {
		spec := base.Spec()
		for _, tw := range spec.Treatments {
			for f := range tw.Weights {
				tw.Weights[f] *= *priorScale
			}
		}
		if base, err = models.Bind(spec, schema); err != nil {
			return err
		}
	}
	pol, err := policy.Default()
	if err != nil {
		return err
	}
	reward, err := models.DefaultReward()
	if err != nil {
		return err
	}
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: *popSeed})
	if err != nil {
		return err
	}
	var sum, sumBefore, sumFirst, sumGreedy float64
	n := 0
	for _, ws := range strings.Fields(*worlds) {
		seed, err := strconv.ParseUint(ws, 10, 64)
		if err != nil {
			return err
		}
		if simulation.HeldOutWorld(seed) || (*driftAt > 0 && simulation.HeldOutWorld(seed+1000)) {
			return fmt.Errorf("world %d is one of make bench-quality's held-out worlds: tune on others", seed)
		}
		id := 0
		engine, err := scoring.NewEngine(scoring.Config{Model: models.NewBuilder(base).Build(0), Policy: pol,
			Explorer: scoring.SquareCB{Gamma0: *gamma0, Epsilon: *eps}, Seed: seed,
			NewID: func() string { id++; return "d-" + strconv.Itoa(id) }})
		if err != nil {
			return err
		}
		learner, err := newLearner(*learnerKind, base, &reward, rcfg, models.LearnerConfig{LearningRate: *lr, MinStepRate: *minStep, Forgetting: *forget, L2: *l2, MaxImportanceWeight: *maxIW, InitialAccumulator: *g0, AverageUpdates: *average})
		if err != nil {
			return err
		}
		w1, w2 := simulation.RandomWorld(seed), simulation.RandomWorld(seed+1000)
		if seed == 0 {
			w1 = simulation.DefaultWorld()
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		nw := (*contacts + *window - 1) / *window
		served, oracle, greedy := make([]float64, nw), make([]float64, nw), make([]float64, nw)
		version := int64(0)
		for i := 0; i < *contacts; i++ {
			c := pop.Contact(int64(i))
			d, err := engine.Decide(context.Background(), scoring.Request{Context: c})
			if err != nil {
				return fmt.Errorf("world %d contact %d: %w", seed, i, err)
			}
			world := w1
			if *driftAt > 0 && i >= *driftAt {
				world = w2
			}
			if *resetAtDrift && *driftAt > 0 && i == *driftAt {
				if learner, err = newLearner(*learnerKind, base, &reward, rcfg, models.LearnerConfig{LearningRate: *lr, MinStepRate: *minStep, Forgetting: *forget, L2: *l2, MaxImportanceWeight: *maxIW, InitialAccumulator: *g0, AverageUpdates: *average}); err != nil {
					return err
				}
				version++
				engine.SetModel(models.NewBuilder(base).Build(version))
			}
			exp := world.ExpectedRewards(d.Context, &reward)
			_, best := simulation.Best(&exp, d.Eligible)
			served[i / *window] += exp[d.Treatment]
			oracle[i / *window] += best
			var ss [features.NumTreatments]float64
			for t := range ss {
				ss[t] = d.ServedScore(features.Treatment(t))
			}
			g, _ := simulation.Best(&ss, d.Eligible)
			greedy[i / *window] += exp[g]
			resp := world.Response(d.Context, d.Treatment)
			o := resp.Draw(rng)
			learner.learn(d.Treatment, d.Features, d.Propensity, &o)
			if learner.Updates()%int64(*snapEvery) == 0 {
				version++
				m, err := learner.model(version)
				if err != nil {
					return err
				}
				engine.SetModel(m)
			}
		}
		last := served[nw-1] / oracle[nw-1]
		gl := greedy[nw-1] / oracle[nw-1]
		sumGreedy += gl
		line := fmt.Sprintf("world %d: last %.3f greedy %.3f", seed, last, gl)
		if *driftAt > 0 {
			k := *driftAt / *window
			b, f := served[k-1]/oracle[k-1], served[k]/oracle[k]
			line += fmt.Sprintf("  before %.3f  first after %.3f", b, f)
			sumBefore += b
			sumFirst += f
		}
		var curve []string
		for k := range served {
			curve = append(curve, fmt.Sprintf("%.3f", served[k]/oracle[k]))
		}
		fmt.Println(line, " curve", strings.Join(curve, " "))
		sum += last
		n++
	}
	fmt.Printf("mean last %.3f greedy %.3f", sum/float64(n), sumGreedy/float64(n))
	if *driftAt > 0 {
		fmt.Printf("  mean before %.3f  mean first after %.3f", sumBefore/float64(n), sumFirst/float64(n))
	}
	fmt.Println()
	return nil
}

// learner is the learner under test: situ serve's TermLearner or the one
// model of the scalar reward.
type learner struct {
	reward *models.RewardDefinition
	single *models.OnlineLearner
	terms  *models.TermLearner
	ridge  *ridgeLearner
}

func newLearner(kind string, base *models.Model, r *models.RewardDefinition, rcfg ridgeConfig, cfg models.LearnerConfig) (*learner, error) {
	l := &learner{reward: r}
	var err error
	switch kind {
	case "single":
		l.single, err = models.NewOnlineLearner(base, cfg)
	case "ridge":
		l.ridge, err = newRidgeLearner(base, rcfg)
	default:
		l.terms, err = models.NewTermLearner(base, cfg)
	}
	return l, err
}

// learn learns one decision's whole outcome o as situ serve's learning
// loop learns an outcome that arrives in one part (feedback's apply): the
// decision's first part, every field it holds newer than none before,
// the prior learning 0.
func (l *learner) learn(t features.Treatment, x []features.Entry, propensity float64, o *models.Outcome) {
	if l.single != nil {
		l.single.Update(t, x, propensity, l.reward.Reward(o))
		return
	}
	if l.ridge != nil {
		l.ridge.Learn(t, x, propensity, o.Held(), o, l.reward, true, 0)
		return
	}
	l.terms.Learn(t, x, propensity, o.Held(), o, l.reward, true, 0)
}

// Updates returns how many outcomes the learner has learned.
func (l *learner) Updates() int64 {
	if l.single != nil {
		return l.single.Updates()
	}
	if l.ridge != nil {
		return l.ridge.Updates()
	}
	return l.terms.Updates()
}

// model returns the model situ serve would publish.
func (l *learner) model(version int64) (*models.Model, error) {
	if l.single != nil {
		return l.single.Model(version), nil
	}
	if l.ridge != nil {
		return l.ridge.Model(version, l.reward)
	}
	return l.terms.Model(version, l.reward), nil
}
