-- The dead-letter queue: one row per distinct message (fingerprint =
-- sha256 of topic, NUL, payload), the payload byte-exact.
CREATE TABLE dlq_events (
    id               bigserial   PRIMARY KEY,
    fingerprint      text        NOT NULL UNIQUE,
    original_topic   text        NOT NULL,
    reason           text        NOT NULL,
    detail           text        NOT NULL DEFAULT '',
    payload          bytea       NOT NULL,
    idempotency_key  text,
    attempts         integer     NOT NULL DEFAULT 1,
    first_failure_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    replayed_at      timestamptz,
    replay_count     integer     NOT NULL DEFAULT 0
);

CREATE INDEX dlq_events_last_failure_at_idx ON dlq_events (last_failure_at);
CREATE INDEX dlq_events_original_topic_idx ON dlq_events (original_topic, id);
