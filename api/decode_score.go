package api

import (
	"math"
	"strconv"
	"unicode/utf8"

	"situ/features"
)

// scanScoreRequest is the score request's fast decoder: a scanner of the
// body's bytes that fills req directly, with no reflection and no token
// objects. It takes only the common shape of a request, and reports false
// for anything else, leaving req half filled: the caller then restores req
// and decodes the body with the reflective decoder (decodeStrictWith),
// which is the reference for every rule and every error message.
//
// What it accepts it decodes exactly as the reflective decoder does
// (FuzzScanScoreRequest holds it to that): one JSON object and nothing
// after it but JSON white space; valid UTF-8; the contract's names,
// exact-case, each once per object; numbers parsed by the same functions
// (strconv.ParseFloat, parseWhole for counts); null as the reflective
// decoder's options take it (a numeric field, customer and friction keep
// their value: not sent; another field becomes its zero value).
//
// It leaves to the reflective decoder: any syntax or semantic error, any
// unknown or duplicated name, a string with an escape sequence, and a req
// whose attributes, treatments or confidence are already set (the
// reflective decoder merges into them).
func scanScoreRequest(body []byte, req *scoreRequest) bool {
	if req.Attributes != nil || req.Treatments != nil || req.Intent.Confidence != nil {
		return false
	}
	s := scoreScanner{b: body}
	s.ws()
	if !s.object(objectRequest, req) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// scoreScanner reads a score request body from b[i:].
type scoreScanner struct {
	b []byte
	i int
}

// The members of each object of the request, one bit each, so that a
// name given twice is seen.
const (
	memberCustomer = 1 << iota
	memberIntent
	memberChannel
	memberFriction
	memberAttributes
	memberTreatments
)

const (
	memberID = 1 << iota
	memberLifetimeValue
	memberAnnualSpend
	memberTenureMonths
	memberTier
	memberFirstContact
	memberPrefersSelfService
)

const (
	memberName = 1 << iota
	memberConfidence
)

const (
	memberRepeatContacts7d = 1 << iota
	memberFailedSelfService24h
	memberWaitSeconds
	memberTransfers
	memberOpenComplaint
	memberSentiment
)

// ws skips JSON white space.
func (s *scoreScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *scoreScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// The objects of a score request with named members.
const (
	objectRequest = iota
	objectCustomer
	objectIntent
	objectFriction
)

// member reads the value of the member name of object kind; seen holds
// the object's members read so far, one bit each.
func (s *scoreScanner) member(kind int, name []byte, seen *uint32, req *scoreRequest) bool {
	switch kind {
	case objectRequest:
		return s.topMember(name, seen, req)
	case objectCustomer:
		return s.customerMember(name, seen, req)
	case objectIntent:
		return s.intentMember(name, seen, req)
	}
	return s.frictionMember(name, seen, req)
}

// object reads an object of kind: member reads each value, after the
// colon. seen collects the members read (their bits), so that a name given
// twice fails.
func (s *scoreScanner) object(kind int, req *scoreRequest) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	var seen uint32
	for {
		if s.peek() != '"' {
			return false
		}
		name, ok := s.str()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if !s.member(kind, name, &seen, req) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// once marks bit in seen, false if it was already there.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (s *scoreScanner) topMember(name []byte, seen *uint32, req *scoreRequest) bool {
	c := &req.Context
	switch string(name) {
	case "customer":
		if !once(seen, memberCustomer) {
			return false
		}
		if s.null() {
			return true // the customer stays as it was: not sent
		}
		return s.object(objectCustomer, req)
	case "intent":
		if !once(seen, memberIntent) {
			return false
		}
		if s.null() {
			c.Intent = features.Intent{}
			return true
		}
		return s.object(objectIntent, req)
	case "channel":
		if !once(seen, memberChannel) {
			return false
		}
		return s.text(&c.Channel)
	case "friction":
		if !once(seen, memberFriction) {
			return false
		}
		if s.null() {
			return true // as customer
		}
		return s.object(objectFriction, req)
	case "attributes":
		if !once(seen, memberAttributes) {
			return false
		}
		if s.null() {
			c.Attributes = nil
			return true
		}
		return s.attributes(c)
	case "treatments":
		if !once(seen, memberTreatments) {
			return false
		}
		if s.null() {
			req.Treatments = nil
			return true
		}
		return s.treatments(req)
	}
	return false
}

func (s *scoreScanner) customerMember(name []byte, seen *uint32, req *scoreRequest) bool {
	cu := &req.Customer
	switch string(name) {
	case "id":
		return once(seen, memberID) && s.string(&cu.ID, func(b []byte) string { return string(b) })
	case "lifetime_value":
		return once(seen, memberLifetimeValue) && s.float(&cu.LifetimeValue)
	case "annual_spend":
		return once(seen, memberAnnualSpend) && s.float(&cu.AnnualSpend)
	case "tenure_months":
		return once(seen, memberTenureMonths) && s.float(&cu.TenureMonths)
	case "tier":
		return once(seen, memberTier) && s.text(&cu.Tier)
	case "first_contact":
		return once(seen, memberFirstContact) && s.bool(&cu.FirstContact)
	case "prefers_self_service":
		return once(seen, memberPrefersSelfService) && s.bool(&cu.PrefersSelfService)
	}
	return false
}

func (s *scoreScanner) intentMember(name []byte, seen *uint32, req *scoreRequest) bool {
	in := &req.Intent
	switch string(name) {
	case "name":
		return once(seen, memberName) && s.text(&in.Name)
	case "confidence":
		if !once(seen, memberConfidence) {
			return false
		}
		if s.null() {
			in.Confidence = nil
			return true
		}
		v := math.NaN()
		if !s.float(&v) {
			return false
		}
		in.Confidence = &v
		return true
	}
	return false
}

func (s *scoreScanner) frictionMember(name []byte, seen *uint32, req *scoreRequest) bool {
	f := &req.Friction
	switch string(name) {
	case "repeat_contacts_7d":
		return once(seen, memberRepeatContacts7d) && s.count(&f.RepeatContacts7d)
	case "failed_self_service_24h":
		return once(seen, memberFailedSelfService24h) && s.count(&f.FailedSelfService24h)
	case "wait_seconds":
		return once(seen, memberWaitSeconds) && s.float(&f.WaitSeconds)
	case "transfers":
		return once(seen, memberTransfers) && s.count(&f.Transfers)
	case "open_complaint":
		return once(seen, memberOpenComplaint) && s.bool(&f.OpenComplaint)
	case "sentiment":
		return once(seen, memberSentiment) && s.float(&f.Sentiment)
	}
	return false
}

// attributes reads the attributes object: names to numbers.
func (s *scoreScanner) attributes(c *features.Context) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	m := make(map[string]float64)
	c.Attributes = m
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		name, ok := s.str()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if _, dup := m[string(name)]; dup {
			return false
		}
		var v float64 // null is 0, as the reflective decoder's keepOnNull leaves a new value
		if !s.float(&v) {
			return false
		}
		m[string(name)] = v
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// treatments reads the treatments array of strings.
func (s *scoreScanner) treatments(req *scoreRequest) bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	list := make([]string, 0, features.NumTreatments)
	if s.peek() == ']' {
		s.i++
		req.Treatments = list
		return true
	}
	for {
		var v string
		if !s.text(&v) {
			return false
		}
		list = append(list, v)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			req.Treatments = list
			return true
		default:
			return false
		}
	}
}

// null reads a null if one comes next.
func (s *scoreScanner) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// text reads a string, or null for "", into v; the contract's vocabulary
// is not allocated again (intern).
func (s *scoreScanner) text(v *string) bool { return s.string(v, intern) }

// string reads a string, or null for "", into v, made by conv.
func (s *scoreScanner) string(v *string, conv func([]byte) string) bool {
	if s.null() {
		*v = ""
		return true
	}
	b, ok := s.strValue()
	if ok {
		*v = conv(b)
	}
	return ok
}

// bool reads true, false or null (false).
func (s *scoreScanner) bool(v *bool) bool {
	for _, lit := range [...]struct {
		text string
		v    bool
	}{{"true", true}, {"false", false}, {"null", false}} {
		if s.peek() == lit.text[0] && len(s.b)-s.i >= len(lit.text) && string(s.b[s.i:s.i+len(lit.text)]) == lit.text {
			s.i += len(lit.text)
			*v = lit.v
			return true
		}
	}
	return false
}

// float reads a number into v; null leaves v as it is (not sent).
func (s *scoreScanner) float(v *float64) bool {
	if s.null() {
		return true
	}
	lit, ok := s.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return false // ±Inf: out of range
	}
	*v = f
	return true
}

// count reads a whole number into v as unmarshalWhole does; null leaves v
// as it is (not sent).
func (s *scoreScanner) count(v *int) bool {
	if s.null() {
		return true
	}
	lit, ok := s.number()
	if !ok {
		return false
	}
	n, err := parseWhole(lit, strconv.IntSize)
	if err != nil {
		return false
	}
	if n == math.MinInt64 {
		n++ // as unmarshalWhole: math.MinInt marks an unsent count
	}
	*v = int(n)
	return true
}

// strValue reads a string value (not null).
func (s *scoreScanner) strValue() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	return s.str()
}

// str reads the string at b[i] (a quote) and returns its bytes. It fails
// on an escape sequence (left to the reflective decoder), a control
// character, invalid UTF-8 and an unterminated string.
func (s *scoreScanner) str() ([]byte, bool) {
	start := s.i + 1
	ascii := true
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[start:j]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// number reads a JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// and returns its literal.
func (s *scoreScanner) number() ([]byte, bool) {
	s.ws()
	b, start := s.b, s.i
	j := start
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = digits(b, j)
	default:
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		k := digits(b, j+1)
		if k == j+1 {
			return nil, false
		}
		j = k
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := digits(b, j)
		if k == j {
			return nil, false
		}
		j = k
	}
	// a number ends at a delimiter: 01, 1x, 2true are errors
	if j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
		default:
			return nil, false
		}
	}
	s.i = j
	return b[start:j], true
}

// digits returns the index after the decimal digits from b[j].
func digits(b []byte, j int) int {
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return j
}

// intern returns b as a string, the vocabulary's own string when b is one
// of its words: no allocation for the usual channel, tier, intent and
// treatment names.
func intern(b []byte) string {
	if s, ok := vocabulary[string(b)]; ok {
		return s
	}
	return string(b)
}

// vocabulary holds the contract's words (DESIGN.md): channels, tiers,
// default intents, treatments.
var vocabulary = func() map[string]string {
	words := []string{
		"phone", "ivr", "chat", "email", "web", "app", "store",
		"basic", "silver", "gold", "platinum",
		"billing_dispute", "payment_failed", "service_outage", "cancel_service", "complaint",
		"order_status", "password_reset", "address_change", "technical_support",
		"upgrade_inquiry", "new_product", "general_question",
	}
	for _, t := range features.Treatments() {
		words = append(words, t.String())
	}
	m := make(map[string]string, len(words))
	for _, w := range words {
		m[w] = w
	}
	return m
}()
