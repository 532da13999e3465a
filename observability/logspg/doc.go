// Package logspg stores the application's logs in PostgreSQL, off the
// request path, and serves them through the logs API the original
// dashboard had (fixed). Its table is created by [Migrations] (namespace
// "logs"). Everything works without fx; [Module] and [HTTPModule] wire it
// into an application.
//
// # Queue
//
// A [Queue] is a [log/slog.Handler]: the observability module makes it one
// of the process logger's sinks (the value group [LogSinksGroup]; records
// arrive redacted and carrying trace_id, span_id and request_id), or
// slog.New(queue) uses it alone. Handle copies the record into a bounded
// in-memory ring ([QueueConfig.Capacity], 10,000 by default) and returns:
// it never waits for the database, never fails, and when the ring is full
// it drops the record and counts it ([Queue.Dropped]; a full ring is
// checked before any work, so an outage makes logging cheaper, not
// slower). Records below [QueueConfig.Level] (info by default) are not
// enabled. The queue has no dependencies, so the logger that every module
// takes can include it before the database exists.
//
// A record becomes an [Entry]: time, level, message, and the attributes
// trace_id, span_id, request_id, service, user_id and logger (outside any
// group) in their own columns; without them the trace comes from the
// context's span and the request id from [dashcore.RequestID]. Every other
// attribute is kept as one JSON object (jsonb) that follows slog's rules
// for groups (WithGroup, WithAttrs, empty and inline groups: the queue
// passes testing/slogtest). Text PostgreSQL cannot store (NUL, invalid
// UTF-8) becomes U+FFFD; messages and attribute objects are capped
// ([QueueConfig.MaxMessageBytes], [QueueConfig.MaxAttributesBytes]) so
// that the ring's memory is bounded.
//
// # Writer
//
// A [Writer] drains one queue into application_logs: a batch of up to
// [WriterConfig.BatchSize] (500) as soon as that many wait, or what waits
// [WriterConfig.FlushInterval] (200 ms) after the first record arrived, in
// one INSERT … SELECT FROM unnest(…) per batch. A batch leaves the queue
// only once written. When the database is unreachable the writer retries
// the same batch with capped exponential backoff and jitter, logging the
// outage once and the recovery once; meanwhile the queue fills and then
// drops, so after an outage the table holds the first Capacity records of
// it and the drop counter says how many followed. A batch the database
// refuses for another reason is tried [WriterConfig.MaxAttempts] times and
// then dropped and counted ([DropStats.WriteFailed]). A batch whose
// connection broke while it committed is written again, so a rare
// duplicate row is possible (at-least-once). [Writer.Stop] writes
// what is queued in a final flush bounded by its context and
// [WriterConfig.StopTimeout]; records it cannot write stay in the queue
// for a writer started later.
//
// With [WithMeterProvider] the writer reports taylor_log_dropped (a
// counter, by reason: queue_full, write_failed; Prometheus shows it as
// taylor_log_dropped_total), taylor_log_written and
// taylor_log_queue_length.
//
// # Retention
//
// [Retention] deletes rows older than [RetentionConfig.MaxAge] (14 days
// in [Config]) at start and every hour, in batches of 10,000 rows per
// statement.
//
// # The logs API
//
// [NewRoutes] (or [HTTPModule]) registers, with their requirements for the
// auth module's guard:
//
//   - GET /api/v1/logs (logs:read): filters level (exact; ALL means none),
//     min_level, service, trace_id, request_id, since, until, and search (a
//     case-insensitive substring of the message; % and _ match
//     themselves); newest first, limit 1 to 500 (default 100), keyset
//     pages by id (next_cursor); the body is {logs, count, limit,
//     has_more, next_cursor}. Each record keeps the original's names:
//     id, timestamp, level, service, message, trace_id, request_id,
//     user_id, and context (the attributes).
//   - GET /api/v1/logs/stats (logs:read): over the last hours hours
//     (default 24), the total, counts by_level, by_service, by level and
//     service (stats) and per hour with errors (error_rates). The route
//     is its own pattern, more specific than /{id}, so it is reachable,
//     and its SQL binds the window as a parameter.
//   - GET /api/v1/logs/{id} (logs:read): 404 for an unknown id, 422 for one
//     that is not a positive integer.
//   - POST /api/v1/logs/test (logs:write): logs the original's three test
//     records (INFO, WARN, ERROR) through the process logger and returns
//     the request id to find them by.
//   - POST /api/v1/logs/frontend (any authenticated caller): the browser's
//     entries, one, an array of up to 100 or {"logs": [...]}, in a body of
//     at most 64 KiB of JSON whatever its content type (sendBeacon sends
//     text/plain). Levels are checked, messages cut at 4 KiB, service set to
//     "frontend", user_id to the caller's subject, the time to the arrival
//     (the browser's is kept as client_timestamp), secret-looking keys
//     redacted. They go into the same queue: 202 with how many were
//     accepted and dropped, never a synchronous insert.
//
// Errors are RFC 9457 problems, through [dashcore.HTTPError].
package logspg
