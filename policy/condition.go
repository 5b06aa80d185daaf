package policy

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Condition is a compiled expr-lang condition over a request, as the rules
// of a policy see it (Env): an experiment's targeting, for one. It is
// immutable and safe for concurrent use.
type Condition struct {
	text    string
	program *vm.Program
	// direct, when not nil, evaluates the condition as program does,
	// without the VM (direct.go).
	direct *direct
}

// CompileCondition compiles text, a boolean expression over Env
// (channel == 'chat' && customer.first_contact). Like a rule's condition,
// it must not compare a canonical text field with a literal that is not
// canonical (such a comparison could never hold).
func CompileCondition(text string) (*Condition, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("condition is empty")
	}
	prog, err := expr.Compile(text, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("compile condition: %w", err)
	}
	if err := checkLiterals(text); err != nil {
		return nil, err
	}
	cond := &Condition{text: text, program: prog}
	if plain, err := expr.Compile(text, expr.Env(Env{}), expr.AsBool(), expr.Optimize(false)); err == nil {
		cond.direct = compileDirect(plain.Node())
	}
	return cond, nil
}

// String returns the condition's text.
func (c *Condition) String() string { return c.text }

// Eval evaluates the condition on env, an Env boxed once by the caller
// (var boxed any = NewEnv(…)) so that many conditions share one
// allocation, with machine, a vm.VM the caller owns for the call. A
// condition that fails to evaluate does not hold. A condition with a
// direct form (docs/policy.md, "How conditions run") is evaluated on env
// without machine.
func (c *Condition) Eval(machine *vm.VM, env any) bool {
	if c.direct != nil {
		if e, ok := env.(Env); ok {
			return c.direct.eval(&e)
		}
	}
	out, err := machine.Run(c.program, env)
	if err != nil {
		return false
	}
	ok, _ := out.(bool)
	return ok
}
