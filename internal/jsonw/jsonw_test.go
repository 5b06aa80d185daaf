package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
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

// TestFloatShortMatchesStrconv holds Float's path for whole numbers of
// ten-thousandths to strconv's shortest digits, at and around its bounds
// and over random values of every magnitude.
func TestFloatShortMatchesStrconv(t *testing.T) {
	values := []float64{1e-4, -1e-4, 0.05, 0.0005, 0.9999, 1.0001, 0.96, -0.6, 180, 0.3100, 10.1, 123456.0789,
		maxShort, maxShort - 1e-4, math.Nextafter(maxShort, 0), -maxShort, 1e11, 5e-5, 0.00015, 1 << 53}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		n := rng.Int64N(1<<40) - 1<<39
		values = append(values, float64(n)/1e4, float64(n)/1e3, float64(n)/1e5, float64(n)/1e4+1e-9,
			math.Float64frombits(rng.Uint64()), rng.NormFloat64()*math.Pow(10, float64(rng.IntN(30)-15)))
	}
	for _, f := range values {
		want, err := json.Marshal(f)
		if err != nil {
			continue // not finite
		}
		if got := Float(nil, f); string(got) != string(want) {
			t.Fatalf("Float(%b) = %s, encoding/json writes %s", f, got, want)
		}
	}
}

func FuzzFloat(f *testing.F) {
	for _, v := range []float64{0, 0.96, -0.6, 1e-4, maxShort} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		want, err := json.Marshal(v)
		if err != nil {
			return
		}
		if got := Float(nil, v); string(got) != string(want) {
			t.Fatalf("Float(%b) = %s, encoding/json writes %s", v, got, want)
		}
	})
}

func BenchmarkFloat(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    float64
	}{{"short", 0.3125}, {"whole", 180}, {"long", 0.9533333333333334}, {"small", 1.5e-7}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 32)
			for b.Loop() {
				buf = Float(buf[:0], bc.v)
			}
		})
	}
}

// TestStringValid: StringValid writes what String writes and reports
// what utf8.ValidString does.
func TestStringValid(t *testing.T) {
	for _, s := range []string{"", "plain", "é ü 日本 😀", "bad\xffutf8", "\xc3", "a\"b\\c\n", "\xed\xa0\x80"} {
		got, valid := StringValid(nil, s)
		if string(got) != string(String(nil, s)) || valid != utf8.ValidString(s) {
			t.Errorf("StringValid(%q) = %s, %v; String writes %s, ValidString says %v", s, got, valid, String(nil, s), utf8.ValidString(s))
		}
	}
}
