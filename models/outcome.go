package models

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
)

// Outcome is what happened after a decision, or the part of it known so
// far: the value of an nba.outcomes message and the body of POST
// /v1/outcomes. A decision may receive several outcomes over its reward
// window, each with its own OutcomeID and each holding the fields known
// when it was sent; Missing marks the fields this one does not hold (not
// false, not 0: unknown). OccurredAt orders the parts: for a field given
// twice, the later OccurredAt wins.
//
// The zero Missing holds every field, so an Outcome built in Go with every
// field set is one complete part, as a JSON outcome naming every field is
// (the format before parts). CSAT nil in a part that holds csat means "no
// survey" (JSON null); a part without the csat member does not say.
type Outcome struct {
	OutcomeID      string
	DecisionID     string
	Resolved       bool
	CSAT           *float64 // 1–5; nil: not surveyed
	UpsellAccepted bool
	Revenue        float64
	HandleSeconds  float64
	Escalated      bool
	Recontact7d    bool
	Churned        bool
	OccurredAt     time.Time
	// Missing is the set of fields this part does not hold. DecodeOutcome
	// sets it from the members the JSON leaves out.
	Missing OutcomeFields
}

// OutcomeField is one of the outcome's fields that the reward counts.
type OutcomeField uint8

// The outcome fields, in the order of the contract.
const (
	FieldResolved       OutcomeField = iota // resolved
	FieldCSAT                               // csat
	FieldUpsellAccepted                     // upsell_accepted
	FieldRevenue                            // revenue
	FieldHandleSeconds                      // handle_seconds
	FieldEscalated                          // escalated
	FieldRecontact7d                        // recontact_7d
	FieldChurned                            // churned

	// NumOutcomeFields is the number of outcome fields.
	NumOutcomeFields = 8
)

var outcomeFieldNames = [NumOutcomeFields]string{
	"resolved", "csat", "upsell_accepted", "revenue", "handle_seconds", "escalated", "recontact_7d", "churned",
}

// String returns the field's JSON name.
func (f OutcomeField) String() string {
	if int(f) < NumOutcomeFields {
		return outcomeFieldNames[f]
	}
	return "unknown"
}

// OutcomeFields is a set of outcome fields, one bit each.
type OutcomeFields uint8

// AllOutcomeFields holds every outcome field.
const AllOutcomeFields OutcomeFields = 1<<NumOutcomeFields - 1

// Has reports whether f is in the set.
func (s OutcomeFields) Has(f OutcomeField) bool { return s&(1<<f) != 0 }

// With returns the set with f added.
func (s OutcomeFields) With(f OutcomeField) OutcomeFields { return s | 1<<f }

// Held returns the fields o holds.
func (o *Outcome) Held() OutcomeFields { return AllOutcomeFields &^ o.Missing }

// Holds reports whether o holds field f.
func (o *Outcome) Holds(f OutcomeField) bool { return !o.Missing.Has(f) }

// ErrOutcomeNotObject is returned by DecodeOutcome for valid JSON that is
// null rather than an object.
var ErrOutcomeNotObject = errors.New("an outcome must be a JSON object, got null")

// outcomeDecodeOptions are json v2's defaults, spelled out: unknown members
// are skipped (a producer may send a field a newer situ learns from),
// names match exactly and are given once, the text is valid UTF-8.
var outcomeDecodeOptions = json.JoinOptions(
	json.RejectUnknownMembers(false),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// DecodeOutcome decodes one outcome event from data: the value of an
// nba.outcomes message and the body of POST /v1/outcomes go through it
// alike, so both accept exactly the same JSON. data must be exactly one
// JSON object (white space around it is fine) in valid UTF-8, each name
// given once and spelled as in the contract (case included); members the
// contract does not define are ignored. An outcome field the object does
// not name is recorded in Missing. Errors wrap json v2's
// *json.SemanticError or *jsontext.SyntacticError, or ErrOutcomeNotObject.
// The values are checked by Validate, not here.
func DecodeOutcome(data []byte, o *Outcome) error {
	if err := json.Unmarshal(data, o, outcomeDecodeOptions); err != nil {
		return fmt.Errorf("outcome: %w", err)
	}
	// null is the one value other than an object that decodes into a
	// struct without an error
	if bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
		return ErrOutcomeNotObject
	}
	return nil
}

// UnmarshalJSONFrom decodes an outcome object member by member, so that
// it knows which fields the object holds (Missing) without allocating.
// Unknown members are skipped unless the options reject them
// (json.RejectUnknownMembers, as the learner's checkpoint does).
func (o *Outcome) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	if k := dec.PeekKind(); k != '{' {
		// let json report the kind it met, as for any struct
		var v struct{}
		return json.UnmarshalDecode(dec, &v)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*o = Outcome{Missing: AllOutcomeFields}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue() // the quoted name; valid, checked for duplicates by dec
		if err != nil {
			return err
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			// a name spelled with escapes: compare what it says
			unq, err := jsontext.AppendUnquote(nil, name)
			if err != nil {
				return err
			}
			name, _ = jsontext.AppendQuote(nil, unq)
		}
		var dst any
		field := OutcomeField(255)
		switch string(name) {
		case `"outcome_id"`:
			dst = &o.OutcomeID
		case `"decision_id"`:
			dst = &o.DecisionID
		case `"resolved"`:
			dst, field = &o.Resolved, FieldResolved
		case `"csat"`:
			dst, field = &o.CSAT, FieldCSAT
		case `"upsell_accepted"`:
			dst, field = &o.UpsellAccepted, FieldUpsellAccepted
		case `"revenue"`:
			dst, field = &o.Revenue, FieldRevenue
		case `"handle_seconds"`:
			dst, field = &o.HandleSeconds, FieldHandleSeconds
		case `"escalated"`:
			dst, field = &o.Escalated, FieldEscalated
		case `"recontact_7d"`:
			dst, field = &o.Recontact7d, FieldRecontact7d
		case `"churned"`:
			dst, field = &o.Churned, FieldChurned
		case `"occurred_at"`:
			dst = &o.OccurredAt
		default:
			if reject, _ := json.GetOption(dec.Options(), json.RejectUnknownMembers); reject {
				return &json.SemanticError{JSONKind: '"', JSONValue: name.Clone(), GoType: outcomeGoType, Err: errors.New("unknown object member name")}
			}
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if err := decodeMember(dec, dst); err != nil {
			return err
		}
		if field < NumOutcomeFields {
			o.Missing &^= 1 << field
		}
	}
	_, err := dec.ReadToken()
	return err
}

var outcomeGoType = reflect.TypeFor[Outcome]()

// decodeMember decodes one member's value into dst, reading strings,
// booleans and numbers straight from the token; any other value, and a
// kind dst does not take, go through json, which reports the error with
// the member's place.
func decodeMember(dec *jsontext.Decoder, dst any) error {
	k := dec.PeekKind()
	switch v := dst.(type) {
	case *string:
		if k == '"' {
			tok, err := dec.ReadToken()
			*v = tok.String()
			return err
		}
	case *bool:
		if k == 't' || k == 'f' {
			tok, err := dec.ReadToken()
			*v = err == nil && tok.Bool()
			return err
		}
	case *float64:
		if k == '0' {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			*v, err = tok.Float()
			return rangeError(dec, err)
		}
	case *time.Time:
		if k == '"' {
			return decodeTime(dec, v)
		}
	case **float64:
		if k == '0' {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			f, err := tok.Float()
			*v = &f
			return rangeError(dec, err)
		}
	}
	return json.UnmarshalDecode(dec, dst)
}

// decodeTime reads an RFC 3339 time without the reflection of json's
// time.Time arshaler: the value's text is parsed in place (time.Parse keeps
// no reference to it once it succeeded); an escaped string, or a time
// that does not parse, goes through json, which reports the error as for
// any time.Time.
func decodeTime(dec *jsontext.Decoder, v *time.Time) error {
	val, err := dec.ReadValue()
	if err != nil {
		return err
	}
	raw := val[1 : len(val)-1]
	if len(raw) > 0 && bytes.IndexByte(raw, '\\') < 0 {
		if t, err := time.Parse(time.RFC3339, unsafe.String(&raw[0], len(raw))); err == nil {
			*v = t
			return nil
		}
	}
	if err := json.Unmarshal(val, v); err != nil {
		return &json.SemanticError{JSONKind: '"', JSONPointer: dec.StackPointer(), GoType: reflect.TypeFor[time.Time](), Err: err}
	}
	return nil
}

// rangeError reports a number beyond float64 as json does, at the
// member just read.
func rangeError(dec *jsontext.Decoder, err error) error {
	if err == nil {
		return nil
	}
	return &json.SemanticError{JSONKind: '0', JSONPointer: dec.StackPointer(), GoType: reflect.TypeFor[float64](), Err: err}
}

// MarshalJSONTo writes the outcome as the contract does: the fields o
// holds, in the contract's order, csat as null when a part says there was
// no survey.
func (o *Outcome) MarshalJSONTo(enc *jsontext.Encoder) error {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	b = appendMember(b, "outcome_id", o.OutcomeID)
	b = append(b, ',')
	b = appendMember(b, "decision_id", o.DecisionID)
	for f := range OutcomeField(NumOutcomeFields) {
		if !o.Holds(f) {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, f.String()...)
		b = append(b, '"', ':')
		switch f {
		case FieldResolved:
			b = strconv.AppendBool(b, o.Resolved)
		case FieldCSAT:
			if o.CSAT == nil {
				b = append(b, "null"...)
			} else {
				b = appendFloat(b, *o.CSAT)
			}
		case FieldUpsellAccepted:
			b = strconv.AppendBool(b, o.UpsellAccepted)
		case FieldRevenue:
			b = appendFloat(b, o.Revenue)
		case FieldHandleSeconds:
			b = appendFloat(b, o.HandleSeconds)
		case FieldEscalated:
			b = strconv.AppendBool(b, o.Escalated)
		case FieldRecontact7d:
			b = strconv.AppendBool(b, o.Recontact7d)
		case FieldChurned:
			b = strconv.AppendBool(b, o.Churned)
		}
	}
	b = append(b, `,"occurred_at":"`...)
	b = o.OccurredAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"', '}')
	return enc.WriteValue(b)
}

// MarshalJSON is MarshalJSONTo for encoding/json.
func (o Outcome) MarshalJSON() ([]byte, error) { return json.Marshal(&o) }

// UnmarshalJSON is UnmarshalJSONFrom for encoding/json, with
// DecodeOutcome's rules.
func (o *Outcome) UnmarshalJSON(data []byte) error {
	return json.Unmarshal(data, o, outcomeDecodeOptions)
}

func appendMember(b []byte, name, value string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	b, _ = jsontext.AppendQuote(b, value)
	return b
}

// appendFloat writes a finite number as JSON does (Validate bounds them;
// a non-finite one is written as 0 rather than invalid JSON).
func appendFloat(b []byte, v float64) []byte {
	if !finite(v) {
		v = 0
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Validate checks an outcome and returns a *features.FieldError for the
// first wrong field.
func (o *Outcome) Validate() error {
	if o.OutcomeID == "" || len(o.OutcomeID) > 256 {
		return &features.FieldError{Field: "outcome_id", Message: "is required (1 to 256 bytes)"}
	}
	if o.DecisionID == "" || len(o.DecisionID) > 256 {
		return &features.FieldError{Field: "decision_id", Message: "is required (1 to 256 bytes): the decision_id returned by POST /v1/score"}
	}
	if o.CSAT != nil && (math.IsNaN(*o.CSAT) || *o.CSAT < 1 || *o.CSAT > 5) {
		return &features.FieldError{Field: "csat", Message: "must be between 1 and 5 (omit it when there was no survey)"}
	}
	if !finite(o.Revenue) || o.Revenue < 0 || o.Revenue > 1e9 {
		return &features.FieldError{Field: "revenue", Message: fmt.Sprintf("must be a finite amount between 0 and 1e9, got %g", o.Revenue)}
	}
	if !finite(o.HandleSeconds) || o.HandleSeconds < 0 || o.HandleSeconds > 7*86400 {
		return &features.FieldError{Field: "handle_seconds", Message: fmt.Sprintf("must be between 0 and 604800, got %g", o.HandleSeconds)}
	}
	if o.OccurredAt.IsZero() {
		return &features.FieldError{Field: "occurred_at", Message: "is required (RFC 3339 time, e.g. 2026-11-22T10:00:00Z)"}
	}
	return nil
}

// decisionClockSkew is how far in the future a decision id's time may be:
// the replica that made it and the one checking may disagree a little.
const decisionClockSkew = time.Minute

// CheckDecisionID reports, as a *features.FieldError on decision_id,
// an id that cannot be the id of a decision situ made within window
// before now: an id that is not a UUID, or a UUIDv7 (situ's decision
// ids) whose time is older than window or more than a minute in the
// future. Other UUID versions pass: they carry no time.
func CheckDecisionID(id string, now time.Time, window time.Duration) error {
	ms, version, ok := parseUUID(id)
	if !ok {
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("%q is not a decision id: situ's decision ids are UUIDs (the decision_id POST /v1/score answered)", truncateID(id))}
	}
	if version != 7 {
		return nil
	}
	at := time.UnixMilli(ms).UTC()
	switch {
	case at.Before(now.Add(-window)):
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("the decision was made at %s, longer ago than the reward window of %s (the longest of --reward-window and --late-window): its outcome can no longer be joined",
			at.Format(time.RFC3339), window)}
	case at.After(now.Add(decisionClockSkew)):
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("the decision's time %s is in the future: not a decision id situ made", at.Format(time.RFC3339))}
	}
	return nil
}

func truncateID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// parseUUID parses the canonical text form of a UUID
// (xxxxxxxx-xxxx-Vxxx-xxxx-xxxxxxxxxxxx, either case) and returns its
// version and the 48-bit Unix millisecond time a UUIDv7 begins with.
func parseUUID(s string) (ms int64, version int, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return 0, 0, false
	}
	var ts int64
	digits := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		v, ok := hexValue(s[i])
		if !ok {
			return 0, 0, false
		}
		if digits < 12 {
			ts = ts<<4 | int64(v)
		}
		if digits == 12 {
			version = int(v)
		}
		digits++
	}
	return ts, version, true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
