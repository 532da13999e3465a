package scanner

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// scanCSS scans a style sheet (or the declarations of a style
// attribute) with a small tokenizer: comments, strings, identifiers,
// functions and escapes, enough to find url(), @import, image-set(),
// expression(), behavior and -moz-binding whatever their spelling.
func (f *fileScan) scanCSS(src string, om offMap) {
	at := func(i int) int { return om.at(i) }
	importPending := false // after @import, the next string or url() is imported
	imageSet := 0          // inside image-set(): strings are URLs
	depth := 0             // parentheses
	check := func(u string, i int) {
		what := "CSS url()"
		if importPending {
			what = "@import"
		}
		f.checkURL(sinkResource, what, u, at(i))
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return
			}
			i += end + 4
		case c == '"' || c == '\'':
			s, n := cssString(src[i:])
			if importPending || imageSet > 0 {
				check(s, i+1)
			}
			i += n
		case c == '@':
			name, n := cssIdent(src[i+1:])
			importPending = strings.EqualFold(name, "import")
			i += 1 + n
		case c == ';' || c == '{' || c == '}':
			importPending = false
			i++
		case c == '(':
			depth++
			i++
		case c == ')':
			if imageSet == depth {
				imageSet = 0
			}
			depth--
			i++
		case isCSSNameStart(src[i:]):
			name, n := cssIdent(src[i:])
			lower := strings.ToLower(name)
			j := i + n
			if j < len(src) && src[j] == '(' {
				switch lower {
				case "url", "src":
					u, at, m := cssURL(src[j+1:])
					check(u, j+1+at)
					i = j + 1 + m
					continue
				case "expression":
					f.report(ruleCSSExpression, at(i), "CSS expression() runs script")
				case "image-set", "-webkit-image-set":
					imageSet = depth + 1
				}
			} else if lower == "behavior" || lower == "-moz-binding" {
				k := j
				for k < len(src) && (src[k] == ' ' || src[k] == '\t' || src[k] == '\n' || src[k] == '\r') {
					k++
				}
				if k < len(src) && src[k] == ':' {
					f.report(ruleCSSExpression, at(i), "CSS "+lower+" binds script to elements")
				}
			}
			i = j
		default:
			i++
		}
	}
}

// isCSSNameStart reports whether an identifier starts s.
func isCSSNameStart(s string) bool {
	c := s[0]
	switch {
	case c == '-':
		return len(s) > 1 && (s[1] == '-' || isCSSNameStart(s[1:]))
	case c == '\\':
		return len(s) > 1 && s[1] != '\n'
	}
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// cssIdent reads an identifier (escapes decoded) and its length in s.
func cssIdent(s string) (string, int) {
	var sb strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] != '\n':
			r, n := cssEscape(s[i+1:])
			sb.WriteRune(r)
			i += 1 + n
		case c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80:
			sb.WriteByte(c)
			i++
		default:
			return sb.String(), i
		}
	}
	return sb.String(), i
}

// cssEscape decodes the escape after a backslash: up to six hex digits
// and one optional white space, or one character.
func cssEscape(s string) (rune, int) {
	n := 0
	for n < len(s) && n < 6 && isHex(s[n]) {
		n++
	}
	if n == 0 {
		r, size := utf8.DecodeRuneInString(s)
		return r, size
	}
	v, _ := strconv.ParseUint(s[:n], 16, 32)
	if n < len(s) && (s[n] == ' ' || s[n] == '\t' || s[n] == '\n') {
		n++
	} else if n+1 < len(s) && s[n] == '\r' && s[n+1] == '\n' {
		n += 2
	}
	if v == 0 || v > utf8.MaxRune {
		return utf8.RuneError, n
	}
	return rune(v), n
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// cssString reads a quoted string starting s, escapes decoded, and its
// length with the quotes.
func cssString(s string) (string, int) {
	q := s[0]
	var sb strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return sb.String(), i + 1
		case c == '\n':
			return sb.String(), i // an unterminated string ends at the line
		case c == '\\' && i+1 < len(s):
			if s[i+1] == '\n' {
				i += 2
				continue
			}
			r, n := cssEscape(s[i+1:])
			sb.WriteRune(r)
			i += 1 + n
		default:
			sb.WriteByte(c)
			i++
		}
	}
	return sb.String(), i
}

// cssURL reads the argument of url( (s starts after the parenthesis):
// the URL, where its text starts, and the length up to and including
// the closing parenthesis.
func cssURL(s string) (u string, at, n int) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f') {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		u, n := cssString(s[i:])
		end := strings.IndexByte(s[i+n:], ')')
		if end < 0 {
			return u, i + 1, len(s)
		}
		return u, i + 1, i + n + end + 1
	}
	at = i
	var sb strings.Builder
	for i < len(s) && s[i] != ')' {
		if s[i] == '\\' && i+1 < len(s) {
			r, n := cssEscape(s[i+1:])
			sb.WriteRune(r)
			i += 1 + n
			continue
		}
		sb.WriteByte(s[i])
		i++
	}
	return strings.TrimSpace(sb.String()), at, min(len(s), i+1)
}
