package logspg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// attrEncoder writes a record's attributes as one JSON object that
// PostgreSQL's jsonb accepts (valid UTF-8, no \u0000), taking the
// attributes that have columns out into the entry.
type attrEncoder struct {
	entry  *Entry
	buf    []byte
	frames []frame // open groups; the object itself is implicit
	count  int     // fields written at the top level
}

// frame is an open group: where it starts in buf (so that an empty one is
// cut out again) and how many fields it holds.
type frame struct {
	start int
	count int
}

// fields returns the counter of the innermost open object.
func (e *attrEncoder) fields() *int {
	if len(e.frames) == 0 {
		return &e.count
	}
	return &e.frames[len(e.frames)-1].count
}

func (e *attrEncoder) openGroup(name string) {
	start := len(e.buf)
	e.key(name)
	e.buf = append(e.buf, '{')
	e.frames = append(e.frames, frame{start: start})
}

// key writes a field's separator and key; the caller writes its value.
func (e *attrEncoder) key(k string) {
	if *e.fields() > 0 {
		e.buf = append(e.buf, ',')
	}
	e.buf = appendString(e.buf, k)
	e.buf = append(e.buf, ':')
}

func (e *attrEncoder) closeGroup() {
	f := e.frames[len(e.frames)-1]
	e.frames = e.frames[:len(e.frames)-1]
	if f.count == 0 { // slog: a group without attributes is not written
		e.buf = e.buf[:f.start]
		return
	}
	e.buf = append(e.buf, '}')
	*e.fields()++
}

// column stores the value of a top-level attribute that has a column, and
// reports whether it did (and the attribute is not written).
func (e *attrEncoder) column(a slog.Attr) bool {
	if len(e.frames) > 0 {
		return false
	}
	var dst *string
	switch a.Key {
	case "trace_id":
		dst = &e.entry.TraceID
	case "span_id":
		dst = &e.entry.SpanID
	case "request_id":
		dst = &e.entry.RequestID
	case "service":
		dst = &e.entry.Service
	case "user_id":
		dst = &e.entry.UserID
	case "logger":
		dst = &e.entry.Logger
	case "module", "component":
		if e.entry.Logger == "" {
			e.entry.Logger = cleanText(a.Value.String())
		}
		return false
	default:
		return false
	}
	*dst = cleanText(a.Value.String())
	return true
}

// attr writes a, following slog's rules: empty attributes and empty
// groups are skipped, a group with an empty key is inlined.
func (e *attrEncoder) attr(a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return
		}
		if a.Key == "" {
			for _, g := range attrs {
				e.attr(g)
			}
			return
		}
		e.openGroup(a.Key)
		for _, g := range attrs {
			e.attr(g)
		}
		e.closeGroup()
		return
	}
	if e.column(a) {
		return
	}
	e.key(a.Key)
	e.buf = appendValue(e.buf, a.Value)
	*e.fields()++
}

func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		return appendString(b, v.Time().Format(time.RFC3339Nano))
	}
	switch x := v.Any().(type) {
	case nil:
		return append(b, "null"...)
	case error:
		return appendString(b, x.Error())
	case []byte:
		return appendString(b, string(x))
	}
	j, err := json.Marshal(v.Any())
	if err != nil {
		return appendString(b, fmt.Sprintf("%+v", v.Any()))
	}
	return append(b, bytes.ReplaceAll(j, []byte(`\u0000`), []byte(`\ufffd`))...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: invalid UTF-8 and NUL (which
// jsonb refuses) become U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case 0:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// cleanText makes s storable in a text column: valid UTF-8, no NUL.
func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
