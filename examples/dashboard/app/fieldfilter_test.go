package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

// The fields filtered by permission (auth.PermissionTag), as the default
// policy grants them: a viewer lists users without their emails
// (users:list, not users:read); an operator reads the audit log without
// the client's address, user agent and details (audit:read, not
// users:read) and the dead-letter queue without the raw payloads
// (dlq:read, not events:admin). A viewer cannot reach the audit log or
// the dead-letter queue at all, so the operator is the one compared with
// the admin there.

// userWithEmail creates a user with an email as the admin and returns its
// id; the admin's answer shows the email.
func (a *authApp) userWithEmail(t *testing.T, admin, name, role, email string) string {
	t.Helper()
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/users", admin, "",
		map[string]any{"username": name, "password": "a long enough passphrase 42", "role": role, "email": email})
	must(t, http.StatusCreated, resp, body, "create user "+name)
	var u struct{ ID, Email string }
	if err := json.Unmarshal(body, &u); err != nil || u.ID == "" || u.Email != email {
		t.Fatalf("created user %s: %v", body, err)
	}
	return u.ID
}

// objects decodes a JSON array of objects.
func objects(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return out
}

func TestUserEmailsNeedUsersRead(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	annID := a.userWithEmail(t, admin, "ann", "operator", "ann@example.com")
	a.userWithEmail(t, admin, "vera", "viewer", "vera@example.com")
	viewer := a.login(t, "vera", "a long enough passphrase 42")

	// The list: both see ann; only the admin sees her email.
	resp, body := a.do(t, http.MethodGet, "/api/v1/auth/users", admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin lists users")
	if !strings.Contains(string(body), `"email":"ann@example.com"`) {
		t.Fatalf("the admin's list lacks ann's email: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users", viewer, "", nil)
	must(t, http.StatusOK, resp, body, "viewer lists users (users:list)")
	users := objects(t, body)
	if len(users) != 3 {
		t.Fatalf("the viewer sees %d users: %s", len(users), body)
	}
	for _, u := range users {
		if _, ok := u["email"]; ok {
			t.Errorf("the viewer sees an email: %v", u)
		}
		for _, k := range []string{"id", "username", "role", "is_active"} {
			if _, ok := u[k]; !ok {
				t.Errorf("the viewer's directory lacks %s: %v", k, u)
			}
		}
	}

	// One user: the same.
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users/"+annID, admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin gets ann")
	if !strings.Contains(string(body), `"email":"ann@example.com"`) {
		t.Fatalf("the admin's view of ann lacks her email: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users/"+annID, viewer, "", nil)
	must(t, http.StatusOK, resp, body, "viewer gets ann")
	if !strings.Contains(string(body), `"username":"ann"`) || strings.Contains(string(body), "email") {
		t.Fatalf("the viewer's view of ann: %s", body)
	}

	// Your own email is yours to see.
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", viewer, "", nil)
	must(t, http.StatusOK, resp, body, "viewer's /me")
	if !strings.Contains(string(body), `"email":"vera@example.com"`) {
		t.Fatalf("/me lacks the caller's own email: %s", body)
	}

	// An email can be changed and removed; a bad one is refused.
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+annID, admin, "", map[string]any{"email": "ann@example.org"})
	must(t, http.StatusOK, resp, body, "change ann's email")
	if !strings.Contains(string(body), `"email":"ann@example.org"`) {
		t.Fatalf("changed email: %s", body)
	}
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+annID, admin, "", map[string]any{"email": ""})
	must(t, http.StatusOK, resp, body, "remove ann's email")
	if strings.Contains(string(body), "email") {
		t.Fatalf("removed email: %s", body)
	}
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+annID, admin, "", map[string]any{"email": "Ann <ann@example.com>"})
	must(t, http.StatusUnprocessableEntity, resp, body, "an email with a display name")

	// The viewer still writes nothing.
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+annID, viewer, "", map[string]any{"email": "x@example.com"})
	must(t, http.StatusForbidden, resp, body, "viewer updates a user")
}

func TestAuditDetailsNeedUsersRead(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	a.createUser(t, admin, "otto", "operator", "a long enough passphrase 42")
	a.createUser(t, admin, "vera", "viewer", "a long enough passphrase 42")
	operator := a.login(t, "otto", "a long enough passphrase 42")
	viewer := a.login(t, "vera", "a long enough passphrase 42")

	const path = "/api/v1/auth/audit?type=login_success"
	resp, body := a.do(t, http.MethodGet, path, admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin reads the audit log")
	rows := objects(t, body)
	if len(rows) < 3 {
		t.Fatalf("%d login_success rows: %s", len(rows), body)
	}
	for _, r := range rows {
		for _, k := range []string{"ip", "user_agent", "details", "username", "type"} {
			if _, ok := r[k]; !ok {
				t.Errorf("the admin's audit row lacks %s: %v", k, r)
			}
		}
	}

	resp, body = a.do(t, http.MethodGet, path, operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator reads the audit log (audit:read)")
	rows = objects(t, body)
	if len(rows) < 3 {
		t.Fatalf("the operator sees %d rows: %s", len(rows), body)
	}
	for _, r := range rows {
		for _, k := range []string{"ip", "user_agent", "details"} {
			if _, ok := r[k]; ok {
				t.Errorf("the operator's audit row has %s: %v", k, r)
			}
		}
		for _, k := range []string{"id", "type", "outcome", "at", "username", "request_id"} {
			if _, ok := r[k]; !ok {
				t.Errorf("the operator's audit row lacks %s (who did what): %v", k, r)
			}
		}
	}

	resp, body = a.do(t, http.MethodGet, path, viewer, "", nil)
	must(t, http.StatusForbidden, resp, body, "viewer reads the audit log")
}

func TestRawDeadLetterPayloadsNeedEventsAdmin(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	a.createUser(t, admin, "otto", "operator", "a long enough passphrase 42")
	a.createUser(t, admin, "vera", "viewer", "a long enough passphrase 42")
	operator := a.login(t, "otto", "a long enough passphrase 42")
	viewer := a.login(t, "vera", "a long enough passphrase 42")

	c := paho.NewClient(paho.NewClientOptions().AddBroker(a.Broker.URL).SetClientID("poisoner-" + strings.ReplaceAll(a.Broker.Prefix, "/", "-")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(a.Broker.Prefix+"tracker/events/bad/input", 1, false, []byte("{not json, card 4111")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	type letter struct {
		ID            int64          `json:"id"`
		OriginalTopic string         `json:"original_topic"`
		Payload       map[string]any `json:"payload"`
	}
	list := func(who, cred string) []letter {
		t.Helper()
		resp, body := a.do(t, http.MethodGet, "/api/v1/dlq", cred, "", nil)
		must(t, http.StatusOK, resp, body, who+" lists dead letters")
		var out struct {
			DLQEvents []letter `json:"dlq_events"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out.DLQEvents
	}
	var letters []letter
	for deadline := time.Now().Add(15 * time.Second); len(letters) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the poison message never reached the dead-letter queue")
		}
		time.Sleep(50 * time.Millisecond)
		letters = list("admin", admin)
	}
	if p := letters[0].Payload; p["payload"] != "{not json, card 4111" || p["original_topic"] != "tracker/events/bad/input" {
		t.Fatalf("the admin's dead letter: %+v", letters[0])
	}

	// The operator sees why and when, not what.
	seen := list("operator", operator)
	if len(seen) != 1 || seen[0].OriginalTopic != "tracker/events/bad/input" {
		t.Fatalf("the operator's dead letters: %+v", seen)
	}
	if _, ok := seen[0].Payload["payload"]; ok {
		t.Errorf("the operator sees the raw payload: %+v", seen[0].Payload)
	}
	for _, k := range []string{"original_topic", "failure_reason", "failure_timestamp"} {
		if _, ok := seen[0].Payload[k]; !ok {
			t.Errorf("the operator's envelope lacks %s: %+v", k, seen[0].Payload)
		}
	}
	resp, body := a.do(t, http.MethodGet, "/api/v1/dlq/"+itoa(seen[0].ID), operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator gets a dead letter")
	if strings.Contains(string(body), "card 4111") {
		t.Errorf("the operator's dead letter shows the payload: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/dlq/"+itoa(seen[0].ID), admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin gets a dead letter")
	if !strings.Contains(string(body), "card 4111") {
		t.Errorf("the admin's dead letter lacks the payload: %s", body)
	}

	resp, body = a.do(t, http.MethodGet, "/api/v1/dlq", viewer, "", nil)
	must(t, http.StatusForbidden, resp, body, "viewer lists dead letters")
}

// logTee copies every record the application logs into a buffer.
type logTee struct {
	next slog.Handler
	copy slog.Handler
}

func (h logTee) Enabled(context.Context, slog.Level) bool { return true }

func (h logTee) Handle(ctx context.Context, r slog.Record) error {
	_ = h.copy.Handle(ctx, r.Clone())
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h logTee) WithAttrs(as []slog.Attr) slog.Handler {
	return logTee{h.next.WithAttrs(as), h.copy.WithAttrs(as)}
}

func (h logTee) WithGroup(name string) slog.Handler {
	return logTee{h.next.WithGroup(name), h.copy.WithGroup(name)}
}

// lockedBuffer is a bytes.Buffer safe for the application's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAPIKeySecretIsShownOnce: the key's secret is in the answer that
// creates it, and nowhere after: not in the key list, the revocation, the
// audit log, /me, nor the application's logs.
func TestAPIKeySecretIsShownOnce(t *testing.T) {
	var logs lockedBuffer
	capture := fx.Provide(dashcore.AsLogHandlerWrapper(func() dashcore.LogHandlerWrapper {
		return dashcore.LogHandlerWrapper{Name: "capture", Wrap: func(h slog.Handler) slog.Handler {
			return logTee{next: h, copy: slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})}
		}}
	}))
	a := startAuth(t, capture)
	admin := a.login(t, adminUser, adminPassword)

	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/keys", admin, "", map[string]any{"name": "ci", "roles": []string{"operator"}})
	must(t, http.StatusCreated, resp, body, "create a key")
	var created struct{ ID, Key string }
	if err := json.Unmarshal(body, &created); err != nil || !strings.HasPrefix(created.Key, "td_"+created.ID+"_") {
		t.Fatalf("created key %s: %v", body, err)
	}
	secret := created.Key[len("td_"+created.ID+"_"):]

	// The key works, and /me does not echo it.
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", "", created.Key, nil)
	must(t, http.StatusOK, resp, body, "/me with the key")
	answers := []string{string(body)}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/auth/keys"},
		{http.MethodDelete, "/api/v1/auth/keys/" + created.ID},
		{http.MethodGet, "/api/v1/auth/keys"},
		{http.MethodGet, "/api/v1/auth/audit"},
	} {
		resp, body := a.do(t, c.method, c.path, admin, "", nil)
		must(t, http.StatusOK, resp, body, c.method+" "+c.path)
		answers = append(answers, string(body))
	}
	if !strings.Contains(answers[1], created.ID) || !strings.Contains(answers[4], `"key_created"`) {
		t.Fatalf("the key list or the audit log lacks the key: %s %s", answers[1], answers[4])
	}
	for i, ans := range answers {
		if strings.Contains(ans, secret) {
			t.Errorf("answer %d shows the secret: %s", i, ans)
		}
	}
	// Stored only as a hash.
	var n int
	if err := a.DB.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM auth_api_keys WHERE position($1 in encode(secret_hash, 'escape')) > 0 OR name = $1`, secret).Scan(&n); err != nil || n != 0 {
		t.Errorf("the secret is stored: %d %v", n, err)
	}
	var audit string
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT coalesce(string_agg(details::text, ' '), '') FROM auth_audit_log`).Scan(&audit); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(audit, secret) {
		t.Errorf("the audit log stores the secret: %s", audit)
	}
	if l := logs.String(); l == "" || strings.Contains(l, secret) {
		t.Errorf("the logs are empty or show the secret: %s", l)
	}
}
