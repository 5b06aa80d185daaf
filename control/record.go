package control

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json"
)

// FormatVersion is the format of Record this package writes and the only
// one it reads.
const FormatVersion = 1

// Kind names a part of a configuration.
type Kind string

// The parts of a configuration, in the order Record.Kinds lists them.
const (
	KindWeights     Kind = "weights"
	KindLevers      Kind = "levers"
	KindReward      Kind = "reward"
	KindPolicy      Kind = "policy"
	KindExploration Kind = "exploration"
)

// Record is one accepted change: the value of an nba.control message (key
// Key()). Before and After are whole configurations, so a reader needs no
// other record to know what was in effect.
type Record struct {
	FormatVersion int `json:"format_version"`
	// Version is this configuration's version: 1 + the previous one.
	Version int64  `json:"version"`
	Author  string `json:"author"`
	Reason  string `json:"reason"`
	// Time is when the change was accepted, in UTC.
	Time time.Time `json:"time"`
	// Kinds are the parts that differ between Before and After.
	Kinds  []Kind `json:"kinds"`
	Change Change `json:"change"`
	Before Config `json:"before"`
	After  Config `json:"after"`
	// RollbackOf is the version this change restored, when it is a
	// rollback.
	RollbackOf *int64 `json:"rollback_of,omitzero"`
	// ID identifies the proposal, unique per record written: two records
	// proposed for one version (two processes on the same base) differ in
	// it, and so in their keys. The proposer recognises its own record by
	// it when it reads the topic back. Optional.
	ID string `json:"id,omitzero"`
}

// Key is the record's message key on nba.control, "config/<version>" or,
// with an ID, "config/<version>/<id>": one key per record written, so
// that compaction keeps every record, the audit trail, and every reader
// sees the same records in the same order. (With one key per version,
// compaction would keep the last of two records proposed for a version,
// the one every reader skipped.)
func (r Record) Key() string {
	k := "config/" + strconv.FormatInt(r.Version, 10)
	if r.ID != "" {
		k += "/" + r.ID
	}
	return k
}

// Maps are written sorted by key, so equal values encode to equal bytes.
var encodeOptions = json.Deterministic(true)

// EncodeRecord returns r's JSON.
func EncodeRecord(r Record) ([]byte, error) {
	b, err := json.Marshal(r, encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode control record: %w", err)
	}
	return b, nil
}

// DecodeRecord decodes a record strictly: one JSON object, names matched
// exactly and given once, no unknown member, and a format_version this
// package knows.
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	if err := decodeStrict(data, &r); err != nil {
		return Record{}, fmt.Errorf("decode control record: %w", err)
	}
	if r.FormatVersion != FormatVersion {
		return Record{}, fmt.Errorf("decode control record: format_version %d, this service reads %d", r.FormatVersion, FormatVersion)
	}
	return r, nil
}

// EncodeConfig returns c's JSON; equal configurations give equal bytes.
func EncodeConfig(c Config) ([]byte, error) {
	b, err := json.Marshal(c, encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return b, nil
}

// DecodeConfig decodes a configuration strictly (see DecodeRecord).
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	if err := decodeStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("decode configuration: %w", err)
	}
	return c, nil
}

// EncodeChange returns ch's JSON.
func EncodeChange(ch Change) ([]byte, error) {
	b, err := json.Marshal(ch, encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	return b, nil
}

// DecodeChange decodes a change strictly (see DecodeRecord).
func DecodeChange(data []byte) (Change, error) {
	var ch Change
	if err := decodeStrict(data, &ch); err != nil {
		return Change{}, fmt.Errorf("decode change: %w", err)
	}
	return ch, nil
}

func decodeStrict(data []byte, v any) error {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("want a JSON object")
	}
	return json.Unmarshal(data, v, json.RejectUnknownMembers(true))
}

// equalConfigs reports whether a and b encode to the same bytes. A
// configuration that does not encode (a NaN) equals nothing.
func equalConfigs(a, b Config) bool {
	ea, err := EncodeConfig(a)
	if err != nil {
		return false
	}
	eb, err := EncodeConfig(b)
	return err == nil && bytes.Equal(ea, eb)
}
