package api

import (
	"fmt"
	"time"

	"situ/features"
	"situ/models"
)

// scoreRequest is the body of POST /v1/score: the scoring context plus the
// treatments the channel can deliver. The json tags are the contract; the
// decoder below follows them and FuzzDecodeScoreRequest checks that it
// agrees with encoding/json on this type.
type scoreRequest struct {
	features.Context
	// Treatments the channel can deliver; nil means all.
	Treatments []string `json:"treatments"`

	// treatmentsBuf backs Treatments for the usual lists (no allocation).
	treatmentsBuf [features.NumTreatments]string
}

var (
	scoreFields    = []string{"customer", "intent", "channel", "friction", "attributes", "treatments"}
	scorePaths     = scoreFields
	customerFields = []string{"id", "lifetime_value", "annual_spend", "tenure_months", "tier", "first_contact", "prefers_self_service"}
	customerPaths  = prefixed("customer", customerFields)
	intentFields   = []string{"name", "confidence"}
	intentPaths    = prefixed("intent", intentFields)
	frictionFields = []string{"repeat_contacts_7d", "failed_self_service_24h", "wait_seconds", "transfers", "open_complaint", "sentiment"}
	frictionPaths  = prefixed("friction", frictionFields)
	outcomeFields  = []string{"outcome_id", "decision_id", "resolved", "csat", "upsell_accepted", "revenue", "handle_seconds", "escalated", "recontact_7d", "churned", "occurred_at"}
)

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + "." + n
	}
	return out
}

// decodeScoreRequest decodes body strictly into req (which must be zero).
// Errors are *requestError (syntax, types, unknown or repeated fields) or
// *features.FieldError (numbers out of range); values are validated later,
// by the engine.
func decodeScoreRequest(body []byte, req *scoreRequest) error {
	r := jsonReader{buf: body}
	if err := r.start(); err != nil {
		return err
	}
	err := r.object("", scoreFields, scorePaths, func(i int) error {
		switch i {
		case 0:
			return r.customer(&req.Customer)
		case 1:
			return r.object("intent", intentFields, intentPaths, func(i int) error {
				if i == 0 {
					return r.str(intentPaths[0], &req.Intent.Name)
				}
				return r.floatPtr(intentPaths[1], &req.Intent.Confidence)
			})
		case 2:
			return r.str("channel", &req.Channel)
		case 3:
			return r.friction(&req.Friction)
		case 4:
			return r.attributes(&req.Attributes)
		default:
			return r.treatments(req)
		}
	})
	if err != nil {
		return err
	}
	return r.end()
}

// start checks that the body holds a JSON object.
func (r *jsonReader) start() error {
	switch r.peek() {
	case 0:
		return &requestError{status: 400, code: CodeInvalidJSON, message: "the body is empty: send a JSON object"}
	case '{':
		return nil
	default:
		return r.typeError("", "a JSON object")
	}
}

// end rejects anything but white space after the JSON value.
func (r *jsonReader) end() error {
	if !r.atEnd() {
		return r.syntaxError("unexpected data after the JSON object (send exactly one object)")
	}
	return nil
}

func (r *jsonReader) customer(c *features.Customer) error {
	p := customerPaths
	return r.object("customer", customerFields, p, func(i int) error {
		switch i {
		case 0:
			return r.str(p[0], &c.ID)
		case 1:
			return r.float(p[1], &c.LifetimeValue)
		case 2:
			return r.float(p[2], &c.AnnualSpend)
		case 3:
			return r.float(p[3], &c.TenureMonths)
		case 4:
			return r.str(p[4], &c.Tier)
		case 5:
			return r.boolean(p[5], &c.FirstContact)
		default:
			return r.boolean(p[6], &c.PrefersSelfService)
		}
	})
}

func (r *jsonReader) friction(f *features.Friction) error {
	p := frictionPaths
	return r.object("friction", frictionFields, p, func(i int) error {
		switch i {
		case 0:
			return r.integer(p[0], &f.RepeatContacts7d)
		case 1:
			return r.integer(p[1], &f.FailedSelfService24h)
		case 2:
			return r.float(p[2], &f.WaitSeconds)
		case 3:
			return r.integer(p[3], &f.Transfers)
		case 4:
			return r.boolean(p[4], &f.OpenComplaint)
		default:
			return r.float(p[5], &f.Sentiment)
		}
	})
}

// attributes reads an object of named numbers (or null). More than
// features.MaxAttributes entries are rejected while reading.
func (r *jsonReader) attributes(dst *map[string]float64) error {
	if null, err := r.isNull(); null || err != nil {
		return err
	}
	if r.peek() != '{' {
		return r.typeError("attributes", "an object of numbers")
	}
	r.pos++
	m := make(map[string]float64, 4)
	*dst = m
	if r.peek() == '}' {
		r.pos++
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.syntaxError("expected an attribute name in double quotes")
		}
		kb, err := r.stringBytes()
		if err != nil {
			return withField(err, "attributes")
		}
		if len(m) == features.MaxAttributes {
			return &features.FieldError{Field: "attributes", Message: fmt.Sprintf("has more than %d entries", features.MaxAttributes)}
		}
		key := string(kb)
		path := func() string { return "attributes." + truncate(key) }
		if _, dup := m[key]; dup {
			return &requestError{status: 400, code: CodeDuplicateField, field: path(), message: "is given more than once"}
		}
		if r.peek() != ':' {
			return r.syntaxError("expected ':' after an attribute name")
		}
		r.pos++
		if err := r.ensureNumber(""); err != nil {
			return withField(err, path())
		}
		v, err := r.number("")
		if err != nil {
			if fe, ok := err.(*features.FieldError); ok {
				fe.Field = path()
			}
			return err
		}
		m[key] = v
		switch r.peek() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return nil
		default:
			return r.syntaxError("expected ',' or '}' after an attribute value")
		}
	}
}

// treatments reads the list of treatment names (or null). Known names are
// interned: the usual request allocates nothing here.
func (r *jsonReader) treatments(req *scoreRequest) error {
	if null, err := r.isNull(); null || err != nil {
		return err
	}
	if r.peek() != '[' {
		return r.typeError("treatments", "an array of treatment names")
	}
	r.pos++
	list := req.treatmentsBuf[:0]
	req.Treatments = list
	if r.peek() == ']' {
		r.pos++
		return nil
	}
	known := features.TreatmentNames()
	for i := 0; ; i++ {
		if r.peek() != '"' {
			return r.typeError(fmt.Sprintf("treatments[%d]", i), "a treatment name (string)")
		}
		b, err := r.stringBytes()
		if err != nil {
			return withField(err, fmt.Sprintf("treatments[%d]", i))
		}
		if j := indexOf(known, b); j >= 0 {
			list = append(list, known[j])
		} else {
			list = append(list, string(b))
		}
		switch r.peek() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			req.Treatments = list
			return nil
		default:
			return r.syntaxError("expected ',' or ']' in the treatments list")
		}
	}
}

// decodeOutcome decodes the body of POST /v1/outcomes strictly into o.
func decodeOutcome(body []byte, o *models.Outcome) error {
	r := jsonReader{buf: body}
	if err := r.start(); err != nil {
		return err
	}
	p := outcomeFields
	err := r.object("", p, p, func(i int) error {
		switch i {
		case 0:
			return r.str(p[0], &o.OutcomeID)
		case 1:
			return r.str(p[1], &o.DecisionID)
		case 2:
			return r.boolean(p[2], &o.Resolved)
		case 3:
			return r.floatPtr(p[3], &o.CSAT)
		case 4:
			return r.boolean(p[4], &o.UpsellAccepted)
		case 5:
			return r.float(p[5], &o.Revenue)
		case 6:
			return r.float(p[6], &o.HandleSeconds)
		case 7:
			return r.boolean(p[7], &o.Escalated)
		case 8:
			return r.boolean(p[8], &o.Recontact7d)
		case 9:
			return r.boolean(p[9], &o.Churned)
		default:
			return r.timestamp(p[10], &o.OccurredAt)
		}
	})
	if err != nil {
		return err
	}
	return r.end()
}

// timestamp reads an RFC 3339 time string (or null) into dst.
func (r *jsonReader) timestamp(path string, dst *time.Time) error {
	if null, err := r.isNull(); null || err != nil {
		return err
	}
	if r.peek() != '"' {
		return r.typeError(path, "an RFC 3339 time string")
	}
	b, err := r.stringBytes()
	if err != nil {
		return withField(err, path)
	}
	if err := dst.UnmarshalText(b); err != nil {
		return &features.FieldError{Field: path, Message: "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z"}
	}
	return nil
}
