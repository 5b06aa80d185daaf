// Package simulation owns situ's simulator: a synthetic customer population,
// a documented ground-truth response model that says what happens after
// each treatment in each situation, fixed treatment strategies to compare
// against, and a run loop that asks a live situ for decisions over HTTP,
// draws outcomes from the ground truth, publishes them for the learner and
// reports average reward per window against the oracle (the best eligible
// treatment under the ground truth) and the fixed strategies, with the
// cumulative regret, as a table and as JSON (package simulation/plot draws
// it). For decisions inside experiments it reports, per experiment and
// arm, the ground truth's expected reward and KPIs of what each arm served,
// averaged over units as experiments' results are, and the arm the ground
// truth prefers (Report.Experiments); TruthStrategies says what the ground
// truth expects of the experiments' fixed strategies without a situ.
// Rewards, drawn and expected, are those of situ's own reward
// definition (models.RewardDefinition: the embedded default unless the run
// is given one).
//
// Everything random is seeded: a population, its contacts and their
// outcomes are reproducible for a seed, whatever the concurrency.
// docs/simulator.md describes the population, the ground truth, the reward
// and how to read the report.
package simulation
