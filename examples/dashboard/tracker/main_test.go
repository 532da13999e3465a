package tracker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// adminKey is the bootstrap key: the principal "bootstrap", role admin.
const adminKey = "tracker-test-key-0123456789abcdef"

// dashboard is the whole dashboard application, running for one test,
// with an MQTT observer of everything the tracker publishes.
type dashboard struct {
	*testkit.TestApp
	t      *testing.T
	events *observer
}

// start runs the dashboard (app.Modules, as the command does) on a fresh
// database and broker prefix, and subscribes to tracker/events/# before
// the test writes anything.
func start(t *testing.T) *dashboard {
	t.Helper()
	a := testkit.App(t, app.Modules(), testkit.Env(map[string]string{
		"TAYLORDASH_API_KEY": adminKey,
		// These tests send bursts of requests from one address.
		"TAYLORDASH_AUTH_RATE_LIMIT_DISABLED": "true",
	}))
	return &dashboard{TestApp: a, t: t, events: observe(t, a.Broker)}
}

// response is an HTTP response, read.
type response struct {
	Status  int
	Header  http.Header
	Body    []byte
	TraceID string
}

// decode unmarshals the body into v, failing the test if it cannot.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// problem is an RFC 9457 body.
type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// problem decodes a problem body.
func (r response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, want a problem: %s", r.Status, ct, r.Body)
	}
	var p problem
	r.decode(t, &p)
	return p
}

// call sends a request with key as X-API-Key and body (a string is sent
// as is, anything else as JSON).
func (d *dashboard) call(method, path, key string, body any) response {
	d.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			d.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, d.URL+path, r)
	if err != nil {
		d.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(auth.APIKeyHeader, key)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw, TraceID: resp.Header.Get("X-Trace-ID")}
}

// admin sends a request with the bootstrap (admin) key.
func (d *dashboard) admin(method, path string, body any) response {
	d.t.Helper()
	return d.call(method, path, adminKey, body)
}

// must fails the test unless r has status want, and decodes its body
// into out (if not nil).
func (d *dashboard) must(want int, r response, out any) response {
	d.t.Helper()
	if r.Status != want {
		d.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	if out != nil {
		r.decode(d.t, out)
	}
	return r
}

// key makes an API key with roles and returns it.
func (d *dashboard) key(roles ...string) string {
	d.t.Helper()
	var k struct {
		Key string `json:"key"`
	}
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/auth/keys",
		map[string]any{"name": strings.Join(roles, "+"), "roles": roles}), &k)
	return k.Key
}

// project is a project as the API returns it.
type project struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description *string        `json:"description"`
	Status      string         `json:"status"`
	OwnerID     *string        `json:"owner_id"`
	Metadata    map[string]any `json:"metadata"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

type component struct {
	ID        string         `json:"id"`
	ProjectID string         `json:"project_id"`
	Name      string         `json:"name"`
	Type      *string        `json:"type"`
	Status    string         `json:"status"`
	Progress  int            `json:"progress"`
	Position  map[string]any `json:"position"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

type task struct {
	ID          string     `json:"id"`
	ComponentID string     `json:"component_id"`
	Name        string     `json:"name"`
	Description *string    `json:"description"`
	Status      string     `json:"status"`
	AssigneeID  *string    `json:"assignee_id"`
	DueDate     *time.Time `json:"due_date"`
	CompletedAt *time.Time `json:"completed_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// newProject creates a project as the admin.
func (d *dashboard) newProject(body map[string]any) project {
	d.t.Helper()
	var p project
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/projects", body), &p)
	return p
}

// newComponent creates a component of project as the admin.
func (d *dashboard) newComponent(projectID string, body map[string]any) component {
	d.t.Helper()
	var c component
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/projects/"+projectID+"/components", body), &c)
	return c
}

// newTask creates a task of component as the admin.
func (d *dashboard) newTask(componentID string, body map[string]any) task {
	d.t.Helper()
	var tk task
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/components/"+componentID+"/tasks", body), &tk)
	return tk
}

// observer collects the envelopes published under the test's prefix.
type observer struct {
	mu   sync.Mutex
	got  []published
	more chan struct{}
}

// published is an envelope and the topic it came on (without the
// prefix).
type published struct {
	Topic string
	Env   eventbus.Envelope
	// Payload is Env.Payload, decoded.
	Payload map[string]any
}

func observe(t *testing.T, b *testkit.Broker) *observer {
	t.Helper()
	o := &observer{more: make(chan struct{}, 1)}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL).
		SetClientID("tracker-observer-" + strings.ReplaceAll(b.Prefix, "/", "-")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(b.Prefix+"tracker/events/#", 1, func(_ paho.Client, m paho.Message) {
		var p published
		p.Topic = strings.TrimPrefix(m.Topic(), b.Prefix)
		if err := json.Unmarshal(m.Payload(), &p.Env); err != nil {
			return
		}
		_ = json.Unmarshal(p.Env.Payload, &p.Payload)
		o.mu.Lock()
		o.got = append(o.got, p)
		o.mu.Unlock()
		select {
		case o.more <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	return o
}

// wait returns the first event of kind whose payload has key = value and,
// if traceID is not empty, whose trace id is traceID; it fails the test if
// none comes within 15 s.
func (o *observer) wait(t *testing.T, kind, key, value, traceID string) published {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		o.mu.Lock()
		for _, p := range o.got {
			if p.Env.Kind == kind && fmt.Sprint(p.Payload[key]) == value && (traceID == "" || p.Env.TraceID == traceID) {
				o.mu.Unlock()
				return p
			}
		}
		o.mu.Unlock()
		select {
		case <-o.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s event with %s=%s and trace id %q on the broker; got %v", kind, key, value, traceID, o.kinds())
		}
	}
}

// count returns how many events of kind have payload key = value.
func (o *observer) count(kind, key, value string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, p := range o.got {
		if p.Env.Kind == kind && fmt.Sprint(p.Payload[key]) == value {
			n++
		}
	}
	return n
}

func (o *observer) kinds() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ks []string
	for _, p := range o.got {
		ks = append(ks, p.Topic+" "+p.Env.Kind+" "+p.Env.TraceID)
	}
	return ks
}

// event waits for the event of a write: kind, with payload key = id,
// carrying the write's trace id (the response's X-Trace-ID), on topic.
func (d *dashboard) event(w response, topic, kind, key, id string) map[string]any {
	d.t.Helper()
	if len(w.TraceID) != 32 {
		d.t.Fatalf("response X-Trace-ID %q", w.TraceID)
	}
	p := d.events.wait(d.t, kind, key, id, w.TraceID)
	if p.Topic != topic {
		d.t.Errorf("%s came on %s, want %s", kind, p.Topic, topic)
	}
	if p.Env.IdempotencyKey == "" || p.Env.TS.IsZero() {
		d.t.Errorf("%s: envelope lacks idempotency_key or ts: %+v", kind, p.Env)
	}
	return p.Payload
}
