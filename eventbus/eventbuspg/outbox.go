package eventbuspg

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// NotifyChannel is the PostgreSQL channel on which PublishTx announces new
// outbox rows; relays LISTEN on it. The notification is delivered when
// the writing transaction commits, and never if it rolls back.
const NotifyChannel = "taylordash_outbox"

// Outbox writes events in the caller's transaction, to be published by a
// Relay once that transaction commits: an event is published if and only
// if the data change that caused it is committed, and the writer never
// waits for the broker. It is safe for concurrent use.
type Outbox struct {
	db     *store.DB
	cfg    OutboxConfig
	tracer trace.Tracer
}

// NewOutbox returns an outbox stored in db (migrated with Migrations).
// Of the options, WithTracerProvider applies.
func NewOutbox(db *store.DB, cfg OutboxConfig, opts ...Option) *Outbox {
	o := applyOptions(opts)
	return &Outbox{db: db, cfg: cfg.WithDefaults(), tracer: o.tracerProvider.Tracer(eventbus.TracerName)}
}

// insertOutbox writes the outbox row and the mirror row and notifies the
// relays, in one statement (one round trip). The mirror row makes the
// event visible in the API at commit, broker up or down. Its received_at
// stays NULL: when the relay's publication comes back through ingest, the
// first delivery fills it in and is handled (not a Duplicate); later ones
// are duplicates.
const insertOutbox = `WITH o AS (
	INSERT INTO outbox (topic, idempotency_key, envelope) VALUES ($1, $2, $3)
), m AS (
	INSERT INTO events_mirror (event_id, idempotency_key, trace_id, ts, kind, source, topic, payload, traceparent)
	VALUES ($4, $2, $5, $6, $7, $8, $1, $9, $10)
	ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT pg_notify('` + NotifyChannel + `', '')`

// PublishTx builds the envelope of an event of kind with payload (a value
// that marshals to a JSON object, or nil) with eventbus.New (the trace id
// comes from ctx) and writes it in tx: to the outbox, for the relay to
// publish on topic after tx commits, and to the mirror. It never touches
// the broker, so it is as fast with the broker down as up. If tx rolls
// back, nothing is published and nothing mirrored. When the publication
// comes back through ingest, its first delivery is handled as a new event
// (see Mirror.Record). It returns the envelope written.
//
// topic must be a concrete MQTT topic (no wildcards), kind not empty, and
// the envelope at most OutboxConfig.MaxSize bytes; an error of PublishTx
// leaves tx to the caller (PostgreSQL fails the rest of a transaction
// after a failed statement: roll it back).
//
// With WithTracerProvider, it records the span "outbox <topic>", a child
// of ctx's span, and the envelope's traceparent names that span: the
// relay's and the consumers' spans join the caller's trace.
func (o *Outbox) PublishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error) {
	if _, off := o.tracer.(tracenoop.Tracer); off {
		return o.publishTx(ctx, tx, topic, kind, payload)
	}
	ctx, span := o.tracer.Start(ctx, "outbox "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(eventbus.AttrMessagingSystem.String(eventbus.MessagingSystem),
			eventbus.AttrDestination.String(topic), eventbus.AttrOperationType.String("create"),
			eventbus.AttrOperationName.String("outbox")))
	defer span.End()
	env, err := o.publishTx(ctx, tx, topic, kind, payload)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "outbox write failed")
		return env, err
	}
	span.SetAttributes(eventbus.AttrMessageID.String(env.ID))
	return env, nil
}

// publishTx is PublishTx without its span.
func (o *Outbox) publishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error) {
	if err := checkTopic(topic); err != nil {
		return eventbus.Envelope{}, err
	}
	if strings.TrimSpace(kind) == "" {
		return eventbus.Envelope{}, fmt.Errorf("eventbuspg: publish to %s: the kind is empty", topic)
	}
	env, err := eventbus.New(ctx, o.cfg.Source, kind, payload)
	if err != nil {
		return eventbus.Envelope{}, err
	}
	raw, err := env.Marshal()
	if err != nil {
		return eventbus.Envelope{}, err
	}
	if len(raw) > o.cfg.MaxSize {
		return eventbus.Envelope{}, fmt.Errorf("eventbuspg: publish %s to %s: the envelope is %d bytes, the limit is %d", kind, topic, len(raw), o.cfg.MaxSize)
	}
	_, err = tx.Exec(ctx, insertOutbox, topic, env.IdempotencyKey, raw,
		eventUUID(env.ID), env.TraceID, env.TS, cleanText(env.Kind), cleanText(env.Source), string(cleanJSON(raw)), env.Traceparent)
	if err != nil {
		return eventbus.Envelope{}, fmt.Errorf("eventbuspg: write %s to the outbox: %w", kind, err)
	}
	return env, nil
}

// Publish is PublishTx in a transaction of its own, for events that
// accompany no other write.
func (o *Outbox) Publish(ctx context.Context, topic, kind string, payload any) (eventbus.Envelope, error) {
	var env eventbus.Envelope
	err := store.Tx(ctx, o.db, func(tx pgx.Tx) error {
		var err error
		env, err = o.PublishTx(ctx, tx, topic, kind, payload)
		return err
	})
	return env, err
}

// checkTopic refuses topics the broker would refuse for ever: a row that
// can never be published would block its topic in the relay.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("eventbuspg: publish: the topic is empty")
	case len(topic) > 65535:
		return fmt.Errorf("eventbuspg: publish: the topic is %d bytes long, MQTT allows 65535", len(topic))
	case !utf8.ValidString(topic) || strings.ContainsRune(topic, 0):
		return fmt.Errorf("eventbuspg: publish: topic %q is not valid UTF-8 without NUL", topic)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("eventbuspg: publish: topic %q holds a wildcard (+ or #)", topic)
	}
	return nil
}

// Backlog returns how many outbox rows are committed but not published.
func (o *Outbox) Backlog(ctx context.Context) (int64, error) {
	n, _, err := backlog(ctx, o.db)
	return n, err
}

// BacklogAge returns the age of the oldest unpublished outbox row, 0 when
// there is none: how late the relay is (a broker down, or a row the
// broker refuses).
func (o *Outbox) BacklogAge(ctx context.Context) (time.Duration, error) {
	_, age, err := backlog(ctx, o.db)
	return age, err
}

func backlog(ctx context.Context, db *store.DB) (n int64, age time.Duration, err error) {
	err = db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM outbox WHERE sent_at IS NULL),
		COALESCE((SELECT now() - created_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1), '0')`).Scan(&n, &age)
	if err != nil {
		return 0, 0, fmt.Errorf("eventbuspg: outbox backlog: %w", store.MapError(err))
	}
	return n, max(age, 0), nil
}
