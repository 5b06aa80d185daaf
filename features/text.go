package features

import (
	"strconv"
	"strings"
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
	// strings.TrimSpace returns a substring and strings.ToLower returns its
	// argument when there is nothing to lower: neither allocates for text
	// that is already canonical.
	return strings.ToLower(strings.TrimSpace(s))
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
