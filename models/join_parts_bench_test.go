package models_test

import (
	"testing"

	"situ/models"
)

// BenchmarkCompactJoinerPending24hWithParts is BenchmarkCompactJoinerPending24h
// with every decision's first outcome part joined (resolved and handle
// seconds, as when the case closes): the decisions stay pending for their
// window, with the record of the fields applied.
// Run it with `go test -run '^$' -bench CompactJoinerPending24hWithParts -benchtime 1x ./models`.
func BenchmarkCompactJoinerPending24hWithParts(b *testing.B) {
	benchPending24h(b, &models.Outcome{OutcomeID: "o", Resolved: true, HandleSeconds: 300,
		Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)})
}
