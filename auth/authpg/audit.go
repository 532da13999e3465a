package authpg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// AuditTopicPrefix starts the topic of every published audit event:
// tracker/events/auth/<type>.
const AuditTopicPrefix = "tracker/events/auth/"

// Outbox publishes an event in the caller's transaction (the event bus's
// eventbuspg.Outbox): the audit row and its event commit together.
type Outbox interface {
	PublishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error)
}

// AuditLog writes security events to auth_audit_log and, when an outbox is
// given, publishes each on tracker/events/auth/<type> in the same
// transaction. It implements auth.Auditor.
type AuditLog struct {
	db     *store.DB
	outbox Outbox
	log    *slog.Logger
}

var _ auth.Auditor = (*AuditLog)(nil)

// NewAuditLog returns the audit log on db; outbox may be nil.
func NewAuditLog(db *store.DB, outbox Outbox, log *slog.Logger) *AuditLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AuditLog{db: db, outbox: outbox, log: log}
}

// Audit implements auth.Auditor. It is logged too (at info), so that a
// database outage does not hide security events.
func (a *AuditLog) Audit(ctx context.Context, e auth.AuditEvent) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("authpg: audit %s: details: %w", e.Type, err)
	}
	a.log.InfoContext(ctx, "audit", "type", e.Type, "outcome", e.Outcome, "subject", e.Subject,
		"username", e.Username, "ip", e.IP, "request_id", e.RequestID)
	// A refused request's context may end as soon as the response is
	// written; the event is recorded all the same.
	ctx = context.WithoutCancel(ctx)
	err = store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		var userID *string
		if e.UserID != "" {
			userID = &e.UserID
		}
		var id int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO auth_audit_log (at, event_type, outcome, user_id, username, subject, method, ip_address, user_agent, request_id, details)
			VALUES ($1, $2, $3, $4::uuid, NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), NULLIF($10, ''), $11)
			RETURNING id`,
			e.At, e.Type, e.Outcome, userID, e.Username, e.Subject, e.Method, e.IP, truncate(e.UserAgent, 512), e.RequestID, details).Scan(&id); err != nil {
			return err
		}
		if a.outbox != nil {
			if _, err := a.outbox.PublishTx(ctx, tx, AuditTopicPrefix+e.Type, "auth."+e.Type, publishedEvent(id, e)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("authpg: audit %s: %w", e.Type, store.MapError(err))
	}
	return nil
}

// PublishedAudit is the payload of an audit event on the bus. The bus's
// mirror is readable by anyone allowed events:read, so it carries no
// client address, user agent or details (only a failure's reason), and no
// username for failures (people type passwords into username fields);
// the audit API (audit:read) has the full row, by AuditID.
type PublishedAudit struct {
	AuditID   int64     `json:"audit_id"`
	Type      string    `json:"type"`
	Outcome   string    `json:"outcome"`
	At        time.Time `json:"at"`
	UserID    string    `json:"user_id,omitempty"`
	Username  string    `json:"username,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Method    string    `json:"method,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

func publishedEvent(id int64, e auth.AuditEvent) PublishedAudit {
	p := PublishedAudit{AuditID: id, Type: e.Type, Outcome: e.Outcome, At: e.At, UserID: e.UserID,
		Subject: e.Subject, Method: e.Method, RequestID: e.RequestID}
	if e.Outcome != "failure" {
		p.Username = e.Username
	}
	if r, ok := e.Details["reason"].(string); ok {
		p.Reason = r
	}
	return p
}

// AuditRecord is a row of the audit log.
type AuditRecord struct {
	ID int64 `json:"id"`
	auth.AuditEvent
}

// AuditFilter selects audit rows.
type AuditFilter struct {
	// Type, if set, keeps events of that type.
	Type string
	// Username, if set, keeps events about that user.
	Username string
	// Before, if set, keeps rows with a smaller id (pagination).
	Before int64
	// Limit caps the rows; default 100, at most 1000.
	Limit int
}

// List returns audit rows, newest first.
func (a *AuditLog) List(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := a.db.Query(ctx, `
		SELECT id, at, event_type, outcome, coalesce(user_id::text, ''), coalesce(username, ''), coalesce(subject, ''),
		       coalesce(method, ''), coalesce(ip_address, ''), coalesce(user_agent, ''), coalesce(request_id, ''), details
		FROM auth_audit_log
		WHERE ($1 = '' OR event_type = $1) AND ($2 = '' OR lower(username) = lower($2)) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.Type, f.Username, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("authpg: list audit log: %w", store.MapError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) {
		var r AuditRecord
		err := row.Scan(&r.ID, &r.At, &r.Type, &r.Outcome, &r.UserID, &r.Username, &r.Subject, &r.Method,
			&r.IP, &r.UserAgent, &r.RequestID, &r.Details)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("authpg: list audit log: %w", store.MapError(err))
	}
	return out, nil
}
