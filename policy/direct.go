package policy

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// direct is a condition evaluated on an *Env by a plain Go function
// instead of expr's VM, which reads every field of the environment by
// reflection. Conditions made only of what rules usually are — fields
// of Env compared with literals or with each other (==, !=, <, <=, >,
// >=), a text field in a list of literals, &&, ||, ! (and, or, not) and
// true/false — are compiled to one (compileDirect); any other condition
// runs on the VM as before. Its results are the VM's: numbers compare as
// expr compares them (two ints as ints, an int and a float as floats), a
// missing attribute reads 0, and nothing in the subset can fail.
type direct struct {
	op   directOp
	not  bool // negates the result of a comparison (!=, not ==)
	cmp  comparison
	a, b *direct // operands of and, or, not and a comparison of booleans
	x, y operand // operands of a comparison of numbers or texts
	set  []string
	val  bool // a constant
}

type directOp uint8

const (
	directConst  directOp = iota // val
	directAnd                    // a && b
	directOr                     // a || b
	directNot                    // !a
	directBool                   // the boolean field x
	directBoolEq                 // (a == b) != not
	directNumber                 // x cmp y
	directText                   // (x == y) != not
	directTextIn                 // x in set
)

// comparison is a comparison operator.
type comparison uint8

const (
	cmpEq comparison = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

var comparisons = map[string]comparison{"==": cmpEq, "!=": cmpNe, "<": cmpLt, "<=": cmpLe, ">": cmpGt, ">=": cmpGe}

// field is a field of Env an operand reads; fieldNone means a literal.
type field uint8

const (
	fieldNone field = iota
	fieldLifetimeValue
	fieldAnnualSpend
	fieldTenureMonths
	fieldTier
	fieldFirstContact
	fieldPrefersSelfService
	fieldIntentName
	fieldIntentConfidence
	fieldChannel
	fieldRepeatContacts7d
	fieldFailedSelfService24h
	fieldWaitSeconds
	fieldTransfers
	fieldOpenComplaint
	fieldSentiment
	fieldUniform
	fieldAttribute // attributes[key]
)

type kind uint8

const (
	kindInt kind = iota + 1
	kindFloat
	kindText
	kindBool
)

// operand is a field of Env or a literal, and its type.
type operand struct {
	field field
	kind  kind
	key   string // the attribute's key
	i     int
	f     float64
	s     string
	b     bool
}

// fields maps what a condition writes (customer.tier, channel) to the
// field it reads and its type.
var fields = map[string]operand{
	"customer.lifetime_value":          {field: fieldLifetimeValue, kind: kindFloat},
	"customer.annual_spend":            {field: fieldAnnualSpend, kind: kindFloat},
	"customer.tenure_months":           {field: fieldTenureMonths, kind: kindFloat},
	"customer.tier":                    {field: fieldTier, kind: kindText},
	"customer.first_contact":           {field: fieldFirstContact, kind: kindBool},
	"customer.prefers_self_service":    {field: fieldPrefersSelfService, kind: kindBool},
	"intent.name":                      {field: fieldIntentName, kind: kindText},
	"intent.confidence":                {field: fieldIntentConfidence, kind: kindFloat},
	"channel":                          {field: fieldChannel, kind: kindText},
	"friction.repeat_contacts_7d":      {field: fieldRepeatContacts7d, kind: kindInt},
	"friction.failed_self_service_24h": {field: fieldFailedSelfService24h, kind: kindInt},
	"friction.wait_seconds":            {field: fieldWaitSeconds, kind: kindFloat},
	"friction.transfers":               {field: fieldTransfers, kind: kindInt},
	"friction.open_complaint":          {field: fieldOpenComplaint, kind: kindBool},
	"friction.sentiment":               {field: fieldSentiment, kind: kindFloat},
	"uniform":                          {field: fieldUniform, kind: kindBool},
}

// compileDirect returns the direct form of a checked condition, or nil
// when it holds anything outside the subset.
func compileDirect(n ast.Node) *direct {
	switch n := n.(type) {
	case *ast.BoolNode:
		return &direct{op: directConst, val: n.Value}
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		if a := compileDirect(n.Node); a != nil {
			return &direct{op: directNot, a: a}
		}
		return nil
	case *ast.BinaryNode:
		return compileBinary(n)
	}
	if x, ok := compileOperand(n); ok && x.kind == kindBool {
		if x.field == fieldNone {
			return &direct{op: directConst, val: x.b}
		}
		return &direct{op: directBool, x: x}
	}
	return nil
}

func compileBinary(n *ast.BinaryNode) *direct {
	switch n.Operator {
	case "&&", "and", "||", "or":
		a, b := compileDirect(n.Left), compileDirect(n.Right)
		if a == nil || b == nil {
			return nil
		}
		op := directAnd
		if n.Operator == "||" || n.Operator == "or" {
			op = directOr
		}
		return &direct{op: op, a: a, b: b}
	case "in":
		x, ok := compileOperand(n.Left)
		arr, isArr := n.Right.(*ast.ArrayNode)
		if !ok || !isArr || x.kind != kindText {
			return nil
		}
		d := &direct{op: directTextIn, x: x}
		for _, e := range arr.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil
			}
			d.set = append(d.set, s.Value)
		}
		return d
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		return nil
	}
	x, okX := compileOperand(n.Left)
	y, okY := compileOperand(n.Right)
	eq := n.Operator == "==" || n.Operator == "!="
	switch {
	case okX && okY && isNumber(x.kind) && isNumber(y.kind):
		return &direct{op: directNumber, cmp: comparisons[n.Operator], x: x, y: y}
	case okX && okY && x.kind == kindText && y.kind == kindText && eq:
		return &direct{op: directText, not: n.Operator == "!=", x: x, y: y}
	case eq && isBoolNode(n.Left) && isBoolNode(n.Right):
		a, b := compileDirect(n.Left), compileDirect(n.Right)
		if a == nil || b == nil {
			return nil
		}
		return &direct{op: directBoolEq, not: n.Operator == "!=", a: a, b: b}
	}
	return nil
}

func isNumber(k kind) bool { return k == kindInt || k == kindFloat }

// isBoolNode reports whether the checker typed n as a bool.
func isBoolNode(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.Bool
}

// compileOperand returns the field or literal n is.
func compileOperand(n ast.Node) (operand, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return operand{kind: kindInt, i: n.Value}, true
	case *ast.FloatNode:
		return operand{kind: kindFloat, f: n.Value}, true
	case *ast.StringNode:
		return operand{kind: kindText, s: n.Value}, true
	case *ast.BoolNode:
		return operand{kind: kindBool, b: n.Value}, true
	case *ast.UnaryNode:
		if n.Operator != "-" {
			return operand{}, false
		}
		switch v := n.Node.(type) {
		case *ast.IntegerNode:
			return operand{kind: kindInt, i: -v.Value}, true
		case *ast.FloatNode:
			return operand{kind: kindFloat, f: -v.Value}, true
		}
	case *ast.IdentifierNode:
		x, ok := fields[n.Value]
		return x, ok
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, ok2 := n.Property.(*ast.StringNode)
		if !ok || !ok2 || n.Optional || n.Method {
			return operand{}, false
		}
		if id.Value == "attributes" {
			return operand{field: fieldAttribute, kind: kindFloat, key: prop.Value}, true
		}
		if id.Value == "channel" || id.Value == "uniform" {
			return operand{}, false
		}
		x, ok := fields[id.Value+"."+prop.Value]
		return x, ok
	}
	return operand{}, false
}

// eval evaluates the condition on env.
func (d *direct) eval(env *Env) bool {
	switch d.op {
	case directConst:
		return d.val
	case directAnd:
		return d.a.eval(env) && d.b.eval(env)
	case directOr:
		return d.a.eval(env) || d.b.eval(env)
	case directNot:
		return !d.a.eval(env)
	case directBool:
		return d.x.boolean(env)
	case directBoolEq:
		return (d.a.eval(env) == d.b.eval(env)) != d.not
	case directNumber:
		if d.x.kind == kindInt && d.y.kind == kindInt {
			return compare(d.cmp, d.x.integer(env), d.y.integer(env))
		}
		return compare(d.cmp, d.x.float(env), d.y.float(env))
	case directText:
		return (d.x.text(env) == d.y.text(env)) != d.not
	case directTextIn:
		s := d.x.text(env)
		for _, v := range d.set {
			if v == s {
				return true
			}
		}
	}
	return false
}

func compare[T int | float64](cmp comparison, a, b T) bool {
	switch cmp {
	case cmpEq:
		return a == b
	case cmpNe:
		return a != b
	case cmpLt:
		return a < b
	case cmpLe:
		return a <= b
	case cmpGt:
		return a > b
	case cmpGe:
		return a >= b
	}
	return false
}

func (o *operand) integer(env *Env) int {
	switch o.field {
	case fieldRepeatContacts7d:
		return env.Friction.RepeatContacts7d
	case fieldFailedSelfService24h:
		return env.Friction.FailedSelfService24h
	case fieldTransfers:
		return env.Friction.Transfers
	}
	return o.i
}

func (o *operand) float(env *Env) float64 {
	switch o.field {
	case fieldNone:
		if o.kind == kindInt {
			return float64(o.i)
		}
		return o.f
	case fieldLifetimeValue:
		return env.Customer.LifetimeValue
	case fieldAnnualSpend:
		return env.Customer.AnnualSpend
	case fieldTenureMonths:
		return env.Customer.TenureMonths
	case fieldIntentConfidence:
		return env.Intent.Confidence
	case fieldWaitSeconds:
		return env.Friction.WaitSeconds
	case fieldSentiment:
		return env.Friction.Sentiment
	case fieldAttribute:
		return env.Attributes[o.key]
	}
	return float64(o.integer(env))
}

func (o *operand) text(env *Env) string {
	switch o.field {
	case fieldTier:
		return env.Customer.Tier
	case fieldIntentName:
		return env.Intent.Name
	case fieldChannel:
		return env.Channel
	}
	return o.s
}

func (o *operand) boolean(env *Env) bool {
	switch o.field {
	case fieldFirstContact:
		return env.Customer.FirstContact
	case fieldPrefersSelfService:
		return env.Customer.PrefersSelfService
	case fieldOpenComplaint:
		return env.Friction.OpenComplaint
	case fieldUniform:
		return env.Uniform
	}
	return o.b
}
