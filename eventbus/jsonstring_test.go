package eventbus

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// jsonString, Parse's fast path for string fields, decodes exactly as
// json.Unmarshal does for the values Parse gives it (valid JSON, valid
// UTF-8).
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"abc"`, `""`, `"a\"b"`, `"\u00e9t\u00e9"`, `"tab\there"`, `"é"`, `42`, `null`,
		`{"a":1}`, `["x"]`, `"a\\b"`, `"\/"`, `true`, `"  spaced  "`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if !json.Valid(v) || !utf8.Valid(v) {
			t.Skip()
		}
		var want string
		wantOK := json.Unmarshal(v, &want) == nil
		got, ok := jsonString(v)
		if ok != wantOK || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; json.Unmarshal gives %q, %v", v, got, ok, want, wantOK)
		}
	})
}
