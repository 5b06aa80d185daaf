package models_test

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
	"situ/models"
)

// strict decodes as the parity tests must: no member the type lacks.
var strict = json.RejectUnknownMembers(true)

func sampleEvent() models.DecisionEvent {
	eligible := features.AllTreatments.Without(features.SelfService)
	return models.DecisionEvent{
		FormatVersion:     models.DecisionEventFormatVersion,
		DecisionID:        "0190b6f4-0000-7000-8000-000000000001",
		Time:              time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC),
		ModelName:         "default",
		ModelVersion:      17,
		SchemaVersion:     1,
		SchemaFingerprint: "00000000deadbeef",
		Strategy:          "learned",
		Explorer:          "squarecb",
		Treatment:         "fast_resolution",
		Propensity:        0.9333333333333333,
		Probabilities:     models.Probabilities{Of: eligible, P: [features.NumTreatments]float64{0.9333333333333333, 0.06666666666666667}},
		Eligible:          models.TreatmentList(eligible),
		Candidates:        models.TreatmentList(features.AllTreatments),
		Rules:             []string{"friction-no-self-service"},
		Features:          []features.Entry{{Index: 0, Value: 1}, {Index: 5, Value: 0.25}},
	}
}

// sampleContext is the contract example's context as a decision event
// carries it: the customer id replaced by a hash.
func sampleContext() *features.Context {
	conf := 0.8
	return &features.Context{
		Customer: features.Customer{ID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", LifetimeValue: 5400,
			AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
		Intent:     features.Intent{Name: "billing_dispute", Confidence: &conf},
		Channel:    "phone",
		Friction:   features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, OpenComplaint: true, Sentiment: -0.6},
		Attributes: map[string]float64{"any_extra_feature": 1, "b": 2, "a": -1},
	}
}

// TestDecisionEventParity: what AppendJSON writes decodes strictly, with
// DecodeDecisionEvent, into the event it was written from, field by field.
func TestDecisionEventParity(t *testing.T) {
	conf := 0.8
	many := make([]features.Entry, 200)
	for i := range many {
		many[i] = features.Entry{Index: int32(i), Value: float64(i)/7 - 3e-9*float64(i%3)}
	}
	cases := []struct {
		name string
		edit func(e *models.DecisionEvent)
	}{
		{"contract example", func(*models.DecisionEvent) {}},
		{"no rules", func(e *models.DecisionEvent) { e.Rules = nil }},
		{"uniform", func(e *models.DecisionEvent) {
			e.Uniform, e.Strategy = true, "uniform"
			e.Rules = []string{"uniform-service", "floor"}
		}},
		{"one eligible treatment", func(e *models.DecisionEvent) {
			one := features.TreatmentSet(0).With(features.SelfService)
			e.Treatment, e.Propensity = "self_service", 1
			e.Eligible, e.Probabilities = models.TreatmentList(one), models.Probabilities{Of: one, P: [features.NumTreatments]float64{features.SelfService: 1}}
			e.Candidates = models.TreatmentList(one.With(features.PamperUpsell))
		}},
		{"unicode and escapes in ids", func(e *models.DecisionEvent) {
			e.DecisionID = "id \"quoted\" \\ <html> & \n\t\x01 \u2028 é 日本 😀"
			e.ModelName, e.Strategy, e.Explorer = "modèle", "stratégie", ""
			e.Rules = []string{"règle-1", "ルール"}
		}},
		{"many features, tiny and huge values", func(e *models.DecisionEvent) {
			e.Features = append(many, features.Entry{Index: 201, Value: -3.5e22}, features.Entry{Index: 202, Value: 1e-300})
		}},
		{"no features, no model", func(e *models.DecisionEvent) {
			e.Features = []features.Entry{}
			e.ModelName, e.ModelVersion, e.SchemaVersion, e.SchemaFingerprint = "", 0, 0, ""
		}},
		{"time in another zone", func(e *models.DecisionEvent) {
			e.Time = time.Date(2026, 11, 23, 13, 0, 0, 1, time.FixedZone("CET", 3600))
		}},
		{"members added within version 1, an experiment arm included", func(e *models.DecisionEvent) {
			e.ConfigVersion, e.PolicyVersion, e.Experiment, e.Arm = 7, 3, "philosophy", "tiers"
			e.Context = &features.Context{
				Customer: features.Customer{ID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", LifetimeValue: 5400,
					AnnualSpend: 1200, TenureMonths: 38, Tier: "gold", FirstContact: true, PrefersSelfService: true},
				Intent:     features.Intent{Name: "billing_dispute", Confidence: &conf},
				Channel:    "phone",
				Friction:   features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, OpenComplaint: true, Sentiment: -0.6},
				Attributes: map[string]float64{"zeta": 1, "alpha": -2.5, "é": 1e-7},
			}
		}},
		{"context without optional members", func(e *models.DecisionEvent) {
			e.Context = &features.Context{Intent: features.Intent{Name: "order_status"}, Channel: "app"}
		}},
		{"context with more attributes than fit on the stack", func(e *models.DecisionEvent) {
			e.Context = sampleContext()
			for i := range 40 {
				e.Context.Attributes[fmt.Sprintf("attr_%02d", 39-i)] = float64(i) / 3
			}
		}},
		{"levers", func(e *models.DecisionEvent) {
			e.Levers = models.Levers{features.PamperUpsell: -0.05, features.SelfService: 1e-9}
		}},
		{"one lever, the others 0", func(e *models.DecisionEvent) {
			e.Levers = models.Levers{features.FastResolution: 0.25}
		}},
		{"every member the service fills", withServiceMembers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := sampleEvent()
			tc.edit(&want)
			b, err := want.AppendJSON([]byte("kept"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:4]) != "kept" {
				t.Fatalf("dst overwritten: %q", b)
			}
			b = b[4:]
			if !jsontext.Value(b).IsValid() {
				t.Fatalf("not JSON: %s", b)
			}
			got, err := models.DecodeDecisionEvent(b, strict)
			if err != nil {
				t.Fatalf("%v in %s", err, b)
			}
			assertSameEvent(t, want, got, b)

			// json.Marshal of the type reads back the same: the tags and
			// the fast encoder agree.
			viaTags, err := json.Marshal(&want)
			if err != nil {
				t.Fatal(err)
			}
			fromTags, err := models.DecodeDecisionEvent(viaTags, strict)
			if err != nil {
				t.Fatalf("%v in %s", err, viaTags)
			}
			assertSameEvent(t, fromTags, got, b)
		})
	}
}

// assertSameEvent compares two events field by field; nil and empty
// features are the same event (both are written as []).
func assertSameEvent(t *testing.T, want, got models.DecisionEvent, b []byte) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %s, want %s", got.Time, want.Time)
	}
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range wv.NumField() {
		f := wv.Type().Field(i)
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		switch f.Name {
		case "Time":
			continue
		case "Features":
			if len(want.Features) == 0 && len(got.Features) == 0 {
				continue
			}
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s: decoded %#v, want %#v\nin %s", f.Name, g, w, b)
		}
	}
}

// TestDecisionEventEncodesEveryField: every exported field of the event,
// and of the types it holds, is a member of what AppendJSON writes, and
// reads back: a field added to the type but not to the encoder fails here.
// The event is filled by reflection, so the test needs no change when a
// field is added.
func TestDecisionEventEncodesEveryField(t *testing.T) {
	var e models.DecisionEvent
	fillNonZero(t, reflect.ValueOf(&e).Elem(), "event")
	e.FormatVersion = models.DecisionEventFormatVersion
	b, err := e.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]any
	if err := json.Unmarshal(b, &members); err != nil {
		t.Fatal(err)
	}
	checkMembers(t, reflect.TypeFor[models.DecisionEvent](), members, "")
	got, err := models.DecodeDecisionEvent(b, strict)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	assertSameEvent(t, e, got, b)
}

var (
	marshalerTo = reflect.TypeFor[json.MarshalerTo]()
	timeType    = reflect.TypeFor[time.Time]()
)

// fillNonZero sets every field reachable from v to a value that is not
// empty, so that omitempty cannot hide it.
func fillNonZero(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[models.Probabilities]():
		v.Set(reflect.ValueOf(models.Probabilities{Of: features.AllTreatments, P: [features.NumTreatments]float64{0.5, 0.25, 0.25}}))
		return
	case v.Type() == reflect.TypeFor[models.TreatmentList]():
		v.Set(reflect.ValueOf(models.TreatmentList(features.AllTreatments)))
		return
	case v.Type() == reflect.TypeFor[models.Levers]():
		v.Set(reflect.ValueOf(models.Levers{0.5, -0.25, 0.125}))
		return
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 11, 22, 10, 0, 0, 5, time.UTC)))
		return
	case v.Type().Implements(marshalerTo) || reflect.PointerTo(v.Type()).Implements(marshalerTo):
		t.Fatalf("%s: %s has its own JSON methods; teach fillNonZero a valid value", path, v.Type())
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(3)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillNonZero(t, v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillNonZero(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillNonZero(t, k, path+".key")
		fillNonZero(t, e, path+".value")
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			// a field that is not JSON (features.Context.Absent) stays zero
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				fillNonZero(t, v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	default:
		t.Fatalf("%s: cannot fill a %s", path, v.Type())
	}
}

// checkMembers reports every exported field of typ (recursively through
// structs, pointers and slices of structs) whose json name is missing from
// the decoded members.
func checkMembers(t *testing.T, typ reflect.Type, v any, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == timeType || typ.Implements(marshalerTo) {
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		if arr, ok := v.([]any); ok {
			for i, e := range arr {
				checkMembers(t, typ.Elem(), e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
		return
	case reflect.Struct:
	default:
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: want an object for %s, got %T", path, typ, v)
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m, ok := obj[name]
		if !ok {
			t.Errorf("%s%s (field %s.%s) is not in the encoder's output", path, "/"+name, typ.Name(), f.Name)
			continue
		}
		checkMembers(t, f.Type, m, path+"/"+name)
	}
}

// TestDecisionEventBytes pins today's bytes: the members as the event
// carried them before format_version, in the same order, with
// format_version first.
func TestDecisionEventBytes(t *testing.T) {
	e := sampleEvent()
	b, err := e.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"format_version":1,"decision_id":"0190b6f4-0000-7000-8000-000000000001","time":"2026-11-22T10:00:00.123456789Z",` +
		`"model_name":"default","model_version":17,"schema_version":1,"schema_fingerprint":"00000000deadbeef",` +
		`"strategy":"learned","explorer":"squarecb","treatment":"fast_resolution","propensity":0.9333333333333333,` +
		`"probabilities":{"fast_resolution":0.9333333333333333,"pamper_upsell":0.06666666666666667},` +
		`"eligible":["fast_resolution","pamper_upsell"],"candidates":["fast_resolution","pamper_upsell","self_service"],` +
		`"rules":["friction-no-self-service"],"features":[{"i":0,"v":1},{"i":5,"v":0.25}]}`
	if string(b) != want {
		t.Errorf("encoded\n%s\nwant\n%s", b, want)
	}
}

func TestDecodeDecisionEventVersions(t *testing.T) {
	cases := []struct {
		name    string
		json    string
		version int
		err     string
		isNewer bool
	}{
		{"without format_version: an event already on the topic",
			`{"decision_id":"d-1","time":"2026-11-22T10:00:00Z","model_name":"default","model_version":1,"schema_version":1,"schema_fingerprint":"00000000deadbeef","strategy":"learned","explorer":"squarecb","treatment":"fast_resolution","propensity":1,"probabilities":{"fast_resolution":1},"eligible":["fast_resolution"],"candidates":["fast_resolution"],"features":[]}`,
			1, "", false},
		{"version 1", `{"format_version":1,"decision_id":"d-1","treatment":"self_service"}`, 1, "", false},
		{"a member added later is skipped", `{"format_version":1,"decision_id":"d-1","shadow":{"x":1}}`, 1, "", false},
		{"newer version", `{"format_version":2,"decision_id":"d-1"}`, 0, "format_version 2, this reader reads up to 1", true},
		{"newer version of another shape", `{"format_version":2,"decision_id":{"id":"d-1"},"probabilities":[0.5,0.5]}`, 0, "format_version 2", true},
		{"negative version", `{"format_version":-1,"decision_id":"d-1"}`, 0, "format_version: must be at least 1", false},
		{"unknown treatment in probabilities", `{"probabilities":{"upsell":1}}`, 0, "unknown or repeated treatment", false},
		{"repeated eligible treatment", `{"eligible":["self_service","self_service"]}`, 0, "unknown or repeated treatment", false},
		{"probability as text", `{"probabilities":{"self_service":"1"}}`, 0, "want a number", false},
		{"levers", `{"format_version":1,"decision_id":"d-1","levers":{"pamper_upsell":-0.05}}`, 1, "", false},
		{"unknown treatment in levers", `{"levers":{"upsell":0.1}}`, 0, "unknown or repeated treatment", false},
		{"repeated lever", `{"levers":{"self_service":0.1,"self_service":0.2}}`, 0, "decode decision event", false},
		{"lever as text", `{"levers":{"self_service":"0.1"}}`, 0, "want a number", false},
		{"wrong type", `{"decision_id":7}`, 0, "decode decision event", false},
		{"empty", ``, 0, "decode decision event", false},
		{"data after the value", `{"decision_id":"d-1"} {}`, 0, "decode decision event", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := models.DecodeDecisionEvent([]byte(tc.json))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e.FormatVersion != tc.version {
					t.Errorf("format version %d, want %d", e.FormatVersion, tc.version)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			if errors.Is(err, models.ErrDecisionEventVersion) != tc.isNewer {
				t.Errorf("errors.Is(%v, ErrDecisionEventVersion) = %v, want %v", err, !tc.isNewer, tc.isNewer)
			}
		})
	}
}

func TestDecisionEventAppendJSONRejectsWhatJSONCannotCarry(t *testing.T) {
	cases := []struct {
		name string
		edit func(e *models.DecisionEvent)
	}{
		{"NaN propensity", func(e *models.DecisionEvent) { e.Propensity = math.NaN() }},
		{"infinite probability", func(e *models.DecisionEvent) { e.Probabilities.P[features.FastResolution] = math.Inf(1) }},
		{"NaN feature", func(e *models.DecisionEvent) { e.Features = []features.Entry{{Index: 0, Value: math.NaN()}} }},
		{"invalid UTF-8 id", func(e *models.DecisionEvent) { e.DecisionID = "d\xff" }},
		{"invalid UTF-8 rule id", func(e *models.DecisionEvent) { e.Rules = []string{"r\xff"} }},
		{"infinite context attribute", func(e *models.DecisionEvent) {
			e.Context = &features.Context{Attributes: map[string]float64{"a": math.Inf(-1)}}
		}},
		{"NaN lever", func(e *models.DecisionEvent) { e.Levers[features.SelfService] = math.NaN() }},
		{"invalid UTF-8 customer id", func(e *models.DecisionEvent) {
			e.Context = &features.Context{Customer: features.Customer{ID: "c\xff"}}
		}},
		{"year 10000", func(e *models.DecisionEvent) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleEvent()
			tc.edit(&e)
			b, err := e.AppendJSON([]byte("x"))
			if err == nil {
				t.Fatalf("no error, appended %s", b)
			}
			if string(b) != "x" {
				t.Errorf("dst changed to %q on error", b)
			}
		})
	}
}

// withServiceMembers fills the members the service adds to the contract
// example: the versions, the context and a lever.
func withServiceMembers(e *models.DecisionEvent) {
	e.ConfigVersion, e.PolicyVersion = 8, 2
	e.Context = sampleContext()
	e.Levers = models.Levers{features.PamperUpsell: -0.05}
}

func TestDecisionEventAppendJSONAllocatesNothing(t *testing.T) {
	cases := []struct {
		name string
		edit func(e *models.DecisionEvent)
	}{
		{"contract example", func(*models.DecisionEvent) {}},
		{"with context, levers and versions", withServiceMembers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleEvent()
			tc.edit(&e)
			buf := make([]byte, 0, 4096)
			if n := testing.AllocsPerRun(100, func() { buf, _ = e.AppendJSON(buf[:0]) }); n != 0 {
				t.Errorf("AppendJSON allocates %v times, want 0", n)
			}
		})
	}
}

// FuzzDecodeDecisionEvent: whatever the topic holds, decoding never
// panics, and what decodes re-encodes into an event that decodes the same.
func FuzzDecodeDecisionEvent(f *testing.F) {
	seed, _ := func() ([]byte, error) { e := sampleEvent(); return e.AppendJSON(nil) }()
	f.Add(seed)
	f.Add([]byte(`{"decision_id":"d","probabilities":null,"eligible":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := models.DecodeDecisionEvent(data)
		if err != nil {
			return
		}
		b, err := e.AppendJSON(nil)
		if err != nil {
			return // e.g. a year JSON cannot carry
		}
		back, err := models.DecodeDecisionEvent(b, strict)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		if !jsontext.Value(b).IsValid() {
			t.Fatalf("invalid JSON %s", b)
		}
		b2, _ := back.AppendJSON(nil)
		if string(b2) != string(b) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

// TestDecisionEventThroughEncodingJSON: encoding/json, which tools and
// older tests use, writes and reads the same event.
func TestDecisionEventThroughEncodingJSON(t *testing.T) {
	want := sampleEvent()
	b, err := stdjson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.DecodeDecisionEvent(b, strict)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	assertSameEvent(t, want, got, b)
	var back models.DecisionEvent
	if err := stdjson.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	assertSameEvent(t, want, back, b)
}

func TestDecodeDecisionKey(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	fast, err := (&models.DecisionEvent{DecisionID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Time: at, Treatment: "fast_resolution", Propensity: 1}).AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, value, id string
		time            time.Time
		fails           bool
	}{
		{"AppendJSON", string(fast), "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", at, false},
		{"another member order", `{"time":"2026-11-22T10:00:00Z","decision_id":"a"}`, "a", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), false},
		{"escaped id", `{"format_version":1,"decision_id":"a\u0062","time":"2026-11-22T10:00:00Z"}`, "ab", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), false},
		{"no format version", `{"decision_id":"a","time":"2026-11-22T10:00:00Z"}`, "a", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), false},
		{"newer format", `{"format_version":2,"decision_id":"a","time":"2026-11-22T10:00:00Z"}`, "", time.Time{}, true},
		{"no id", `{"format_version":1,"time":"2026-11-22T10:00:00Z"}`, "", time.Time{}, true},
		{"broken", `{"format_version":1,"decision_id":"a","time":"2026-11-2`, "", time.Time{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, tm, err := models.DecodeDecisionKey([]byte(tc.value))
			if (err != nil) != tc.fails {
				t.Fatalf("error %v, want failure %v", err, tc.fails)
			}
			if id != tc.id || !tm.Equal(tc.time) {
				t.Errorf("got %q %s, want %q %s", id, tm, tc.id, tc.time)
			}
			if !tc.fails {
				d, err := models.DecodeDecisionEvent([]byte(tc.value))
				if err != nil || d.DecisionID != id || !d.Time.Equal(tm) {
					t.Errorf("DecodeDecisionEvent gives %q %s (%v)", d.DecisionID, d.Time, err)
				}
			}
		})
	}
}
