package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"situ/features"
)

//go:embed default_policy.yaml
var defaultPolicyYAML []byte

// DefaultPolicyYAML returns the embedded default policy document.
func DefaultPolicyYAML() []byte { return append([]byte(nil), defaultPolicyYAML...) }

// Default compiles the embedded default policy.
func Default() (*Policy, error) { return Parse(defaultPolicyYAML) }

// Spec is the declarative (YAML/JSON) form of a policy.
type Spec struct {
	Version     int64      `yaml:"version" json:"version"`
	UniformMode bool       `yaml:"uniform_mode" json:"uniform_mode"`
	Floor       FloorSpec  `yaml:"floor" json:"floor"`
	Rules       []RuleSpec `yaml:"rules" json:"rules"`
}

// FloorSpec is the minimum service every customer gets.
type FloorSpec struct {
	// HumanEscape must be true: a human is always reachable.
	HumanEscape bool `yaml:"human_escape" json:"human_escape"`
}

// RuleSpec is one written commitment. When is an expr-lang boolean
// expression over the variables customer, intent, channel, friction,
// attributes and uniform. At least one effect is required.
type RuleSpec struct {
	ID          string   `yaml:"id" json:"id"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	When        string   `yaml:"when" json:"when"`
	Exclude     []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	Require     string   `yaml:"require,omitempty" json:"require,omitempty"`
	Grant       []string `yaml:"grant,omitempty" json:"grant,omitempty"`
}

// MaxRules bounds the rules of one policy.
const MaxRules = 64

// Policy is a compiled policy. It is immutable and safe for concurrent use.
type Policy struct {
	spec  Spec
	rules []rule
	vms   sync.Pool
	// onVM counts the rules without a direct form.
	onVM int
}

type rule struct {
	id      string
	program *vm.Program
	// direct, when not nil, evaluates the condition as program does,
	// without the VM (direct.go).
	direct   *direct
	exclude  features.TreatmentSet
	require  features.Treatment
	requires bool
	grant    []string
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Parse parses and compiles a YAML (or JSON) policy document.
func Parse(doc []byte) (*Policy, error) {
	var spec Spec
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	return Compile(spec)
}

// Compile checks a policy spec and compiles every condition. A rule that
// does not compile is an error naming the rule, and so is one that
// compares customer.tier, intent.name or channel with a text literal that
// is not canonical (features.Canonical): it could never fire.
func Compile(spec Spec) (*Policy, error) {
	if !spec.Floor.HumanEscape {
		return nil, errors.New("policy: floor.human_escape must be true: a human is always reachable")
	}
	if len(spec.Rules) > MaxRules {
		return nil, fmt.Errorf("policy: %d rules, at most %d", len(spec.Rules), MaxRules)
	}
	p := &Policy{spec: spec}
	p.vms.New = func() any { return &vm.VM{} }
	seen := map[string]bool{}
	for i, rs := range spec.Rules {
		if !idPattern.MatchString(rs.ID) {
			return nil, fmt.Errorf("policy: rule %d: id %q must be 1-64 characters of a-z, 0-9, '.', '_', '-'", i, rs.ID)
		}
		if seen[rs.ID] {
			return nil, fmt.Errorf("policy: rule %q is declared twice", rs.ID)
		}
		seen[rs.ID] = true
		if strings.TrimSpace(rs.When) == "" {
			return nil, fmt.Errorf("policy: rule %q: when is required", rs.ID)
		}
		prog, err := expr.Compile(rs.When, expr.Env(Env{}), expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("policy: rule %q: compile condition: %w", rs.ID, err)
		}
		if err := checkLiterals(rs.When); err != nil {
			return nil, fmt.Errorf("policy: rule %q: %w", rs.ID, err)
		}
		r := rule{id: rs.ID, program: prog}
		// The direct form is compiled from the checked tree before
		// expr's optimizer rewrites it; it gives program's results.
		if plain, err := expr.Compile(rs.When, expr.Env(Env{}), expr.AsBool(), expr.Optimize(false)); err == nil {
			r.direct = compileDirect(plain.Node())
		}
		if r.direct == nil {
			p.onVM++
		}
		for _, name := range rs.Exclude {
			t, ok := features.ParseTreatment(name)
			if !ok {
				return nil, fmt.Errorf("policy: rule %q: exclude: unknown treatment %q (allowed: %s)", rs.ID, name, strings.Join(features.TreatmentNames(), ", "))
			}
			r.exclude = r.exclude.With(t)
		}
		if rs.Require != "" {
			t, ok := features.ParseTreatment(rs.Require)
			if !ok {
				return nil, fmt.Errorf("policy: rule %q: require: unknown treatment %q (allowed: %s)", rs.ID, rs.Require, strings.Join(features.TreatmentNames(), ", "))
			}
			if r.exclude.Has(t) {
				return nil, fmt.Errorf("policy: rule %q: requires and excludes %s", rs.ID, rs.Require)
			}
			r.require, r.requires = t, true
		}
		for _, g := range rs.Grant {
			if !idPattern.MatchString(g) {
				return nil, fmt.Errorf("policy: rule %q: grant %q must be 1-64 characters of a-z, 0-9, '.', '_', '-'", rs.ID, g)
			}
		}
		r.grant = append([]string(nil), rs.Grant...)
		if r.exclude == 0 && !r.requires && len(r.grant) == 0 {
			return nil, fmt.Errorf("policy: rule %q: needs an effect (exclude, require or grant)", rs.ID)
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

// Spec returns the policy's declarative form.
func (p *Policy) Spec() Spec { return p.spec }

// Version returns the policy's version.
func (p *Policy) Version() int64 { return p.spec.Version }

// Uniform reports whether uniform mode is on.
func (p *Policy) Uniform() bool { return p.spec.UniformMode }

// NumRules returns the number of rules.
func (p *Policy) NumRules() int { return len(p.rules) }

// RuleID returns the id of rule i.
func (p *Policy) RuleID(i int) string { return p.rules[i].id }

// NeedsBox reports whether some rule's condition runs on expr's VM,
// which reads a boxed Env (ApplyTo); the others are evaluated directly.
func (p *Policy) NeedsBox() bool { return p.onVM > 0 }

// RuleGrants returns the entitlements rule i grants. Do not modify.
func (p *Policy) RuleGrants(i int) []string { return p.rules[i].grant }
