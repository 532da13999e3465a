package eventbuspg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
)

// HTTPModule adds the event routes to a dashcore application, keeping the
// original API's paths and keys: GET /api/v1/events, GET
// /api/v1/events/stream (Server-Sent Events), POST /api/v1/events/test,
// GET /api/v1/dlq, GET /api/v1/dlq/{id}, POST /api/v1/dlq/replay and
// DELETE /api/v1/dlq. It needs Module (and a Publisher for replays).
// Guarding the routes is the application's business (auth middleware).
// Listing events and dead letters, getting one and replaying them are
// also MCP tools (dashcore.MCPTool): query_events, list_dlq, get_dlq and
// replay_dlq, for an MCP server such as pluginhost/mcp/mcpserver.
var HTTPModule = fx.Module("eventbus.http",
	fx.Provide(dashcore.AsRoutes(newRoutes)),
)

// TestTopic and TestKind are what POST /api/v1/events/test publishes, as
// the original did.
const (
	TestTopic = "tracker/events/test/api"
	TestKind  = "test_event"
)

type routesParams struct {
	fx.In
	Mirror      *Mirror
	DeadLetters *DeadLetterStore
	Outbox      *Outbox
	Stream      *Stream
	Publisher   eventbus.Publisher `optional:"true"`
	Logger      *slog.Logger       `optional:"true"`
}

func newRoutes(p routesParams) dashcore.Routes {
	r := &routes{routesParams: p}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return dashcore.Routes{Name: "events", Register: r.register, Handle: r.handle}
}

type routes struct {
	routesParams
}

// EventItem is one event of the API: the mirror row with its envelope as
// a JSON object under payload (the original returned it as a string).
type EventItem struct {
	ID             int64           `json:"id"`
	EventID        string          `json:"event_id,omitempty"`
	Topic          string          `json:"topic"`
	Kind           string          `json:"kind"`
	TraceID        string          `json:"trace_id"`
	IdempotencyKey string          `json:"idempotency_key"`
	Source         string          `json:"source,omitempty"`
	TS             time.Time       `json:"ts"`
	Payload        json.RawMessage `json:"payload" doc:"The whole envelope, as a JSON object."`
	CreatedAt      time.Time       `json:"created_at"`
}

func eventItem(e StoredEvent) EventItem { return EventItem(e) }

type listEventsInput struct {
	Topic   string    `query:"topic" doc:"Exact topic."`
	Kind    string    `query:"kind" doc:"Exact kind."`
	TraceID string    `query:"trace_id" doc:"Exact trace id."`
	Since   time.Time `query:"since" doc:"Stored at or after (RFC 3339)."`
	Until   time.Time `query:"until" doc:"Stored before (RFC 3339)."`
	Limit   int       `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Cursor  string    `query:"cursor" doc:"next_cursor of the previous page."`
}

type listEventsOutput struct {
	Body struct {
		Events     []EventItem `json:"events"`
		Count      int         `json:"count" doc:"Events in this page."`
		NextCursor string      `json:"next_cursor,omitempty" doc:"Pass as cursor for the next (older) page; absent on the last page."`
	}
}

type testEventOutput struct {
	Body struct {
		Status  string `json:"status" example:"success"`
		TraceID string `json:"trace_id"`
		Message string `json:"message" example:"Test event published"`
		EventID string `json:"event_id"`
	}
}

// DLQItem is a dead letter of the API. payload keeps the original's DLQ
// envelope: original_topic, failure_reason, failure_timestamp, payload.
type DLQItem struct {
	ID             int64           `json:"id"`
	OriginalTopic  string          `json:"original_topic"`
	FailureReason  eventbus.Reason `json:"failure_reason"`
	FailureDetail  string          `json:"failure_detail,omitempty"`
	Payload        DLQEnvelope     `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Attempts       int             `json:"attempts"`
	CreatedAt      time.Time       `json:"created_at"`
	FirstFailureAt time.Time       `json:"first_failure_at"`
	LastFailureAt  time.Time       `json:"last_failure_at"`
	ReplayedAt     *time.Time      `json:"replayed_at,omitempty"`
	ReplayCount    int             `json:"replay_count"`
}

// DLQEnvelope is the original's DLQ envelope as the API shows it: an
// eventbus.DLQMessage whose raw payload (the message as it was received,
// which may hold anything a publisher sent) is shown only to callers
// allowed events:admin (auth.PermissionTag); dlq:read shows why and when
// a message failed, not what it said.
type DLQEnvelope struct {
	OriginalTopic    string          `json:"original_topic"`
	FailureReason    eventbus.Reason `json:"failure_reason"`
	FailureDetail    string          `json:"failure_detail,omitempty"`
	FailureTimestamp time.Time       `json:"failure_timestamp"`
	Payload          json.RawMessage `json:"payload,omitempty" permission:"events:admin" doc:"The message, as JSON when it was JSON, else as a string when it was UTF-8."`
	PayloadBase64    []byte          `json:"payload_base64,omitempty" permission:"events:admin" doc:"The message, when it was not UTF-8."`
}

func dlqItem(l StoredDeadLetter) DLQItem {
	return DLQItem{
		ID: l.ID, OriginalTopic: l.Topic, FailureReason: l.Reason, FailureDetail: l.Detail,
		Payload: DLQEnvelope(eventbus.NewDLQMessage(eventbus.DeadLetter{Topic: l.Topic, Payload: l.Payload, Reason: l.Reason,
			Detail: l.Detail, FailedAt: l.LastFailureAt})),
		IdempotencyKey: l.IdempotencyKey, Attempts: l.Attempts, CreatedAt: l.CreatedAt,
		FirstFailureAt: l.FirstFailureAt, LastFailureAt: l.LastFailureAt, ReplayedAt: l.ReplayedAt, ReplayCount: l.ReplayCount,
	}
}

// DLQQuery is the filter of the dead-letter routes' query string.
type DLQQuery struct {
	Topic    string    `query:"topic" doc:"Exact original topic."`
	Reason   string    `query:"reason" enum:"not_utf8,not_json,missing_field,bad_ts,bad_trace_id,bad_payload,oversize,unknown_kind,handler_failed"`
	Replayed string    `query:"replayed" enum:"true,false" doc:"Only replayed, or only not replayed, dead letters."`
	Since    time.Time `query:"since" doc:"Last failure at or after (RFC 3339)."`
	Until    time.Time `query:"until" doc:"Last failure before (RFC 3339)."`
}

func (in DLQQuery) filter() DLQFilter {
	f := DLQFilter{Topic: in.Topic, Reason: eventbus.Reason(in.Reason), Since: in.Since, Until: in.Until}
	if in.Replayed != "" {
		v := in.Replayed == "true"
		f.Replayed = &v
	}
	return f
}

type listDLQInput struct {
	DLQQuery
	Limit int   `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	After int64 `query:"after" minimum:"0" doc:"next_after of the previous page."`
}

type listDLQOutput struct {
	Body struct {
		DLQEvents []DLQItem `json:"dlq_events"`
		Count     int       `json:"count" doc:"Dead letters in this page."`
		NextAfter int64     `json:"next_after,omitempty" doc:"Pass as after for the next page; absent on the last page."`
	}
}

type dlqIDInput struct {
	ID int64 `path:"id" minimum:"1"`
}

type dlqOutput struct {
	Body DLQItem
}

type replayInput struct {
	Body struct {
		IDs []int64 `json:"ids,omitempty" maxItems:"1000" doc:"Dead letters to replay."`
		All bool    `json:"all,omitempty" doc:"Replay every dead letter matching the filter instead of ids."`
		dlqBodyFilter
	}
}

// dlqBodyFilter is the filter of a replay request's body.
type dlqBodyFilter struct {
	Topic    string          `json:"topic,omitempty"`
	Reason   eventbus.Reason `json:"reason,omitempty"`
	Replayed *bool           `json:"replayed,omitempty"`
}

type replayOutput struct {
	Body struct {
		Total    int   `json:"total"`
		Replayed int   `json:"replayed"`
		FailedID int64 `json:"failed_id,omitempty" doc:"The dead letter whose publication failed; the replay stopped there."`
	}
}

type purgeInput struct {
	DLQQuery
	All bool `query:"all" doc:"Required to purge every dead letter (with no other filter)."`
}

type purgeOutput struct {
	Body struct {
		Purged int64 `json:"purged"`
	}
}

func (r *routes) register(api huma.API) {
	tags := []string{"events"}
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/api/v1/events", Tags: tags,
		Summary:     "List stored events",
		Description: "Events of the mirror, newest first, with bounded pagination (cursor).",
		Errors:      auth.Guarded(http.StatusBadRequest),
		Responses: dashcore.ExampleResponse(http.StatusOK, map[string]any{
			"events": []EventItem{exampleEvent}, "count": 1, "next_cursor": "1767605400000000_1042"}),
	}, "events", "read"), "query_events"), r.listEvents)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "publish-test-event", Method: http.MethodPost, Path: "/api/v1/events/test", Tags: tags,
		Summary:     "Publish a test event",
		Description: "Writes a test_event on " + TestTopic + " through the outbox: it is stored at once and published as soon as the broker takes it. It never waits for the broker.",
		Errors:      auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, map[string]any{"status": "success", "trace_id": exampleTraceID,
			"message": "Test event published", "event_id": "019b8d2e-6c1a-7f3e-9a42-5d1e0c7b3f81"}),
	}, "events", "write"), r.publishTest)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "list-dlq", Method: http.MethodGet, Path: "/api/v1/dlq", Tags: tags,
		Summary: "List dead letters",
		Errors:  auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, map[string]any{
			"dlq_events": []DLQItem{exampleDeadLetter}, "count": 1, "next_after": exampleDeadLetter.ID}),
	}, "dlq", "read"), "list_dlq"), r.listDLQ)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "get-dlq", Method: http.MethodGet, Path: "/api/v1/dlq/{id}", Tags: tags,
		Summary:   "Get a dead letter",
		Errors:    auth.Guarded(http.StatusNotFound),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleDeadLetter),
	}, "dlq", "read"), "get_dlq"), r.getDLQ)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "replay-dlq", Method: http.MethodPost, Path: "/api/v1/dlq/replay", Tags: tags,
		Summary:     "Replay dead letters",
		Description: "Publishes each dead letter's original message again, byte-exact, to its original topic, and marks it replayed; stops at the first failure. The mirror's idempotency key makes replaying an event it already holds harmless.",
		Errors:      auth.Guarded(http.StatusUnprocessableEntity, http.StatusServiceUnavailable),
		RequestBody: dashcore.ExampleRequest(map[string]any{"ids": []int64{7, 8}}),
		Responses:   dashcore.ExampleResponse(http.StatusOK, map[string]any{"total": 2, "replayed": 2}),
	}, "dlq", "write"), "replay_dlq"), r.replay)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "purge-dlq", Method: http.MethodDelete, Path: "/api/v1/dlq", Tags: tags,
		Summary:     "Purge dead letters",
		Description: "Deletes the dead letters matching the filter. With no filter it refuses, unless all=true.",
		Errors:      auth.Guarded(http.StatusUnprocessableEntity),
		Responses:   dashcore.ExampleResponse(http.StatusOK, map[string]any{"purged": 12}),
	}, "dlq", "write"), r.purge)
	// The stream is served by a plain handler (below); it is documented here.
	stream := auth.Require(huma.Operation{
		OperationID: "stream-events", Method: http.MethodGet, Path: "/api/v1/events/stream", Tags: tags,
		Summary: "Follow events (Server-Sent Events)",
		Description: "Every event stored from now on (or after Last-Event-ID / ?after=, to resume), in commit order, " +
			"as text/event-stream: `id` is the event's position, `data` an event as in GET /api/v1/events. " +
			"Filters: topic (exact or an MQTT filter), kind, trace_id. Browsers use EventSource and need no broker credentials.",
		Parameters: []*huma.Param{
			{Name: "topic", In: "query", Schema: &huma.Schema{Type: "string"}},
			{Name: "kind", In: "query", Schema: &huma.Schema{Type: "string"}},
			{Name: "trace_id", In: "query", Schema: &huma.Schema{Type: "string"}},
			{Name: "after", In: "query", Schema: &huma.Schema{Type: "string"}, Description: "Resume after this position."},
			{Name: "Last-Event-ID", In: "header", Schema: &huma.Schema{Type: "string"}},
		},
		// A plain handler: huma does not document its errors (Errors), so
		// the responses are written out.
		Responses: withErrors(api, map[string]*huma.Response{"200": {
			Description: "A stream of events.",
			Content: map[string]*huma.MediaType{"text/event-stream": {
				Schema:  &huma.Schema{Type: "string"},
				Example: "retry: 2000\n\nid: 48213.1042\ndata: " + string(exampleEventJSON) + "\n\n: ping\n\n",
			}},
		}}, auth.Guarded(http.StatusBadRequest, http.StatusServiceUnavailable)...),
	}, "events", "read")
	api.OpenAPI().AddOperation(&stream)
}

func (r *routes) handle(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/events/stream", r.stream)
}

func (r *routes) listEvents(ctx context.Context, in *listEventsInput) (*listEventsOutput, error) {
	f := EventFilter{Topic: in.Topic, Kind: in.Kind, TraceID: in.TraceID, Since: in.Since, Until: in.Until, Limit: in.Limit}
	if in.Cursor != "" {
		c, err := ParseCursor(in.Cursor)
		if err != nil {
			return nil, dashcore.NewError(dashcore.ErrBadRequest, "cursor is not one this API returned", err)
		}
		f.After = c
	}
	events, err := r.Mirror.List(ctx, f)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &listEventsOutput{}
	out.Body.Events = make([]EventItem, len(events))
	for i, e := range events {
		out.Body.Events[i] = eventItem(e)
	}
	out.Body.Count = len(events)
	if len(events) == in.Limit && in.Limit > 0 {
		out.Body.NextCursor = events[len(events)-1].Cursor().String()
	}
	return out, nil
}

func (r *routes) publishTest(ctx context.Context, _ *struct{}) (*testEventOutput, error) {
	if id := dashcore.RequestID(ctx); eventbus.ValidTraceID(id) && eventbus.TraceIDFrom(ctx) == "" {
		ctx = eventbus.WithTraceID(ctx, id)
	}
	env, err := r.Outbox.Publish(ctx, TestTopic, TestKind, map[string]any{
		"message":   "Test event from API",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &testEventOutput{}
	out.Body.Status, out.Body.TraceID, out.Body.Message, out.Body.EventID = "success", env.TraceID, "Test event published", env.ID
	return out, nil
}

func (r *routes) listDLQ(ctx context.Context, in *listDLQInput) (*listDLQOutput, error) {
	f := in.filter()
	f.Limit, f.AfterID = in.Limit, in.After
	letters, err := r.DeadLetters.List(ctx, f)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &listDLQOutput{}
	out.Body.DLQEvents = make([]DLQItem, len(letters))
	for i, l := range letters {
		out.Body.DLQEvents[i] = dlqItem(l)
	}
	out.Body.Count = len(letters)
	if len(letters) == in.Limit {
		out.Body.NextAfter = letters[len(letters)-1].ID
	}
	return out, nil
}

func (r *routes) getDLQ(ctx context.Context, in *dlqIDInput) (*dlqOutput, error) {
	l, err := r.DeadLetters.Get(ctx, in.ID)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &dlqOutput{Body: dlqItem(l)}, nil
}

func (r *routes) replay(ctx context.Context, in *replayInput) (*replayOutput, error) {
	if r.Publisher == nil {
		return nil, dashcore.NewError(dashcore.ErrUnavailable, "no broker is configured to replay to", nil)
	}
	b := in.Body
	if (len(b.IDs) == 0) == !b.All {
		return nil, dashcore.NewError(dashcore.ErrInvalid, "give either ids or all=true (with an optional filter)", nil)
	}
	var res ReplayResult
	var err error
	if b.All {
		res, err = r.DeadLetters.ReplayAll(ctx, r.Publisher, DLQFilter{Topic: b.Topic, Reason: b.Reason, Replayed: b.Replayed}, nil)
	} else {
		res, err = r.DeadLetters.Replay(ctx, r.Publisher, b.IDs...)
	}
	out := &replayOutput{}
	out.Body.Total, out.Body.Replayed, out.Body.FailedID = res.Total, res.Replayed, res.FailedID
	if err != nil && res.FailedID != 0 {
		r.Logger.WarnContext(ctx, "dead-letter replay stopped", slog.Int64("failed_id", res.FailedID), slog.String("error", err.Error()))
		return nil, dashcore.NewError(dashcore.ErrUnavailable,
			fmt.Sprintf("replayed %d of %d; publishing dead letter %d failed: the broker is unavailable, try again", res.Replayed, res.Total, res.FailedID), err)
	}
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return out, nil
}

func (r *routes) purge(ctx context.Context, in *purgeInput) (*purgeOutput, error) {
	f := in.filter()
	var n int64
	var err error
	if in.All {
		if in.DLQQuery != (DLQQuery{}) {
			return nil, dashcore.NewError(dashcore.ErrInvalid, "all=true purges everything: do not combine it with a filter", nil)
		}
		n, err = r.DeadLetters.PurgeAll(ctx)
	} else {
		n, err = r.DeadLetters.Purge(ctx, f)
		if errors.Is(err, ErrPurgeEverything) {
			return nil, dashcore.NewError(dashcore.ErrInvalid, "give a filter (topic, reason, replayed, since, until), or all=true to purge every dead letter", err)
		}
	}
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &purgeOutput{}
	out.Body.Purged = n
	return out, nil
}

// stream serves GET /api/v1/events/stream as Server-Sent Events.
func (r *routes) stream(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	f := StreamFilter{Topic: q.Get("topic"), Kind: q.Get("kind"), TraceID: q.Get("trace_id")}
	var from *Position
	for _, s := range []string{req.Header.Get("Last-Event-ID"), q.Get("after")} {
		if s == "" {
			continue
		}
		p, err := ParsePosition(s)
		if err != nil {
			dashcore.WriteProblem(w, req, http.StatusBadRequest, "after / Last-Event-ID is not a position this stream sent")
			return
		}
		from = &p
		break
	}
	ctx := req.Context()
	events, errFn, err := r.Stream.Subscribe(ctx, f, from)
	if err != nil {
		dashcore.WriteProblem(w, req, http.StatusServiceUnavailable, "the event stream is not running")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if err := errFn(); err != nil {
					// The client reconnects and resumes from its last id.
					_, _ = fmt.Fprintf(w, "event: reset\ndata: %q\n\n", err.Error())
					_ = rc.Flush()
				}
				return
			}
			data, err := json.Marshal(eventItem(ev.StoredEvent))
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", ev.Position, data); err != nil {
				return
			}
			if len(events) == 0 {
				if rc.Flush() != nil {
					return
				}
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// withErrors adds to responses the problem responses of codes, as
// huma.Register does for an operation's Errors.
func withErrors(api huma.API, responses map[string]*huma.Response, codes ...int) map[string]*huma.Response {
	problem := huma.NewError(0, "")
	contentType := "application/json"
	if f, ok := problem.(huma.ContentTypeFilter); ok {
		contentType = f.ContentType(contentType)
	}
	t := reflect.TypeOf(problem)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	schema := api.OpenAPI().Components.Schemas.Schema(t, true, "Error")
	for _, code := range codes {
		responses[strconv.Itoa(code)] = &huma.Response{Description: http.StatusText(code),
			Content: map[string]*huma.MediaType{contentType: {Schema: schema}}}
	}
	return responses
}

// The examples of the API's documentation.
var (
	exampleTime    = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	exampleTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	exampleEvent   = EventItem{ID: 1042, EventID: "019b8d2e-6c1a-7f3e-9a42-5d1e0c7b3f81", Topic: "tracker/events/projects/created",
		Kind: "project_created", TraceID: exampleTraceID, IdempotencyKey: "project-7-created", Source: "taylordash-backend",
		TS: exampleTime, CreatedAt: exampleTime.Add(12 * time.Millisecond),
		Payload: json.RawMessage(`{"id":"019b8d2e-6c1a-7f3e-9a42-5d1e0c7b3f81","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
			`"ts":"2026-01-05T09:30:00Z","kind":"project_created","idempotency_key":"project-7-created",` +
			`"source":"taylordash-backend","payload":{"project_id":7,"name":"Garden shed"}}`)}
	exampleEventJSON, _ = json.Marshal(exampleEvent)
	exampleDeadLetter   = DLQItem{ID: 7, OriginalTopic: "tracker/events/sensors/reading", FailureReason: eventbus.ReasonNotJSON,
		FailureDetail: "invalid character 'o' in literal null (expecting 'u')",
		Payload: DLQEnvelope{OriginalTopic: "tracker/events/sensors/reading", FailureReason: eventbus.ReasonNotJSON,
			FailureDetail:    "invalid character 'o' in literal null (expecting 'u')",
			FailureTimestamp: exampleTime, Payload: json.RawMessage(`"not json"`)},
		Attempts: 1, CreatedAt: exampleTime, FirstFailureAt: exampleTime, LastFailureAt: exampleTime}
)
