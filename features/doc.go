// Package features owns the scoring context a channel application sends
// (customer, intent, channel, friction, extra attributes), its validation
// (FieldError, the one type situ reports an invalid input field with),
// the treatments situ can recommend, and the declarative feature schema that
// turns a context into the sparse feature vector the models score.
//
// It imports nothing of situ: every other package of the decision path
// builds on it.
package features
