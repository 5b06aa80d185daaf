// Package policy owns situ's written service commitments: declarative rules
// (a condition over the scoring context and an effect — exclude a
// treatment, require one, grant an entitlement), the floor that applies to
// every customer, and uniform mode, which hides customer value from the
// decision. Conditions are expr-lang expressions compiled once at load.
package policy
