package features

import (
	"fmt"
	"math"
)

// Context is the situation a channel application describes when it asks
// how to treat a customer: the JSON body of POST /v1/score without the
// optional treatments list.
type Context struct {
	Customer   Customer           `json:"customer"`
	Intent     Intent             `json:"intent"`
	Channel    string             `json:"channel"`
	Friction   Friction           `json:"friction"`
	Attributes map[string]float64 `json:"attributes,omitempty"`
	// Absent holds the optional numeric fields the caller did not send
	// (or sent as null): their value above is 0, and the schema treats
	// them as unknown (docs/features.md). The score request's decoder
	// fills it; the zero value means every field was sent, so a Context
	// built in Go is taken as it is.
	Absent NumericFieldSet `json:"-"`
}

// Customer is who is making contact.
type Customer struct {
	// ID identifies the customer to the caller; it is never a feature.
	ID                 string  `json:"id"`
	LifetimeValue      float64 `json:"lifetime_value"`
	AnnualSpend        float64 `json:"annual_spend"`
	TenureMonths       float64 `json:"tenure_months"`
	Tier               string  `json:"tier"`
	FirstContact       bool    `json:"first_contact"`
	PrefersSelfService bool    `json:"prefers_self_service"`
}

// Intent is why the customer makes contact.
type Intent struct {
	Name string `json:"name"`
	// Confidence of the intent classifier in [0, 1]; nil means certain.
	Confidence *float64 `json:"confidence,omitempty"`
}

// ConfidenceOrOne returns the classifier confidence, 1 when absent.
func (i Intent) ConfidenceOrOne() float64 {
	if i.Confidence == nil {
		return 1
	}
	return *i.Confidence
}

// Friction is what went wrong for this customer recently.
type Friction struct {
	RepeatContacts7d     int     `json:"repeat_contacts_7d"`
	FailedSelfService24h int     `json:"failed_self_service_24h"`
	WaitSeconds          float64 `json:"wait_seconds"`
	Transfers            int     `json:"transfers"`
	OpenComplaint        bool    `json:"open_complaint"`
	// Sentiment of the contact so far in [-1, 1].
	Sentiment float64 `json:"sentiment"`
}

// FieldError says which field of an input is wrong and how: of a scoring
// context here, of an outcome or a decision event in models, of a request
// body in api. It is situ's one type for an invalid field.
type FieldError struct {
	Field   string // JSON path, e.g. "friction.sentiment"
	Message string // what is wrong and what is allowed
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Limits bound the numeric fields of a context. Values outside them are
// input errors, not situations.
const (
	MaxMoney      = 1e12      // lifetime_value, annual_spend
	MaxTenure     = 1200      // months (100 years)
	MaxCount      = 10_000    // repeat contacts, failed attempts, transfers
	MaxWait       = 7 * 86400 // seconds (a week)
	MaxAttrAbs    = 1e12      // any attribute value
	MaxAttributes = 64        // attributes per context
	MaxIDLength   = 256       // customer.id
	MaxNameLength = 128       // intent, channel, tier, attribute names
)

// Validate checks the context and returns a *FieldError for the first field
// that is wrong: a missing channel or intent, NaN or infinite numbers,
// negative amounts or counts, a confidence outside [0, 1], a sentiment
// outside [-1, 1], too many or oversized attributes. Unknown intents,
// channels and attribute names are not errors; the schema maps them.
// Call Canonicalize first: a text field that is only white space is then
// empty, the same as absent.
func (c *Context) Validate() error {
	if len(c.Customer.ID) > MaxIDLength {
		return &FieldError{"customer.id", fmt.Sprintf("must be at most %d bytes", MaxIDLength)}
	}
	if err := checkRange("customer.lifetime_value", c.Customer.LifetimeValue, 0, MaxMoney); err != nil {
		return err
	}
	if err := checkRange("customer.annual_spend", c.Customer.AnnualSpend, 0, MaxMoney); err != nil {
		return err
	}
	if err := checkRange("customer.tenure_months", c.Customer.TenureMonths, 0, MaxTenure); err != nil {
		return err
	}
	if len(c.Customer.Tier) > MaxNameLength {
		return &FieldError{"customer.tier", fmt.Sprintf("must be at most %d bytes", MaxNameLength)}
	}
	if c.Intent.Name == "" {
		return &FieldError{"intent.name", "is required (unknown intents are accepted and count as \"other\")"}
	}
	if len(c.Intent.Name) > MaxNameLength {
		return &FieldError{"intent.name", fmt.Sprintf("must be at most %d bytes", MaxNameLength)}
	}
	if c.Intent.Confidence != nil {
		if err := checkRange("intent.confidence", *c.Intent.Confidence, 0, 1); err != nil {
			return err
		}
	}
	if c.Channel == "" {
		return &FieldError{"channel", "is required: one of phone, ivr, chat, email, web, app, store (anything else counts as \"other\")"}
	}
	if len(c.Channel) > MaxNameLength {
		return &FieldError{"channel", fmt.Sprintf("must be at most %d bytes", MaxNameLength)}
	}
	f := &c.Friction
	if err := checkCount("friction.repeat_contacts_7d", f.RepeatContacts7d); err != nil {
		return err
	}
	if err := checkCount("friction.failed_self_service_24h", f.FailedSelfService24h); err != nil {
		return err
	}
	if err := checkCount("friction.transfers", f.Transfers); err != nil {
		return err
	}
	if err := checkRange("friction.wait_seconds", f.WaitSeconds, 0, MaxWait); err != nil {
		return err
	}
	if err := checkRange("friction.sentiment", f.Sentiment, -1, 1); err != nil {
		return err
	}
	if len(c.Attributes) > MaxAttributes {
		return &FieldError{"attributes", fmt.Sprintf("has %d entries; at most %d are allowed", len(c.Attributes), MaxAttributes)}
	}
	for k, v := range c.Attributes {
		if k == "" || len(k) > MaxNameLength {
			return &FieldError{"attributes", fmt.Sprintf("attribute names must be 1 to %d bytes", MaxNameLength)}
		}
		// the field's path is built only for an error: per request, per
		// attribute, it would be an allocation
		if math.IsNaN(v) || math.IsInf(v, 0) || v < -MaxAttrAbs || v > MaxAttrAbs {
			return checkRange("attributes."+k, v, -MaxAttrAbs, MaxAttrAbs)
		}
	}
	return nil
}

func checkRange(field string, v, lo, hi float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &FieldError{field, "must be a finite number"}
	}
	if v < lo || v > hi {
		return &FieldError{field, fmt.Sprintf("must be between %g and %g, got %g", lo, hi, v)}
	}
	return nil
}

func checkCount(field string, v int) error {
	if v < 0 || v > MaxCount {
		return &FieldError{field, fmt.Sprintf("must be a count between 0 and %d, got %d", MaxCount, v)}
	}
	return nil
}
