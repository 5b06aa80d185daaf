package models

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
	"situ/internal/jsonw"
)

// DecisionEventFormatVersion is the format_version this code writes and the
// newest it reads. Members are only ever added within a version (readers
// skip members they do not know); a change that existing readers would
// misread takes the next version, which they reject.
const DecisionEventFormatVersion = 1

// DecisionEvent is one decision as nba.decisions carries it: the value of
// a message keyed by the decision id. This file is its one home: the type
// and its json tags are the format, AppendJSON its fast encoder and
// DecodeDecisionEvent its decoder; decision_event_test.go holds the two to
// each other and to the tags.
type DecisionEvent struct {
	// FormatVersion is the event's format, DecisionEventFormatVersion when
	// written by this code. Events written before the member existed lack
	// it; they are version 1.
	FormatVersion int       `json:"format_version"`
	DecisionID    string    `json:"decision_id"`
	Time          time.Time `json:"time"`
	// Model that scored the decision.
	ModelName    string `json:"model_name"`
	ModelVersion int64  `json:"model_version"`
	// SchemaVersion and SchemaFingerprint identify the layout of Features.
	SchemaVersion     int    `json:"schema_version"`
	SchemaFingerprint string `json:"schema_fingerprint"`
	Strategy          string `json:"strategy"`
	Explorer          string `json:"explorer"`
	// Treatment is the chosen treatment, Propensity its probability.
	Treatment  string  `json:"treatment"`
	Propensity float64 `json:"propensity"`
	// Probabilities of the eligible treatments.
	Probabilities Probabilities `json:"probabilities"`
	// Eligible are the treatments the policy left of the Candidates, the
	// treatments the request offered.
	Eligible   TreatmentList `json:"eligible"`
	Candidates TreatmentList `json:"candidates"`
	// Rules are the ids of the policy rules that fired, in policy order.
	Rules   []string `json:"rules,omitempty"`
	Uniform bool     `json:"uniform,omitempty"`
	// Features is the sparse feature vector the model scored.
	Features []features.Entry `json:"features"`

	// The members below were added within version 1; each is omitted while
	// it is empty.

	// ConfigVersion is the version of the data team's configuration the
	// decision saw.
	ConfigVersion int64 `json:"config_version,omitzero"`
	// PolicyVersion is the version of the service policy that applied.
	PolicyVersion int64 `json:"policy_version,omitzero"`
	// Experiment and Arm name the experiment the customer was assigned in
	// and its arm, when Strategy came from one.
	Experiment string `json:"experiment,omitempty"`
	Arm        string `json:"arm,omitempty"`
	// Context is the scoring context (its text fields in canonical form),
	// except that Context.Customer.ID is the keyed hash (HMAC-SHA256, hex;
	// internal/custhash) of the customer id, never the id itself. It is
	// absent when the writer holds no customer-id key.
	Context *features.Context `json:"context,omitempty"`
	// Levers are the configuration's levers of the candidate treatments,
	// added to the model's score before exploration: Probabilities and
	// Propensity include them. Omitted when all are 0.
	Levers Levers `json:"levers,omitzero"`
}

// StrategyLearned is the Strategy of decisions the learned model made:
// outside any experiment, or in an arm whose strategy is learned.
const StrategyLearned = "learned"

// LearnsFrom reports whether the learner learns from decision d: only
// from decisions of the learned strategy (or of no strategy, as events
// written before experiments existed may have). Decisions of a fixed rule
// or a frozen model (model@V) are another strategy's data: docs/admin.md,
// "Which decisions the learner learns from".
func LearnsFrom(d DecisionEvent) bool {
	return d.Strategy == StrategyLearned || d.Strategy == ""
}

// FingerprintString formats a schema fingerprint for decision events and
// snapshots: 16 lower-case hex digits.
func FingerprintString(fp uint64) string { return fmt.Sprintf("%016x", fp) }

// ErrDecisionEventVersion is wrapped by the error of DecodeDecisionEvent
// for an event of a newer format than this code reads.
var ErrDecisionEventVersion = errors.New("decision event format is newer than this reader")

// DecodeDecisionEvent decodes one nba.decisions value with
// github.com/go-json-experiment/json: valid UTF-8, exact names given once,
// one value and nothing after it but white space. Unknown members are
// skipped, so that producers may add members; opts are added to the
// decoding options (tests pass json.RejectUnknownMembers(true)). An event
// without format_version is version 1; one of a newer version fails with
// ErrDecisionEventVersion.
func DecodeDecisionEvent(data []byte, opts ...json.Options) (DecisionEvent, error) {
	var e DecisionEvent
	err := json.Unmarshal(data, &e, opts...)
	if err != nil {
		// A newer format may fail to decode at all: say why.
		var v struct {
			FormatVersion int `json:"format_version"`
		}
		if json.Unmarshal(data, &v) == nil && v.FormatVersion > DecisionEventFormatVersion {
			return DecisionEvent{}, versionError(v.FormatVersion)
		}
		return DecisionEvent{}, fmt.Errorf("decode decision event: %w", err)
	}
	switch {
	case e.FormatVersion == 0:
		e.FormatVersion = 1
	case e.FormatVersion > DecisionEventFormatVersion:
		return DecisionEvent{}, versionError(e.FormatVersion)
	case e.FormatVersion < 0:
		return DecisionEvent{}, &features.FieldError{Field: "format_version", Message: fmt.Sprintf("must be at least 1, got %d", e.FormatVersion)}
	}
	return e, nil
}

func versionError(v int) error {
	return fmt.Errorf("decode decision event: format_version %d, this reader reads up to %d (upgrade it): %w",
		v, DecisionEventFormatVersion, ErrDecisionEventVersion)
}

// Validate checks that a decision event can be learned from with schema.
func (d *DecisionEvent) Validate(schema *features.Schema) error {
	if d.DecisionID == "" {
		return &features.FieldError{Field: "decision_id", Message: "is required"}
	}
	if _, ok := features.ParseTreatment(d.Treatment); !ok {
		return &features.FieldError{Field: "treatment", Message: fmt.Sprintf("unknown treatment %q", d.Treatment)}
	}
	if !(d.Propensity > 0 && d.Propensity <= 1) {
		return &features.FieldError{Field: "propensity", Message: fmt.Sprintf("must be in (0, 1], got %g", d.Propensity)}
	}
	if d.SchemaFingerprint != schema.FingerprintHex() {
		return &features.FieldError{Field: "schema_fingerprint", Message: fmt.Sprintf("%s does not match the learner's schema %s", d.SchemaFingerprint, schema.FingerprintHex())}
	}
	n := int32(schema.Len())
	for i, e := range d.Features {
		if e.Index < 0 || e.Index >= n || !finite(e.Value) {
			return &features.FieldError{Field: fmt.Sprintf("features[%d]", i), Message: "index out of the schema or value not finite"}
		}
	}
	return nil
}

// AppendJSON appends the event's JSON to dst without reflection or
// allocation: the members of the json tags, in their order, formatted as
// json.Marshal formats them (members tagged omitempty or omitzero are left
// out when empty), format_version always DecisionEventFormatVersion. It fails, and returns dst unchanged, when a number is not
// finite, a string is not valid UTF-8 or the time's year is outside
// [0, 9999]: what json.Marshal refuses too.
func (d *DecisionEvent) AppendJSON(dst []byte) ([]byte, error) {
	if y := d.Time.Year(); y < 0 || y > 9999 {
		return dst, errors.New("decision event: time out of the range JSON can carry")
	}
	w := eventWriter{b: dst, ok: true}
	w.raw(`{"format_version":`)
	w.int(DecisionEventFormatVersion)
	w.raw(`,"decision_id":`)
	w.str(d.DecisionID)
	w.raw(`,"time":"`)
	w.b = d.Time.AppendFormat(w.b, time.RFC3339Nano)
	w.raw(`","model_name":`)
	w.str(d.ModelName)
	w.raw(`,"model_version":`)
	w.int(d.ModelVersion)
	w.raw(`,"schema_version":`)
	w.int(int64(d.SchemaVersion))
	w.raw(`,"schema_fingerprint":`)
	w.str(d.SchemaFingerprint)
	w.raw(`,"strategy":`)
	w.str(d.Strategy)
	w.raw(`,"explorer":`)
	w.str(d.Explorer)
	w.raw(`,"treatment":`)
	w.str(d.Treatment)
	w.raw(`,"propensity":`)
	w.float(d.Propensity)
	w.raw(`,"probabilities":`)
	w.b, w.ok = d.Probabilities.appendJSON(w.b, w.ok)
	w.raw(`,"eligible":`)
	w.b = d.Eligible.appendJSON(w.b)
	w.raw(`,"candidates":`)
	w.b = d.Candidates.appendJSON(w.b)
	if len(d.Rules) > 0 {
		w.raw(`,"rules":[`)
		for i, id := range d.Rules {
			if i > 0 {
				w.raw(",")
			}
			w.str(id)
		}
		w.raw("]")
	}
	if d.Uniform {
		w.raw(`,"uniform":true`)
	}
	w.raw(`,"features":[`)
	for i, e := range d.Features {
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"i":`)
		w.int(int64(e.Index))
		w.raw(`,"v":`)
		w.float(e.Value)
		w.raw("}")
	}
	w.raw("]")
	if d.ConfigVersion != 0 {
		w.raw(`,"config_version":`)
		w.int(d.ConfigVersion)
	}
	if d.PolicyVersion != 0 {
		w.raw(`,"policy_version":`)
		w.int(d.PolicyVersion)
	}
	if d.Experiment != "" {
		w.raw(`,"experiment":`)
		w.str(d.Experiment)
	}
	if d.Arm != "" {
		w.raw(`,"arm":`)
		w.str(d.Arm)
	}
	if d.Context != nil {
		w.raw(`,"context":`)
		w.context(d.Context)
	}
	if !d.Levers.IsZero() {
		w.raw(`,"levers":`)
		w.b, w.ok = d.Levers.appendJSON(w.b, w.ok)
	}
	w.raw("}")
	if !w.ok {
		return dst, errors.New("decision event: a number is not finite or a string is not valid UTF-8")
	}
	return w.b, nil
}

// eventWriter appends JSON and remembers whether everything written could
// be carried: finite numbers and valid UTF-8.
type eventWriter struct {
	b  []byte
	ok bool
}

func (w *eventWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *eventWriter) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

func (w *eventWriter) float(f float64) {
	w.ok = w.ok && finite(f)
	w.b = jsonw.Float(w.b, f)
}

func (w *eventWriter) str(s string) {
	// jsonw would replace invalid UTF-8; a mangled id would never join
	// its outcome, so refuse it as json.Marshal does.
	var valid bool
	w.b, valid = jsonw.StringValid(w.b, s)
	w.ok = w.ok && valid
}

func (w *eventWriter) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

// context appends c as json.Marshal writes a features.Context, attributes
// in name order.
func (w *eventWriter) context(c *features.Context) {
	cu := &c.Customer
	w.raw(`{"customer":{"id":`)
	w.str(cu.ID)
	w.raw(`,"lifetime_value":`)
	w.float(cu.LifetimeValue)
	w.raw(`,"annual_spend":`)
	w.float(cu.AnnualSpend)
	w.raw(`,"tenure_months":`)
	w.float(cu.TenureMonths)
	w.raw(`,"tier":`)
	w.str(cu.Tier)
	w.raw(`,"first_contact":`)
	w.bool(cu.FirstContact)
	w.raw(`,"prefers_self_service":`)
	w.bool(cu.PrefersSelfService)
	w.raw(`},"intent":{"name":`)
	w.str(c.Intent.Name)
	if c.Intent.Confidence != nil {
		w.raw(`,"confidence":`)
		w.float(*c.Intent.Confidence)
	}
	w.raw(`},"channel":`)
	w.str(c.Channel)
	f := &c.Friction
	w.raw(`,"friction":{"repeat_contacts_7d":`)
	w.int(int64(f.RepeatContacts7d))
	w.raw(`,"failed_self_service_24h":`)
	w.int(int64(f.FailedSelfService24h))
	w.raw(`,"wait_seconds":`)
	w.float(f.WaitSeconds)
	w.raw(`,"transfers":`)
	w.int(int64(f.Transfers))
	w.raw(`,"open_complaint":`)
	w.bool(f.OpenComplaint)
	w.raw(`,"sentiment":`)
	w.float(f.Sentiment)
	w.raw("}")
	if len(c.Attributes) > 0 {
		// Sorted names, on the stack for the usual few attributes.
		var buf [16]string
		names := buf[:0]
		for k := range c.Attributes {
			names = append(names, k)
		}
		slices.Sort(names)
		w.raw(`,"attributes":{`)
		for i, k := range names {
			if i > 0 {
				w.raw(",")
			}
			w.str(k)
			w.raw(":")
			w.float(c.Attributes[k])
		}
		w.raw("}")
	}
	w.raw("}")
}

// Probabilities are probabilities per treatment, for the treatments of Of:
// on the wire a JSON object from treatment name to probability, in
// treatment order.
type Probabilities struct {
	Of features.TreatmentSet
	P  [features.NumTreatments]float64
}

func (p *Probabilities) appendJSON(b []byte, ok bool) ([]byte, bool) {
	return appendTreatmentFloats(b, p.Of, &p.P, ok)
}

// MarshalJSONTo writes p as a JSON object.
func (p Probabilities) MarshalJSONTo(enc *jsontext.Encoder) error {
	b, err := p.MarshalJSON()
	if err != nil {
		return err
	}
	return enc.WriteValue(b)
}

// MarshalJSON is MarshalJSONTo for encoding/json.
func (p Probabilities) MarshalJSON() ([]byte, error) {
	b, ok := p.appendJSON(nil, true)
	if !ok {
		return nil, errors.New("probability is not finite")
	}
	return b, nil
}

// UnmarshalJSON is UnmarshalJSONFrom for encoding/json.
func (p *Probabilities) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, p) }

// UnmarshalJSONFrom reads a JSON object from treatment name to probability
// (null is no treatment).
func (p *Probabilities) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*p = Probabilities{}
	var err error
	p.Of, err = readTreatmentFloats(dec, "probabilities", &p.P)
	return err
}

// Levers are per-treatment additions to the model's score, in reward
// units: on the wire a JSON object from treatment name to lever holding
// the non-zero ones, in treatment order.
type Levers [features.NumTreatments]float64

// IsZero reports whether every lever is 0 (the member is then omitted).
func (l Levers) IsZero() bool { return l == Levers{} }

func (l *Levers) appendJSON(b []byte, ok bool) ([]byte, bool) {
	var nonZero features.TreatmentSet
	for _, t := range features.Treatments() {
		if l[t] != 0 {
			nonZero = nonZero.With(t)
		}
	}
	return appendTreatmentFloats(b, nonZero, (*[features.NumTreatments]float64)(l), ok)
}

// MarshalJSONTo writes the levers as a JSON object.
func (l Levers) MarshalJSONTo(enc *jsontext.Encoder) error {
	b, err := l.MarshalJSON()
	if err != nil {
		return err
	}
	return enc.WriteValue(b)
}

// MarshalJSON is MarshalJSONTo for encoding/json.
func (l Levers) MarshalJSON() ([]byte, error) {
	b, ok := l.appendJSON(nil, true)
	if !ok {
		return nil, errors.New("lever is not finite")
	}
	return b, nil
}

// UnmarshalJSON is UnmarshalJSONFrom for encoding/json.
func (l *Levers) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, l) }

// UnmarshalJSONFrom reads a JSON object from treatment name to lever (null
// is none).
func (l *Levers) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = Levers{}
	_, err := readTreatmentFloats(dec, "levers", (*[features.NumTreatments]float64)(l))
	return err
}

// appendTreatmentFloats appends the JSON object from the name of each
// treatment of of to its number in v, in treatment order; ok turns false
// when a number is not finite.
func appendTreatmentFloats(b []byte, of features.TreatmentSet, v *[features.NumTreatments]float64, ok bool) ([]byte, bool) {
	b = append(b, '{')
	first := true
	for _, t := range features.Treatments() {
		if !of.Has(t) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, t.String()...)
		b = append(b, '"', ':')
		ok = ok && finite(v[t])
		b = jsonw.Float(b, v[t])
	}
	return append(b, '}'), ok
}

// readTreatmentFloats reads a JSON object from treatment name to number
// into v and returns the treatments it named; null names none. Errors
// start with what, the member being read.
func readTreatmentFloats(dec *jsontext.Decoder, what string, v *[features.NumTreatments]float64) (features.TreatmentSet, error) {
	var seen features.TreatmentSet
	if open, err := readOpen(dec, what, '{'); !open {
		return seen, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return seen, err
		}
		name := tok.String() // a token is valid until the next read
		t, ok := features.ParseTreatment(name)
		if !ok || seen.Has(t) {
			return seen, fmt.Errorf("%s: unknown or repeated treatment %q", what, name)
		}
		n, err := dec.ReadToken()
		if err != nil {
			return seen, err
		}
		if n.Kind() != '0' {
			return seen, fmt.Errorf("%s: %s: want a number, got %s", what, name, n.Kind())
		}
		f, err := n.Float()
		if err != nil {
			return seen, fmt.Errorf("%s: %s: %w", what, name, err)
		}
		seen, v[t] = seen.With(t), f
	}
	_, err := dec.ReadToken()
	return seen, err
}

// readOpen reads the token that opens a JSON object ('{') or array ('['):
// it reports whether one opened, false with no error for null. Errors
// start with what, the member being read.
func readOpen(dec *jsontext.Decoder, what string, kind jsontext.Kind) (bool, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return false, err
	}
	switch tok.Kind() {
	case 'n':
		return false, nil
	case kind:
		return true, nil
	}
	want := "an object"
	if kind == '[' {
		want = "an array"
	}
	return false, fmt.Errorf("%s: want %s, got %s", what, want, tok.Kind())
}

// TreatmentList is a set of treatments on the wire: a JSON array of their
// names, in treatment order.
type TreatmentList features.TreatmentSet

func (l TreatmentList) appendJSON(b []byte) []byte {
	b = append(b, '[')
	first := true
	for _, t := range features.Treatments() {
		if !features.TreatmentSet(l).Has(t) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, t.String()...)
		b = append(b, '"')
	}
	return append(b, ']')
}

// MarshalJSONTo writes the list as a JSON array of names.
func (l TreatmentList) MarshalJSONTo(enc *jsontext.Encoder) error {
	return enc.WriteValue(l.appendJSON(nil))
}

// MarshalJSON is MarshalJSONTo for encoding/json.
func (l TreatmentList) MarshalJSON() ([]byte, error) { return l.appendJSON(nil), nil }

// UnmarshalJSON is UnmarshalJSONFrom for encoding/json.
func (l *TreatmentList) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, l) }

// UnmarshalJSONFrom reads a JSON array of treatment names (null is none).
func (l *TreatmentList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = 0
	if open, err := readOpen(dec, "treatments", '['); !open {
		return err
	}
	s := features.TreatmentSet(0)
	for dec.PeekKind() != ']' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		t, ok := features.ParseTreatment(name.String())
		if name.Kind() != '"' || !ok || s.Has(t) {
			return fmt.Errorf("treatments: unknown or repeated treatment %s", name)
		}
		s = s.With(t)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*l = TreatmentList(s)
	return nil
}

// DecodeDecisionKey returns the decision id and time of one nba.decisions
// value: what the compact join keeps. Events as AppendJSON and json.Marshal
// write them (format_version, decision_id and time first, the id without
// escapes) are read by a scan of their first members; any other text is
// decoded whole with DecodeDecisionEvent, so both give the same answer.
func DecodeDecisionKey(data []byte) (string, time.Time, error) {
	if id, t, ok := scanDecisionKey(data); ok {
		return id, t, nil
	}
	d, err := DecodeDecisionEvent(data)
	if err != nil {
		return "", time.Time{}, err
	}
	if d.DecisionID == "" {
		return "", time.Time{}, &features.FieldError{Field: "decision_id", Message: "is required"}
	}
	return d.DecisionID, d.Time, nil
}

// scanDecisionKey is DecodeDecisionKey's fast path: it reports false for
// anything but the expected start of an event.
func scanDecisionKey(b []byte) (string, time.Time, bool) {
	const fv, di, tm = `{"format_version":`, `,"decision_id":"`, `","time":"`
	if len(b) < len(fv) || string(b[:len(fv)]) != fv {
		return "", time.Time{}, false
	}
	i := len(fv)
	if i >= len(b) || (b[i] != '0' && b[i] != '1') { // versions this code reads
		return "", time.Time{}, false
	}
	i++
	if len(b)-i < len(di) || string(b[i:i+len(di)]) != di {
		return "", time.Time{}, false
	}
	i += len(di)
	start := i
	for i < len(b) && b[i] != '"' {
		if b[i] == '\\' || b[i] < 0x20 || b[i] >= 0x80 {
			return "", time.Time{}, false
		}
		i++
	}
	if i == start || len(b)-i < len(tm) || string(b[i:i+len(tm)]) != tm {
		return "", time.Time{}, false
	}
	id := string(b[start:i])
	i += len(tm)
	end := i
	for end < len(b) && b[end] != '"' {
		end++
	}
	if end == len(b) {
		return "", time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[i:end]))
	if err != nil {
		return "", time.Time{}, false
	}
	return id, t, true
}
