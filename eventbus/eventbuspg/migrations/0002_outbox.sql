-- The transactional outbox: envelopes written in the caller's transaction,
-- published by the relay after commit, in id order per topic.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    topic           text        NOT NULL,
    idempotency_key text        NOT NULL,
    envelope        bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);

-- The relay's work: unsent rows, oldest first, and per topic.
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_unsent_topic_idx ON outbox (topic, id) WHERE sent_at IS NULL;
-- Retention: sent rows by age.
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
