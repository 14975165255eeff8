package mappings

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/hpgate/hpgate/mappings/normalize"
)

// Limits on expressions written by county staff.
const (
	maxExprLen   = 2000
	maxExprNodes = 500
	maxExprText  = 4096
)

type exprKind uint8

const (
	kindAny exprKind = iota
	kindBool
	kindString
)

// program is one compiled expression and the columns it reads.
type program struct {
	src    string
	prog   *vm.Program
	idents []string
	want   exprKind
}

var exprFuncs = []expr.Option{
	expr.Function("fen", exprFen,
		new(func(any) int), new(func(any, string) int)),
	expr.Function("blank", func(args ...any) (any, error) { return isBlank(args[0]), nil },
		new(func(any) bool)),
	expr.Function("coalesce", func(args ...any) (any, error) {
		for _, a := range args {
			if !isBlank(a) {
				return a, nil
			}
		}
		if len(args) == 0 {
			return nil, nil
		}
		return args[len(args)-1], nil // coalesce(x, "") gives "" for a blank x
	}),
}

func exprFen(args ...any) (any, error) {
	unit := normalize.Yuan
	if len(args) == 2 {
		switch args[1] {
		case "fen":
			unit = normalize.FenUnit
		case "yuan":
		default:
			return nil, fmt.Errorf("fen: unit must be \"yuan\" or \"fen\"")
		}
	}
	if args[0] == nil {
		return 0, nil
	}
	f, err := normalize.Money(args[0], unit)
	if err != nil {
		return nil, err
	}
	return int(f), nil
}

func isBlank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return blankText(x)
	case []byte:
		return blankText(unsafe.String(unsafe.SliceData(x), len(x)))
	}
	return false
}

// blankText reports whether s holds only white space (incl. U+3000) and
// NUL padding; it looks at the first byte first, the common answer.
func blankText(s string) bool {
	if len(s) > 0 && s[0] > ' ' && s[0] < utf8.RuneSelf {
		return false // the common case: a value starting with a visible ASCII character
	}
	for _, r := range s {
		if r != 0 && r != '\u3000' && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func compileExpr(src string, want exprKind) (*program, error) {
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("expression is %d characters long; the limit is %d", len(src), maxExprLen)
	}
	opts := append([]expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.MaxNodes(maxExprNodes)}, exprFuncs...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	// ast.Walk visits a node after its children, so a call's callee comes
	// before the call: find the callees first, then the columns.
	callees := calleeVisitor{}
	node := p.Node()
	ast.Walk(&node, callees)
	v := &identVisitor{seen: map[string]bool{}, callees: callees}
	ast.Walk(&node, v)
	return &program{src: src, prog: p, idents: v.names, want: want}, nil
}

// oneLine folds expr's multi-line error (message, source line, caret) into
// one line so it fits `path:line:col: message`.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	return strings.TrimSpace(lines[0])
}

// calleeVisitor collects the nodes called as functions (blank in
// blank(HBH)): they name functions, not columns.
type calleeVisitor map[ast.Node]bool

func (v calleeVisitor) Visit(n *ast.Node) {
	if x, ok := (*n).(*ast.CallNode); ok {
		v[x.Callee] = true
	}
}

// identVisitor collects the columns an expression reads, in order.
type identVisitor struct {
	names   []string
	seen    map[string]bool
	callees calleeVisitor
}

func (v *identVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if v.callees[x] || v.seen[x.Value] {
			return
		}
		v.seen[x.Value] = true
		v.names = append(v.names, x.Value)
	}
}

// run evaluates p for the row whose expression environment is env.
func (p *program) run(machine *vm.VM, env map[string]any) (any, error) {
	out, err := machine.Run(p.prog, env)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	switch p.want {
	case kindBool:
		b, ok := out.(bool)
		if !ok {
			return nil, fmt.Errorf("expression gave %s, want true or false", typeWord(out))
		}
		return b, nil
	case kindString:
		s, ok := out.(string)
		if !ok {
			return nil, fmt.Errorf("expression gave %s, want text", typeWord(out))
		}
		return s, nil
	}
	if s, ok := out.(string); ok && len(s) > maxExprText {
		return nil, fmt.Errorf("expression gave %d bytes of text; the limit is %d", len(s), maxExprText)
	}
	return out, nil
}

func typeWord(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "a boolean"
	case string:
		return "text"
	case int, int64, float64:
		return "a number"
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("a %T", v)
}
