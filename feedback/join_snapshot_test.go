package feedback

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/models"
)

// TestJoinSnapshotFile writes a join snapshot and reads it back, whole
// and damaged: a damaged, cut or foreign file is an error, never a join
// built of part of it.
func TestJoinSnapshotFile(t *testing.T) {
	j := models.NewCompactJoiner(models.JoinConfig{})
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * time.Second)
		id := uuidV7(at, uint64(i))
		j.AddDecision(models.DecisionPos{Partition: int32(i % 3), Offset: int64(1<<40 + i/3)}, id, at, func(models.Match) {})
		if i%3 == 0 {
			o := models.Outcome{OutcomeID: "o", DecisionID: id, OccurredAt: at.Add(time.Hour),
				Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldCSAT | 1<<models.FieldRecontact7d)}
			j.AddOutcome(o, func(models.Match) {})
		}
	}
	// the early window of the first 500 closes: they go to the late tier
	j.AddDecision(models.DecisionPos{Partition: 0, Offset: 1<<40 + 334}, uuidV7(t0.Add(24*time.Hour+500*time.Second), 1000), t0.Add(24*time.Hour+500*time.Second), func(models.Match) {})
	require.Greater(t, j.LateDecisions(), 400)
	lateTiers := func(j *models.CompactJoiner) []string {
		var out []string
		_ = j.LateTiers(func(h models.LateTierCopy, block func(int64) models.LateBlockCopy, state func(int64) uint16) error {
			out = append(out, fmt.Sprintf("%+v", h))
			for b := h.FirstBlock; b < h.FirstBlock+h.Blocks; b++ {
				out = append(out, fmt.Sprintf("%+v", block(b)))
			}
			for off := h.ClosedTo; off < h.End; off++ {
				out = append(out, fmt.Sprintf("%x", state(off)))
			}
			return nil
		})
		return out
	}
	wantLate := lateTiers(j)
	var want []models.PendingEntry
	j.PendingEntries(func(e models.PendingEntry) { want = append(want, e) })
	h := joinSnapshotHeader{Model: "m", Decisions: "d", Outcomes: "o", CheckpointVersion: 7, CheckpointHash: 42,
		DecisionOffsets: Offsets{0: 1 << 41}, OutcomeOffsets: Offsets{0: 9}, StreamTime: t0,
		Early: []models.EarlyOutcome{{Outcome: models.Outcome{OutcomeID: "e", DecisionID: "x", OccurredAt: t0}, Seen: t0}}}
	path := filepath.Join(t.TempDir(), "sub", JoinSnapshotFile)
	size, err := writeJoinSnapshot(path, h, j)
	require.NoError(t, err)
	whole, err := os.ReadFile(path)
	require.NoError(t, err)
	require.EqualValues(t, len(whole), size)
	require.Greater(t, len(want), 0)

	for _, tc := range []struct {
		name    string
		bytes   func([]byte) []byte
		wantErr string
	}{
		{"whole", func(b []byte) []byte { return b }, ""},
		{"a bit flipped in an entry", func(b []byte) []byte { b[len(b)-100] ^= 1; return b }, "checksum"},
		{"a bit flipped in the checksum", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "checksum"},
		{"cut short", func(b []byte) []byte { return b[:len(b)-joinSnapshotEntryBytes] }, "entries and the late tiers need"},
		{"empty", func([]byte) []byte { return nil }, "too short"},
		{"another file", func(b []byte) []byte { copy(b, "NOTSITU!"); return b }, "not a join snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), JoinSnapshotFile)
			require.NoError(t, os.WriteFile(p, tc.bytes(append([]byte(nil), whole...)), 0o600))
			var got []models.PendingEntry
			copied := models.RestoreCompactJoiner(models.JoinConfig{}, j.State())
			gh, err := readJoinSnapshot(p, func(*joinSnapshotHeader) error { return nil }, copied.AddLateTier, func(e models.PendingEntry) error {
				got = append(got, e)
				return nil
			})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, wantLate, lateTiers(copied), "the late tiers")
			require.Equal(t, j.LateDecisions(), copied.LateDecisions())
			h.FormatVersion, h.Entries = JoinSnapshotFormatVersion, int64(len(want))
			require.Equal(t, h.Early[0].Outcome.OutcomeID, gh.Early[0].Outcome.OutcomeID)
			gh.Early, h.Early = nil, nil
			require.True(t, gh.StreamTime.Equal(h.StreamTime))
			gh.StreamTime = h.StreamTime
			require.Len(t, gh.LateTiers, 3)
			h.LateTiers = gh.LateTiers
			require.Equal(t, h, gh)
		})
	}
	_, err = readJoinSnapshot(filepath.Join(t.TempDir(), "none"), nil, nil, nil)
	require.ErrorIs(t, err, errNoJoinSnapshot)
}
