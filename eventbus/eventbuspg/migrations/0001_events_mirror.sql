-- The mirror: every event seen on the bus or written through the outbox,
-- once per idempotency key. payload holds the whole envelope as JSON (the
-- original stored the parsed message under this name); created_at is when
-- the row was stored (the original's column).
CREATE TABLE events_mirror (
    id              bigserial   PRIMARY KEY,
    event_id        uuid,
    idempotency_key text        NOT NULL UNIQUE,
    trace_id        text,
    ts              timestamptz,
    kind            text,
    source          text,
    topic           text        NOT NULL,
    payload         jsonb       NOT NULL,
    traceparent     text,
    received_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The API lists newest first, by (created_at, id), filtered by topic or
-- kind and a created_at range; id ends each index so that keyset pages
-- read the index in order.
CREATE INDEX events_mirror_topic_created_at_idx ON events_mirror (topic, created_at, id);
CREATE INDEX events_mirror_kind_created_at_idx ON events_mirror (kind, created_at, id);
CREATE INDEX events_mirror_trace_id_idx ON events_mirror (trace_id);
CREATE INDEX events_mirror_created_at_idx ON events_mirror (created_at, id);
