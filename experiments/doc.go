// Package experiments owns A/B tests of treatment strategies: their
// definitions, which arm a unit (a customer) is in, the strategies, the
// results and the guardrails.
//
// Assignment is GrowthBook-compatible. Hash maps a seed and a unit's id to
// [0, 1) with GrowthBook's FNV-1a hashes (version 1 and 2); BucketRanges
// turns arm weights and a coverage into one Range per arm; ChooseVariation
// picks the arm whose range holds the hash, or none; InNamespace decides
// whether a unit is in an experiment's share of a namespace, so that
// experiments in disjoint parts of one namespace never share a unit;
// EqualWeights is the fallback split. The same seed, id and weights give
// the same arm in situ and in GrowthBook's Go SDK, which also hashes UTF-8
// bytes; see Hash for where the JavaScript SDK differs.
//
// Assigner puts it together for the running experiments of a
// configuration: the first experiment whose namespace, coverage and
// targeting take a request gives it an arm, and the arm's Strategy
// (ParseStrategy; Choose for the fixed ones) decides in the scoring
// engine. It allocates nothing when the caller shares the request it
// already built for the service policy (AssignEnv).
//
// It also owns experiment results. Aggregator keeps them incrementally from
// exposures (an experiment's decisions) and observations (those decisions
// joined with their outcomes, as Values): per unit (customer) the sums of
// its values, per arm and segment (tier, first contact) the sums of the
// unit means and their squares. Results turns them into the Results wire
// format: per arm and metric the mean over units with its interval, the
// relative lift against the control by GrowthBook's frequentist engine
// (experiments/stats) with its sequential (anytime-valid) interval and
// Holm-adjusted p-value, the SRM check, the same tables per segment, and
// the status of every guardrail (guardrails.go), which the results engine
// acts on when an experiment says on_breach: stop.
//
// The package is plain, deterministic Go with no global state: it imports
// no Kafka, HTTP or logging package. Hash, ChooseVariation and InNamespace
// do not allocate, so they can run on the decision path; BucketRanges
// allocates its result and is meant to run once per experiment definition.
package experiments
