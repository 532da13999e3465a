package scanner

import (
	"errors"
	"strings"

	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/file"
	"github.com/grafana/sobek/parser"
	"github.com/grafana/sobek/token"
)

// scanJS parses code (found at om in the file) and walks its syntax
// tree. module parses it as an ES module only; otherwise it is parsed
// as a classic script and, if that fails, as a module. handler wraps
// it as the body of an event handler function.
func (f *fileScan) scanJS(code string, om offMap, module, handler bool) {
	w := &jsWalker{f: f, om: om}
	if handler {
		const prefix = "(function(event){"
		code = prefix + code + "\n})"
		w.shift = len(prefix)
	}
	prog, parsed, perr := parseJS(code, module)
	if prog == nil {
		f.report(ruleSyntaxError, w.fileOff(0), "JavaScript that does not parse: "+perr.Error())
		return
	}
	if perr != nil {
		var el parser.ErrorList
		msg, off := perr.Error(), 0
		if errors.As(perr, &el) && len(el) > 0 {
			msg, off = el[0].Message, jsOffset(parsed, el[0].Position)
		}
		if strings.TrimSpace(code[off:min(len(code), off+1)]) == "" {
			// At the end of the input, or of a line: point at the last
			// code before it.
			trimmed := strings.TrimRight(code[:off], " \t\r\n")
			off = max(0, len(trimmed)-1)
		}
		f.report(ruleSyntaxError, w.fileOff(off), "JavaScript that does not parse ("+msg+"); only what parses is checked")
	}
	w.program(prog)
}

// parseJS parses code as a script, or a module, or (when neither
// parses) returns the partial tree and error of the attempt that fits
// better, with the source the parser saw. Source maps are never loaded.
// Gaps of the parser are patched byte for byte ([patchJS]), so every
// offset stays true.
func parseJS(code string, module bool) (*ast.Program, string, error) {
	parse := func(src string, mod bool) (*ast.Program, error) {
		opts := []parser.Option{parser.WithDisableSourceMaps}
		if mod {
			opts = append(opts, parser.IsModule)
		}
		return parser.ParseFile(nil, "", src, 0, opts...)
	}
	try := func(mod bool) (*ast.Program, string, error) {
		src := code
		for range 8 {
			prog, err := parse(src, mod)
			if err == nil {
				return prog, src, nil
			}
			var el parser.ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				return prog, src, err
			}
			// Patch every error the parser recovered to, last first:
			// offsets are found before any patch changes line numbers.
			offs := make([]int, len(el))
			for i, e := range el {
				offs[i] = jsOffset(src, e.Position)
			}
			patched := false
			for i := len(el) - 1; i >= 0; i-- {
				if p, ok := patchJS(src, offs[i], el[i].Message); ok {
					src, patched = p, true
				}
			}
			if !patched {
				return prog, src, err
			}
		}
		prog, err := parse(src, mod)
		return prog, src, err
	}
	if module {
		return try(true)
	}
	prog, src, err := try(false)
	if err == nil {
		return prog, src, nil
	}
	mprog, msrc, merr := try(true)
	if merr == nil || strings.Contains(err.Error(), "not supported in script") {
		return mprog, msrc, merr
	}
	return prog, src, err
}

// patchJS rewrites, without moving any byte, syntax the parser rejects
// although browsers accept it; ok is false when the error at off is not
// one of those. Three gaps of the parser are patched, none changing what
// a rule looks at: a for-await loop becomes a for-of loop ("await"
// blanked); import attributes (with {type: 'json'}) are blanked; and a
// line ending in a keyword used as a property name (x.default) gets the
// semicolon automatic semicolon insertion would give it (its line break
// becomes ";", so the parser's line numbers after it are one less: map
// them with the patched source).
func patchJS(src string, off int, msg string) (string, bool) {
	before := strings.TrimRight(src[:off], " \t")
	switch {
	case msg == "Unexpected token await" && strings.HasPrefix(src[off:], "await") &&
		endsWithWord(strings.TrimRight(before, "\r\n"), "for"):
		return src[:off] + "     " + src[off+5:], true
	case msg == "Unexpected token {" && endsWithWord(before, "with") && endsWithQuote(before[:len(before)-4]):
		end := strings.IndexByte(src[off:], '}')
		if end < 0 {
			return "", false
		}
		start := len(before) - 4
		return src[:start] + strings.Repeat(" ", off+end+1-start) + src[off+end+1:], true
	case strings.HasSuffix(before, "\n") || strings.HasSuffix(before, "\r"):
		// The error is at the start of a line: does the previous one end
		// in .keyword?
		nl := len(before) - 1
		if before[nl] == '\n' && nl > 0 && before[nl-1] == '\r' {
			nl--
		}
		prev := strings.TrimRight(before[:nl], " \t")
		i := len(prev)
		for i > 0 && isIdentByte(prev[i-1]) {
			i--
		}
		if i == len(prev) || i == 0 || prev[i-1] != '.' || !isKeyword(prev[i:]) {
			return "", false
		}
		return src[:nl] + ";" + src[nl+1:], true
	}
	return "", false
}

// jsOffset converts a parser position (1-based line, byte column; lines
// end as in JavaScript) to an offset in code.
func jsOffset(code string, p file.Position) int {
	off, line := 0, 1
	for line < p.Line && off < len(code) {
		i := strings.IndexAny(code[off:], "\r\n\u2028\u2029")
		if i < 0 {
			break
		}
		off += i
		switch {
		case code[off] == '\r' && off+1 < len(code) && code[off+1] == '\n':
			off += 2
		case code[off] == '\r' || code[off] == '\n':
			off++
		default:
			off += 3 // U+2028, U+2029
		}
		line++
	}
	return min(len(code), off+max(0, p.Column-1))
}

// use is how an expression's value is used where it appears.
type use uint8

const (
	useRead   use = iota // evaluated (a test, an operand)
	useCallee            // called or constructed
	useObject            // the object of a member access
	useWrite             // assigned to
	useEscape            // passed on: an argument, an initializer, a spread, returned
)

// gpath is a member chain rooted at a global (an undeclared name), with
// window, self, globalThis and frames dropped: window.document.cookie
// is document.cookie. n is 0 when the expression is not such a chain.
type gpath struct {
	seg  [3]string
	n    int8
	long bool // more than three segments (matches no rule)
	obf  bool // a segment was a computed name built from strings
}

func globalPath(name string) gpath { return gpath{seg: [3]string{name}, n: 1} }

func (p gpath) member(name string, obf bool) gpath {
	if p.n == 0 {
		return p
	}
	p.obf = p.obf || obf
	switch {
	case p.long:
	case p.n == 1 && isGlobalObject(p.seg[0]):
		p.seg[0] = name
	case p.n == 3:
		p.long = true
	default:
		p.seg[p.n] = name
		p.n++
	}
	return p
}

func (p gpath) is(names ...string) bool {
	if p.long || int(p.n) != len(names) {
		return false
	}
	for i, n := range names {
		if p.seg[i] != n {
			return false
		}
	}
	return true
}

func (p gpath) String() string {
	if p.n == 0 {
		return ""
	}
	s := strings.Join(p.seg[:p.n], ".")
	if p.long {
		s += "..."
	}
	return s
}

func isGlobalObject(name string) bool {
	return name == "window" || name == "self" || name == "globalThis" || name == "frames"
}

// jsScope holds the names declared in a function or block, with the
// initializer of those declared by a simple binding. Small scopes are
// searched in order, large ones through a map.
type jsScope struct {
	names []string
	inits []jsBinding
	index map[string]int // with more than scopeMapAt names
}

// jsBinding is what a name was declared with.
type jsBinding struct {
	init    ast.Expression // nil when not a simple binding with an initializer
	isConst bool
	path    gpath // a parameter's argument, when it is a global: (function (w) {...})(window)
}

const scopeMapAt = 16

func (s *jsScope) find(name string) (int, bool) {
	if s.index != nil {
		i, ok := s.index[name]
		return i, ok
	}
	for i, n := range s.names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

type jsWalker struct {
	f      *fileScan
	om     offMap
	shift  int // length of a wrapper before the code (event handlers)
	scopes []jsScope
	listen []string // events of the input listeners whose handler is being walked
	fold   int      // depth of constant folding
	// funcDepth counts the enclosing non-arrow functions: at 0, this is
	// the global object.
	funcDepth int
}

func (w *jsWalker) fileOff(codeOff int) int { return w.om.at(max(0, codeOff-w.shift)) }

// at is the file offset of a node position.
func (w *jsWalker) at(idx file.Idx) int { return w.fileOff(int(idx) - 1) }

func (w *jsWalker) report(rule string, idx file.Idx, msg string) { w.f.report(rule, w.at(idx), msg) }

func (w *jsWalker) push() { w.scopes = append(w.scopes, jsScope{}) }
func (w *jsWalker) pop()  { w.scopes = w.scopes[:len(w.scopes)-1] }

func (w *jsWalker) declare(name string, b jsBinding) {
	top := &w.scopes[len(w.scopes)-1]
	if i, ok := top.find(name); ok {
		if b.init != nil || b.path.n > 0 || top.inits[i].isConst {
			top.inits[i] = b
		}
		return
	}
	top.names = append(top.names, name)
	top.inits = append(top.inits, b)
	switch n := len(top.names); {
	case n == scopeMapAt+1:
		top.index = make(map[string]int, 2*n)
		for i, name := range top.names {
			top.index[name] = i
		}
	case n > scopeMapAt+1:
		top.index[name] = n - 1
	}
}

// lookup finds the innermost declaration of name.
func (w *jsWalker) lookup(name string) (declared bool, b jsBinding) {
	for i := len(w.scopes) - 1; i >= 0; i-- {
		if j, ok := w.scopes[i].find(name); ok {
			return true, w.scopes[i].inits[j]
		}
	}
	return false, jsBinding{}
}

// constInit returns the initializer of a const name, or nil.
func (w *jsWalker) constInit(name string) ast.Expression {
	if declared, b := w.lookup(name); declared && b.isConst {
		return b.init
	}
	return nil
}

// alias returns the global path a declared name was initialized with
// (const w = window; var d = document), if any.
func (w *jsWalker) alias(name string) gpath {
	declared, b := w.lookup(name)
	if b.path.n > 0 {
		return b.path
	}
	if !declared || b.init == nil || w.fold >= maxFoldDepth {
		return gpath{}
	}
	w.fold++
	defer func() { w.fold-- }()
	return w.resolve(b.init)
}

// declareTarget declares the names a binding target binds; b is the
// binding of a simple target.
func (w *jsWalker) declareTarget(t ast.Expression, b jsBinding) {
	switch t := t.(type) {
	case *ast.Identifier:
		w.declare(t.Name.String(), b)
	case *ast.ObjectPattern:
		for _, p := range t.Properties {
			switch p := p.(type) {
			case *ast.PropertyShort:
				w.declare(p.Name.Name.String(), jsBinding{})
			case *ast.PropertyKeyed:
				w.declareTarget(p.Value, jsBinding{})
			}
		}
		w.declareTarget(t.Rest, jsBinding{})
	case *ast.ArrayPattern:
		for _, e := range t.Elements {
			w.declareTarget(e, jsBinding{})
		}
		w.declareTarget(t.Rest, jsBinding{})
	case *ast.AssignExpression:
		w.declareTarget(t.Left, jsBinding{})
	case *ast.Binding:
		w.declareTarget(t.Target, jsBinding{})
	case *ast.SpreadElement:
		w.declareTarget(t.Expression, jsBinding{})
	}
}

func (w *jsWalker) declareBindings(list []*ast.Binding, isConst bool) {
	for _, b := range list {
		w.declareTarget(b.Target, jsBinding{init: b.Initializer, isConst: isConst})
	}
}

// hoist declares the function, class and lexical declarations of a
// statement list in the current scope.
func (w *jsWalker) hoist(list []ast.Statement) {
	for _, s := range list {
		if e, ok := s.(*ast.ExportDeclaration); ok {
			switch {
			case e.LexicalDeclaration != nil:
				s = e.LexicalDeclaration
			case e.ClassDeclaration != nil:
				s = e.ClassDeclaration
			case e.HoistableDeclaration != nil && e.HoistableDeclaration.FunctionDeclaration != nil:
				s = e.HoistableDeclaration.FunctionDeclaration
			case e.Variable != nil:
				s = e.Variable
			}
		}
		switch s := s.(type) {
		case *ast.FunctionDeclaration:
			if s.Function.Name != nil {
				w.declare(s.Function.Name.Name.String(), jsBinding{})
			}
		case *ast.ClassDeclaration:
			if s.Class.Name != nil {
				w.declare(s.Class.Name.Name.String(), jsBinding{})
			}
		case *ast.LexicalDeclaration:
			w.declareBindings(s.List, s.Token == token.CONST)
		case *ast.VariableStatement:
			w.declareBindings(s.List, false)
		case *ast.ImportDeclaration:
			if c := s.ImportClause; c != nil {
				if c.ImportedDefaultBinding != nil {
					w.declare(c.ImportedDefaultBinding.Name.String(), jsBinding{})
				}
				if c.NameSpaceImport != nil {
					w.declare(c.NameSpaceImport.ImportedBinding.String(), jsBinding{})
				}
				if c.NamedImports != nil {
					for _, is := range c.NamedImports.ImportsList {
						name := is.Alias
						if name == "" {
							name = is.IdentifierName
						}
						w.declare(name.String(), jsBinding{})
					}
				}
			}
		}
	}
}

func (w *jsWalker) program(p *ast.Program) {
	w.push()
	for _, d := range p.DeclarationList {
		w.declareBindings(d.List, false)
	}
	w.hoist(p.Body)
	w.stmts(p.Body)
	w.pop()
}

func (w *jsWalker) stmts(list []ast.Statement) {
	for _, s := range list {
		w.stmt(s)
	}
}

func (w *jsWalker) block(list []ast.Statement) {
	w.push()
	w.hoist(list)
	w.stmts(list)
	w.pop()
}

func (w *jsWalker) stmt(s ast.Statement) {
	switch s := s.(type) {
	case *ast.BlockStatement:
		w.block(s.List)
	case *ast.ExpressionStatement:
		w.expr(s.Expression, useRead)
	case *ast.VariableStatement:
		w.bindings(s.List)
	case *ast.LexicalDeclaration:
		w.bindings(s.List)
	case *ast.FunctionDeclaration:
		w.function(s.Function)
	case *ast.ClassDeclaration:
		w.class(s.Class)
	case *ast.IfStatement:
		w.expr(s.Test, useRead)
		w.stmt(s.Consequent)
		w.stmt(s.Alternate)
	case *ast.ForStatement:
		w.push()
		switch in := s.Initializer.(type) {
		case *ast.ForLoopInitializerExpression:
			w.expr(in.Expression, useRead)
		case *ast.ForLoopInitializerVarDeclList:
			w.bindings(in.List)
		case *ast.ForLoopInitializerLexicalDecl:
			w.declareBindings(in.LexicalDeclaration.List, in.LexicalDeclaration.Token == token.CONST)
			w.bindings(in.LexicalDeclaration.List)
		}
		w.expr(s.Test, useRead)
		w.expr(s.Update, useRead)
		w.stmt(s.Body)
		w.pop()
	case *ast.ForInStatement:
		w.forInto(s.Into, s.Source, s.Body)
	case *ast.ForOfStatement:
		w.forInto(s.Into, s.Source, s.Body)
	case *ast.WhileStatement:
		w.expr(s.Test, useRead)
		w.stmt(s.Body)
	case *ast.DoWhileStatement:
		w.stmt(s.Body)
		w.expr(s.Test, useRead)
	case *ast.ReturnStatement:
		w.expr(s.Argument, useEscape)
	case *ast.ThrowStatement:
		w.expr(s.Argument, useRead)
	case *ast.TryStatement:
		w.block(s.Body.List)
		if c := s.Catch; c != nil {
			w.push()
			w.declareTarget(c.Parameter, jsBinding{})
			w.pattern(c.Parameter)
			w.block(c.Body.List)
			w.pop()
		}
		if s.Finally != nil {
			w.block(s.Finally.List)
		}
	case *ast.SwitchStatement:
		w.expr(s.Discriminant, useRead)
		w.push()
		for _, c := range s.Body {
			w.hoist(c.Consequent)
		}
		for _, c := range s.Body {
			w.expr(c.Test, useRead)
			w.stmts(c.Consequent)
		}
		w.pop()
	case *ast.LabelledStatement:
		w.stmt(s.Statement)
	case *ast.WithStatement:
		w.expr(s.Object, useRead)
		w.stmt(s.Body)
	case *ast.ImportDeclaration:
		spec := s.ModuleSpecifier
		if s.FromClause != nil {
			spec = s.FromClause.ModuleSpecifier
		}
		w.moduleSpecifier(spec.String(), s.Idx)
	case *ast.ExportDeclaration:
		switch {
		case s.Variable != nil:
			w.bindings(s.Variable.List)
		case s.LexicalDeclaration != nil:
			w.bindings(s.LexicalDeclaration.List)
		case s.ClassDeclaration != nil:
			w.class(s.ClassDeclaration.Class)
		case s.HoistableDeclaration != nil && s.HoistableDeclaration.FunctionDeclaration != nil:
			w.function(s.HoistableDeclaration.FunctionDeclaration.Function)
		case s.AssignExpression != nil:
			w.expr(s.AssignExpression, useEscape)
		}
		if s.FromClause != nil {
			w.moduleSpecifier(s.FromClause.ModuleSpecifier.String(), s.Idx)
		}
	}
}

func (w *jsWalker) moduleSpecifier(spec string, idx file.Idx) {
	if strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") || strings.Contains(spec, ":") {
		w.f.checkURL(sinkScript, "import", spec, w.at(idx))
	}
	// A bare specifier ("lodash") resolves only through an import map,
	// whose URLs are checked where the map is.
}

func (w *jsWalker) forInto(into ast.ForInto, source ast.Expression, body ast.Statement) {
	w.push()
	switch in := into.(type) {
	case *ast.ForIntoVar:
		w.binding(in.Binding)
	case *ast.ForDeclaration:
		w.declareTarget(in.Target, jsBinding{})
		w.pattern(in.Target)
	case *ast.ForIntoExpression:
		w.expr(in.Expression, useWrite)
	}
	w.expr(source, useEscape) // for (k in localStorage) copies it
	w.stmt(body)
	w.pop()
}

func (w *jsWalker) bindings(list []*ast.Binding) {
	for _, b := range list {
		w.binding(b)
	}
}

func (w *jsWalker) binding(b *ast.Binding) {
	w.pattern(b.Target)
	w.expr(b.Initializer, useEscape)
	switch t := b.Target.(type) {
	case *ast.Identifier:
		w.secret(t.Name.String(), b.Initializer)
	case *ast.ObjectPattern:
		if p := w.resolve(b.Initializer); p.n > 0 {
			w.destructure(t, p) // const {cookie} = document
		}
	}
}

// destructure applies the rules to the properties an object pattern
// takes from a global path.
func (w *jsWalker) destructure(t ast.Expression, p gpath) {
	op, ok := t.(*ast.ObjectPattern)
	if !ok {
		return
	}
	for _, prop := range op.Properties {
		switch prop := prop.(type) {
		case *ast.PropertyShort:
			w.checkRef(p.member(prop.Name.Name.String(), false), useEscape, prop.Name.Idx)
		case *ast.PropertyKeyed:
			name, ok := propName(prop.Key)
			if prop.Computed {
				name, ok = w.constString(prop.Key)
			}
			if ok {
				_, literal := prop.Key.(*ast.StringLiteral)
				q := p.member(name, prop.Computed && !literal)
				w.checkRef(q, useEscape, prop.Key.Idx0())
				w.destructure(prop.Value, q)
			}
		}
	}
}

// pattern walks the default values and computed keys of a binding
// pattern.
func (w *jsWalker) pattern(t ast.Expression) {
	switch t := t.(type) {
	case *ast.ObjectPattern:
		for _, p := range t.Properties {
			switch p := p.(type) {
			case *ast.PropertyShort:
				w.expr(p.Initializer, useEscape)
			case *ast.PropertyKeyed:
				if p.Computed {
					w.expr(p.Key, useRead)
				}
				w.pattern(p.Value)
			}
		}
		w.pattern(t.Rest)
	case *ast.ArrayPattern:
		for _, e := range t.Elements {
			w.pattern(e)
		}
		w.pattern(t.Rest)
	case *ast.AssignExpression:
		w.pattern(t.Left)
		w.expr(t.Right, useEscape)
	case *ast.Binding:
		w.pattern(t.Target)
		w.expr(t.Initializer, useEscape)
	case *ast.Identifier, nil:
	default:
		w.expr(t, useWrite) // a member expression assigned by destructuring
	}
}

func (w *jsWalker) function(fn *ast.FunctionLiteral) { w.functionWith(fn, nil) }

// functionWith walks a function whose parameters receive the global
// paths args (an immediately invoked function).
func (w *jsWalker) functionWith(fn *ast.FunctionLiteral, args []gpath) {
	if fn == nil {
		return
	}
	w.push()
	w.funcDepth++
	if fn.Name != nil {
		w.declare(fn.Name.Name.String(), jsBinding{})
	}
	w.params(fn.ParameterList, fn.DeclarationList, args)
	if fn.Body != nil {
		w.hoist(fn.Body.List)
		w.stmts(fn.Body.List)
	}
	w.funcDepth--
	w.pop()
}

func (w *jsWalker) params(pl *ast.ParameterList, decls []*ast.VariableDeclaration, args []gpath) {
	for _, d := range decls {
		w.declareBindings(d.List, false)
	}
	if pl == nil {
		return
	}
	for i, b := range pl.List {
		var bind jsBinding
		if i < len(args) {
			bind.path = args[i]
		}
		w.declareTarget(b.Target, bind)
	}
	w.declareTarget(pl.Rest, jsBinding{})
	for _, b := range pl.List {
		w.pattern(b.Target)
		w.expr(b.Initializer, useEscape)
	}
	w.pattern(pl.Rest)
}

func (w *jsWalker) arrow(fn *ast.ArrowFunctionLiteral) { w.arrowWith(fn, nil) }

func (w *jsWalker) arrowWith(fn *ast.ArrowFunctionLiteral, args []gpath) {
	w.push()
	w.params(fn.ParameterList, fn.DeclarationList, args)
	switch body := fn.Body.(type) {
	case *ast.BlockStatement:
		w.hoist(body.List)
		w.stmts(body.List)
	case *ast.ExpressionBody:
		w.expr(body.Expression, useEscape)
	}
	w.pop()
}

// iife walks an immediately invoked function, (function (w) {...})(window)
// or (function (w) {...}).call(this, window), binding its parameters to
// the global paths of the arguments; ok is false for any other call.
func (w *jsWalker) iife(e *ast.CallExpression) (ok bool) {
	callee, args := e.Callee, e.ArgumentList
	if dot, isDot := callee.(*ast.DotExpression); isDot && dot.Identifier.Name.String() == "call" {
		callee = dot.Left
		if len(args) > 0 {
			args = args[1:]
		}
	}
	var paths []gpath
	resolveArgs := func() {
		for _, a := range args {
			paths = append(paths, w.resolve(a))
		}
	}
	switch fn := callee.(type) {
	case *ast.FunctionLiteral:
		resolveArgs()
		w.functionWith(fn, paths)
	case *ast.ArrowFunctionLiteral:
		resolveArgs()
		w.arrowWith(fn, paths)
	default:
		return false
	}
	for _, a := range e.ArgumentList {
		w.expr(a, useEscape)
	}
	return true
}

func (w *jsWalker) class(c *ast.ClassLiteral) {
	if c == nil {
		return
	}
	w.push()
	if c.Name != nil {
		w.declare(c.Name.Name.String(), jsBinding{})
	}
	w.expr(c.SuperClass, useRead)
	for _, el := range c.Body {
		switch el := el.(type) {
		case *ast.FieldDefinition:
			if el.Computed {
				w.expr(el.Key, useRead)
			} else if name, ok := propName(el.Key); ok {
				w.secret(name, el.Initializer)
			}
			w.expr(el.Initializer, useEscape)
		case *ast.MethodDefinition:
			if el.Computed {
				w.expr(el.Key, useRead)
			}
			w.function(el.Body)
		case *ast.ClassStaticBlock:
			if el.Block != nil {
				w.push()
				for _, d := range el.DeclarationList {
					w.declareBindings(d.List, false)
				}
				w.hoist(el.Block.List)
				w.stmts(el.Block.List)
				w.pop()
			}
		}
	}
	w.pop()
}

// propName is the name of a non-computed property key.
func propName(key ast.Expression) (string, bool) {
	switch k := key.(type) {
	case *ast.Identifier:
		return k.Name.String(), true
	case *ast.StringLiteral:
		return k.Value.String(), true
	}
	return "", false
}

// expr walks an expression used as u and returns its global path, if
// it is one.
func (w *jsWalker) expr(e ast.Expression, u use) gpath {
	switch e := e.(type) {
	case nil:
	case *ast.Identifier:
		name := e.Name.String()
		p := w.alias(name)
		if declared, _ := w.lookup(name); !declared {
			p = globalPath(name)
		}
		w.checkRef(p, u, e.Idx)
		return p
	case *ast.ThisExpression:
		return w.resolve(e)
	case *ast.DotExpression:
		lp := w.expr(e.Left, useObject)
		p := lp.member(e.Identifier.Name.String(), false)
		w.checkRef(p, u, e.Idx0())
		return p
	case *ast.BracketExpression:
		lp := w.expr(e.Left, useObject)
		w.expr(e.Member, useRead)
		return w.bracket(e, lp, u)
	case *ast.CallExpression:
		w.call(e)
	case *ast.NewExpression:
		w.newExpr(e)
	case *ast.AssignExpression:
		w.assign(e)
	case *ast.BinaryExpression:
		w.expr(e.Left, useRead)
		w.expr(e.Right, useRead)
	case *ast.UnaryExpression:
		if e.Operator == token.INCREMENT || e.Operator == token.DECREMENT {
			w.expr(e.Operand, useWrite)
		} else {
			w.expr(e.Operand, useRead)
		}
	case *ast.ConditionalExpression:
		w.expr(e.Test, useRead)
		w.expr(e.Consequent, u)
		w.expr(e.Alternate, u)
	case *ast.SequenceExpression:
		for i, x := range e.Sequence {
			if i == len(e.Sequence)-1 {
				return w.expr(x, u)
			}
			w.expr(x, useRead)
		}
	case *ast.ArrayLiteral:
		for _, x := range e.Value {
			w.expr(x, useEscape)
		}
	case *ast.ObjectLiteral:
		for _, p := range e.Value {
			switch p := p.(type) {
			case *ast.PropertyKeyed:
				if p.Computed {
					w.expr(p.Key, useRead)
				} else if name, ok := propName(p.Key); ok {
					w.secret(name, p.Value)
				}
				w.expr(p.Value, useEscape)
			case *ast.PropertyShort:
				w.expr(&p.Name, useEscape)
				w.expr(p.Initializer, useEscape)
			case *ast.SpreadElement:
				w.expr(p.Expression, useEscape)
			}
		}
	case *ast.FunctionLiteral:
		w.function(e)
	case *ast.ArrowFunctionLiteral:
		w.arrow(e)
	case *ast.ClassLiteral:
		w.class(e)
	case *ast.TemplateLiteral:
		w.expr(e.Tag, useCallee)
		for _, x := range e.Expressions {
			w.expr(x, useRead)
		}
	case *ast.SpreadElement:
		w.expr(e.Expression, useEscape)
	case *ast.AwaitExpression:
		w.expr(e.Argument, u)
	case *ast.YieldExpression:
		w.expr(e.Argument, useEscape)
	case *ast.OptionalChain:
		return w.expr(e.Expression, u)
	case *ast.Optional:
		return w.expr(e.Expression, u)
	case *ast.PrivateDotExpression:
		w.expr(e.Left, useObject)
	case *ast.Binding:
		w.binding(e)
	case *ast.ObjectPattern, *ast.ArrayPattern:
		w.pattern(e)
	case *ast.StringLiteral:
		if len(e.Literal) > 12 {
			if kind := keyFormat(e.Value.String()); kind != "" {
				w.report(ruleHardcodedSecret, e.Idx, "a string that looks like "+kind+"; anything in a bundle is public")
			}
		}
	}
	return gpath{}
}

// bracket resolves obj[key]: a constant key continues the global path
// (and marks it obfuscated when it was built from pieces); a key not
// known before run time on a global object is a finding.
func (w *jsWalker) bracket(e *ast.BracketExpression, lp gpath, u use) gpath {
	key, ok := w.constString(e.Member)
	if !ok {
		if lp.n == 1 && !lp.long && (isGlobalObject(lp.seg[0]) || lp.seg[0] == "document" || lp.seg[0] == "top" || lp.seg[0] == "parent") {
			w.report(ruleDynamicGlobalAccess, e.Idx0(), lp.seg[0]+"[…] with a name computed at run time can reach anything")
		}
		return gpath{}
	}
	_, literal := e.Member.(*ast.StringLiteral)
	obf := !literal
	if _, num := e.Member.(*ast.NumberLiteral); num {
		obf = false
	}
	if obf && dangerousNames[key] {
		w.report(ruleObfuscatedAccess, e.Idx0(), "the property "+key+" is reached through a name built from strings")
	}
	p := lp.member(key, obf)
	w.checkRef(p, u, e.Idx0())
	return p
}

// dangerousNames are properties whose name spelled in pieces is
// evasion.
var dangerousNames = setOf("eval", "execScript", "Function", "constructor", "setTimeout", "setInterval",
	"write", "writeln", "cookie", "domain", "innerHTML", "outerHTML", "insertAdjacentHTML", "srcdoc",
	"postMessage", "sendBeacon", "fetch", "open", "location", "top", "parent", "opener", "frameElement",
	"localStorage", "sessionStorage", "indexedDB", "XMLHttpRequest", "WebSocket", "EventSource", "Worker",
	"SharedWorker", "WebAssembly", "importScripts", "navigate", "createElement", "setAttribute", "document",
	"window", "globalThis", "self")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// endsWithWord reports whether s ends with word, not as the end of a
// longer identifier.
func endsWithWord(s, word string) bool {
	return strings.HasSuffix(s, word) && (len(s) == len(word) || !isIdentByte(s[len(s)-len(word)-1]))
}

func endsWithQuote(s string) bool {
	s = strings.TrimRight(s, " \t\r\n")
	return s != "" && (s[len(s)-1] == '"' || s[len(s)-1] == '\'')
}

func isKeyword(s string) bool {
	tok, _ := token.IsKeyword(s)
	return tok != 0
}
