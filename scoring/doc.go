// Package scoring owns the decision engine: candidates → service policy →
// per-treatment model scores → exploration → decision with probabilities,
// propensity and explanation. It is plain, deterministic Go (time, ids and
// randomness are injected) and imports no transport or logging package.
package scoring
