-- The application's log records, written in batches by the Writer from the
-- in-memory Queue (never on a request's path). The columns keep the
-- original's names where it had them (level, service, message, trace_id,
-- request_id, user_id); ts is the original's "timestamp", attributes its
-- "context" (every attribute of the record, as a JSON object).
CREATE TABLE application_logs (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts         timestamptz NOT NULL,
    level      text        NOT NULL,
    level_num  integer     NOT NULL,
    service    text        NOT NULL,
    message    text        NOT NULL,
    trace_id   text,
    span_id    text,
    request_id text,
    user_id    text,
    logger     text,
    source     text,
    attributes jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT application_logs_attributes_object CHECK (jsonb_typeof(attributes) = 'object')
);

-- The API lists newest first by id, filtered by level, service, trace_id,
-- request_id and a ts range; retention deletes by ts; stats group a ts
-- window.
CREATE INDEX application_logs_ts_idx ON application_logs (ts);
CREATE INDEX application_logs_level_idx ON application_logs (level, id);
CREATE INDEX application_logs_service_idx ON application_logs (service, id);
CREATE INDEX application_logs_trace_id_idx ON application_logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX application_logs_request_id_idx ON application_logs (request_id) WHERE request_id IS NOT NULL;
