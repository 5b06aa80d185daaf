package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/api/contract"
	"situ/features"
	"situ/models"
)

// scoreRequest is the body of POST /v1/score.
type scoreRequest = contract.ScoreRequest

// decodeScoreRequest decodes body strictly (see decodeStrict) into req
// and records in req.Context.Absent the optional numeric fields the body
// does not hold or holds as null. Values are validated later, by the
// engine. The fast decoder scanScoreRequest takes the usual body; what it
// does not take, errors included, goes to the reflective decoder.
//
// Absence is found without allocating: before decoding, each optional
// numeric field holds a value no JSON number decodes to (NaN for a float;
// math.MinInt for a count, which unmarshalWhole never produces), and a
// null leaves the field as it is (keepOnNull); after decoding, a field
// still holding it was not sent, and is set to 0.
func decodeScoreRequest(body []byte, req *scoreRequest) error {
	return decodeScoreRequestWith(body, req, true)
}

// decodeScoreRequestWith is decodeScoreRequest with the fast decoder or,
// fast false, the reflective one alone (decodeScoreBody).
func decodeScoreRequestWith(body []byte, req *scoreRequest, fast bool) error {
	c := &req.Context
	c.Customer.LifetimeValue, c.Customer.AnnualSpend, c.Customer.TenureMonths = unsentFloat, unsentFloat, unsentFloat
	f := &c.Friction
	f.RepeatContacts7d, f.FailedSelfService24h, f.Transfers = unsentCount, unsentCount, unsentCount
	f.WaitSeconds, f.Sentiment = unsentFloat, unsentFloat
	err := decodeScoreBody(body, req, fast)
	var absent features.NumericFieldSet
	for _, fl := range [...]struct {
		v     *float64
		field features.NumericField
	}{
		{&c.Customer.LifetimeValue, features.FieldLifetimeValue},
		{&c.Customer.AnnualSpend, features.FieldAnnualSpend},
		{&c.Customer.TenureMonths, features.FieldTenureMonths},
		{&f.WaitSeconds, features.FieldWaitSeconds},
		{&f.Sentiment, features.FieldSentiment},
	} {
		if math.IsNaN(*fl.v) {
			*fl.v, absent = 0, absent.With(fl.field)
		}
	}
	for _, n := range [...]struct {
		v     *int
		field features.NumericField
	}{
		{&f.RepeatContacts7d, features.FieldRepeatContacts7d},
		{&f.FailedSelfService24h, features.FieldFailedSelfService24h},
		{&f.Transfers, features.FieldTransfers},
	} {
		if *n.v == unsentCount {
			*n.v, absent = 0, absent.With(n.field)
		}
	}
	c.Absent = absent
	return err
}

// decodeScoreBody decodes body into req with the fast decoder
// (scanScoreRequest), and where it does not take the body, from req as it
// was before, with the reflective decoder (decodeStrictWith), which
// reports the error if there is one. fast false is the reflective decoder
// alone: the reference the fast one is tested against.
func decodeScoreBody(body []byte, req *scoreRequest, fast bool) error {
	if fast {
		before := *req
		if scanScoreRequest(body, req) {
			return nil
		}
		*req = before
	}
	opts := decodeOptions
	if bytes.Contains(body, nullLiteral) {
		opts = scoreDecodeOptions
	}
	// The reflective decoder takes an interface, which would move req to
	// the heap for every request: it decodes into a copy instead.
	into := new(scoreRequest)
	*into = *req
	err := decodeStrictWith(body, into, opts)
	*req = *into
	return err
}

// unsentFloat and unsentCount mark an optional numeric field the score
// request has not set (decodeScoreRequest).
var unsentFloat = math.NaN()

const unsentCount = math.MinInt

// nullLiteral is JSON's null. A body without these bytes holds no null,
// and is decoded with decodeOptions: keepOnNull, called for every number
// of the request, costs a lookup and a call per value (a fifth of the
// score handler's CPU under load), which only a body with a null needs.
var nullLiteral = []byte("null")

// scoreDecodeOptions are decodeOptions with null leaving a number, a
// customer or a friction as it was, so that a null counts as not sent.
var scoreDecodeOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.WithUnmarshalers(json.JoinUnmarshalers(
		json.UnmarshalFromFunc(keepOnNull[float64]),
		json.UnmarshalFromFunc(keepOnNull[int]),
		json.UnmarshalFromFunc(keepOnNull[features.Customer]),
		json.UnmarshalFromFunc(keepOnNull[features.Friction]),
		json.UnmarshalFromFunc(unmarshalWhole[int]),
		json.UnmarshalFromFunc(unmarshalWhole[int64]),
		json.UnmarshalFromFunc(unmarshalWhole[int32]),
	)),
)

// keepOnNull consumes a JSON null and leaves v as it is; anything else is
// left to the next unmarshaler.
func keepOnNull[T any](dec *jsontext.Decoder, _ *T) error {
	if dec.PeekKind() != 'n' {
		return errors.ErrUnsupported
	}
	_, err := dec.ReadToken()
	return err
}

// decodeOutcome decodes the body of POST /v1/outcomes into o with
// models.DecodeOutcome, the decoder of the nba.outcomes consumer: the same
// rules as a score request except that unknown members are ignored.
func decodeOutcome(body []byte, o *models.Outcome) error {
	err := models.DecodeOutcome(body, o)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, models.ErrOutcomeNotObject):
		return requestProblem(http.StatusBadRequest, CodeInvalidType, "the body must be a JSON object, got null")
	}
	err = decodeError(err, body, outcomeType)
	// occurred_at (a time.Time) is the one field with a format of its own
	var (
		re *requestError
		fe *features.FieldError
	)
	if errors.As(err, &re) && re.Field == "occurred_at" || errors.As(err, &fe) && fe.Field == "occurred_at" {
		return &features.FieldError{Field: "occurred_at", Message: "must be an RFC 3339 time string, e.g. 2026-11-22T10:00:00Z"}
	}
	return err
}

var outcomeType = reflect.TypeFor[models.Outcome]()

// decodeOptions are those of the score request: json v2's strict defaults
// (valid UTF-8, no duplicate names, exact-case names, one value and nothing
// after it but white space), no member the struct does not define, and
// whole numbers written with a fraction or an exponent (2.0, 2e0) taken by
// the integer fields.
var decodeOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.WithUnmarshalers(json.JoinUnmarshalers(
		json.UnmarshalFromFunc(unmarshalWhole[int]),
		json.UnmarshalFromFunc(unmarshalWhole[int64]),
		json.UnmarshalFromFunc(unmarshalWhole[int32]),
	)),
)

// unmarshalWhole decodes a JSON number into an integer field when its
// value is a whole number, however it is written: 2, 2.0, 2e0, 20e-1 and
// -0.0 (which is 0) all fit; 1.5 does not (strconv.ErrSyntax), nor does a
// value beyond the type (strconv.ErrRange). Python's json.dumps and pandas
// write counts held in floats as 2.0. Anything but a number is left to the
// default rules.
func unmarshalWhole[T int | int64 | int32](dec *jsontext.Decoder, v *T) error {
	if dec.PeekKind() != '0' {
		return errors.ErrUnsupported
	}
	val, err := dec.ReadValue()
	if err != nil {
		return err
	}
	bits := int(reflect.TypeFor[T]().Bits())
	n, err := parseWhole(val, bits)
	if err != nil {
		return &json.SemanticError{JSONKind: '0', JSONValue: val.Clone(), GoType: reflect.TypeFor[T](), Err: err}
	}
	if n == math.MinInt64 {
		// the one value that marks an unsent count (decodeScoreRequest):
		// as negative, and as far out of range, as it was
		n++
	}
	*v = T(n)
	return nil
}

// parseWhole parses a JSON number literal (syntax already checked)
// exactly, without rounding through a float, as a whole number of the given
// bit size.
func parseWhole(lit []byte, bits int) (int64, error) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	// lit is int(.frac)?([eE][+-]?exp)?: the digits int+frac, with the
	// decimal point after len(int)+exp of them
	end := bytes.IndexAny(lit, ".eE")
	if end < 0 {
		end = len(lit)
	}
	intPart, frac, rest := lit[:end], []byte(nil), lit[end:]
	if len(rest) > 0 && rest[0] == '.' {
		k := bytes.IndexAny(rest, "eE")
		if k < 0 {
			k = len(rest)
		}
		frac, rest = rest[1:k], rest[k:]
	}
	exp := 0
	if len(rest) > 0 { // e or E, then an optionally signed integer
		expNeg := rest[1] == '-'
		for _, c := range bytes.TrimLeft(rest[1:], "+-") {
			if exp < 1<<20 { // saturate: far beyond any whole int64
				exp = exp*10 + int(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	digit := func(k int) uint64 {
		if k < len(intPart) {
			return uint64(intPart[k] - '0')
		}
		return uint64(frac[k-len(intPart)] - '0')
	}
	n, point := len(intPart)+len(frac), len(intPart)+exp
	for k := max(point, 0); k < n; k++ {
		if digit(k) != 0 {
			return 0, strconv.ErrSyntax // a fraction is left
		}
	}
	limit := uint64(1)<<(bits-1) - 1
	if neg {
		limit++
	}
	var v uint64
	for k := range max(point, 0) {
		if k >= n && v == 0 {
			break // only zeros are left: 0e999999 is 0
		}
		d := uint64(0)
		if k < n {
			d = digit(k)
		}
		if v > (limit-d)/10 {
			return 0, strconv.ErrRange
		}
		v = v*10 + d
	}
	if neg {
		return -int64(v), nil // two's complement: -(1<<63) too
	}
	return int64(v), nil
}

// decodeStrict decodes body into v (a pointer to a struct) with
// github.com/go-json-experiment/json (encoding/json v2) and holds it to the
// contract's rules: valid UTF-8, exactly one JSON object and nothing after
// it but white space, names matched exactly and given once, no field the
// struct does not define. Errors are *requestError or *features.FieldError,
// each a 4xx: the field's path where there is one, the byte offset of a
// syntax error.
func decodeStrict(body []byte, v any) error {
	return decodeStrictWith(body, v, decodeOptions)
}

// decodeStrictWith is decodeStrict with the given json options.
func decodeStrictWith(body []byte, v any, opts json.Options) error {
	if err := json.Unmarshal(body, v, opts); err != nil {
		return decodeError(err, body, reflect.TypeOf(v).Elem())
	}
	// null is the one value other than an object that decodes into a
	// struct without an error
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return requestProblem(http.StatusBadRequest, CodeInvalidType, "the body must be a JSON object, got null")
	}
	return nil
}

// decodeError turns an error of json.Unmarshal into a 4xx one; t is the
// type decoded into.
func decodeError(err error, body []byte, t reflect.Type) error {
	if !utf8.Valid(body) { // the same message wherever the decoder stopped
		return invalidUTF8(body)
	}
	var (
		syntaxErr *jsontext.SyntacticError
		semErr    *json.SemanticError
	)
	switch {
	case errors.As(err, &syntaxErr):
		return syntacticError(syntaxErr, body, t)
	case errors.As(err, &semErr):
		return semanticError(semErr, t)
	}
	return requestProblem(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: "+truncate(err.Error()))
}

func syntacticError(e *jsontext.SyntacticError, body []byte, t reflect.Type) error {
	off := int(e.ByteOffset)
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return requestProblem(http.StatusBadRequest, CodeInvalidJSON, "the body is empty: send a JSON object")
	case errors.Is(e.Err, io.ErrUnexpectedEOF):
		return syntaxError(len(body), "unexpected end of input")
	case strings.HasSuffix(e.Err.Error(), "after top-level value"):
		return syntaxError(off, "unexpected data after the JSON object (send exactly one object)")
	case strings.HasPrefix(e.Err.Error(), "duplicate object member name"):
		return fieldProblem(CodeInvalidJSON, truncate(fieldPath(t, e.JSONPointer)), fmt.Sprintf("is given more than once (byte offset %d): send each field once", off))
	}
	return syntaxError(off, e.Err.Error())
}

// semanticError reports valid JSON that does not fit the struct: an
// unknown name, a value of the wrong JSON type, a number the field cannot
// hold (1.5 or 1e400 for a count, 1e400 for an amount), or a value its
// type's own decoder refuses (time.Time). A count that is not a whole
// number fails with strconv.ErrSyntax, one beyond its type with
// strconv.ErrRange.
func semanticError(e *json.SemanticError, t reflect.Type) error {
	field := truncate(fieldPath(t, e.JSONPointer))
	if errors.Is(e.Err, json.ErrUnknownName) {
		return unknownField(t, e.JSONPointer, field)
	}
	got := map[jsontext.Kind]string{'t': "a boolean", 'f': "a boolean", '{': "an object", '[': "an array",
		'"': "a string", '0': "a number", 'n': "null"}[e.JSONKind]
	if e.GoType != nil && e.JSONKind == '0' && isNumber(e.GoType) {
		lit := truncate(string(e.JSONValue))
		msg := "is out of range, got " + lit
		if k := e.GoType.Kind(); k >= reflect.Int && k <= reflect.Uint64 && errors.Is(e.Err, strconv.ErrSyntax) {
			msg = "must be a whole number, got " + lit
		}
		return &features.FieldError{Field: field, Message: msg}
	}
	if field == "" {
		return requestProblem(http.StatusBadRequest, CodeInvalidType, "the body must be a JSON object, got "+got)
	}
	if e.GoType == nil || got == "" { // not expected from the types decoded here
		return &features.FieldError{Field: field, Message: "invalid value"}
	}
	return fieldProblem(CodeInvalidType, field, "expected "+jsonType(e.GoType)+", got "+got)
}

func isNumber(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Uint64 || k == reflect.Float32 || k == reflect.Float64
}

// syntaxError reports malformed JSON at a byte offset (from 0) of the body.
func syntaxError(offset int, msg string) error {
	return requestProblem(http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("malformed JSON at byte offset %d: %s", offset, msg))
}

// invalidUTF8 reports where body stops being UTF-8, which JSON text must be
// (RFC 8259 §8.1).
func invalidUTF8(body []byte) error {
	i := 0
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return requestProblem(http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("the body is not valid UTF-8 (at byte offset %d)", i))
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	switch k := t.Kind(); {
	case k == reflect.Pointer:
		return jsonType(t.Elem())
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "true or false"
	case k >= reflect.Int && k <= reflect.Uint64:
		return "a whole number"
	case k == reflect.Float32 || k == reflect.Float64:
		return "a number"
	case k == reflect.Slice || k == reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// unknownField names a member that the struct at ptr's parent does not
// define, and lists the names it does.
func unknownField(t reflect.Type, ptr jsontext.Pointer, field string) error {
	msg := "is not a known field"
	if st := typeAt(t, ptr.Parent()); st != nil && st.Kind() == reflect.Struct {
		fields := jsonFields(st)
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.Name
		}
		where := fieldPath(t, ptr.Parent())
		if where == "" {
			where = "the body"
		}
		msg += "; " + where + " has: " + strings.Join(names, ", ")
	}
	return fieldProblem(CodeUnknownField, field, msg)
}

// fieldPath turns a JSON Pointer into the path the API reports: names
// joined with dots, list items as [i] (/friction/repeat_contacts_7d →
// friction.repeat_contacts_7d, /treatments/1 → treatments[1]).
func fieldPath(t reflect.Type, ptr jsontext.Pointer) string {
	var b strings.Builder
	for tok := range ptr.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			b.WriteString("[" + tok + "]")
		} else {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		}
		t = elemType(t, tok)
	}
	return b.String()
}

// typeAt is the Go type at ptr within t, nil where t does not reach.
func typeAt(t reflect.Type, ptr jsontext.Pointer) reflect.Type {
	for tok := range ptr.Tokens() {
		t = elemType(t, tok)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// elemType is the type of member or item tok of t, nil if none.
func elemType(t reflect.Type, tok string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return t.Elem()
	case reflect.Struct:
		for _, f := range jsonFields(t) {
			if f.Name == tok {
				return f.Type
			}
		}
	}
	return nil
}

// jsonFields lists the fields of struct type t as the decoder sees them:
// JSON names, embedded structs flattened.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
		case f.IsExported():
			if name != "" {
				f.Name = name
			}
			out = append(out, f)
		}
	}
	return out
}
