package features_test

import (
	"testing"

	"situ/features"
)

func TestCanonical(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"already canonical", "billing_dispute", "billing_dispute"},
		{"capitalised", "Billing_Dispute", "billing_dispute"},
		{"upper case", "PHONE", "phone"},
		{"surrounding spaces", "  phone \t", "phone"},
		{"spaces and capitals", " Gold\n", "gold"},
		{"inner space kept", "Order Status", "order status"},
		{"only white space", " \t\r\n", ""},
		{"empty", "", ""},
		{"unicode letters", "ÉCHANGE", "échange"},
		{"unicode white space", "\u00a0chat\u2003", "chat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := features.Canonical(tc.in); got != tc.want {
				t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := features.IsCanonical(tc.in); got != (tc.in == tc.want) {
				t.Errorf("IsCanonical(%q) = %v", tc.in, got)
			}
		})
	}
}

func TestCanonicalAllocatesNothingForCanonicalText(t *testing.T) {
	for _, s := range []string{"billing_dispute", "phone", "gold", "échange", ""} {
		if n := testing.AllocsPerRun(100, func() { _ = features.Canonical(s) }); n != 0 {
			t.Errorf("Canonical(%q) allocates %v times, want 0", s, n)
		}
	}
	c := features.Context{Customer: features.Customer{Tier: "gold"}, Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
	if n := testing.AllocsPerRun(100, c.Canonicalize); n != 0 {
		t.Errorf("Canonicalize of a canonical context allocates %v times, want 0", n)
	}
}

func TestCanonicalizeTextFields(t *testing.T) {
	c := features.Context{
		Customer: features.Customer{ID: " C-7 ", Tier: " Gold"},
		Intent:   features.Intent{Name: "Billing_Dispute "},
		Channel:  "\tPhone",
	}
	c.Canonicalize()
	want := map[features.TextField]string{features.FieldTier: "gold", features.FieldIntent: "billing_dispute", features.FieldChannel: "phone"}
	for f, v := range want {
		if got := c.Text(f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if c.Customer.ID != " C-7 " {
		t.Errorf("customer.id changed to %q: ids are not text fields", c.Customer.ID)
	}
}

// TestBlankTextIsAbsent: a required text field that is only white space
// is missing, a 400 naming the field.
func TestBlankTextIsAbsent(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*features.Context)
		field string
	}{
		{"blank intent", func(c *features.Context) { c.Intent.Name = "  " }, "intent.name"},
		{"blank channel", func(c *features.Context) { c.Channel = "\t\n" }, "channel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := features.Context{Intent: features.Intent{Name: "complaint"}, Channel: "chat"}
			tc.edit(&c)
			c.Canonicalize()
			err := c.Validate()
			fe, ok := err.(*features.FieldError)
			if !ok || fe.Field != tc.field {
				t.Fatalf("error %v, want a *FieldError for %s", err, tc.field)
			}
		})
	}
}

func TestTextFieldNames(t *testing.T) {
	for _, f := range features.TextFields() {
		got, ok := features.ParseTextField(f.String())
		if !ok || got != f {
			t.Errorf("ParseTextField(%q) = %v, %v", f.String(), got, ok)
		}
	}
	if _, ok := features.ParseTextField("intent"); ok {
		t.Error(`ParseTextField("intent") succeeded`)
	}
}
