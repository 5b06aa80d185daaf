package policy

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"situ/features"
)

// checkLiterals rejects a condition that compares a canonical text field
// (customer.tier, intent.name, channel) with ==, != or in against a string
// literal that is not canonical: contexts are canonical before rules see
// them (features.Context.Canonicalize), so such a comparison could never
// hold and the rule would be skipped silently.
func checkLiterals(when string) error {
	tree, err := parser.Parse(when)
	if err != nil {
		return fmt.Errorf("parse condition: %w", err)
	}
	v := &literalChecker{}
	ast.Walk(&tree.Node, v)
	return v.err
}

type literalChecker struct{ err error }

func (v *literalChecker) Visit(node *ast.Node) {
	if v.err != nil {
		return
	}
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	switch b.Operator {
	case "==", "!=":
		if field, ok := textField(b.Left); ok {
			v.check(field, b.Right)
		} else if field, ok := textField(b.Right); ok {
			v.check(field, b.Left)
		}
	case "in": // "not in" is a not over an in
		if field, ok := textField(b.Left); ok {
			if arr, ok := b.Right.(*ast.ArrayNode); ok {
				for _, n := range arr.Nodes {
					v.check(field, n)
				}
			}
		}
	}
}

func (v *literalChecker) check(field string, n ast.Node) {
	s, ok := n.(*ast.StringNode)
	if !ok || v.err != nil || features.IsCanonical(s.Value) {
		return
	}
	v.err = fmt.Errorf("%s is compared with %q, which is not canonical (lower case, no surrounding white space): requests are, so it could never match; write %q",
		field, s.Value, features.Canonical(s.Value))
}

// textField returns the canonical text field n reads, if it reads one:
// channel, intent.name, intent["name"], customer?.tier …
func textField(n ast.Node) (string, bool) {
	if c, ok := n.(*ast.ChainNode); ok {
		n = c.Node
	}
	var path string
	switch n := n.(type) {
	case *ast.IdentifierNode:
		path = n.Value
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, ok2 := n.Property.(*ast.StringNode)
		if !ok || !ok2 || n.Method {
			return "", false
		}
		path = id.Value + "." + prop.Value
	default:
		return "", false
	}
	if _, ok := features.ParseTextField(path); !ok {
		return "", false
	}
	return path, true
}
