package scanner

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/token"
)

// maxFold bounds constant folding: its depth through const variables
// and calls, and the length of a folded string.
const (
	maxFoldDepth = 16
	maxFoldLen   = 4096
)

// constString folds e to a string known before run time: literals,
// concatenation, template literals, const variables, and the usual
// obfuscation helpers (String.fromCharCode, atob, decodeURIComponent,
// split/reverse/join, concat, toLowerCase, toUpperCase, trim).
func (w *jsWalker) constString(e ast.Expression) (string, bool) {
	if w.fold >= maxFoldDepth {
		return "", false
	}
	w.fold++
	defer func() { w.fold-- }()
	switch e := e.(type) {
	case *ast.StringLiteral:
		return e.Value.String(), true
	case *ast.NumberLiteral:
		switch v := e.Value.(type) {
		case int64:
			return strconv.FormatInt(v, 10), true
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64), true
		}
	case *ast.TemplateLiteral:
		if e.Tag != nil {
			return "", false
		}
		var sb strings.Builder
		for i, el := range e.Elements {
			sb.WriteString(el.Parsed.String())
			if i < len(e.Expressions) {
				s, ok := w.constString(e.Expressions[i])
				if !ok {
					return "", false
				}
				sb.WriteString(s)
			}
			if sb.Len() > maxFoldLen {
				return "", false
			}
		}
		return sb.String(), true
	case *ast.BinaryExpression:
		if e.Operator != token.PLUS {
			return "", false
		}
		l, ok := w.constString(e.Left)
		if !ok {
			return "", false
		}
		r, ok := w.constString(e.Right)
		if !ok || len(l)+len(r) > maxFoldLen {
			return "", false
		}
		return l + r, true
	case *ast.Identifier:
		if init := w.constInit(e.Name.String()); init != nil {
			return w.constString(init)
		}
	case *ast.SequenceExpression:
		if len(e.Sequence) > 0 {
			return w.constString(e.Sequence[len(e.Sequence)-1])
		}
	case *ast.CallExpression:
		return w.foldCall(e)
	}
	return "", false
}

func (w *jsWalker) foldCall(e *ast.CallExpression) (string, bool) {
	args := e.ArgumentList
	switch p := w.resolve(e.Callee); {
	case p.is("String", "fromCharCode"), p.is("String", "fromCodePoint"):
		var sb strings.Builder
		for _, a := range args {
			n, ok := a.(*ast.NumberLiteral)
			if !ok {
				return "", false
			}
			switch v := n.Value.(type) {
			case int64:
				sb.WriteRune(rune(v))
			case float64:
				sb.WriteRune(rune(v))
			}
		}
		return sb.String(), true
	case p.is("atob") && len(args) == 1:
		s, ok := w.constString(args[0])
		if !ok {
			return "", false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		}
		return string(b), err == nil
	case (p.is("decodeURIComponent") || p.is("decodeURI") || p.is("unescape")) && len(args) == 1:
		s, ok := w.constString(args[0])
		if !ok {
			return "", false
		}
		d, err := url.PathUnescape(s)
		return d, err == nil
	}
	dot, ok := e.Callee.(*ast.DotExpression)
	if !ok {
		return "", false
	}
	switch dot.Identifier.Name.String() {
	case "join":
		parts, ok := w.constArray(dot.Left)
		if !ok {
			return "", false
		}
		sep := ","
		if len(args) > 0 {
			if sep, ok = w.constString(args[0]); !ok {
				return "", false
			}
		}
		return strings.Join(parts, sep), true
	case "concat":
		s, ok := w.constString(dot.Left)
		for _, a := range args {
			t, ok2 := w.constString(a)
			ok = ok && ok2
			s += t
		}
		return s, ok && len(s) <= maxFoldLen
	case "toLowerCase", "toUpperCase", "trim", "toString", "valueOf":
		s, ok := w.constString(dot.Left)
		switch dot.Identifier.Name.String() {
		case "toLowerCase":
			s = strings.ToLower(s)
		case "toUpperCase":
			s = strings.ToUpper(s)
		case "trim":
			s = strings.TrimSpace(s)
		}
		return s, ok
	}
	return "", false
}

// constArray folds e to an array of strings: a literal, s.split(sep),
// a.reverse(), a.concat(b).
func (w *jsWalker) constArray(e ast.Expression) ([]string, bool) {
	if w.fold >= maxFoldDepth {
		return nil, false
	}
	w.fold++
	defer func() { w.fold-- }()
	switch e := e.(type) {
	case *ast.ArrayLiteral:
		out := make([]string, 0, len(e.Value))
		for _, x := range e.Value {
			s, ok := w.constString(x)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case *ast.Identifier:
		if init := w.constInit(e.Name.String()); init != nil {
			return w.constArray(init)
		}
	case *ast.CallExpression:
		dot, ok := e.Callee.(*ast.DotExpression)
		if !ok {
			return nil, false
		}
		switch dot.Identifier.Name.String() {
		case "split":
			s, ok := w.constString(dot.Left)
			if !ok || len(e.ArgumentList) != 1 {
				return nil, false
			}
			sep, ok := w.constString(e.ArgumentList[0])
			if !ok {
				return nil, false
			}
			if sep == "" {
				return strings.Split(s, ""), true
			}
			return strings.Split(s, sep), true
		case "reverse":
			a, ok := w.constArray(dot.Left)
			if ok {
				a = slices.Clone(a)
				slices.Reverse(a)
			}
			return a, ok
		case "concat":
			a, ok := w.constArray(dot.Left)
			for _, x := range e.ArgumentList {
				b, ok2 := w.constArray(x)
				ok = ok && ok2
				a = append(slices.Clone(a), b...)
			}
			return a, ok
		}
	}
	return nil, false
}

// urlPattern renders e as a URL pattern: what is known before run time,
// with each unknown part one wild byte.
func (w *jsWalker) urlPattern(e ast.Expression) string {
	var sb strings.Builder
	w.writePattern(&sb, e)
	return sb.String()
}

func (w *jsWalker) writePattern(sb *strings.Builder, e ast.Expression) {
	if sb.Len() > maxFoldLen {
		return
	}
	if s, ok := w.constString(e); ok {
		sb.WriteString(strings.ReplaceAll(s, string(wild), "\uFFFD"))
		return
	}
	switch e := e.(type) {
	case *ast.TemplateLiteral:
		if e.Tag == nil {
			for i, el := range e.Elements {
				sb.WriteString(strings.ReplaceAll(el.Parsed.String(), string(wild), "\uFFFD"))
				if i < len(e.Expressions) {
					w.writePattern(sb, e.Expressions[i])
				}
			}
			return
		}
	case *ast.BinaryExpression:
		if e.Operator == token.PLUS {
			w.writePattern(sb, e.Left)
			w.writePattern(sb, e.Right)
			return
		}
	case *ast.NewExpression:
		// new URL(url) and new URL(path, location.origin).
		if p := w.resolve(e.Callee); p.is("URL") && len(e.ArgumentList) > 0 && w.fold < maxFoldDepth {
			w.fold++
			defer func() { w.fold-- }()
			first := w.urlPattern(e.ArgumentList[0])
			_, _, absolute := splitScheme(first, first)
			if len(e.ArgumentList) == 1 || absolute || strings.HasPrefix(first, "//") {
				sb.WriteString(first)
				return
			}
			if b := w.resolve(e.ArgumentList[1]); b.is("location", "origin") || b.is("location", "href") || b.is("document", "baseURI") {
				sb.WriteString(first)
				return
			}
		}
	case *ast.Identifier:
		if w.fold < maxFoldDepth {
			if init := w.constInit(e.Name.String()); init != nil {
				w.fold++
				w.writePattern(sb, init)
				w.fold--
				return
			}
		}
	}
	if s := sb.String(); s == "" || s[len(s)-1] != wild {
		sb.WriteByte(wild)
	}
}

// stringish reports whether e evaluates to a string built from
// literals (what a string timer or string handler is).
func (w *jsWalker) stringish(e ast.Expression) bool {
	switch e := e.(type) {
	case *ast.StringLiteral:
		return true
	case *ast.TemplateLiteral:
		return e.Tag == nil
	case *ast.BinaryExpression:
		return e.Operator == token.PLUS && (w.stringish(e.Left) || w.stringish(e.Right))
	case *ast.Identifier:
		if init := w.constInit(e.Name.String()); init != nil && w.fold < maxFoldDepth {
			w.fold++
			defer func() { w.fold-- }()
			return w.stringish(init)
		}
	}
	return false
}

// resolve returns the global path of e without reporting anything.
func (w *jsWalker) resolve(e ast.Expression) gpath {
	switch e := e.(type) {
	case *ast.Identifier:
		if declared, _ := w.lookup(e.Name.String()); !declared {
			return globalPath(e.Name.String())
		}
		return w.alias(e.Name.String())
	case *ast.DotExpression:
		return w.resolve(e.Left).member(e.Identifier.Name.String(), false)
	case *ast.BracketExpression:
		if key, ok := w.constString(e.Member); ok {
			_, literal := e.Member.(*ast.StringLiteral)
			return w.resolve(e.Left).member(key, !literal)
		}
	case *ast.OptionalChain:
		return w.resolve(e.Expression)
	case *ast.Optional:
		return w.resolve(e.Expression)
	case *ast.ThisExpression:
		if w.funcDepth == 0 {
			return globalPath("window")
		}
	case *ast.ConditionalExpression:
		// typeof window !== 'undefined' ? window : this
		if p := w.resolve(e.Consequent); p.n > 0 {
			return p
		}
		return w.resolve(e.Alternate)
	case *ast.BinaryExpression:
		// window || this, self && self.document
		if e.Operator == token.LOGICAL_OR || e.Operator == token.LOGICAL_AND || e.Operator == token.COALESCE {
			if p := w.resolve(e.Right); p.n > 0 && e.Operator == token.LOGICAL_AND {
				return p
			}
			if p := w.resolve(e.Left); p.n > 0 {
				return p
			}
			return w.resolve(e.Right)
		}
	}
	return gpath{}
}

// memberName returns the property name of a member expression (folded
// when computed) and its object.
func (w *jsWalker) memberName(e ast.Expression) (name string, obj ast.Expression, ok bool) {
	switch e := e.(type) {
	case *ast.DotExpression:
		return e.Identifier.Name.String(), e.Left, true
	case *ast.BracketExpression:
		if key, ok := w.constString(e.Member); ok {
			return key, e.Left, true
		}
	case *ast.OptionalChain:
		return w.memberName(e.Expression)
	case *ast.Optional:
		return w.memberName(e.Expression)
	}
	return "", nil, false
}

// literalMap maps the code offsets of a string literal's value to file
// offsets: exactly when the value is the literal's text (no escapes).
func (w *jsWalker) literalMap(e ast.Expression) offMap {
	if s, ok := e.(*ast.StringLiteral); ok && len(s.Literal) >= 2 && s.Value.String() == s.Literal[1:len(s.Literal)-1] {
		return offMap{{code: 0, file: w.at(s.Idx) + 1, exact: w.om[0].exact && len(w.om) == 1}}
	}
	return offMap{{code: 0, file: w.at(e.Idx0())}}
}
