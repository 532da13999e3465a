package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/pluginhost/mcp"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// recordingOutbox keeps what was published, in the transaction's table.
type recordingOutbox struct{}

func (recordingOutbox) PublishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return eventbus.Envelope{}, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS published (topic text, kind text, payload jsonb)`); err != nil {
		return eventbus.Envelope{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO published VALUES ($1, $2, $3)`, topic, kind, b)
	return eventbus.Envelope{}, err
}

func TestRegistryStoresServersBesideConfiguredOnes(t *testing.T) {
	db := testkit.Postgres(t, mcp.Migrations)
	ctx := ctxT(t)
	configured := mcp.ServerSpec{ID: "from-config", Transport: mcp.TransportStdio, Command: "node", Args: []string{"server.js"}}
	reg, err := mcp.NewRegistry(db.DB, []mcp.ServerSpec{configured}, recordingOutbox{})
	if err != nil {
		t.Fatal(err)
	}
	stored := mcp.ServerSpec{ID: "stored", Transport: mcp.TransportHTTP, URL: "https://mcp.example.com/mcp",
		Headers: map[string]string{"Authorization": "Bearer x"}, AllowedTools: []string{"a"}, CallTimeout: mcp.Duration(5 * time.Second)}
	s, err := reg.Create(ctx, stored, "admin-1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != mcp.SourceAPI || s.CreatedBy != "admin-1" || s.Spec.Headers["Authorization"] != "Bearer x" || time.Duration(s.Spec.CallTimeout) != 5*time.Second {
		t.Fatalf("created: %+v", s)
	}
	if _, err := reg.Create(ctx, stored, "admin-1"); !errors.Is(err, mcp.ErrExists) || mcp.Status(err) != 409 {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := reg.Create(ctx, configured, "admin-1"); !errors.Is(err, mcp.ErrConfigured) {
		t.Fatalf("create a configured id: %v", err)
	}
	if err := reg.Delete(ctx, "from-config", "admin-1"); !errors.Is(err, mcp.ErrConfigured) {
		t.Fatalf("delete a configured server: %v", err)
	}
	stored.AllowedTools = []string{"a", "b"}
	if s, err = reg.Update(ctx, stored, "admin-2"); err != nil || len(s.Spec.AllowedTools) != 2 || s.UpdatedBy != "admin-2" {
		t.Fatalf("update: %+v %v", s, err)
	}
	list, err := reg.List(ctx)
	if err != nil || len(list) != 2 || list[0].Spec.ID != "from-config" || list[0].Source != mcp.SourceConfig || list[1].Spec.ID != "stored" {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := reg.Delete(ctx, "stored", "admin-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(ctx, "stored"); !errors.Is(err, mcp.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := reg.Update(ctx, stored, "x"); !errors.Is(err, mcp.ErrNotFound) {
		t.Fatalf("update after delete: %v", err)
	}
	var changes []string
	rows, err := db.DB.Query(ctx, `SELECT payload->>'change' FROM published WHERE topic = $1 ORDER BY ctid`, mcp.TopicServerChanged)
	if err != nil {
		t.Fatal(err)
	}
	if changes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || strings.Join(changes, ",") != "created,updated,deleted" {
		t.Fatalf("published changes %v (%v)", changes, err)
	}
}

func TestConfigValidation(t *testing.T) {
	var list mcp.ServerList
	err := list.UnmarshalText([]byte(`[{"id":"a","transport":"stdio","command":"node","unknown":1}]`))
	if err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("unknown keys: %v", err)
	}
	if err := list.UnmarshalText([]byte(`[{"id":"a","transport":"stdio","command":"node","call_timeout":"5s","restart":{"policy":"always"}}]`)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]mcp.ServerSpec{
		"id":             {ID: "Bad ID", Transport: "stdio", Command: "x"},
		"transport":      {ID: "a", Transport: "sse"},
		"a stdio server": {ID: "a", Transport: "stdio"},
		"url":            {ID: "a", Transport: "http", URL: "ftp://x"},
		"for stdio":      {ID: "a", Transport: "http", URL: "https://x", Command: "node"},
		"env_allow":      {ID: "a", Transport: "stdio", Command: "x", EnvAllow: []string{"A=B"}},
		"restart.policy": {ID: "a", Transport: "stdio", Command: "x", Restart: mcp.RestartPolicy{Policy: "sometimes"}},
	}
	for want, spec := range cases {
		if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error about %s", spec, err, want)
		}
	}
	cfg := mcp.Config{Servers: mcp.ServerList{{ID: "a", Transport: "stdio", Command: "x"}, {ID: "a", Transport: "stdio", Command: "y"}}}.WithDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `Servers[1]: the id "a" is used twice`) {
		t.Fatalf("duplicate ids: %v", err)
	}
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0m", 59 * time.Second: "0m", 5 * time.Minute: "5m", 65 * time.Minute: "1h 5m",
		26*time.Hour + 3*time.Minute: "1d 2h 3m",
	} {
		if got := mcp.FormatUptime(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}

func TestModuleValidates(t *testing.T) {
	useAll := fx.Invoke(func(*mcp.Manager, *mcp.Registry) {})
	if err := fx.ValidateApp(dashcore.Module, store.Module, auth.Module, mcp.Module, useAll, fx.NopLogger); err != nil {
		t.Fatal(err)
	}
	if err := fx.ValidateApp(dashcore.Module, mcp.Module, useAll, fx.NopLogger); err == nil {
		t.Fatal("ValidateApp without store.Module succeeded")
	}
}

// TestModuleConnectsAutoconnectServersAndStopsThem: the module starts
// the servers marked autoconnect with the application, and no process
// outlives its stop.
func TestModuleConnectsAutoconnectServersAndStopsThem(t *testing.T) {
	spec := stdioSpec(t, "auto")
	spec.AutoConnect = true
	servers, err := json.Marshal([]mcp.ServerSpec{spec, stdioSpec(t, "manual")})
	if err != nil {
		t.Fatal(err)
	}
	var m *mcp.Manager
	a := testkit.App(t, dashcore.Module, store.Module, mcp.Module, fx.Populate(&m),
		testkit.Env(map[string]string{"TAYLORDASH_MCP_SERVERS": string(servers), "TAYLORDASH_MCP_STOP_GRACE": "500ms"}))
	eventually(t, "auto online", func() bool { return m.State("auto").Status == mcp.StatusOnline })
	if st := m.State("manual"); st.Status != mcp.StatusOffline {
		t.Fatalf("manual: %+v", st)
	}
	pid := m.State("auto").PID
	code, body := a.Readiness(t)
	if code != 200 || body["mcp"] != "healthy" {
		t.Fatalf("readiness %d %v", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.App.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if childproctest.Alive(pid) {
		t.Fatalf("server %d outlived the application", pid)
	}
}
