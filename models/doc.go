// Package models owns what situ learns: per-treatment linear models bound
// to a feature schema, their versions and snapshots, the embedded default
// model whose priors encode situational service logic, the outcome events
// that come back from channels and the reward definition that scores them.
package models
