// Package control owns the data team's configuration: everything a data
// team can change in a running situ, as one versioned value.
//
// A Config holds the weight overrides (set a value or multiply the learned
// weight, per treatment and feature), the pins (weights the learner holds
// still, with the value they are held at), the per-treatment levers (an
// additive value or cost in reward units, applied to the score before
// exploration), the reward definition, the service policy as YAML text and
// the exploration settings. A Change names the parts it changes; Apply
// validates it against an Env (the feature schema, the learned model) and
// returns the next Config, or a *features.FieldError naming the offending
// field by its JSON path, in which case nothing is applied.
//
// A History is the sequence of accepted changes, each a Record (the value
// of an nba.control message) with its version, author, reason, time and the
// whole configuration before and after. Version 0 is the built-in default
// configuration; every accepted change is the next version. Propose checks
// an optional base version, so two changes made on the same base never both
// apply; Add replays records read from the topic. Prepare builds the next
// record without appending it, for a process that takes a record into its
// history only when it reads it back from the topic, in the order every
// reader sees (feedback.ControlPlane). Diff says what differs
// between two versions and Rollback builds the change that restores one,
// byte for byte.
//
// Compile turns a Config into its ready-to-serve form, Applied: the
// compiled policy, the explorer, the levers by treatment and the overrides
// and pins by feature index. EffectiveModel folds the overrides and pins
// into a copy of the learned model once, so a decision pays nothing for
// them; WeightsTable lists learned, override, pin and effective value of
// every weight.
//
// The package is plain, deterministic Go: time is passed in, there is no
// global state, and it imports no transport or logging package.
package control
