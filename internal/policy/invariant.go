package policy

import (
	"github.com/jmespath-community/go-jmespath/pkg/parsing"

	"github.com/toolgate/toolgate/internal/attributes"
)

// listVarying are the document fields that differ between the documents of
// one list answer (one per item). Everything else in them is the same.
var listVarying = attributes.ListVarying

// readsOnly reports whether the JMESPath expression stmt reads nothing of
// the document but top-level fields outside varying, and variables for which
// known reports true. It errs on the side of false: a whole-document read
// (@ or $ at the top, $payload, let) or a node it does not know makes it
// false.
func readsOnly(stmt string, varying map[string]bool, known func(variable string) bool) bool {
	ast, err := parseJMESPath(stmt)
	if err != nil {
		return false
	}
	return readsOnlyNode(ast, true, varying, known)
}

// readsOnlyNode walks n; atRoot says whether n is evaluated against the
// document itself rather than a value derived from it.
func readsOnlyNode(n parsing.ASTNode, atRoot bool, varying map[string]bool, known func(string) bool) bool {
	each := func(atRoot bool, nodes ...parsing.ASTNode) bool {
		for _, c := range nodes {
			if !readsOnlyNode(c, atRoot, varying, known) {
				return false
			}
		}
		return true
	}
	switch n.NodeType {
	case parsing.ASTLiteral, parsing.ASTIndex, parsing.ASTSlice, parsing.ASTEmpty:
		return true
	case parsing.ASTField:
		name, ok := n.Value.(string)
		return ok && !(atRoot && varying[name])
	case parsing.ASTCurrentNode, parsing.ASTIdentity:
		return !atRoot
	case parsing.ASTRootNode:
		return false
	case parsing.ASTVariable:
		name, ok := n.Value.(string)
		return ok && known(name)
	case parsing.ASTSubexpression, parsing.ASTPipe, parsing.ASTIndexExpression,
		parsing.ASTProjection, parsing.ASTValueProjection, parsing.ASTFilterProjection:
		// The first child is evaluated where n is; the rest against its result.
		if len(n.Children) == 0 {
			return false
		}
		return each(atRoot, n.Children[0]) && each(false, n.Children[1:]...)
	case parsing.ASTExpRef:
		// Applied by a function to the elements of another argument.
		return each(false, n.Children...)
	case parsing.ASTFlatten, parsing.ASTFunctionExpression, parsing.ASTMultiSelectList,
		parsing.ASTMultiSelectHash, parsing.ASTKeyValPair, parsing.ASTComparator,
		parsing.ASTOrExpression, parsing.ASTAndExpression, parsing.ASTNotExpression,
		parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression:
		return each(atRoot, n.Children...)
	default:
		return false // let expressions, and anything newer
	}
}
