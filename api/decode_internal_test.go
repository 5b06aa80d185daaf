package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"situ/features"
	"situ/internal/situtest"
	"situ/scoring"
)

var contractBody = situtest.ContractBody

func newInternalEngine(tb testing.TB) *scoring.Engine {
	tb.Helper()
	return situtest.Engine(tb, situtest.EngineOptions{Seed: 1})
}

// FuzzDecodeScoreRequest feeds arbitrary bodies to the score decoder and
// handler. Nothing may panic or answer 5xx, every answer must be JSON, and
// whatever the decoder accepts must be one JSON object in valid UTF-8.
func FuzzDecodeScoreRequest(f *testing.F) {
	for _, seed := range scoreSeeds {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Decider: newInternalEngine(f)})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		var req scoreRequest
		if err := decodeScoreRequest(body, &req); err != nil {
			if p := problemFor(err); p.status < 400 || p.status >= 500 || p.message == "" {
				t.Fatalf("decode error %v maps to %+v", err, p)
			}
		} else {
			if !utf8.Valid(body) || !json.Valid(body) {
				t.Fatalf("accepted a body that is not UTF-8 JSON: %q", body)
			}
			if trimmed := bytes.TrimSpace(body); trimmed[0] != '{' {
				t.Fatalf("accepted a body that is not an object: %q", body)
			}
		}
		rec := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, RouteScore, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON for %q: %s", body, rec.Body.Bytes())
		}
	})
}

// scoreSeeds are bodies for the score decoder's fuzz targets: the
// contract's and the golden tests' requests, and the edges of the rules.
var scoreSeeds = []string{
	contractBody,
	`{"channel":"web","intent":{"name":"order_status"}}`,
	`{"chan\u006eel":"ph\u006fne","intent":{"name":"x\ud83d\ude00\n\"\\\/\b\f\r\t"},"customer":{"id":"\u00e9"}}`,
	`{"intent":{"name":"a","confidence":null},"channel":"app","customer":null,"friction":{"sentiment":-1e-7,"wait_seconds":1.5E+2}}`,
	`{"attributes":{"a":0.1,"b":-0,"c":12345678901234567890,"d":1e22,"e":1e400,"f":4.9e-324}}`,
	`{"friction":{"repeat_contacts_7d":1e2,"transfers":-0}}`,
	`{"treatments":["self_service","self_service"]}`,
	`{"treatments":[]}`, `{"treatments":[1]}`,
	`{"customer":{"id":"a","id":"b"}}`,
	`{"Channel":"web"}`, `{"friction":{"mood":1}}`, `{"customer":{"Tier":"gold","x":1}}`,
	`[]`, `null`, ``, ` `, `{`, `{"a"`, `{"channel":"web"} {}`, "{\"channel\":\"\xff\"}",
	`{"intent":{"name":"\ud800"}}`, `{"friction":{"sentiment":NaN}}`,
	// the golden tests' requests
	`{"customer":{"id":"c-7","lifetime_value":40000,"annual_spend":8000,"tenure_months":96,"tier":"platinum"},"intent":{"name":"upgrade_inquiry"},"channel":"app","friction":{"sentiment":0.4}}`,
	`{"customer":{"tier":"basic"},"intent":{"name":"password_reset"},"channel":"app","treatments":["self_service","fast_resolution"]}`,
	`{"customer":{"tier":"silver","annual_spend":6000},"intent":{"name":"service_outage"},"channel":"chat","friction":{"repeat_contacts_7d":1,"wait_seconds":900}}`,
	// what the fast decoder takes, and its edges
	` {"channel" : "web" ,"intent":{"name":"x","confidence":1}} ` + "\n\t\r",
	`{"customer":{"id":null,"tier":null,"first_contact":null,"prefers_self_service":true,"lifetime_value":null},"intent":{"name":null,"confidence":null},"channel":null}`,
	`{"intent":null,"attributes":null,"treatments":null,"friction":{"open_complaint":null,"transfers":null,"sentiment":null}}`,
	`{"attributes":{},"treatments":[]}`, `{"attributes":{"a":null}}`, `{"treatments":[null]}`, `{"treatments":["x",]}`,
	`{"attributes":{"a":1,"a":2}}`, `{"attributes":{"é":1,"\u00e9":2}}`, `{"channel":"web","channel":"app"}`,
	`{"friction":{"transfers":-9223372036854775808,"repeat_contacts_7d":2.50e1,"failed_self_service_24h":1e19}}`,
	`{"customer":{"lifetime_value":-0,"annual_spend":1e-400,"tenure_months":01}}`, `{"customer":{"lifetime_value":1.}}`,
	`{"customer":{"lifetime_value":.5}}`, `{"customer":{"lifetime_value":+1}}`, `{"customer":{"lifetime_value":1e}}`,
	`{"customer":{"first_contact":tru}}`, `{"customer":{"first_contact":nul}}`, `{"channel":"we` + "\x01" + `b"}`,
	`{"channel":"web"}x`, `{"channel":"web"},`, `{,}`, `{"channel""web"}`, `{"channel":"web",}`,
	"{\"channel\":\"\xc3\xa9\"}", "{\"channel\":\"\xc3\"}", "\ufeff{}", `{"customer":[]}`, `{"intent":"x"}`,
}

// FuzzScanScoreRequest holds the fast score decoder (scanScoreRequest) to
// the reflective one, the reference: the same request or the same error
// for every body, and the fast one taking every body the reference takes
// (else accepted requests would be decoded twice).
func FuzzScanScoreRequest(f *testing.F) {
	for _, seed := range scoreSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanScoreRequest(t, body)
	})
}

func checkScanScoreRequest(t *testing.T, body []byte) {
	t.Helper()
	var want, got, scanned scoreRequest
	wantErr := decodeScoreRequestWith(body, &want, false)
	gotErr := decodeScoreRequest(body, &got)
	if !reflect.DeepEqual(got, want) || !sameRequest(got, want) {
		t.Fatalf("%q: decoded %+v, the reference %+v", body, got, want)
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || problemFor(gotErr) != problemFor(wantErr) {
		t.Fatalf("%q: error %v, the reference %v", body, gotErr, wantErr)
	}
	if took := scanScoreRequest(body, &scanned); took != (wantErr == nil) && !tooExotic(body) {
		t.Fatalf("%q: the fast decoder takes it: %v, the reference: %v", body, took, wantErr)
	}
}

// tooExotic says whether body holds what the fast decoder leaves to the
// reflective one although it is valid: an escape sequence.
func tooExotic(body []byte) bool {
	return bytes.ContainsRune(body, '\\')
}

// sameRequest compares what reflect.DeepEqual does not: the bits of the
// numbers (-0 and 0 are DeepEqual), and nil against empty.
func sameRequest(a, b scoreRequest) bool {
	fa, fb := numbers(a), numbers(b)
	for i := range fa {
		if math.Float64bits(fa[i]) != math.Float64bits(fb[i]) {
			return false
		}
	}
	return (a.Attributes == nil) == (b.Attributes == nil) && (a.Treatments == nil) == (b.Treatments == nil) &&
		(a.Intent.Confidence == nil) == (b.Intent.Confidence == nil)
}

func numbers(r scoreRequest) []float64 {
	c := r.Context
	out := []float64{c.Customer.LifetimeValue, c.Customer.AnnualSpend, c.Customer.TenureMonths, c.Friction.WaitSeconds, c.Friction.Sentiment}
	if c.Intent.Confidence != nil {
		out = append(out, *c.Intent.Confidence)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		out = append(out, c.Attributes[k])
	}
	return out
}

// TestScanScoreRequestTakes: the fast decoder takes the usual requests
// itself (the fuzz target only proves it agrees with the reference).
func TestScanScoreRequestTakes(t *testing.T) {
	for _, body := range []string{
		contractBody,
		`{"customer":{"tier":"basic"},"intent":{"name":"password_reset"},"channel":"app","treatments":["self_service","fast_resolution"]}`,
		`{"intent":{"name":"x","confidence":null},"channel":"web","customer":null,"friction":{"transfers":2.0,"sentiment":null}}`,
		`{"intent":{"name":"é"},"channel":"web","attributes":{}}`,
		`{"attributes":{"a":null,"b":-1.5e-3},"treatments":[null,"self_service"]}`,
	} {
		var req scoreRequest
		if !scanScoreRequest([]byte(body), &req) {
			t.Errorf("the fast decoder leaves %s to the reflective one", body)
		}
		checkScanScoreRequest(t, []byte(body))
	}
}

// TestScanScoreRequestAgrees runs the fuzz target's check over its seeds,
// in every test run.
func TestScanScoreRequestAgrees(t *testing.T) {
	for _, body := range scoreSeeds {
		checkScanScoreRequest(t, []byte(body))
	}
}

// TestWholeNumbers checks which JSON numbers an integer field takes: whole
// numbers however they are written (what Python and pandas send for
// counts held in floats), nothing with a fraction left, nothing beyond
// the type.
func TestWholeNumbers(t *testing.T) {
	cases := []struct {
		lit  string
		want int64
		err  error // nil, strconv.ErrSyntax (not whole) or strconv.ErrRange
	}{
		{"0", 0, nil},
		{"2", 2, nil},
		{"-7", -7, nil},
		{"2.0", 2, nil},
		{"2.000", 2, nil},
		{"2e0", 2, nil},
		{"2E+0", 2, nil},
		{"20e-1", 2, nil},
		{"0.2e1", 2, nil},
		{"1e2", 100, nil},
		{"1.5e1", 15, nil},
		{"-0.0", 0, nil},
		{"-0", 0, nil},
		{"0e999999999999", 0, nil},
		{"0.000e-5", 0, nil},
		{"9223372036854775807", 9223372036854775807, nil},
		{"9223372036854775807.0", 9223372036854775807, nil},
		{"-9223372036854775808", -9223372036854775808, nil},
		{"-9.223372036854775808e18", -9223372036854775808, nil},
		{"1.5", 0, strconv.ErrSyntax},
		{"15e-1", 0, strconv.ErrSyntax},
		{"0.1", 0, strconv.ErrSyntax},
		{"-0.5", 0, strconv.ErrSyntax},
		{"1e-400", 0, strconv.ErrSyntax},
		{"1.0000000000000000001", 0, strconv.ErrSyntax}, // 1 as a float64, yet not whole
		{"9223372036854775808", 0, strconv.ErrRange},
		{"9223372036854775808.0", 0, strconv.ErrRange},
		{"-9223372036854775809", 0, strconv.ErrRange},
		{"1e19", 0, strconv.ErrRange},
		{"1e400", 0, strconv.ErrRange},
		{"99999999999999999999", 0, strconv.ErrRange},
	}
	for _, tc := range cases {
		t.Run(tc.lit, func(t *testing.T) {
			got, err := parseWhole([]byte(tc.lit), 64)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("parseWhole(%s) error %v, want %v", tc.lit, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("parseWhole(%s) = %d, want %d", tc.lit, got, tc.want)
			}
		})
	}
	// the bit size of the field bounds the range
	if _, err := parseWhole([]byte("2147483648.0"), 32); !errors.Is(err, strconv.ErrRange) {
		t.Errorf("2147483648.0 fits an int32: %v", err)
	}
	if n, err := parseWhole([]byte("-2147483648.0"), 32); err != nil || n != -2147483648 {
		t.Errorf("-2147483648.0 as an int32: %d, %v", n, err)
	}
}

// TestDecodeWholeNumberCounts decodes counts written as floats into the
// score request: the values arrive, null and the other JSON types keep
// their usual rules.
func TestDecodeWholeNumberCounts(t *testing.T) {
	cases := []struct {
		name, friction string
		want           features.Friction
		field, message string // of the error; "" for none
	}{
		{"floats from pandas", `{"repeat_contacts_7d":2.0,"failed_self_service_24h":1e0,"transfers":-0.0}`,
			features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1}, "", ""},
		{"plain integers", `{"repeat_contacts_7d":3,"transfers":1}`, features.Friction{RepeatContacts7d: 3, Transfers: 1}, "", ""},
		{"null is zero", `{"repeat_contacts_7d":null}`, features.Friction{}, "", ""},
		{"fraction", `{"transfers":1.5}`, features.Friction{}, "friction.transfers", "must be a whole number, got 1.5"},
		{"beyond int", `{"transfers":1e19}`, features.Friction{}, "friction.transfers", "is out of range, got 1e19"},
		{"string", `{"transfers":"2"}`, features.Friction{}, "friction.transfers", "expected a whole number, got a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req scoreRequest
			err := decodeScoreRequest([]byte(`{"channel":"web","friction":`+tc.friction+`}`), &req)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if req.Friction != tc.want {
					t.Fatalf("friction %+v, want %+v", req.Friction, tc.want)
				}
				return
			}
			p := problemFor(err)
			if p.status != 400 || p.field != tc.field || p.message != tc.message {
				t.Fatalf("got %+v, want 400 %s %q", p, tc.field, tc.message)
			}
		})
	}
}

// TestDecodeScoreRequestAbsent: the optional numeric fields a body leaves
// out, or sends as null, are absent and 0; the ones it sends, 0 included,
// are not.
func TestDecodeScoreRequestAbsent(t *testing.T) {
	all := features.AllNumericFields
	cases := []struct {
		name string
		body string
		want features.NumericFieldSet
	}{
		{"minimal request", `{"intent":{"name":"order_status"},"channel":"web"}`, all},
		{"the contract's body sends every field", contractBody, 0},
		{"a sent zero is a value", `{"intent":{"name":"x"},"channel":"web","customer":{"lifetime_value":0},"friction":{"transfers":0}}`,
			all &^ (1 << features.FieldLifetimeValue) &^ (1 << features.FieldTransfers)},
		{"null is not sent", `{"intent":{"name":"x"},"channel":"web","customer":{"lifetime_value":null,"annual_spend":3},"friction":{"repeat_contacts_7d":null,"sentiment":-0.5}}`,
			all &^ (1 << features.FieldAnnualSpend) &^ (1 << features.FieldSentiment)},
		{"null in a string only", `{"intent":{"name":"null"},"channel":"web","customer":{"lifetime_value":0}}`,
			all &^ (1 << features.FieldLifetimeValue)},
		{"null objects", `{"intent":{"name":"x"},"channel":"web","customer":null,"friction":null}`, all},
		{"a whole number written as a float", `{"intent":{"name":"x"},"channel":"web","friction":{"repeat_contacts_7d":2.0,"failed_self_service_24h":1e0,"wait_seconds":10}}`,
			all &^ (1 << features.FieldRepeatContacts7d) &^ (1 << features.FieldFailedSelfService24h) &^ (1 << features.FieldWaitSeconds)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req scoreRequest
			if err := decodeScoreRequest([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			if req.Absent != tc.want {
				t.Errorf("absent %b, want %b", req.Absent, tc.want)
			}
			c := req.Context
			for _, v := range []float64{c.Customer.LifetimeValue, c.Customer.AnnualSpend, c.Customer.TenureMonths, c.Friction.WaitSeconds, c.Friction.Sentiment,
				float64(c.Friction.RepeatContacts7d), float64(c.Friction.FailedSelfService24h), float64(c.Friction.Transfers)} {
				if v != v || v < -1 {
					t.Errorf("a field holds %g after decoding: %+v", v, c)
				}
			}
		})
	}
}

// TestDecodeScoreRequestMinIntIsRejected: the one count that marks an
// unsent field is still a negative count, reported as such.
func TestDecodeScoreRequestMinIntIsRejected(t *testing.T) {
	var req scoreRequest
	if err := decodeScoreRequest([]byte(`{"intent":{"name":"x"},"channel":"web","friction":{"transfers":-9223372036854775808}}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.Absent.Has(features.FieldTransfers) {
		t.Fatal("a sent count counts as absent")
	}
	var fe *features.FieldError
	if err := req.Validate(); !errors.As(err, &fe) || fe.Field != "friction.transfers" {
		t.Fatalf("validate: %v, want a field error on friction.transfers", err)
	}
}

// TestContractContextIsTheContractBody: situtest.ContractContext, which
// tests elsewhere use for the contract's context, is what the API
// decodes of the contract's body.
func TestContractContextIsTheContractBody(t *testing.T) {
	var req scoreRequest
	if err := decodeScoreRequest([]byte(contractBody), &req); err != nil {
		t.Fatal(err)
	}
	if want := situtest.ContractContext(); !reflect.DeepEqual(want, req.Context) {
		t.Errorf("decoded %+v, situtest.ContractContext %+v", req.Context, want)
	}
}
