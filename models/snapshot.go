package models

import (
	"encoding/json"
	"fmt"
	"time"

	"situ/features"
)

// Snapshot is a published model version: the value of an nba.models
// message (key = model name). Besides the weights it carries the learner's
// optimiser state and the position in every topic partition the learner
// reads, so a restarted learner resumes exactly where the snapshot was
// taken: every outcome is applied once.
type Snapshot struct {
	Model             Spec          `json:"model"`
	SchemaFingerprint string        `json:"schema_fingerprint"`
	RewardVersion     int64         `json:"reward_version"`
	CreatedAt         time.Time     `json:"created_at"`
	Learner           *LearnerState `json:"learner,omitempty"`
	// Offsets holds the next offset to read, per topic and partition.
	Offsets map[string]map[int32]int64 `json:"offsets,omitempty"`
	// Join is the learner's decision/outcome join state at the offsets.
	Join *JoinState `json:"join,omitempty"`
}

// JoinState is what the join of decisions and outcomes holds between
// snapshots: decisions still waiting for an outcome (as offset ranges of
// the decisions topic, to be re-read on restore) and outcomes that arrived
// before their decision.
type JoinState struct {
	// Pending lists, per decisions partition, the [first, last] offset
	// ranges of decisions still waiting for their outcome.
	Pending map[int32][][2]int64 `json:"pending,omitempty"`
	// Early are outcomes whose decision had not been read yet.
	Early []EarlyOutcome `json:"early,omitempty"`
	// StreamTime is the latest event time seen; the reward window is
	// measured in stream time so that a replay expires the same decisions.
	StreamTime time.Time `json:"stream_time"`
}

// NewSnapshot describes model m (and optionally its learner state).
func NewSnapshot(m *Model, learner *LearnerState, rewardVersion int64, createdAt time.Time) Snapshot {
	return Snapshot{
		Model:             m.Spec(),
		SchemaFingerprint: FingerprintString(m.Schema().Fingerprint()),
		RewardVersion:     rewardVersion,
		CreatedAt:         createdAt,
		Learner:           learner,
	}
}

// Encode returns the snapshot's JSON.
func (s *Snapshot) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b, nil
}

// DecodeSnapshot parses a snapshot message.
func DecodeSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	return s, nil
}

// DecodeServingSnapshot parses only what a serving replica needs from a
// snapshot message: the model, its schema fingerprint, reward version and
// time. The learner's optimiser and join state, which can be large, are
// skipped; Learner, Offsets and Join stay empty.
func DecodeServingSnapshot(b []byte) (Snapshot, error) {
	var s struct {
		Model             Spec      `json:"model"`
		SchemaFingerprint string    `json:"schema_fingerprint"`
		RewardVersion     int64     `json:"reward_version"`
		CreatedAt         time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	return Snapshot{Model: s.Model, SchemaFingerprint: s.SchemaFingerprint, RewardVersion: s.RewardVersion, CreatedAt: s.CreatedAt}, nil
}

// Bind builds the snapshot's model for schema, checking the fingerprint.
func (s *Snapshot) Bind(schema *features.Schema) (*Model, error) {
	if s.SchemaFingerprint != FingerprintString(schema.Fingerprint()) {
		return nil, fmt.Errorf("snapshot of model %q v%d: schema %s, service schema %s: %w", s.Model.Name, s.Model.Version, s.SchemaFingerprint, FingerprintString(schema.Fingerprint()), ErrSchemaMismatch)
	}
	return Bind(s.Model, schema)
}

// EarlyOutcome is an outcome waiting for its decision, with the stream
// time at which it arrived (it expires a reward window later).
type EarlyOutcome struct {
	Outcome Outcome   `json:"outcome"`
	Seen    time.Time `json:"seen"`
}
