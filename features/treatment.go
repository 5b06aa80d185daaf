package features

import (
	"fmt"
	"strings"
)

// Treatment is one way a channel can treat a customer in a contact.
type Treatment uint8

// The treatments situ recommends. Their order is stable: it indexes every
// per-treatment array of the decision path.
const (
	FastResolution Treatment = iota // shortest path to stop the pain
	PamperUpsell                    // take time, delight, make a relevant offer
	SelfService                     // hand the customer a self-service path

	// NumTreatments is the number of treatments.
	NumTreatments = 3
)

var treatmentNames = [NumTreatments]string{"fast_resolution", "pamper_upsell", "self_service"}

// String returns the treatment's wire name, e.g. "fast_resolution".
func (t Treatment) String() string {
	if int(t) < NumTreatments {
		return treatmentNames[t]
	}
	return fmt.Sprintf("treatment(%d)", uint8(t))
}

// Treatments returns every treatment in index order.
func Treatments() [NumTreatments]Treatment {
	return [NumTreatments]Treatment{FastResolution, PamperUpsell, SelfService}
}

// TreatmentNames returns the wire names of all treatments in index order.
func TreatmentNames() []string { return treatmentNames[:] }

// ParseTreatment returns the treatment with the given wire name.
func ParseTreatment(name string) (Treatment, bool) {
	for i, n := range treatmentNames {
		if n == name {
			return Treatment(i), true
		}
	}
	return 0, false
}

// TreatmentSet is a set of treatments, one bit each.
type TreatmentSet uint8

// AllTreatments holds every treatment.
const AllTreatments TreatmentSet = 1<<NumTreatments - 1

// Has reports whether t is in the set.
func (s TreatmentSet) Has(t Treatment) bool { return s&(1<<t) != 0 }

// With returns the set with t added.
func (s TreatmentSet) With(t Treatment) TreatmentSet { return s | 1<<t }

// Without returns the set with t removed.
func (s TreatmentSet) Without(t Treatment) TreatmentSet { return s &^ (1 << t) }

// Len returns the number of treatments in the set.
func (s TreatmentSet) Len() int {
	n := 0
	for t := Treatment(0); t < NumTreatments; t++ {
		if s.Has(t) {
			n++
		}
	}
	return n
}

// String lists the set's wire names, e.g. "[fast_resolution self_service]".
func (s TreatmentSet) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for t := Treatment(0); t < NumTreatments; t++ {
		if s.Has(t) {
			if b.Len() > 1 {
				b.WriteByte(' ')
			}
			b.WriteString(t.String())
		}
	}
	b.WriteByte(']')
	return b.String()
}

// ParseTreatmentSet parses the optional `treatments` list of a score
// request. A nil list means every treatment; an empty list, an unknown name
// or a repeated name is a *FieldError.
func ParseTreatmentSet(names []string) (TreatmentSet, error) {
	if names == nil {
		return AllTreatments, nil
	}
	if len(names) == 0 {
		return 0, &FieldError{Field: "treatments", Message: "must name at least one treatment (or be omitted for all): " + strings.Join(treatmentNames[:], ", ")}
	}
	var s TreatmentSet
	for i, n := range names {
		t, ok := ParseTreatment(n)
		if !ok {
			return 0, &FieldError{Field: fmt.Sprintf("treatments[%d]", i), Message: fmt.Sprintf("unknown treatment %q; allowed: %s", n, strings.Join(treatmentNames[:], ", "))}
		}
		if s.Has(t) {
			return 0, &FieldError{Field: fmt.Sprintf("treatments[%d]", i), Message: fmt.Sprintf("treatment %q is listed twice", n)}
		}
		s = s.With(t)
	}
	return s, nil
}
