// Package models owns what situ learns and what it learns from:
//
//   - the per-treatment linear models bound to a feature schema, their
//     versions, and the embedded default model whose priors encode
//     situational service logic;
//   - the online learner: least squares (importance weighted if asked) with
//     per-weight AdaGrad steps, L2 and pinned weights, and the optimiser
//     state it resumes from;
//   - the join of decisions with their outcomes by decision id, in either
//     order, within the reward window, and the state it resumes from;
//   - the decision event the learner reads from nba.decisions, and its
//     validation;
//   - the outcome event channels send, its strict decoding and validation,
//     and the reward definition that scores it;
//   - the model snapshot published on nba.models: weights, learner and
//     join state, consumed offsets.
//
// Invalid fields of an outcome or a decision event are reported as
// *features.FieldError. It is plain, deterministic Go with no Kafka, HTTP
// or logging; feedback runs the learner loop around it.
package models
