package eventbuspg

import (
	"bytes"
	"strings"
)

// PostgreSQL refuses two things that valid JSON and Go strings may hold:
// the NUL character in text (and in jsonb, written \u0000), and invalid
// UTF-8 in text. One such event in a batch would fail the batch on every
// retry (a poison pill), so the text columns and the jsonb copy are
// cleaned: NUL and invalid bytes become U+FFFD. Byte-exact copies (the
// outbox envelope, the dead letter's payload) are bytea and untouched.

// cleanText makes s storable in a text column.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// cleanJSON makes valid JSON storable as jsonb: the escape \u0000 becomes
// \ufffd. Backslashes appear in JSON only as escapes inside strings, so
// a scan that skips each escape's next character finds every \u0000 and
// nothing else.
func cleanJSON(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			out = append(out, `\ufffd`...)
			i += 5
			continue
		}
		out = append(out, c, b[i+1])
		i++
	}
	return out
}
