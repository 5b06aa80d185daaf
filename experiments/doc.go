// Package experiments owns experiment assignment: which arm of an A/B
// test a unit (a customer) is in.
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
// The package is plain, deterministic Go with no global state: it imports
// no Kafka, HTTP or logging package. Hash, ChooseVariation and InNamespace
// do not allocate, so they can run on the decision path; BucketRanges
// allocates its result and is meant to run once per experiment definition.
package experiments
