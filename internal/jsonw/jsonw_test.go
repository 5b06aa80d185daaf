package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestStringMatchesEncodingJSON checks string escaping against
// encoding/json's decoder: what we write reads back as the same string.
func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "tab\tnewline\ncr\rbell\a nul\x00",
		"é ü 日本 😀", "line\u2028sep\u2029", "<html>&amp;", "bad\xffutf8"} {
		b := String(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("String(%q) = %s is not JSON: %v", s, b, err)
		}
		want := string(bytes.ToValidUTF8([]byte(s), []byte("\ufffd")))
		if back != want {
			t.Fatalf("String(%q) reads back as %q", s, back)
		}
	}
}

// TestFloatMatchesEncodingJSON checks number formatting.
func TestFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.96, 1.4888545577130379, 1e-7, 1e-6, 123456789, 1e20, 1e21, 1e-300, -2.5e-9} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := Float(nil, f); string(got) != string(want) {
			t.Errorf("Float(%v) = %s, encoding/json writes %s", f, got, want)
		}
	}
}

func TestFloatNonFiniteIsNull(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(Float(nil, f)); got != "null" {
			t.Errorf("Float(%v) = %s, want null", f, got)
		}
	}
}
