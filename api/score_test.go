package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/api/contract"
	"situ/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// withValue returns the contract example with the value at path (dotted,
// with [i] for list items) replaced by raw JSON; raw "" deletes the field.
func withValue(tb testing.TB, path, raw string) string {
	tb.Helper()
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(contractExample))
	dec.UseNumber()
	require.NoError(tb, dec.Decode(&doc))
	parts := strings.Split(path, ".")
	obj := doc
	for _, p := range parts[:len(parts)-1] {
		obj = obj[p].(map[string]any)
	}
	last := parts[len(parts)-1]
	if i := strings.IndexByte(last, '['); i >= 0 {
		n, err := strconv.Atoi(strings.TrimSuffix(last[i+1:], "]"))
		require.NoError(tb, err)
		obj[last[:i]].([]any)[n] = json.RawMessage(raw)
	} else if raw == "" {
		delete(obj, last)
	} else {
		obj[last] = json.RawMessage(raw)
	}
	b, err := json.Marshal(doc)
	require.NoError(tb, err)
	return string(b)
}

// TestScoreRejectsBadInput sends bad requests over loopback: each must get
// a 4xx JSON problem naming the field where there is one, never a 5xx.
func TestScoreRejectsBadInput(t *testing.T) {
	type badCase struct {
		name        string
		method      string // default POST
		path        string // default /v1/score
		contentType string // default application/json; "-" for none
		body        string
		chunked     bool // send without Content-Length
		status      int
		code        string
		field       string // "" when the problem names none
		message     string // a part of the message, "" for any
	}
	attrs65 := `{"channel":"phone","intent":{"name":"x"},"attributes":{`
	for i := range 65 {
		if i > 0 {
			attrs65 += ","
		}
		attrs65 += `"a` + strconv.Itoa(i) + `":1`
	}
	attrs65 += "}}"
	big := contractExample[:len(contractExample)-1] + `,"customer_note":"` + strings.Repeat("x", 65<<10) + `"}`

	cases := []badCase{
		{name: "malformed JSON", body: `{"customer": `, status: 400, code: api.CodeInvalidJSON, message: "at byte offset 13: unexpected end of input"},
		{name: "invalid character", body: `{"channel": phone}`, status: 400, code: api.CodeInvalidJSON, message: "at byte offset 12: invalid character 'p'"},
		{name: "not JSON at all", body: `hello`, status: 400, code: api.CodeInvalidJSON},
		{name: "empty body", body: ``, status: 400, code: api.CodeInvalidJSON},
		{name: "body is an array", body: `[1, 2]`, status: 400, code: api.CodeInvalidType},
		{name: "body is null", body: `null`, status: 400, code: api.CodeInvalidType},
		{name: "trailing object", body: contractExample + `{}`, status: 400, code: api.CodeInvalidJSON},
		{name: "trailing garbage", body: contractExample + ` x`, status: 400, code: api.CodeInvalidJSON, message: "unexpected data after the JSON object"},
		{name: "missing closing brace", body: strings.TrimSuffix(contractExample, "}"), status: 400, code: api.CodeInvalidJSON},
		{name: "unescaped control character", body: strings.Replace(contractExample, `"phone"`, "\"ph\tone\"", 1), status: 400, code: api.CodeInvalidJSON},
		{name: "unknown top-level field", body: withValue(t, "colour", `"red"`), status: 400, code: api.CodeUnknownField, field: "colour"},
		{name: "unknown nested field", body: withValue(t, "friction.mood", `"grumpy"`), status: 400, code: api.CodeUnknownField, field: "friction.mood",
			message: "friction has: repeat_contacts_7d, failed_self_service_24h, wait_seconds, transfers, open_complaint, sentiment"},
		{name: "field name in another case", body: `{"channel":"phone","intent":{"name":"x"},"Friction":{"open_complaint":true}}`, status: 400, code: api.CodeUnknownField, field: "Friction",
			message: "the body has: customer, intent, channel, friction, attributes, treatments"},
		{name: "nested field name in another case", body: withValue(t, "friction.Transfers", `1`), status: 400, code: api.CodeUnknownField, field: "friction.Transfers"},
		{name: "field given twice", body: `{"channel":"",` + contractExample[1:], status: 400, code: api.CodeInvalidJSON, field: "channel", message: "is given more than once"},
		{name: "nested field given twice", body: `{"channel":"phone","intent":{"name":"x","name":"y"}}`, status: 400, code: api.CodeInvalidJSON, field: "intent.name", message: "is given more than once"},
		{name: "escaped unpaired surrogate", body: withValue(t, "intent.name", `"\ud800x"`), status: 400, code: api.CodeInvalidJSON, message: "invalid surrogate pair"},
		{name: "unknown field after a wrong type", body: `{"channel":"phone","intent":{"name":"x"},"customer":{"tier":1,"colour":"red"}}`, status: 400, code: api.CodeInvalidType, field: "customer.tier"},
		{name: "NaN literal", body: strings.Replace(contractExample, `-0.6`, `NaN`, 1), status: 400, code: api.CodeInvalidJSON},
		{name: "Infinity literal", body: strings.Replace(contractExample, `180`, `Infinity`, 1), status: 400, code: api.CodeInvalidJSON},
		{name: "number beyond float64", body: withValue(t, "friction.wait_seconds", `1e400`), status: 400, code: api.CodeInvalidField, field: "friction.wait_seconds"},
		{name: "huge money amount", body: withValue(t, "customer.lifetime_value", `1e300`), status: 400, code: api.CodeInvalidField, field: "customer.lifetime_value"},
		{name: "huge count", body: withValue(t, "friction.transfers", `99999999999999999999`), status: 400, code: api.CodeInvalidField, field: "friction.transfers"},
		{name: "count above the limit", body: withValue(t, "friction.repeat_contacts_7d", `1000000`), status: 400, code: api.CodeInvalidField, field: "friction.repeat_contacts_7d"},
		{name: "fractional count", body: withValue(t, "friction.transfers", `1.5`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "must be a whole number, got 1.5"},
		{name: "fractional count in exponent form", body: withValue(t, "friction.transfers", `15e-1`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "must be a whole number, got 15e-1"},
		{name: "fractional count beyond float64 precision", body: withValue(t, "friction.transfers", `1.0000000000000000001`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "must be a whole number"},
		{name: "whole count beyond int64", body: withValue(t, "friction.transfers", `1e19`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "is out of range, got 1e19"},
		{name: "whole count beyond float64", body: withValue(t, "friction.transfers", `1e400`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "is out of range, got 1e400"},
		{name: "integer count beyond int64", body: withValue(t, "friction.transfers", `99999999999999999999`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "is out of range"},
		{name: "whole count above the count limit", body: withValue(t, "friction.transfers", `1e6`), status: 400, code: api.CodeInvalidField, field: "friction.transfers", message: "must be a count between 0 and"},
		{name: "negative repeat contacts", body: withValue(t, "friction.repeat_contacts_7d", `-1`), status: 400, code: api.CodeInvalidField, field: "friction.repeat_contacts_7d"},
		{name: "negative failed self-service", body: withValue(t, "friction.failed_self_service_24h", `-3`), status: 400, code: api.CodeInvalidField, field: "friction.failed_self_service_24h"},
		{name: "negative wait", body: withValue(t, "friction.wait_seconds", `-1`), status: 400, code: api.CodeInvalidField, field: "friction.wait_seconds"},
		{name: "negative lifetime value", body: withValue(t, "customer.lifetime_value", `-5`), status: 400, code: api.CodeInvalidField, field: "customer.lifetime_value"},
		{name: "confidence above 1", body: withValue(t, "intent.confidence", `1.2`), status: 400, code: api.CodeInvalidField, field: "intent.confidence"},
		{name: "negative confidence", body: withValue(t, "intent.confidence", `-0.1`), status: 400, code: api.CodeInvalidField, field: "intent.confidence"},
		{name: "sentiment below -1", body: withValue(t, "friction.sentiment", `-1.5`), status: 400, code: api.CodeInvalidField, field: "friction.sentiment"},
		{name: "sentiment above 1", body: withValue(t, "friction.sentiment", `3`), status: 400, code: api.CodeInvalidField, field: "friction.sentiment"},
		{name: "missing channel", body: withValue(t, "channel", ``), status: 400, code: api.CodeInvalidField, field: "channel"},
		{name: "empty channel", body: withValue(t, "channel", `""`), status: 400, code: api.CodeInvalidField, field: "channel"},
		{name: "missing intent name", body: withValue(t, "intent.name", ``), status: 400, code: api.CodeInvalidField, field: "intent.name"},
		{name: "missing intent", body: withValue(t, "intent", ``), status: 400, code: api.CodeInvalidField, field: "intent.name"},
		{name: "unknown tier", body: withValue(t, "customer.tier", `"diamond"`), status: 400, code: api.CodeInvalidField, field: "customer.tier"},
		{name: "customer id too long", body: withValue(t, "customer.id", `"`+strings.Repeat("c", 300)+`"`), status: 400, code: api.CodeInvalidField, field: "customer.id"},
		{name: "invalid UTF-8 in a string", body: `{"channel":"ph` + "\xff" + `one"}`, status: 400, code: api.CodeInvalidJSON, message: "not valid UTF-8 (at byte offset 14)"},
		{name: "invalid UTF-8 in a field name", body: strings.Replace(contractExample, `"channel"`, "\"chan\xc3nel\"", 1), status: 400, code: api.CodeInvalidJSON},
		{name: "too many attributes", body: attrs65, status: 400, code: api.CodeInvalidField, field: "attributes"},
		{name: "attribute out of range", body: withValue(t, "attributes.any_extra_feature", `1e13`), status: 400, code: api.CodeInvalidField, field: "attributes.any_extra_feature"},
		{name: "unknown treatment", body: withValue(t, "treatments[1]", `"free_lunch"`), status: 400, code: api.CodeInvalidField, field: "treatments[1]"},
		{name: "empty treatments list", body: withValue(t, "treatments", `[]`), status: 400, code: api.CodeInvalidField, field: "treatments"},
		{name: "duplicate treatment", body: withValue(t, "treatments[2]", `"fast_resolution"`), status: 400, code: api.CodeInvalidField, field: "treatments[2]"},
		{
			name:   "policy leaves no eligible treatment",
			body:   withValue(t, "treatments", `["self_service"]`),
			status: 422, code: api.CodeNoEligibleTreatment, field: "treatments",
		},
		{name: "65 KiB body", body: big, status: 413, code: api.CodeBodyTooLarge},
		{name: "65 KiB body without Content-Length", body: big, chunked: true, status: 413, code: api.CodeBodyTooLarge},
		{name: "plain text content type", contentType: "text/plain", body: contractExample, status: 415, code: api.CodeUnsupportedMediaType},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: contractExample, status: 415, code: api.CodeUnsupportedMediaType},
		{name: "GET on the score endpoint", method: http.MethodGet, status: 405, code: api.CodeMethodNotAllowed},
		{name: "unknown route", path: "/v1/scores", body: contractExample, status: 404, code: api.CodeNotFound},
		{name: "trailing slash", path: "/v1/score/", body: contractExample, status: 404, code: api.CodeNotFound},
	}
	// every field with a value of the wrong JSON type
	wrongTypes := []struct{ path, raw string }{
		{"customer", `"gold"`}, {"customer.id", `1842`}, {"customer.lifetime_value", `"5400"`},
		{"customer.annual_spend", `true`}, {"customer.tenure_months", `[38]`}, {"customer.tier", `3`},
		{"customer.first_contact", `"no"`}, {"customer.prefers_self_service", `1`},
		{"intent", `"billing_dispute"`}, {"intent.name", `{"x":1}`}, {"intent.confidence", `"high"`},
		{"channel", `{}`}, {"friction", `[]`}, {"friction.repeat_contacts_7d", `"2"`},
		{"friction.failed_self_service_24h", `false`}, {"friction.wait_seconds", `"180"`},
		{"friction.transfers", `{}`}, {"friction.open_complaint", `"yes"`}, {"friction.sentiment", `"bad"`},
		{"attributes", `[1]`}, {"attributes.any_extra_feature", `"1"`},
		{"treatments", `"fast_resolution"`}, {"treatments[1]", `3`},
	}
	for _, w := range wrongTypes {
		cases = append(cases, badCase{name: "wrong type for " + w.path + " " + w.raw, body: withValue(t, w.path, w.raw),
			status: 400, code: api.CodeInvalidType, field: w.path})
	}

	ts := newTestServer(t, api.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, path, ct := tc.method, tc.path, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = api.RouteScore
			}
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: chunked encoding
			}
			header := http.Header{}
			if ct != "" {
				header.Set("Content-Type", ct)
			}
			r := ts.send(t, method, path, body, header)

			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			p := decodeProblem(t, r)
			require.Equal(t, tc.code, p.Error.Code, "message: %s", p.Error.Message)
			if tc.field == "" {
				require.Empty(t, p.Error.Field, "no field expected, message: %s", p.Error.Message)
			} else {
				require.NotEmpty(t, p.Error.Field, "message: %s", p.Error.Message)
				require.Equal(t, tc.field, p.Error.Field, "message: %s", p.Error.Message)
			}
			require.Contains(t, p.Error.Message, tc.message)
			if tc.status == 405 {
				require.Equal(t, "POST", r.header.Get("Allow"))
			}
		})
	}
}

// TestScoreAcceptsContractVariants checks inputs that must be accepted.
func TestScoreAcceptsContractVariants(t *testing.T) {
	cases := []struct {
		name        string
		contentType string
		body        string
		want        string // expected treatment, "" for any
	}{
		{name: "contract example", body: contractExample, want: "fast_resolution"},
		{name: "no content type", contentType: "-", body: contractExample},
		{name: "JSON with charset", contentType: "application/json; charset=UTF-8", body: contractExample},
		{name: "vendor JSON type", contentType: "application/vnd.situ+json", body: contractExample},
		{name: "treatments omitted", body: withValue(t, "treatments", ``)},
		{name: "treatments null", body: withValue(t, "treatments", `null`)},
		{name: "confidence null", body: withValue(t, "intent.confidence", `null`)},
		{name: "attributes omitted", body: withValue(t, "attributes", ``)},
		{name: "unknown intent counts as other", body: withValue(t, "intent.name", `"warranty_claim"`)},
		{name: "unknown channel counts as other", body: withValue(t, "channel", `"carrier_pigeon"`)},
		{name: "escaped field names and strings", body: `{"chan\u006eel":"ph\u006fne","intent":{"name":"order_status"},"customer":{"id":"c-\u00e9\ud83d\ude00"}}`},
		{name: "minimal request", body: `{"channel":"web","intent":{"name":"order_status"}}`},
		{name: "white space around the object", body: "\n\t " + contractExample + " \r\n"},
		{name: "attribute null counts as absent", body: withValue(t, "attributes.any_extra_feature", `null`)},
	}
	ts := newTestServer(t, api.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			a := decodeAnswer(t, ts.do(t, http.MethodPost, api.RouteScore, ct, []byte(tc.body)))
			if tc.want != "" {
				require.Equal(t, tc.want, a.Treatment)
			}
			checkAnswerInvariants(t, a)
		})
	}
}

// checkAnswerInvariants asserts what every score answer promises.
func checkAnswerInvariants(t *testing.T, a contract.ScoreResponse) {
	t.Helper()
	require.NotEmpty(t, a.DecisionID)
	require.Equal(t, "learned", a.Strategy)
	require.True(t, a.HumanEscape, "a human is always reachable")
	sum := 0.0
	for tr, p := range a.Probabilities {
		require.GreaterOrEqual(t, p, 0.0, tr)
		sum += p
		require.Contains(t, a.Scores, tr, "every candidate has a score")
		require.Contains(t, a.Explanation, tr, "every candidate has an explanation")
		if rule, excluded := a.Policy.Excluded[tr]; excluded {
			require.Zero(t, p, "%s was excluded by %s", tr, rule)
			require.Contains(t, a.Policy.Rules, rule)
		} else {
			require.Positive(t, p, "every eligible treatment keeps a positive probability: %s", tr)
		}
	}
	require.InDelta(t, 1, sum, 1e-9, "probabilities sum to 1: %v", a.Probabilities)
	require.Contains(t, a.Probabilities, a.Treatment)
	require.Equal(t, a.Probabilities[a.Treatment], a.Propensity, "propensity is the chosen treatment's probability")
	require.Positive(t, a.Propensity)
}

// TestScoreGolden pins the exact JSON of score answers. Run with -update
// to rewrite testdata/*.golden after an intended change.
func TestScoreGolden(t *testing.T) {
	uniformSpec := mustDefaultPolicy(t).Spec()
	uniformSpec.UniformMode = true
	uniform, err := policy.Compile(uniformSpec)
	require.NoError(t, err)

	cases := []struct {
		name   string
		policy *policy.Policy
		body   string
	}{
		{name: "contract_example", body: contractExample},
		{name: "platinum_upgrade_in_app", body: `{"customer":{"id":"c-7","lifetime_value":40000,"annual_spend":8000,"tenure_months":96,"tier":"platinum"},"intent":{"name":"upgrade_inquiry"},"channel":"app","friction":{"sentiment":0.4}}`},
		{name: "password_reset_two_treatments", body: `{"customer":{"tier":"basic"},"intent":{"name":"password_reset"},"channel":"app","treatments":["self_service","fast_resolution"]}`},
		{name: "outage_repeat_required_fast", body: `{"customer":{"tier":"silver","annual_spend":6000},"intent":{"name":"service_outage"},"channel":"chat","friction":{"repeat_contacts_7d":1,"wait_seconds":900}}`},
		{name: "contract_example_uniform", policy: uniform, body: contractExample},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, api.Config{Decider: newEngine(t, tc.policy)})
			r := ts.postJSON(t, api.RouteScore, tc.body)
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			require.True(t, json.Valid(r.body))
			checkAnswerInvariants(t, decodeAnswer(t, r))

			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, r.body, "", "  "))
			golden := filepath.Join("testdata", "score_"+tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./api -run TestScoreGolden -update to create it")
			require.Equal(t, string(want), pretty.String())
		})
	}
}

func mustDefaultPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Default()
	require.NoError(t, err)
	return p
}

// TestScoreDecisionIDsAreUnique checks that every answer has its own id
// with the production id generator.
func TestScoreDecisionIDsAreUnique(t *testing.T) {
	ts := newTestServer(t, api.Config{Decider: newProductionEngine(t)})
	seen := map[string]bool{}
	for range 50 {
		a := decodeAnswer(t, ts.postJSON(t, api.RouteScore, contractExample))
		require.False(t, seen[a.DecisionID], "decision id %s repeated", a.DecisionID)
		seen[a.DecisionID] = true
	}
}

// TestScoreAcceptsWholeNumberFloats sends the counts the way Python's
// json.dumps and pandas write them (2.0, 1e0, -0.0): the answer is the one
// for the same counts written as integers.
func TestScoreAcceptsWholeNumberFloats(t *testing.T) {
	floats := withValue(t, "friction.repeat_contacts_7d", `2.0`)
	floats = strings.Replace(floats, `"failed_self_service_24h":1`, `"failed_self_service_24h":1e0`, 1)
	floats = strings.Replace(floats, `"transfers":1`, `"transfers":10e-1`, 1)
	floats = strings.Replace(floats, `"tenure_months":38`, `"tenure_months":38.0`, 1)
	require.Contains(t, floats, `1e0`)
	require.Contains(t, floats, `10e-1`)

	want := newTestServer(t, api.Config{}).postJSON(t, api.RouteScore, contractExample)
	got := newTestServer(t, api.Config{}).postJSON(t, api.RouteScore, floats)
	require.Equal(t, http.StatusOK, got.status, "body: %s", got.body)
	require.JSONEq(t, string(want.body), string(got.body))

	zero := newTestServer(t, api.Config{}).postJSON(t, api.RouteScore, withValue(t, "friction.transfers", `-0.0`))
	require.Equal(t, http.StatusOK, zero.status, "body: %s", zero.body)
}

// TestCompressedBodyRejected: a body with a Content-Encoding gets a 415
// that says so, not a JSON error about the compressed bytes.
func TestCompressedBodyRejected(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(contractExample))
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	cases := []struct {
		name, path, encoding string
		body                 []byte
		status               int
	}{
		{"gzip score request", api.RouteScore, "gzip", gz.Bytes(), 415},
		{"gzip outcome", api.RouteOutcomes, "gzip", gz.Bytes(), 415},
		{"deflate", api.RouteScore, "deflate", gz.Bytes(), 415},
		{"a list with a coding", api.RouteScore, "identity, br", []byte(contractExample), 415},
		{"identity", api.RouteScore, "identity", []byte(contractExample), 200},
		{"identity in capitals", api.RouteScore, "IDENTITY", []byte(contractExample), 200},
	}
	ts := newTestServer(t, api.Config{Outcomes: &recordingSink{}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.send(t, http.MethodPost, tc.path, bytes.NewReader(tc.body),
				http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {tc.encoding}})
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			if tc.status == 200 {
				return
			}
			p := decodeProblem(t, r)
			require.Equal(t, api.CodeUnsupportedContentEncoding, p.Error.Code)
			require.Contains(t, p.Error.Message, "Content-Encoding")
			require.Contains(t, p.Error.Message, "send uncompressed JSON")
			require.Equal(t, "identity", r.header.Get("Accept-Encoding"))
		})
	}
}
