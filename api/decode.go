package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"situ/features"
	"situ/models"
)

// scoreRequest is the body of POST /v1/score: the scoring context plus the
// treatments the channel can deliver. The json tags are the contract.
type scoreRequest struct {
	features.Context
	// Treatments the channel can deliver; nil means all.
	Treatments []string `json:"treatments"`
}

// decodeScoreRequest decodes body strictly (see decodeStrict) into req.
// Values are validated later, by the engine.
func decodeScoreRequest(body []byte, req *scoreRequest) error {
	return decodeStrict(body, req)
}

// decodeOutcome decodes the body of POST /v1/outcomes strictly into o.
func decodeOutcome(body []byte, o *models.Outcome) error {
	err := decodeStrict(body, o)
	// occurred_at (a time.Time) is the one field with a decoder of its own,
	// and encoding/json does not say which field such a decoder failed on.
	if re, ok := err.(*requestError); ok && re.code == CodeInvalidField && re.field == "" {
		return &features.FieldError{Field: "occurred_at", Message: "must be an RFC 3339 time string, e.g. 2026-11-22T10:00:00Z"}
	}
	return err
}

// decodeStrict decodes body into v (a pointer to a struct) with
// encoding/json, and holds the body to the contract's rules: valid UTF-8,
// exactly one JSON object and nothing after it but white space, no field
// the struct does not define. Errors are *requestError or
// *features.FieldError, each a 4xx: the field's path where there is one,
// the byte offset of a syntax error.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return invalidUTF8(body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body, v)
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(body[end:], " \t\r\n"); len(rest) > 0 {
		return syntaxError(len(body)-len(rest), "unexpected data after the JSON object (send exactly one object)")
	}
	// null is the one value other than an object that decodes into a
	// struct without an error
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return &requestError{status: 400, code: CodeInvalidType, message: "the body must be a JSON object, got null"}
	}
	return nil
}

// decodeError turns an error of encoding/json's Decoder into a 4xx one.
func decodeError(err error, body []byte, v any) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return &requestError{status: 400, code: CodeInvalidJSON, message: "the body is empty: send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return syntaxError(len(body), "unexpected end of input")
	case errors.As(err, &syntaxErr):
		return syntaxError(max(int(syntaxErr.Offset)-1, 0), syntaxErr.Error()) // Offset counts the bad byte
	case errors.As(err, &typeErr):
		return typeError(typeErr)
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if key, uerr := strconv.Unquote(quoted); uerr == nil {
			return unknownField(body, reflect.TypeOf(v).Elem(), key)
		}
	}
	// an error of a field type's own decoder (time.Time): a bad value
	return &requestError{status: 400, code: CodeInvalidField, message: "invalid value: " + truncate(err.Error())}
}

// syntaxError reports malformed JSON at a byte offset (from 0) of the body.
func syntaxError(offset int, msg string) error {
	return &requestError{status: 400, code: CodeInvalidJSON, message: fmt.Sprintf("malformed JSON at byte offset %d: %s", offset, msg)}
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
	return &requestError{status: 400, code: CodeInvalidJSON, message: fmt.Sprintf("the body is not valid UTF-8 (at byte offset %d)", i)}
}

// typeError reports a value of the wrong JSON type, or a number the field
// cannot hold (1.5 or 1e400 for a count, 1e400 for an amount).
func typeError(e *json.UnmarshalTypeError) error {
	// the path joins the JSON names of the fields, but for the Go name of
	// the embedded features.Context of scoreRequest
	field := strings.TrimPrefix(e.Field, "Context.")
	if lit, ok := strings.CutPrefix(e.Value, "number "); ok {
		msg := "is out of range, got " + truncate(lit)
		if k := e.Type.Kind(); k >= reflect.Int && k <= reflect.Uint64 && strings.ContainsAny(lit, ".eE") {
			msg = "must be a whole number, got " + truncate(lit)
		}
		return &features.FieldError{Field: field, Message: msg}
	}
	got := map[string]string{"bool": "a boolean", "object": "an object", "array": "an array",
		"string": "a string", "number": "a number"}[e.Value]
	if got == "" {
		got = e.Value
	}
	if field == "" {
		return &requestError{status: 400, code: CodeInvalidType, message: "the body must be a JSON object, got " + got}
	}
	return &requestError{status: 400, code: CodeInvalidType, field: field,
		message: "expected " + jsonType(e.Type) + ", got " + got}
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

// unknownField names a field that t does not define. encoding/json names
// only the key; its path and the fields allowed there are found by
// decoding the body again, generically (this is the error path).
func unknownField(body []byte, t reflect.Type, key string) error {
	var doc any
	_ = json.Unmarshal(body, &doc) // the decoder has already read it as JSON
	path, where, allowed := locateUnknown(doc, t, "", key)
	if path == "" { // not found: name the key alone
		path, where, allowed = key, "", nil
	}
	msg := "is not a known field"
	if allowed != nil {
		if where == "" {
			where = "the body"
		}
		msg += "; " + where + " has: " + strings.Join(allowed, ", ")
	}
	return &requestError{status: 400, code: CodeUnknownField, field: truncate(path), message: msg}
}

// locateUnknown finds key in doc where the struct type t (at path prefix)
// or one of its struct fields does not define it, and returns its path,
// the path of the object holding it and the names allowed there.
func locateUnknown(doc any, t reflect.Type, prefix, key string) (path, where string, allowed []string) {
	obj, ok := doc.(map[string]any)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !ok || t.Kind() != reflect.Struct {
		return "", "", nil
	}
	fields := jsonFields(t)
	names := make([]string, len(fields))
	known := false
	for i, f := range fields {
		names[i] = f.Name
		known = known || strings.EqualFold(f.Name, key) // encoding/json matches names case-insensitively
	}
	if _, here := obj[key]; here && !known {
		return join(prefix, key), prefix, names
	}
	for _, f := range fields {
		for k, v := range obj {
			if strings.EqualFold(k, f.Name) {
				if path, where, allowed = locateUnknown(v, f.Type, join(prefix, f.Name), key); path != "" {
					return path, where, allowed
				}
			}
		}
	}
	return "", "", nil
}

// jsonFields lists the fields of struct type t as encoding/json sees them:
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

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
