package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

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
	for _, seed := range []string{
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
	} {
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
