package features

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCanonicalIsTrimAndLower checks Canonical, fast path included,
// against strings.ToLower(strings.TrimSpace(s)) on a table of edge cases
// and on random strings over an alphabet of ASCII letters, digits,
// punctuation, ASCII and Unicode white space and non-ASCII letters.
func TestCanonicalIsTrimAndLower(t *testing.T) {
	cases := []string{"", " ", "phone", "Phone", "PHONE", " phone", "phone ", "\tphone\n", "pho ne", "billing_dispute",
		"\u00a0phone", "phone\u0085", "Ünïcode", "ünïcode", "İ", "\v\f\r", "a", "Z", "@[`{", "1-2_3.4"}
	rng := rand.New(rand.NewPCG(2, 3))
	alphabet := []rune("azAZmM09_-. \t\n\v\f\r\u00a0\u0085\u2003éÉßİı@[`{")
	for range 20000 {
		r := make([]rune, rng.IntN(8))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(r))
	}
	fast := 0
	for _, s := range cases {
		if got, want := Canonical(s), strings.ToLower(strings.TrimSpace(s)); got != want {
			t.Fatalf("Canonical(%q) = %q, want %q", s, got, want)
		}
		if canonicalASCII(s) {
			fast++
		}
	}
	if fast == 0 || fast == len(cases) {
		t.Fatalf("the fast path took %d of %d strings: the cases do not test both paths", fast, len(cases))
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	c := Context{Customer: Customer{Tier: "gold"}, Intent: Intent{Name: "billing_dispute"}, Channel: "phone"}
	for b.Loop() {
		c.Canonicalize()
	}
}
