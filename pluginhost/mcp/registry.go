package mcp

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "mcp" namespace:
// the mcp_servers table. Add-only.
var Migrations = store.Migrations{Namespace: "mcp", FS: migrationFiles}

// Outbox writes an event in the caller's transaction, to be published
// once it commits (the event bus's *eventbuspg.Outbox). The envelope's
// trace id comes from ctx. Implementations must be safe for concurrent
// use.
type Outbox interface {
	PublishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error)
}

// Where a server's specification comes from.
const (
	// SourceConfig is TAYLORDASH_MCP_SERVERS: read-only through the API.
	SourceConfig = "config"
	// SourceAPI is the admin API, stored in PostgreSQL.
	SourceAPI = "api"
)

// Server is a known MCP server: its specification and where it comes
// from.
type Server struct {
	// Spec is the specification as given (without defaults).
	Spec ServerSpec
	// Source is SourceConfig or SourceAPI.
	Source string
	// CreatedAt and UpdatedAt are set for stored servers.
	CreatedAt, UpdatedAt time.Time
	// CreatedBy and UpdatedBy name the acting principals' subjects.
	CreatedBy, UpdatedBy string
}

// Registry is the set of known MCP servers: those of configuration,
// which the API cannot change, and those stored in PostgreSQL through
// the admin API. A configured id shadows a stored one. Its methods are
// safe for concurrent use.
type Registry struct {
	db         *store.DB
	outbox     Outbox
	configured map[string]ServerSpec
}

// NewRegistry returns the registry of the configured servers and of
// those stored in db (migrated with [Migrations]). db may be nil: then
// only configured servers exist and changes fail. outbox, when not nil,
// publishes a change in its transaction ([TopicServerChanged]).
func NewRegistry(db *store.DB, configured []ServerSpec, outbox Outbox) (*Registry, error) {
	r := &Registry{db: db, outbox: outbox, configured: map[string]ServerSpec{}}
	for _, s := range configured {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("mcp: configured server %q: %w", s.ID, err)
		}
		if _, dup := r.configured[s.ID]; dup {
			return nil, fmt.Errorf("mcp: configured server %q: the id is used twice", s.ID)
		}
		r.configured[s.ID] = s
	}
	return r, nil
}

// Get returns the server with the id, or an error wrapping [ErrNotFound].
func (r *Registry) Get(ctx context.Context, id string) (*Server, error) {
	if s, ok := r.configured[id]; ok {
		return &Server{Spec: s, Source: SourceConfig}, nil
	}
	if r.db == nil {
		return nil, notFound(id)
	}
	row := r.db.QueryRow(ctx, `SELECT id, spec, created_at, updated_at, coalesce(created_by, ''), coalesce(updated_by, '')
		FROM mcp_servers WHERE id = $1`, id)
	s, err := scanServer(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	return s, err
}

func notFound(id string) error {
	return serverErr(id, ErrNotFound, "MCP server %s not found", id)
}

func scanServer(row pgx.Row) (*Server, error) {
	var s Server
	var id string
	var raw []byte
	if err := row.Scan(&id, &raw, &s.CreatedAt, &s.UpdatedAt, &s.CreatedBy, &s.UpdatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &s.Spec); err != nil {
		return nil, fmt.Errorf("mcp: stored server %s: %w", id, err)
	}
	s.Spec.ID, s.Source = id, SourceAPI
	return &s, nil
}

// List returns every known server, ordered by id.
func (r *Registry) List(ctx context.Context) ([]*Server, error) {
	byID := map[string]*Server{}
	if r.db != nil {
		rows, err := r.db.Query(ctx, `SELECT id, spec, created_at, updated_at, coalesce(created_by, ''), coalesce(updated_by, '')
			FROM mcp_servers ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("mcp: list servers: %w", err)
		}
		stored, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Server, error) { return scanServer(row) })
		if err != nil {
			return nil, fmt.Errorf("mcp: list servers: %w", err)
		}
		for _, s := range stored {
			byID[s.Spec.ID] = s
		}
	}
	for id, s := range r.configured {
		byID[id] = &Server{Spec: s, Source: SourceConfig}
	}
	out := make([]*Server, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, nil
}

// Create stores a new server. It fails with [ErrExists] when the id is
// taken, [ErrConfigured] when configuration has it, and with an error
// wrapping dashcore.ErrInvalid when the spec is invalid.
func (r *Registry) Create(ctx context.Context, spec ServerSpec, actor string) (*Server, error) {
	if err := r.writable(spec); err != nil {
		return nil, err
	}
	raw, err := storedSpec(spec)
	if err != nil {
		return nil, err
	}
	var s *Server
	err = store.Tx(ctx, r.db, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `INSERT INTO mcp_servers (id, spec, created_by, updated_by) VALUES ($1, $2, NULLIF($3, ''), NULLIF($3, ''))
			ON CONFLICT (id) DO NOTHING
			RETURNING id, spec, created_at, updated_at, coalesce(created_by, ''), coalesce(updated_by, '')`, spec.ID, raw, actor)
		if s, err = scanServer(row); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return serverErr(spec.ID, ErrExists, "MCP server %s exists", spec.ID)
			}
			return fmt.Errorf("mcp: create server %s: %w", spec.ID, err)
		}
		return r.publish(ctx, tx, "created", spec.ID, actor)
	})
	return s, err
}

// Update replaces a stored server's specification.
func (r *Registry) Update(ctx context.Context, spec ServerSpec, actor string) (*Server, error) {
	if err := r.writable(spec); err != nil {
		return nil, err
	}
	raw, err := storedSpec(spec)
	if err != nil {
		return nil, err
	}
	var s *Server
	err = store.Tx(ctx, r.db, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `UPDATE mcp_servers SET spec = $2, updated_at = now(), updated_by = NULLIF($3, '') WHERE id = $1
			RETURNING id, spec, created_at, updated_at, coalesce(created_by, ''), coalesce(updated_by, '')`, spec.ID, raw, actor)
		if s, err = scanServer(row); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound(spec.ID)
			}
			return fmt.Errorf("mcp: update server %s: %w", spec.ID, err)
		}
		return r.publish(ctx, tx, "updated", spec.ID, actor)
	})
	return s, err
}

// Delete removes a stored server.
func (r *Registry) Delete(ctx context.Context, id, actor string) error {
	if _, ok := r.configured[id]; ok {
		return serverErr(id, ErrConfigured, "MCP server %s comes from configuration (TAYLORDASH_MCP_SERVERS); change it there", id)
	}
	if r.db == nil {
		return notFound(id)
	}
	return store.Tx(ctx, r.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM mcp_servers WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("mcp: delete server %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return notFound(id)
		}
		return r.publish(ctx, tx, "deleted", id, actor)
	})
}

// writable checks that spec may be stored.
func (r *Registry) writable(spec ServerSpec) error {
	if _, ok := r.configured[spec.ID]; ok {
		return serverErr(spec.ID, ErrConfigured, "MCP server %s comes from configuration (TAYLORDASH_MCP_SERVERS); change it there", spec.ID)
	}
	if r.db == nil {
		return serverErr(spec.ID, ErrConfigured, "MCP servers can only be configured on this host (no database)")
	}
	return nil
}

// storedSpec is the JSON stored for spec: the spec without its id.
func storedSpec(spec ServerSpec) ([]byte, error) {
	spec.ID = ""
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("mcp: encode server spec: %w", err)
	}
	return b, nil
}

// ServerChanged is the payload of a [TopicServerChanged] event.
type ServerChanged struct {
	// ServerID names the server.
	ServerID string `json:"server_id"`
	// Change is created, updated or deleted.
	Change string `json:"change"`
	// Actor is the acting principal's subject.
	Actor string `json:"actor,omitempty"`
	// Timestamp is when it happened.
	Timestamp time.Time `json:"timestamp"`
}

func (r *Registry) publish(ctx context.Context, tx pgx.Tx, change, id, actor string) error {
	if r.outbox == nil {
		return nil
	}
	_, err := r.outbox.PublishTx(ctx, tx, TopicServerChanged, KindServerChanged,
		ServerChanged{ServerID: id, Change: change, Actor: actor, Timestamp: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("mcp: publish server %s %s: %w", id, change, err)
	}
	return nil
}
