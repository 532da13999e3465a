package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// ArgumentError says what is wrong with a tool call's arguments before
// the operation runs; the tool answers it as a 400 problem.
type ArgumentError struct {
	// Tool is the tool called.
	Tool string
	// Argument is the argument at fault, "" for the whole input.
	Argument string
	// Problem says what is wrong.
	Problem string
}

// Error returns the tool, the argument and the problem.
func (e *ArgumentError) Error() string {
	if e.Argument == "" {
		return fmt.Sprintf("mcpserver: tool %s: arguments %s", e.Tool, e.Problem)
	}
	return fmt.Sprintf("mcpserver: tool %s: argument %q %s", e.Tool, e.Argument, e.Problem)
}

// request returns the internal request of a call of t with args (the raw
// JSON object of the call's arguments): the path parameters in the path,
// the query parameters in the query string, and the body argument, as
// sent, as the JSON body. Validating the values is left to the operation,
// as for a REST call.
func (t *Tool) request(ctx context.Context, args json.RawMessage) (*http.Request, error) {
	bad := func(arg, problem string) error { return &ArgumentError{Tool: t.Name, Argument: arg, Problem: problem} }
	in := map[string]json.RawMessage{}
	if trimmed := bytes.TrimSpace(args); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &in); err != nil {
			return nil, bad("", "must be a JSON object")
		}
	}
	known := make(map[string]bool, len(t.params))
	for _, p := range t.params {
		known[p.name] = true
	}
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !known[name] && (name != BodyArgument || t.Operation.RequestBody == nil) {
			return nil, bad(name, "is not an argument of this tool")
		}
	}
	path := t.Operation.Path
	query := url.Values{}
	for _, p := range t.params {
		raw, ok := in[p.name]
		if !ok || isNull(raw) {
			if p.in == "path" {
				return nil, bad(p.name, "is required")
			}
			continue
		}
		values, err := paramValues(raw)
		if err != nil {
			return nil, bad(p.name, err.Error())
		}
		if p.in == "path" {
			if len(values) != 1 || values[0] == "" || values[0] == "." || values[0] == ".." {
				return nil, bad(p.name, "must be one non-empty value")
			}
			path = strings.Replace(path, "{"+p.name+"}", url.PathEscape(values[0]), 1)
			continue
		}
		if p.explode {
			query[p.name] = values
		} else {
			query.Set(p.name, strings.Join(values, ","))
		}
	}
	var body io.Reader
	if raw, ok := in[BodyArgument]; ok && t.Operation.RequestBody != nil && !isNull(raw) {
		body = bytes.NewReader(raw)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	r, err := http.NewRequestWithContext(ctx, strings.ToUpper(t.Operation.Method), target, body)
	if err != nil {
		return nil, bad("", "do not make a valid request: "+err.Error())
	}
	r.Header.Set("Accept", "application/json")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if o, ok := ctx.Value(outerKey{}).(outer); ok {
		r.Host, r.RemoteAddr, r.Proto, r.ProtoMajor, r.ProtoMinor = o.host, o.remoteAddr, o.proto, o.protoMajor, o.protoMinor
		if o.userAgent != "" {
			r.Header.Set("User-Agent", o.userAgent)
		}
		if id := dashcore.RequestID(ctx); id != "" {
			r.Header.Set("X-Request-ID", id)
		}
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// paramValues returns the values of a parameter argument: a string, a
// number or a boolean as one value, an array of them as several.
func paramValues(raw json.RawMessage) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, errors.New("is not JSON")
	}
	scalar := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, x := range list {
			s, ok := scalar(x)
			if !ok {
				return nil, errors.New("must be a string, a number, a boolean or an array of them")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("must be a string, a number, a boolean or an array of them")
}

// outerKey carries facts of the /mcp request that an internal request
// repeats.
type outerKey struct{}

type outer struct {
	host, remoteAddr, proto, userAgent string
	protoMajor, protoMinor             int
}

// allowed reports whether p meets req.
func (s *Server) allowed(p *auth.Principal, req auth.Requirement) bool {
	switch {
	case req.Public:
		return true
	case req.Authenticated:
		return p != nil
	}
	return p != nil && req.Permission.Resource != "" && s.opts.Authorizer.Allowed(p, req.Permission)
}

// recorder buffers an internal response up to a limit.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func newRecorder(limit int64) *recorder { return &recorder{header: http.Header{}, limit: limit} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := r.limit - int64(r.body.Len()); int64(len(b)) > room {
		r.overflow = true
		if room > 0 {
			r.body.Write(b[:room])
		}
		return len(b), nil
	}
	return r.body.Write(b)
}

// Flush lets streaming handlers flush; the recorder keeps everything.
func (r *recorder) Flush() {}
