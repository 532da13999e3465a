// Package eventbuspg holds the PostgreSQL parts of the event bus: the
// events mirror ([Mirror], an [eventbus.Recorder]), the dead-letter queue
// ([DeadLetterStore], an [eventbus.DeadLetters]), the transactional
// outbox ([Outbox]) and its publisher ([Relay]), and the [Retention] job
// that deletes old rows. Its tables are created by [Migrations] (namespace
// "eventbus"). Everything works without fx; [Module] wires it into an
// application.
//
// # Mirror
//
// The mirror (table events_mirror) keeps every event once per idempotency
// key: the events the ingest pipeline takes from the broker, and the ones
// this service writes through the outbox. [Mirror.Record] stores a batch
// in one statement, one round trip: the columns travel as arrays that
// unnest turns into rows, INSERT ... ON CONFLICT (idempotency_key) skips
// the keys already stored, and RETURNING names the keys stored now; every other event of the batch is marked
// [eventbus.Event.Duplicate], including the second of two events with the
// same key in one batch. An event this service wrote through the outbox
// is in the mirror from its commit on, with received_at NULL: no handler
// has seen it yet, so its first delivery from the broker (an event with a
// ReceivedAt) fills received_at in and is not a duplicate; later
// deliveries are. Handlers behind [eventbus.Dedup] thus see each event
// once, whether it came from another service or from this one's outbox. For 500-event batches this was measured against
// COPY into a temporary table followed by INSERT ... SELECT ... ON
// CONFLICT, and against a multi-row VALUES list (BenchmarkMirrorRecord):
// unnest and COPY cost the same within noise (35 to 45 ms per batch on a
// shared 2-CPU machine), VALUES about 10% more, because the server's
// index maintenance dominates. unnest is kept: one statement and one
// round trip, no temporary table created per batch, no limit on
// parameters.
//
// The payload column holds the whole envelope as JSON (jsonb; its payload
// is an object, so payload->'payload'->>'name' works), created_at is when
// the row was stored. Text PostgreSQL cannot store (NUL characters,
// invalid UTF-8) is replaced with U+FFFD in the stored copy, and an
// envelope id that is not a UUID leaves event_id NULL, so that no event
// fails its batch for ever.
//
// [Mirror.List] filters by topic, kind and trace id (exact), and by a
// created_at range, newest first. Pages are keyset pages: pass the
// [Cursor] of the last event of a page ([StoredEvent.Cursor], carried in
// URLs as [Cursor.String] and read by [ParseCursor]) as
// [EventFilter.After]; they stay correct while events arrive, and cost
// the same on any page. A limit of 0 means [DefaultLimit]; a limit above
// [MaxLimit], or negative, is refused with a [dashcore.ErrInvalid] (422)
// rather than clamped, so that a client never believes it got everything
// it asked for.
//
// # Outbox and relay
//
// [Outbox.PublishTx] writes an event in the caller's transaction: the
// envelope, byte for byte as it will be published, into the outbox table;
// the event into the mirror; and a NOTIFY on [NotifyChannel], which
// PostgreSQL delivers at commit only. So the event is published if and
// only if the change it describes commits, it is visible in the mirror
// at commit (broker up or down), and a write never waits for the broker:
// with the broker down, writes stay fast and the outbox grows.
//
// A [Relay] publishes committed, unsent rows through an
// [eventbus.Publisher], whose Publish returns once the broker has
// acknowledged the message, and marks them sent. It LISTENs on a
// connection of its own, so that an event goes out milliseconds after
// its commit; if that connection drops it reconnects (with backoff) and
// meanwhile polls every [RelayConfig.PollInterval].
//
// Delivery is at least once. Rows are marked sent in the transaction that
// took them, after the broker acknowledged them; if the relay dies, or
// its database connection breaks, between the acknowledgement and the
// commit, the next relay publishes those messages again (at most a batch,
// [RelayConfig.BatchSize]). Consumers deduplicate by idempotency key, as
// the mirror does. A publish error stops the batch: the rows published
// before it are marked sent, the failing row records attempts and
// last_error, and its topic waits a jittered backoff doubling from
// [RelayConfig.MinBackoff] to [RelayConfig.MaxBackoff] before the relay
// tries that row again, while the other topics go on at once (a broker
// that is down fails each topic once per backoff). Rows are never
// dropped; a row the broker refuses for ever holds its own topic back,
// which [Outbox.BacklogAge] and the taylordash.events.outbox.oldest_age
// gauge show. A database failure makes the relay wait such a backoff as
// a whole.
//
// Order is kept per topic: a topic's rows are published in id order, one
// at a time, and a later row is never published before an earlier one
// has been acknowledged. Writes made one after the other (each
// transaction committed before the next begins, or several events in one
// transaction) therefore reach subscribers in the order they were
// written; writes in concurrent transactions have no order between them.
//
// Several instances can run a relay on one database. In each batch a
// relay looks at the topics of the oldest unsent rows, takes in random
// order the transaction-level advisory lock of each topic it can
// (pg_try_advisory_xact_lock, two-key form, class "tdob", key
// hashtext(topic)) until the rows it holds fill a batch, and publishes
// only those topics' rows, which it locks with FOR UPDATE NOWAIT. A topic
// is thus published by one relay at a time, and its rows are marked sent
// before its lock is released (at commit), so the next relay to take it
// starts after them (this relies on the broker having queued a message
// for its subscribers when it acknowledges it, as Mosquitto and the
// memory transport do). Topics are spread over the relays. NOWAIT rather than
// SKIP LOCKED: under the topic's lock no other relay holds those rows, and
// if something else did, skipping its row would publish the topic out of
// order; NOWAIT makes that an error and a retry instead.
//
// [Outbox.Backlog] counts unsent rows and [Outbox.BacklogAge] gives the
// age of the oldest, for health checks; a running Relay reports both as
// gauges.
//
// # Dead letters and replay
//
// [DeadLetterStore.Put] stores messages that could not be processed in
// dlq_events, byte-exact (bytea: invalid UTF-8 included), with a bounded
// [eventbus.Reason] and a detail. A message is identified by its
// [Fingerprint] (SHA-256 of topic, NUL, payload): dead-lettered again, it
// updates its row (attempts added up, last failure moved, latest reason)
// instead of adding one. [DeadLetterStore.List], [DeadLetterStore.Count]
// and [DeadLetterStore.Get] serve the API ([DLQFilter]: topic, reason,
// last-failure range, replayed or not, ids; newest first, keyset pages by
// id). The API's dead letter ([DLQItem]) shows the raw message
// ([DLQEnvelope] payload and payload_base64) only to callers allowed
// events:admin (the fields carry auth.PermissionTag): dlq:read shows why
// and when a message failed, not what it said.
//
// [DeadLetterStore.Replay] publishes chosen dead letters again, byte-exact
// to their original topic, through any [eventbus.Publisher], and marks
// each replayed (replayed_at, replay_count) once the broker accepted it,
// stopping at the first error and reporting how far it got.
// [DeadLetterStore.ReplayAll] does the same for every match of a filter,
// oldest first, with a progress callback for a CLI. A replay is a
// redelivery: an event already in the mirror is recognized by its key,
// and a message still invalid is dead-lettered onto its old row, which
// then counts as not replayed again.
//
// [DeadLetterStore.Purge] deletes the rows matching a filter, and refuses
// a filter without conditions ([ErrPurgeEverything]): emptying the queue
// takes the explicit [DeadLetterStore.PurgeAll].
//
// # Retention
//
// [Retention] deletes mirror events older than [RetentionConfig.Mirror]
// (by created_at), published outbox rows older than
// [RetentionConfig.Outbox] (by sent_at; unsent rows are never deleted),
// and dead letters older than [RetentionConfig.DLQ] (by last failure). It
// runs at start and every [RetentionConfig.Interval], deleting
// [RetentionConfig.BatchSize] rows per statement (DELETE ... WHERE id IN
// (SELECT id ... LIMIT n)), so that it never holds many locks for long. A
// zero duration keeps that table's rows for ever. Instances running it
// together delete the same rows, harmlessly.
//
// # Module and configuration
//
// [Module] reads [Config] from TAYLORDASH_EVENTS_MIRROR_RETENTION (default
// 720h), TAYLORDASH_EVENTS_OUTBOX_RETENTION (24h),
// TAYLORDASH_EVENTS_DLQ_RETENTION (720h),
// TAYLORDASH_EVENTS_RETENTION_INTERVAL (1h),
// TAYLORDASH_EVENTS_RELAY_BATCH_SIZE (500) and
// TAYLORDASH_EVENTS_RELAY_POLL_INTERVAL (1s); a retention of 0 keeps rows
// for ever. It provides the stores, under their concrete types and as
// the eventbus ports, and runs the relay (which needs an
// [eventbus.Publisher] in the graph) and the retention job.
//
// # Metrics
//
// With [WithMeterProvider] (the module uses the graph's
// metric.MeterProvider), the package records taylordash.events.mirror.stored
// and .duplicates (events), taylordash.events.mirror.latency (seconds from
// an event's ts to its storage), taylordash.events.dead_letters (by
// reason, a closed set), taylordash.events.outbox.published and
// .publish_failures, and the gauges taylordash.events.outbox.backlog and
// .oldest_age, also under the original's names [MetricOutboxBacklog] and
// [MetricOutboxBacklogAge] (queried at most every 5 seconds).
//
// # Tracing
//
// With [WithTracerProvider] (the module uses the graph's
// trace.TracerProvider), [Outbox.PublishTx] records the span "outbox
// <topic>", a child of the caller's span, and makes the envelope inside
// it, so that the envelope's traceparent names it; the [Relay] records a
// producer span "publish <topic>" per row, whose parent is the envelope's
// traceparent, so the writer's trace goes on to the broker. See
// docs/eventbus.md, "Tracing and metrics".
package eventbuspg
