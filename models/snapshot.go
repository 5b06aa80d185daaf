package models

import (
	"fmt"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/features"
)

// SnapshotFormatVersion is the format_version of the snapshots this code
// writes and the only one it reads.
const SnapshotFormatVersion = 2

// Snapshot is a served model version: the value of an nba.models message
// (key = model name), and all that a scoring replica reads. The learner's
// state (optimiser, join, offsets) is not in it: the learner keeps that
// in its checkpoint, on a topic of its own.
type Snapshot struct {
	FormatVersion     int       `json:"format_version"`
	Model             Spec      `json:"model"`
	SchemaFingerprint string    `json:"schema_fingerprint"`
	RewardVersion     int64     `json:"reward_version"`
	CreatedAt         time.Time `json:"created_at"`
}

// NewSnapshot describes model m.
func NewSnapshot(m *Model, rewardVersion int64, createdAt time.Time) Snapshot {
	return Snapshot{
		FormatVersion:     SnapshotFormatVersion,
		Model:             m.Spec(),
		SchemaFingerprint: FingerprintString(m.Schema().Fingerprint()),
		RewardVersion:     rewardVersion,
		CreatedAt:         createdAt,
	}
}

// WireEncode and WireDecode are the JSON options of situ's Kafka state
// messages (the snapshot here, the learner's checkpoint in feedback):
// github.com/go-json-experiment/json with its strict defaults (valid
// UTF-8, no duplicate names, exact-case names) plus no member the type
// does not define; maps are written in sorted order, so equal values give
// equal bytes.
var (
	WireEncode = json.Deterministic(true)
	WireDecode = json.RejectUnknownMembers(true)
)

// Encode returns the snapshot's JSON.
func (s *Snapshot) Encode() ([]byte, error) {
	b, err := json.Marshal(s, WireEncode)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b, nil
}

// DecodeSnapshot parses a snapshot message strictly (WireDecode) and
// checks its format version.
func DecodeSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s, WireDecode); err != nil {
		return Snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	if s.FormatVersion != SnapshotFormatVersion {
		return Snapshot{}, fmt.Errorf("decode snapshot: format_version %d, this build reads %d", s.FormatVersion, SnapshotFormatVersion)
	}
	return s, nil
}

// Bind builds the snapshot's model for schema, checking the fingerprint:
// the schema's own, or one the schema extends (features.Schema.Extends: a
// snapshot written before the schema gained its missing indicators).
func (s *Snapshot) Bind(schema *features.Schema) (*Model, error) {
	fp, err := strconv.ParseUint(s.SchemaFingerprint, 16, 64)
	if err != nil || len(s.SchemaFingerprint) != 16 || !schema.Extends(fp) {
		return nil, fmt.Errorf("snapshot of model %q v%d: schema %s, service schema %s: %w", s.Model.Name, s.Model.Version, s.SchemaFingerprint, FingerprintString(schema.Fingerprint()), ErrSchemaMismatch)
	}
	return Bind(s.Model, schema)
}
