package pluginhost

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "pluginhost"
// namespace: plugins, plugin_security_violations, plugin_config_history,
// plugin_api_access and plugin_runtime_stats. Add-only.
var Migrations = store.Migrations{Namespace: "pluginhost", FS: migrationFiles}

// Plugin statuses.
const (
	// StatusInstalled is an installed, enabled plugin.
	StatusInstalled = "installed"
	// StatusDisabled is installed but switched off, by an admin or
	// automatically after repeated violations.
	StatusDisabled = "disabled"
)

// ErrNotFound is returned for an unknown plugin id; it wraps
// dashcore.ErrNotFound.
var ErrNotFound = fmt.Errorf("pluginhost: plugin not found: %w", dashcore.ErrNotFound)

// Plugin is an installed plugin as stored.
type Plugin struct {
	// ID, Name, Version, Description, Author, Type, Kind and Runtime come
	// from the manifest.
	ID, Name, Version, Description, Author, Type, Kind, Runtime string
	// Status is installed or disabled.
	Status string
	// DisabledReason says why a disabled plugin is off.
	DisabledReason string
	// RepositoryURL is the manifest's repository.
	RepositoryURL string
	// Source is upload, url or path; SourceRef the URL or path.
	Source, SourceRef string
	// BundleSHA256 is the hex SHA-256 of the installed archive (or of the
	// bundle's file listing for a directory).
	BundleSHA256 string
	// InstallPath is the live version directory.
	InstallPath string
	// Manifest is the parsed plugin.json.
	Manifest Manifest
	// Config is the current configuration (a JSON object).
	Config json.RawMessage
	// SecurityScore is 100 minus the weights of the last 10 violations.
	SecurityScore int
	// SecurityViolations counts violations; LastViolation is the latest.
	SecurityViolations int
	// LastViolation is when the latest violation happened.
	LastViolation *time.Time
	// InstalledAt and LastUpdated are timestamps of the install and of
	// the last change.
	InstalledAt, LastUpdated time.Time
	// InstalledBy is the subject that installed it.
	InstalledBy string
}

// Registry reads and writes the plugin tables.
type Registry struct {
	db *store.DB
}

// NewRegistry returns the registry on db (migrated with Migrations).
func NewRegistry(db *store.DB) *Registry { return &Registry{db: db} }

const pluginColumns = `id, name, version, description, author, type, kind, runtime, status,
	coalesce(disabled_reason, ''), coalesce(repository_url, ''), source, source_ref, bundle_sha256, install_path,
	manifest, config, security_score, security_violations, last_violation, installed_at, last_updated,
	coalesce(installed_by, '')`

func scanPlugin(row pgx.Row) (*Plugin, error) {
	var p Plugin
	var manifest []byte
	err := row.Scan(&p.ID, &p.Name, &p.Version, &p.Description, &p.Author, &p.Type, &p.Kind, &p.Runtime, &p.Status,
		&p.DisabledReason, &p.RepositoryURL, &p.Source, &p.SourceRef, &p.BundleSHA256, &p.InstallPath,
		&manifest, &p.Config, &p.SecurityScore, &p.SecurityViolations, &p.LastViolation, &p.InstalledAt,
		&p.LastUpdated, &p.InstalledBy)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(manifest, &p.Manifest); err != nil {
		return nil, fmt.Errorf("pluginhost: stored manifest of %s: %w", p.ID, err)
	}
	return &p, nil
}

// Get returns one plugin, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (*Plugin, error) {
	return getPlugin(ctx, r.db, id, false)
}

func getPlugin(ctx context.Context, q store.Querier, id string, lock bool) (*Plugin, error) {
	sql := `SELECT ` + pluginColumns + ` FROM plugins WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	p, err := scanPlugin(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("pluginhost: get plugin %s: %w", id, store.MapError(err))
	}
	return p, nil
}

// ListFilter narrows [Registry.List].
type ListFilter struct {
	// Status and Type, when set, must match.
	Status, Type string
}

// List returns the plugins, by id.
func (r *Registry) List(ctx context.Context, f ListFilter) ([]*Plugin, error) {
	rows, err := r.db.Query(ctx, `SELECT `+pluginColumns+` FROM plugins
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR type = $2) ORDER BY id`, f.Status, f.Type)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: list plugins: %w", store.MapError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Plugin, error) { return scanPlugin(row) })
	if err != nil {
		return nil, fmt.Errorf("pluginhost: list plugins: %w", store.MapError(err))
	}
	return out, nil
}

// upsert writes a plugin row in tx (install or update).
func upsert(ctx context.Context, tx pgx.Tx, p *Plugin) error {
	manifest, err := json.Marshal(p.Manifest)
	if err != nil {
		return fmt.Errorf("pluginhost: encode manifest: %w", err)
	}
	if len(p.Config) == 0 {
		p.Config = json.RawMessage(`{}`)
	}
	// The key that signs the plugin's tokens; an update keeps it.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("pluginhost: plugin key: %w", err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO plugins (id, name, version, description, author, type, kind, runtime, status, repository_url,
			source, source_ref, bundle_sha256, install_path, manifest, permissions, config, installed_by, credential_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'installed', NULLIF($9, ''), $10, $11, $12, $13, $14, $15, $16, NULLIF($17, ''), $18)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version,
			description = EXCLUDED.description, author = EXCLUDED.author, type = EXCLUDED.type, kind = EXCLUDED.kind,
			runtime = EXCLUDED.runtime, repository_url = EXCLUDED.repository_url, source = EXCLUDED.source,
			source_ref = EXCLUDED.source_ref, bundle_sha256 = EXCLUDED.bundle_sha256,
			install_path = EXCLUDED.install_path, manifest = EXCLUDED.manifest, permissions = EXCLUDED.permissions,
			config = EXCLUDED.config, last_updated = now()`,
		p.ID, p.Name, p.Version, p.Description, p.Author, p.Type, p.Kind, p.Runtime, p.RepositoryURL,
		p.Source, p.SourceRef, p.BundleSHA256, p.InstallPath, manifest, p.Manifest.Permissions, p.Config, p.InstalledBy, key)
	if err != nil {
		return fmt.Errorf("pluginhost: store plugin %s: %w", p.ID, store.MapError(err))
	}
	return nil
}

// Violation is a finding or a runtime violation of a plugin.
type Violation struct {
	// ID is the row id.
	ID int64
	// PluginID is the plugin's id.
	PluginID string
	// Type is the original's violation type, e.g. malicious_code_detected.
	Type string
	// Description says what happened.
	Description string
	// Severity is info, low, medium, high or critical.
	Severity string
	// Origin is scan, runtime or proxy.
	Origin string
	// RuleID, File, Line, Column and Snippet locate a scan finding.
	RuleID, File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Snippet is the offending source, one bounded line.
	Snippet string
	// Context holds more detail.
	Context map[string]any
	// At is when it happened.
	At time.Time
}

// addViolations stores violations and refreshes the plugin's counters
// and score: 100 minus the weights of its last 10 violations (the
// original's: low 5, medium 15, high 30, critical 50; info 0).
func addViolations(ctx context.Context, q store.Querier, pluginID string, vs []Violation) error {
	for _, v := range vs {
		ctxJSON, err := json.Marshal(v.Context)
		if err != nil || v.Context == nil {
			ctxJSON = []byte(`{}`)
		}
		_, err = q.Exec(ctx, `INSERT INTO plugin_security_violations
			(plugin_id, violation_type, description, severity, origin, rule_id, file, line, col, snippet, context)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, 0), NULLIF($9, 0), NULLIF($10, ''), $11)`,
			pluginID, v.Type, v.Description, v.Severity, v.Origin, v.RuleID, v.File, v.Line, v.Column, v.Snippet, ctxJSON)
		if err != nil {
			return fmt.Errorf("pluginhost: record violation of %s: %w", pluginID, store.MapError(err))
		}
	}
	if len(vs) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, `UPDATE plugins SET
		security_violations = (SELECT count(*) FROM plugin_security_violations WHERE plugin_id = $1 AND severity <> 'info'),
		last_violation = (SELECT max(timestamp) FROM plugin_security_violations WHERE plugin_id = $1 AND severity <> 'info'),
		security_score = greatest(0, 100 - (SELECT coalesce(sum(CASE severity WHEN 'low' THEN 5 WHEN 'medium' THEN 15
			WHEN 'high' THEN 30 WHEN 'critical' THEN 50 ELSE 0 END), 0)
			FROM (SELECT severity FROM plugin_security_violations WHERE plugin_id = $1 AND severity <> 'info'
			      ORDER BY timestamp DESC, id DESC LIMIT 10) last))
		WHERE id = $1`, pluginID)
	if err != nil {
		return fmt.Errorf("pluginhost: update score of %s: %w", pluginID, store.MapError(err))
	}
	return nil
}

// AddViolations records violations of a plugin (runtime or proxy) and
// updates its score.
func (r *Registry) AddViolations(ctx context.Context, pluginID string, vs ...Violation) error {
	return addViolations(ctx, r.db, pluginID, vs)
}

// Violations returns a plugin's latest violations, newest first.
func (r *Registry) Violations(ctx context.Context, pluginID string, limit int) ([]Violation, error) {
	rows, err := r.db.Query(ctx, `SELECT id, plugin_id, violation_type, description, severity, origin,
		coalesce(rule_id, ''), coalesce(file, ''), coalesce(line, 0), coalesce(col, 0), coalesce(snippet, ''), context, timestamp
		FROM plugin_security_violations WHERE plugin_id = $1 ORDER BY timestamp DESC, id DESC LIMIT $2`, pluginID, limit)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: list violations of %s: %w", pluginID, store.MapError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Violation, error) {
		var v Violation
		err := row.Scan(&v.ID, &v.PluginID, &v.Type, &v.Description, &v.Severity, &v.Origin, &v.RuleID, &v.File,
			&v.Line, &v.Column, &v.Snippet, &v.Context, &v.At)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("pluginhost: list violations of %s: %w", pluginID, store.MapError(err))
	}
	return out, nil
}

// SetStatus enables (StatusInstalled) or disables a plugin, with a
// reason for disabling. It returns an error wrapping ErrNotFound for an
// unknown id.
func (r *Registry) SetStatus(ctx context.Context, id, status, reason string) error {
	tag, err := r.db.Exec(ctx, `UPDATE plugins SET status = $2, disabled_reason = NULLIF($3, ''), last_updated = now()
		WHERE id = $1`, id, status, reason)
	if err != nil {
		return fmt.Errorf("pluginhost: set status of %s: %w", id, store.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// RuntimeHealth is a plugin's runtime record, from its stored
// statistics.
type RuntimeHealth struct {
	// Calls, Errors, Traps and Denials count calls and their failures
	// since install.
	Calls, Errors, Traps, Denials int64
	// LastCall and LastError are timestamps, nil when none.
	LastCall, LastError *time.Time
	// MeanMS is the mean duration of the last 100 recorded API calls, in
	// milliseconds; nil without calls.
	MeanMS *float64
}

// RecordAccess stores one API call a plugin made (allowed or denied).
func (r *Registry) RecordAccess(ctx context.Context, pluginID, method, path, permission string, allowed bool, status int, d time.Duration) error {
	_, err := r.db.Exec(ctx, `INSERT INTO plugin_api_access (plugin_id, method, path, permission, allowed, status, duration_ms)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, NULLIF($6, 0), $7)`, pluginID, method, truncateText(path, 512), permission, allowed, status,
		float64(d)/float64(time.Millisecond))
	if err != nil {
		return fmt.Errorf("pluginhost: record access of %s: %w", pluginID, store.MapError(err))
	}
	return nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// SetConfig replaces a plugin's configuration and records the old and
// new values in plugin_config_history, in one transaction.
func (r *Registry) SetConfig(ctx context.Context, id string, config json.RawMessage, actor string) error {
	return store.Tx(ctx, r.db, func(tx pgx.Tx) error {
		var old []byte
		err := tx.QueryRow(ctx, `SELECT config FROM plugins WHERE id = $1 FOR UPDATE`, id).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("pluginhost: configure %s: %w", id, store.MapError(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE plugins SET config = $2, last_updated = now() WHERE id = $1`, id, config); err != nil {
			return fmt.Errorf("pluginhost: configure %s: %w", id, store.MapError(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plugin_config_history (plugin_id, old_config, new_config, changed_by)
			VALUES ($1, $2, $3, $4)`, id, old, config, actor); err != nil {
			return fmt.Errorf("pluginhost: configure %s: %w", id, store.MapError(err))
		}
		return nil
	})
}

// Health returns a plugin's runtime record (zero without calls).
func (r *Registry) Health(ctx context.Context, id string) (*RuntimeHealth, error) {
	h := &RuntimeHealth{}
	err := r.db.QueryRow(ctx, `SELECT calls, errors, traps, denials, last_call, last_error FROM plugin_runtime_stats
		WHERE plugin_id = $1`, id).Scan(&h.Calls, &h.Errors, &h.Traps, &h.Denials, &h.LastCall, &h.LastError)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pluginhost: health of %s: %w", id, store.MapError(err))
	}
	var mean *float64
	err = r.db.QueryRow(ctx, `SELECT avg(duration_ms) FROM (SELECT duration_ms FROM plugin_api_access
		WHERE plugin_id = $1 AND duration_ms IS NOT NULL ORDER BY at DESC LIMIT 100) recent`, id).Scan(&mean)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: health of %s: %w", id, store.MapError(err))
	}
	h.MeanMS = mean
	return h, nil
}

// Stats is the original's plugin overview.
type Stats struct {
	TotalPlugins          int            `json:"total_plugins" example:"3"`
	InstalledPlugins      int            `json:"installed_plugins"`
	DisabledPlugins       int            `json:"disabled_plugins"`
	FailedPlugins         int            `json:"failed_plugins" doc:"Always 0: a failed install leaves no row."`
	PluginsWithViolations int            `json:"plugins_with_violations"`
	AverageSecurityScore  float64        `json:"average_security_score" doc:"Rounded to one decimal; 100 without plugins."`
	RecentViolations      []RecentRecord `json:"recent_violations"`
}

// RecentRecord is a violation in the overview.
type RecentRecord struct {
	PluginID  string    `json:"plugin_id"`
	Type      string    `json:"type"`
	Severity  string    `json:"severity"`
	Timestamp time.Time `json:"timestamp"`
}

// Stats returns the overview.
func (r *Registry) Stats(ctx context.Context) (*Stats, error) {
	s := &Stats{}
	err := r.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'installed'),
		count(*) FILTER (WHERE status = 'disabled'), count(*) FILTER (WHERE security_violations > 0),
		coalesce(round(avg(security_score)::numeric, 1), 100)::float8 FROM plugins`).Scan(
		&s.TotalPlugins, &s.InstalledPlugins, &s.DisabledPlugins, &s.PluginsWithViolations, &s.AverageSecurityScore)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: stats: %w", store.MapError(err))
	}
	rows, err := r.db.Query(ctx, `SELECT v.plugin_id, v.violation_type, v.severity, v.timestamp
		FROM plugin_security_violations v JOIN plugins p ON p.id = v.plugin_id
		WHERE v.severity <> 'info' ORDER BY v.timestamp DESC, v.id DESC LIMIT 10`)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: stats: %w", store.MapError(err))
	}
	s.RecentViolations, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RecentRecord])
	if err != nil {
		return nil, fmt.Errorf("pluginhost: stats: %w", store.MapError(err))
	}
	return s, nil
}

// addStats adds call counts to a plugin's runtime record (nothing for a
// plugin that is gone).
func (r *Registry) addStats(ctx context.Context, id string, d *statDelta) error {
	nullTime := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	_, err := r.db.Exec(ctx, `INSERT INTO plugin_runtime_stats AS s (plugin_id, calls, errors, traps, denials, last_call, last_error)
		SELECT id, $2, $3, $4, $5, $6, $7 FROM plugins WHERE id = $1
		ON CONFLICT (plugin_id) DO UPDATE SET calls = s.calls + EXCLUDED.calls, errors = s.errors + EXCLUDED.errors,
			traps = s.traps + EXCLUDED.traps, denials = s.denials + EXCLUDED.denials,
			last_call = greatest(s.last_call, EXCLUDED.last_call), last_error = greatest(s.last_error, EXCLUDED.last_error)`,
		id, d.calls, d.errors, d.traps, d.denials, nullTime(d.lastCall), nullTime(d.lastError))
	if err != nil {
		return fmt.Errorf("pluginhost: runtime statistics of %s: %w", id, store.MapError(err))
	}
	return nil
}
