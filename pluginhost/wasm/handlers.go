package wasm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// HandleEvent delivers ev to the plugin's event handler (td_handle_event).
// The plugin needs read:events; without it HandleEvent returns a
// *PermissionError and nothing runs (this is the host's refusal, not a
// violation). When ctx has no span, the event's traceparent is continued,
// so the plugin's call, logs and published events join the event's
// trace.
func (p *Plugin) HandleEvent(ctx context.Context, ev *eventbus.Event) error {
	if !p.perms.has(ReadEvents) {
		return &PermissionError{Function: sdk.ExportHandleEvent, Permission: ReadEvents, Detail: "the plugin may not receive events"}
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = eventbus.ContextWithTraceparent(ctx, ev.Envelope.Traceparent)
	}
	in, err := json.Marshal(sdk.Event{
		Topic: ev.Topic, ID: ev.Envelope.ID, Kind: ev.Envelope.Kind, TraceID: ev.Envelope.TraceID,
		TS: ev.Envelope.TS, Source: ev.Envelope.Source, Payload: ev.Envelope.Payload,
		Attempt: ev.Attempt, Duplicate: ev.Duplicate,
	})
	if err != nil {
		return fmt.Errorf("plugin %s: encode event: %w", p.id, err)
	}
	_, err = p.Call(ctx, sdk.ExportHandleEvent, in)
	return err
}

// EventHandler returns HandleEvent as an eventbus.Handler, for a route on
// the plugin's subscriptions.
func (p *Plugin) EventHandler() eventbus.Handler { return p.HandleEvent }

// HandleHTTP serves one of the plugin's own API operations
// (td_handle_http). A response status of 0 becomes 200.
func (p *Plugin) HandleHTTP(ctx context.Context, req sdk.Request) (sdk.Response, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: encode request: %w", p.id, err)
	}
	out, err := p.Call(ctx, sdk.ExportHandleHTTP, in)
	if err != nil {
		return sdk.Response{}, err
	}
	var resp sdk.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return sdk.Response{}, &GuestError{Function: sdk.ExportHandleHTTP, Message: "invalid response: " + truncate(err.Error(), 256)}
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	if resp.Status < 100 || resp.Status > 599 {
		return sdk.Response{}, &GuestError{Function: sdk.ExportHandleHTTP, Message: fmt.Sprintf("invalid response status %d", resp.Status)}
	}
	return resp, nil
}

// requestHeadersDropped are the request headers never passed to a plugin:
// credentials and hop-by-hop headers.
var requestHeadersDropped = []string{"Authorization", "Cookie", "X-Api-Key", "Proxy-Authorization", "Connection", "Upgrade"}

// NewRequest converts r for [Plugin.HandleHTTP]: path is the part below
// the plugin's mount point; the body is read up to maxBody bytes (more is
// an error); credentials are dropped.
func NewRequest(r *http.Request, path string, maxBody int64) (sdk.Request, error) {
	req := sdk.Request{Method: r.Method, Path: "/" + strings.TrimPrefix(path, "/"), Query: r.URL.Query(), Header: r.Header.Clone()}
	for _, k := range requestHeadersDropped {
		delete(req.Header, k)
	}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return sdk.Request{}, fmt.Errorf("wasm: read request body: %w", err)
		}
		if int64(len(b)) > maxBody {
			return sdk.Request{}, fmt.Errorf("wasm: %w: request body exceeds %d bytes", ErrInputTooLarge, maxBody)
		}
		req.Body = b
	}
	return req, nil
}

// responseHeadersDropped are the response headers a plugin may not set:
// the host owns cookies, security headers and framing.
var responseHeadersDropped = []string{"Set-Cookie", "Content-Security-Policy", "Strict-Transport-Security",
	"X-Frame-Options", "X-Content-Type-Options", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
	"Content-Length", "Transfer-Encoding", "Connection"}

// WriteResponse writes a plugin's response to w, without the headers the
// host owns.
func WriteResponse(w http.ResponseWriter, resp sdk.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		if containsFold(responseHeadersDropped, k) {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
