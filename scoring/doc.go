// Package scoring owns the decision engine: candidates → experiment arm
// (the strategy) → service policy → per-treatment model scores →
// exploration, or a fixed strategy's choice → decision with probabilities,
// propensity and explanation. The engine owns the decision bundle (Bundle:
// the model, the policy, the exploration settings, the running
// experiments and their frozen models, and the configuration version),
// held behind one atomic pointer and swapped whole, so every
// decision sees one consistent set and records its versions. It is plain,
// deterministic Go (time, ids and randomness are injected) and imports no
// transport or logging package.
package scoring
