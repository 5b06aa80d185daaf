package features

// NumericField is one of the context's optional numeric fields: the ones a
// caller may leave out, and whose absence the schema treats as unknown
// rather than as 0 (Context.Absent).
type NumericField uint8

// The optional numeric fields of a context.
const (
	FieldLifetimeValue        NumericField = iota // customer.lifetime_value
	FieldAnnualSpend                              // customer.annual_spend
	FieldTenureMonths                             // customer.tenure_months
	FieldRepeatContacts7d                         // friction.repeat_contacts_7d
	FieldFailedSelfService24h                     // friction.failed_self_service_24h
	FieldWaitSeconds                              // friction.wait_seconds
	FieldTransfers                                // friction.transfers
	FieldSentiment                                // friction.sentiment

	// NumNumericFields is the number of optional numeric fields.
	NumNumericFields = 8
)

var numericFieldNames = [NumNumericFields]string{
	"customer.lifetime_value", "customer.annual_spend", "customer.tenure_months",
	"friction.repeat_contacts_7d", "friction.failed_self_service_24h",
	"friction.wait_seconds", "friction.transfers", "friction.sentiment",
}

// String returns the field's JSON path.
func (f NumericField) String() string {
	if int(f) < NumNumericFields {
		return numericFieldNames[f]
	}
	return "unknown"
}

// NumericFields returns every optional numeric field in order.
func NumericFields() [NumNumericFields]NumericField {
	var out [NumNumericFields]NumericField
	for i := range out {
		out[i] = NumericField(i)
	}
	return out
}

// NumericFieldSet is a set of optional numeric fields, one bit each.
type NumericFieldSet uint16

// Has reports whether f is in the set.
func (s NumericFieldSet) Has(f NumericField) bool { return s&(1<<f) != 0 }

// With returns the set with f added.
func (s NumericFieldSet) With(f NumericField) NumericFieldSet { return s | 1<<f }

// AllNumericFields holds every optional numeric field.
const AllNumericFields NumericFieldSet = 1<<NumNumericFields - 1

// IsAbsent reports whether the caller left numeric field f out.
func (c *Context) IsAbsent(f NumericField) bool { return c.Absent.Has(f) }
