package features

import (
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default_schema.yaml
var defaultSchemaYAML []byte

// DefaultSchemaYAML returns the embedded default schema document.
func DefaultSchemaYAML() []byte { return append([]byte(nil), defaultSchemaYAML...) }

// DefaultSchema compiles the embedded default schema.
func DefaultSchema() (*Schema, error) { return ParseSchema(defaultSchemaYAML) }

// SchemaSpec is the YAML form of a feature schema.
type SchemaSpec struct {
	Version     int               `yaml:"version" json:"version"`
	Numeric     []NumericSpec     `yaml:"numeric" json:"numeric"`
	Boolean     []BooleanSpec     `yaml:"boolean" json:"boolean"`
	Categorical []CategoricalSpec `yaml:"categorical" json:"categorical"`
	Binned      []BinnedSpec      `yaml:"binned,omitempty" json:"binned,omitempty"`
	Crosses     []CrossSpec       `yaml:"crosses" json:"crosses"`
	// MissingIndicators adds, after every other feature, one 0/1 feature
	// per optional field (name "<feature>=missing") that is 1 when the
	// caller did not send the field: a numeric feature from an optional
	// numeric field or an attribute, and a categorical from customer.tier.
	// Such a feature starts at weight 0, is learned like any other and is
	// never named in an explanation. Default false.
	MissingIndicators bool `yaml:"missing_indicators,omitempty" json:"missing_indicators,omitempty"`
}

// NumericSpec declares a numeric feature. Source defaults to Name; it is a
// numeric context field (e.g. "friction.wait_seconds") or
// "attributes.<key>". An absent field (Context.Absent, an attribute the
// context does not hold) takes the schema's centre: the standardize mean
// when the feature is standardized (0 after the transforms), else the
// transform of 0.
type NumericSpec struct {
	Name        string           `yaml:"name" json:"name"`
	Source      string           `yaml:"source,omitempty" json:"source,omitempty"`
	Log1p       bool             `yaml:"log1p,omitempty" json:"log1p,omitempty"`
	Clip        []float64        `yaml:"clip,omitempty" json:"clip,omitempty"`
	Standardize *StandardizeSpec `yaml:"standardize,omitempty" json:"standardize,omitempty"`
	Value       bool             `yaml:"value,omitempty" json:"value,omitempty"`
}

// StandardizeSpec maps x to (x - Mean) / Std.
type StandardizeSpec struct {
	Mean float64 `yaml:"mean" json:"mean"`
	Std  float64 `yaml:"std" json:"std"`
}

// BooleanSpec declares a 0/1 feature from a boolean context field.
type BooleanSpec struct {
	Name   string `yaml:"name" json:"name"`
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	Value  bool   `yaml:"value,omitempty" json:"value,omitempty"`
}

// CategoricalSpec declares a one-hot feature over a vocabulary plus an
// "other" bucket. Unknown is "other" (default: unknown values count as
// other) or "reject" (unknown values are input errors; empty still counts
// as other).
type CategoricalSpec struct {
	Name       string   `yaml:"name" json:"name"`
	Source     string   `yaml:"source" json:"source"`
	Vocabulary []string `yaml:"vocabulary" json:"vocabulary"`
	Unknown    string   `yaml:"unknown,omitempty" json:"unknown,omitempty"`
	Value      bool     `yaml:"value,omitempty" json:"value,omitempty"`
}

// BinnedSpec declares a categorical feature over the bins of a numeric
// field: Edges e₁ < e₂ < … < eₙ (in the field's own units, before any
// transform) make the n+1 bins "<e₁", "e₁-e₂", …, ">=eₙ" (a value equal to
// an edge falls in the bin above it), one-hot as name=bin. A binned
// feature takes part in crosses as a categorical does; when its field is
// absent it has no bin, and its crosses are left out.
type BinnedSpec struct {
	Name   string    `yaml:"name" json:"name"`
	Source string    `yaml:"source" json:"source"`
	Edges  []float64 `yaml:"edges" json:"edges"`
	Value  bool      `yaml:"value,omitempty" json:"value,omitempty"`
}

// CrossSpec declares an interaction of two features: two categoricals
// (text or binned) give a one-hot over every pair; a categorical and a
// numeric or boolean feature give one feature per category holding the
// numeric value (intent_x_wait=order_status); two numeric or boolean
// features give their product (after transforms).
type CrossSpec struct {
	Name string   `yaml:"name" json:"name"`
	Of   []string `yaml:"of" json:"of"`
}

// Entry is one non-zero component of a sparse feature vector.
type Entry struct {
	Index int32   `json:"i"`
	Value float64 `json:"v"`
}

// Schema is a compiled feature schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	version     int
	fingerprint uint64
	// fingerprintHex is fingerprint as 16 lower-case hex digits.
	fingerprintHex string
	// extends is the fingerprint of the layout without the missing
	// indicators (Extends); fingerprint when there are none.
	extends     uint64
	names       []string
	index       map[string]int32
	numeric     []numericFeature
	boolean     []booleanFeature
	categorical []categoricalFeature
	crosses     []crossFeature
	// indicators is the index of the first missing indicator: the
	// features from there on are never named in an explanation.
	indicators int32
	spec       SchemaSpec
}

type numericFeature struct {
	index int32
	get   func(*Context) float64
	// absent says when the feature's field is absent.
	absent absence
	// missing is the index of the feature's missing indicator, -1 if none.
	missing int32
	log1p   bool
	clip    bool
	lo, hi  float64
	std     bool
	mean    float64
	invStd  float64
	isValue bool
}

type booleanFeature struct {
	index   int32
	get     func(*Context) bool
	isValue bool
}

type categoricalFeature struct {
	name    string
	field   string
	base    int32 // index of the first vocabulary entry; base+len(vocab) is "other"
	size    int32 // len(vocab)+1
	vocab   map[string]int32
	text    TextField
	reject  bool
	allowed string
	isValue bool
	// missing is the index of the missing indicator of an empty (absent)
	// value, -1 if none (then an empty value counts as "other").
	missing int32
	// labels name the values in index order (the vocabulary and "other",
	// or the bins).
	labels []string
	// edges, when not nil, make this a binned feature of the numeric
	// field get.
	edges  []float64
	get    func(*Context) float64
	absent absence
}

type crossFeature struct {
	base    int32
	product bool
	// mixed: a is a categorical, b a dense (numeric or boolean) position
	mixed   bool
	a, b    int // positions in numeric/boolean values (product) or categoricals
	bSize   int32
	isValue bool
}

// MaxDense bounds the numeric+boolean features of one schema, so that
// extraction needs no heap scratch space.
const MaxDense = 64

const maxCategorical = 16

var numericSources = map[string]func(*Context) float64{
	"customer.lifetime_value":          func(c *Context) float64 { return c.Customer.LifetimeValue },
	"customer.annual_spend":            func(c *Context) float64 { return c.Customer.AnnualSpend },
	"customer.tenure_months":           func(c *Context) float64 { return c.Customer.TenureMonths },
	"intent.confidence":                func(c *Context) float64 { return c.Intent.ConfidenceOrOne() },
	"friction.repeat_contacts_7d":      func(c *Context) float64 { return float64(c.Friction.RepeatContacts7d) },
	"friction.failed_self_service_24h": func(c *Context) float64 { return float64(c.Friction.FailedSelfService24h) },
	"friction.wait_seconds":            func(c *Context) float64 { return c.Friction.WaitSeconds },
	"friction.transfers":               func(c *Context) float64 { return float64(c.Friction.Transfers) },
	"friction.sentiment":               func(c *Context) float64 { return c.Friction.Sentiment },
}

// absence says when a numeric source is absent: never (intent.confidence),
// when its bit is in Context.Absent, or when the context's attributes do
// not hold its key.
type absence struct {
	kind  uint8 // absenceNever, absenceField, absenceAttribute
	field NumericField
	key   string
}

const (
	absenceNever uint8 = iota
	absenceField
	absenceAttribute
)

// of reports whether the source is absent from c.
func (a absence) of(c *Context) bool {
	switch a.kind {
	case absenceField:
		return c.Absent.Has(a.field)
	case absenceAttribute:
		_, ok := c.Attributes[a.key]
		return !ok
	}
	return false
}

// absentSource returns the absence of a numeric source.
func absentSource(src string) absence {
	if key, ok := strings.CutPrefix(src, "attributes."); ok {
		return absence{kind: absenceAttribute, key: key}
	}
	for _, f := range NumericFields() {
		if f.String() == src {
			return absence{kind: absenceField, field: f}
		}
	}
	return absence{}
}

var booleanSources = map[string]func(*Context) bool{
	"customer.first_contact":        func(c *Context) bool { return c.Customer.FirstContact },
	"customer.prefers_self_service": func(c *Context) bool { return c.Customer.PrefersSelfService },
	"friction.open_complaint":       func(c *Context) bool { return c.Friction.OpenComplaint },
}

var categoricalSources = map[string]TextField{
	"customer.tier": FieldTier,
	"intent.name":   FieldIntent,
	"channel":       FieldChannel,
}

// ValueSources are the context fields that describe what a customer is
// worth. Uniform mode hides them from the model and from policy rules.
var ValueSources = []string{"customer.lifetime_value", "customer.annual_spend", "customer.tier"}

// ParseSchema parses and compiles a YAML schema document.
func ParseSchema(doc []byte) (*Schema, error) {
	var spec SchemaSpec
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("parse feature schema: %w", err)
	}
	return CompileSchema(spec)
}

// CompileSchema checks a schema spec and compiles it. Errors name the
// offending feature.
func CompileSchema(spec SchemaSpec) (*Schema, error) {
	s := &Schema{version: spec.Version, index: map[string]int32{}, spec: spec}
	if spec.Version <= 0 {
		return nil, errors.New("feature schema: version must be a positive integer")
	}
	add := func(name string) (int32, error) {
		if name == "" {
			return 0, errors.New("feature schema: a feature has no name")
		}
		if _, dup := s.index[name]; dup {
			return 0, fmt.Errorf("feature schema: feature %q is declared twice", name)
		}
		i := int32(len(s.names))
		s.names = append(s.names, name)
		s.index[name] = i
		return i, nil
	}
	dense := map[string]int{} // numeric/boolean name → position in the dense value array
	isValue := map[string]bool{}
	if len(spec.Numeric)+len(spec.Boolean) > MaxDense {
		return nil, fmt.Errorf("feature schema: at most %d numeric and boolean features", MaxDense)
	}
	for _, n := range spec.Numeric {
		src := n.Source
		if src == "" {
			src = n.Name
		}
		get, ok := numericSources[src]
		if !ok && strings.HasPrefix(src, "attributes.") && len(src) > len("attributes.") {
			key := strings.TrimPrefix(src, "attributes.")
			get = func(c *Context) float64 { return c.Attributes[key] }
			ok = true
		}
		if !ok {
			return nil, fmt.Errorf("feature schema: numeric feature %q: unknown source %q (numeric fields: %s, or attributes.<key>)", n.Name, src, strings.Join(sortedKeys(numericSources), ", "))
		}
		idx, err := add(n.Name)
		if err != nil {
			return nil, err
		}
		f := numericFeature{index: idx, get: get, absent: absentSource(src), missing: -1, log1p: n.Log1p, isValue: n.Value || isValueSource(src)}
		if n.Clip != nil {
			if len(n.Clip) != 2 || !(n.Clip[0] < n.Clip[1]) {
				return nil, fmt.Errorf("feature schema: numeric feature %q: clip must be [low, high] with low < high", n.Name)
			}
			f.clip, f.lo, f.hi = true, n.Clip[0], n.Clip[1]
		}
		if n.Standardize != nil {
			if !(n.Standardize.Std > 0) || math.IsInf(n.Standardize.Std, 0) || math.IsNaN(n.Standardize.Mean) {
				return nil, fmt.Errorf("feature schema: numeric feature %q: standardize needs a finite mean and std > 0", n.Name)
			}
			f.std, f.mean, f.invStd = true, n.Standardize.Mean, 1/n.Standardize.Std
		}
		dense[n.Name] = len(dense)
		isValue[n.Name] = f.isValue
		s.numeric = append(s.numeric, f)
	}
	for _, b := range spec.Boolean {
		src := b.Source
		if src == "" {
			src = b.Name
		}
		get, ok := booleanSources[src]
		if !ok {
			return nil, fmt.Errorf("feature schema: boolean feature %q: unknown source %q (boolean fields: %s)", b.Name, src, strings.Join(sortedKeys(booleanSources), ", "))
		}
		idx, err := add(b.Name)
		if err != nil {
			return nil, err
		}
		dense[b.Name] = len(dense)
		isValue[b.Name] = b.Value
		s.boolean = append(s.boolean, booleanFeature{index: idx, get: get, isValue: b.Value})
	}
	if len(spec.Categorical) > maxCategorical {
		return nil, fmt.Errorf("feature schema: at most %d categorical features", maxCategorical)
	}
	cats := map[string]int{}
	for _, c := range spec.Categorical {
		text, ok := categoricalSources[c.Source]
		if !ok {
			return nil, fmt.Errorf("feature schema: categorical feature %q: unknown source %q (text fields: %s)", c.Name, c.Source, strings.Join(sortedKeys(categoricalSources), ", "))
		}
		if c.Name == "" {
			return nil, errors.New("feature schema: a categorical feature has no name")
		}
		if _, dup := cats[c.Name]; dup {
			return nil, fmt.Errorf("feature schema: categorical feature %q is declared twice", c.Name)
		}
		if len(c.Vocabulary) == 0 {
			return nil, fmt.Errorf("feature schema: categorical feature %q: empty vocabulary", c.Name)
		}
		cf := categoricalFeature{name: c.Name, field: c.Source, text: text, vocab: map[string]int32{}, isValue: c.Value || isValueSource(c.Source), missing: -1}
		switch c.Unknown {
		case "", "other":
		case "reject":
			cf.reject = true
		default:
			return nil, fmt.Errorf("feature schema: categorical feature %q: unknown must be \"other\" or \"reject\", got %q", c.Name, c.Unknown)
		}
		for i, v := range c.Vocabulary {
			if v == "" || v == "other" {
				return nil, fmt.Errorf("feature schema: categorical feature %q: vocabulary entry %d must be non-empty and not \"other\"", c.Name, i)
			}
			if !IsCanonical(v) {
				return nil, fmt.Errorf("feature schema: categorical feature %q: vocabulary entry %q is not canonical (lower case, no surrounding white space): contexts are, so it could never match; write %q", c.Name, v, Canonical(v))
			}
			if _, dup := cf.vocab[v]; dup {
				return nil, fmt.Errorf("feature schema: categorical feature %q: %q is listed twice", c.Name, v)
			}
			idx, err := add(c.Name + "=" + v)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				cf.base = idx
			}
			cf.vocab[v] = int32(i)
		}
		if _, err := add(c.Name + "=other"); err != nil {
			return nil, err
		}
		cf.size = int32(len(c.Vocabulary) + 1)
		cf.labels = append(append([]string(nil), c.Vocabulary...), "other")
		cf.allowed = strings.Join(c.Vocabulary, ", ")
		cats[c.Name] = len(s.categorical)
		isValue[c.Name] = cf.isValue
		s.categorical = append(s.categorical, cf)
	}
	if len(spec.Categorical)+len(spec.Binned) > maxCategorical {
		return nil, fmt.Errorf("feature schema: at most %d categorical and binned features", maxCategorical)
	}
	for _, b := range spec.Binned {
		get, ok := numericSources[b.Source]
		if !ok {
			return nil, fmt.Errorf("feature schema: binned feature %q: unknown source %q (numeric fields: %s)", b.Name, b.Source, strings.Join(sortedKeys(numericSources), ", "))
		}
		if _, dup := cats[b.Name]; dup || b.Name == "" {
			return nil, fmt.Errorf("feature schema: binned feature %q: needs a name not used by another categorical", b.Name)
		}
		if len(b.Edges) == 0 {
			return nil, fmt.Errorf("feature schema: binned feature %q: needs at least one edge", b.Name)
		}
		labels := make([]string, 0, len(b.Edges)+1)
		for i, e := range b.Edges {
			if !finite(e) || i > 0 && !(e > b.Edges[i-1]) {
				return nil, fmt.Errorf("feature schema: binned feature %q: edges must be finite and increasing, got %v", b.Name, b.Edges)
			}
			if i == 0 {
				labels = append(labels, fmt.Sprintf("<%g", e))
			} else {
				labels = append(labels, fmt.Sprintf("%g-%g", b.Edges[i-1], e))
			}
		}
		labels = append(labels, fmt.Sprintf(">=%g", b.Edges[len(b.Edges)-1]))
		cf := categoricalFeature{name: b.Name, field: b.Source, isValue: b.Value || isValueSource(b.Source), missing: -1,
			labels: labels, edges: append([]float64(nil), b.Edges...), get: get, absent: absentSource(b.Source), size: int32(len(labels))}
		for i, l := range labels {
			idx, err := add(b.Name + "=" + l)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				cf.base = idx
			}
		}
		cats[b.Name] = len(s.categorical)
		isValue[b.Name] = cf.isValue
		s.categorical = append(s.categorical, cf)
	}
	for _, x := range spec.Crosses {
		if len(x.Of) != 2 {
			return nil, fmt.Errorf("feature schema: cross %q: needs exactly two features in of", x.Name)
		}
		ca, aCat := cats[x.Of[0]]
		cb, bCat := cats[x.Of[1]]
		da, aDense := dense[x.Of[0]]
		db, bDense := dense[x.Of[1]]
		cf := crossFeature{isValue: isValue[x.Of[0]] || isValue[x.Of[1]]}
		switch {
		case aCat && bCat:
			B := s.categorical[cb]
			vocabA, vocabB := s.categorical[ca].labels, B.labels
			for i, va := range vocabA {
				for j, vb := range vocabB {
					idx, err := add(x.Name + "=" + va + "|" + vb)
					if err != nil {
						return nil, err
					}
					if i == 0 && j == 0 {
						cf.base = idx
					}
				}
			}
			cf.a, cf.b, cf.bSize = ca, cb, B.size
		case aDense && bDense:
			idx, err := add(x.Name)
			if err != nil {
				return nil, err
			}
			cf.base, cf.product, cf.a, cf.b = idx, true, da, db
		case aCat && bDense:
			for i, va := range s.categorical[ca].labels {
				idx, err := add(x.Name + "=" + va)
				if err != nil {
					return nil, err
				}
				if i == 0 {
					cf.base = idx
				}
			}
			cf.mixed, cf.a, cf.b = true, ca, db
		default:
			return nil, fmt.Errorf("feature schema: cross %q: of must name two categorical (or binned) features, a categorical then a numeric/boolean feature, or two numeric/boolean features, got %q", x.Name, x.Of)
		}
		s.crosses = append(s.crosses, cf)
	}
	s.indicators = int32(len(s.names))
	if spec.MissingIndicators {
		for i := range s.numeric {
			f := &s.numeric[i]
			if f.absent.kind == absenceNever {
				continue
			}
			idx, err := add(s.names[f.index] + "=missing")
			if err != nil {
				return nil, err
			}
			f.missing = idx
		}
		for i := range s.categorical {
			f := &s.categorical[i]
			if f.text != FieldTier { // intent and channel are required
				continue
			}
			idx, err := add(f.name + "=missing")
			if err != nil {
				return nil, err
			}
			f.missing = idx
		}
	}
	s.fingerprint = fingerprint(spec.Version, s.names)
	s.fingerprintHex = fmt.Sprintf("%016x", s.fingerprint)
	s.extends = s.fingerprint
	if s.indicators < int32(len(s.names)) {
		s.extends = fingerprint(spec.Version, s.names[:s.indicators])
	}
	return s, nil
}

// fingerprint hashes a schema version and its feature names (FNV-1a).
func fingerprint(version int, names []string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\n", version)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Extends reports whether a model bound to the layout with fingerprint
// fp binds to this schema unchanged: fp is the schema's own, or that of
// the same layout without its missing indicators, which come after every
// other feature, so that every feature keeps its index (a model or
// checkpoint written before the indicators were added).
func (s *Schema) Extends(fp uint64) bool { return fp == s.fingerprint || fp == s.extends }

func isValueSource(src string) bool {
	for _, v := range ValueSources {
		if v == src {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Version returns the schema's declared version.
func (s *Schema) Version() int { return s.version }

// Fingerprint identifies the schema's feature layout; a model bound to one
// layout cannot be used with another.
func (s *Schema) Fingerprint() uint64 { return s.fingerprint }

// FingerprintHex returns the fingerprint as 16 lower-case hex digits, as
// decision events and model snapshots carry it.
func (s *Schema) FingerprintHex() string { return s.fingerprintHex }

// Len returns the number of features (the dimension of the vector).
func (s *Schema) Len() int { return len(s.names) }

// Name returns the name of feature i.
func (s *Schema) Name(i int32) string { return s.names[i] }

// Names returns all feature names in index order. Do not modify.
func (s *Schema) Names() []string { return s.names }

// Explained reports whether feature i may be named in an explanation:
// every feature but the missing indicators, which stand for a field the
// caller did not send.
func (s *Schema) Explained(i int32) bool { return i < s.indicators }

// Indicators returns the index of the first missing indicator (Len when
// the schema has none); every feature from there on is one.
func (s *Schema) Indicators() int32 { return s.indicators }

// Index returns the index of the named feature.
func (s *Schema) Index(name string) (int32, bool) {
	i, ok := s.index[name]
	return i, ok
}

// Spec returns the schema's declarative form.
func (s *Schema) Spec() SchemaSpec { return s.spec }

// MaxEntries bounds the number of non-zero entries Extract appends.
func (s *Schema) MaxEntries() int {
	return len(s.numeric) + len(s.boolean) + len(s.categorical) + len(s.crosses) + len(s.names) - int(s.indicators)
}

// Extract appends the non-zero features of c to dst and returns it. With
// uniform set, features describing customer value (and crosses built on
// them) are left out. It returns a *FieldError when a categorical field
// that rejects unknown values holds one. c must have passed Canonicalize
// and Validate.
func (s *Schema) Extract(c *Context, uniform bool, dst []Entry) ([]Entry, error) {
	dst, _, err := s.ExtractUnknown(c, uniform, dst)
	return dst, err
}

// ExtractUnknown is Extract that also reports the text fields whose value
// is not in their feature's vocabulary and so counted as "other". An empty
// (absent) value is not reported; a value is reported in uniform mode too,
// even when its feature is left out.
func (s *Schema) ExtractUnknown(c *Context, uniform bool, dst []Entry) ([]Entry, TextFieldSet, error) {
	var unknown TextFieldSet
	var values [MaxDense]float64
	n := 0
	for i := range s.numeric {
		f := &s.numeric[i]
		absent := f.absent.of(c)
		x := 0.0
		switch {
		case uniform && f.isValue:
		case absent && f.std:
			// the centre: the standardize mean
		default:
			if !absent {
				x = f.get(c)
			}
			if f.log1p {
				// the builtin max and min are math.Max and math.Min
				// for every value a validated context holds (±0 and
				// ±Inf alike; they differ only for NaN against an
				// infinity), compiled inline
				x = math.Log1p(max(x, 0))
			}
			if f.clip {
				x = min(max(x, f.lo), f.hi)
			}
			if f.std {
				x = (x - f.mean) * f.invStd
			}
		}
		values[n] = x
		n++
		if x != 0 {
			dst = append(dst, Entry{f.index, x})
		}
		if absent && f.missing >= 0 && !(uniform && f.isValue) {
			dst = append(dst, Entry{f.missing, 1})
		}
	}
	for i := range s.boolean {
		f := &s.boolean[i]
		x := 0.0
		if f.get(c) && !(uniform && f.isValue) {
			x = 1
		}
		values[n] = x
		n++
		if x != 0 {
			dst = append(dst, Entry{f.index, x})
		}
	}
	var cats [maxCategorical]int32 // value position per categorical; -1 when left out
	for i := range s.categorical {
		f := &s.categorical[i]
		if f.edges != nil {
			if f.absent.of(c) || uniform && f.isValue {
				cats[i] = -1
				continue
			}
			x := f.get(c)
			pos := int32(len(f.edges))
			for k, e := range f.edges {
				if x < e {
					pos = int32(k)
					break
				}
			}
			cats[i] = pos
			dst = append(dst, Entry{f.base + pos, 1})
			continue
		}
		v := c.Text(f.text)
		if v == "" && f.missing >= 0 {
			cats[i] = -1 // no cross with a field the caller did not send
			if !(uniform && f.isValue) {
				dst = append(dst, Entry{f.missing, 1})
			}
			continue
		}
		pos, ok := f.vocab[v]
		if !ok {
			if v != "" {
				if f.reject {
					return dst, unknown, &FieldError{Field: f.field, Message: fmt.Sprintf("unknown value %q; allowed: %s", v, f.allowed)}
				}
				unknown = unknown.With(f.text)
			}
			pos = f.size - 1
		}
		if uniform && f.isValue {
			cats[i] = -1
			continue
		}
		cats[i] = pos
		dst = append(dst, Entry{f.base + pos, 1})
	}
	for i := range s.crosses {
		x := &s.crosses[i]
		if uniform && x.isValue {
			continue
		}
		if x.product {
			if v := values[x.a] * values[x.b]; v != 0 {
				dst = append(dst, Entry{x.base, v})
			}
			continue
		}
		if x.mixed {
			if pa := cats[x.a]; pa >= 0 && values[x.b] != 0 {
				dst = append(dst, Entry{x.base + pa, values[x.b]})
			}
			continue
		}
		pa, pb := cats[x.a], cats[x.b]
		if pa < 0 || pb < 0 {
			continue
		}
		dst = append(dst, Entry{x.base + pa*x.bSize + pb, 1})
	}
	return dst, unknown, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
