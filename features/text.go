package features

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// TextField is one of the context's text fields: the ones the schema's
// categorical features read and the policy's rules compare.
type TextField uint8

// The context's text fields, in the order responses list them.
const (
	FieldTier    TextField = iota // customer.tier
	FieldIntent                   // intent.name
	FieldChannel                  // channel

	// NumTextFields is the number of text fields.
	NumTextFields = 3
)

var textFieldNames = [NumTextFields]string{"customer.tier", "intent.name", "channel"}

// String returns the field's JSON path, e.g. "intent.name".
func (f TextField) String() string {
	if int(f) < NumTextFields {
		return textFieldNames[f]
	}
	return "text_field(" + strconv.Itoa(int(f)) + ")"
}

// TextFields returns every text field in order.
func TextFields() [NumTextFields]TextField {
	return [NumTextFields]TextField{FieldTier, FieldIntent, FieldChannel}
}

// ParseTextField returns the text field with the given JSON path.
func ParseTextField(path string) (TextField, bool) {
	for i, n := range textFieldNames {
		if n == path {
			return TextField(i), true
		}
	}
	return 0, false
}

// Text returns the value of text field f.
func (c *Context) Text(f TextField) string {
	switch f {
	case FieldTier:
		return c.Customer.Tier
	case FieldIntent:
		return c.Intent.Name
	case FieldChannel:
		return c.Channel
	}
	return ""
}

// TextFieldSet is a set of text fields, one bit each.
type TextFieldSet uint8

// Has reports whether f is in the set.
func (s TextFieldSet) Has(f TextField) bool { return s&(1<<f) != 0 }

// With returns the set with f added.
func (s TextFieldSet) With(f TextField) TextFieldSet { return s | 1<<f }

// Canonical returns the canonical form of a text value: surrounding white
// space (Unicode) trimmed and letters in lower case (Unicode). Already
// canonical text is returned as it is, without allocating.
func Canonical(s string) string {
	if canonicalASCII(s) {
		return s
	}
	// strings.TrimSpace returns a substring and strings.ToLower returns its
	// argument when there is nothing to lower: neither allocates for text
	// that is already canonical.
	return strings.ToLower(strings.TrimSpace(s))
}

// canonicalASCII reports whether s is ASCII without upper-case letters
// and without white space at either end: the usual request's text, which
// Canonical returns as it is after one pass instead of three
// (strings.TrimSpace trims only ASCII white space from ASCII text, and
// strings.ToLower changes only its upper-case letters).
func canonicalASCII(s string) bool {
	if s == "" {
		return true
	}
	if asciiSpace(s[0]) || asciiSpace(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// asciiSpace reports whether c is white space as strings.TrimSpace sees
// an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// IsCanonical reports whether s is in canonical form.
func IsCanonical(s string) bool { return Canonical(s) == s }

// Canonicalize puts the context's text fields (customer.tier, intent.name,
// channel) in canonical form, so that the schema and the policy rules see
// the same text: "Billing_Dispute " is billing_dispute. Text that is only
// white space becomes empty, the same as absent. Call it once, before
// Validate, Schema.Extract and policy evaluation.
func (c *Context) Canonicalize() {
	c.Customer.Tier = Canonical(c.Customer.Tier)
	c.Intent.Name = Canonical(c.Intent.Name)
	c.Channel = Canonical(c.Channel)
}
