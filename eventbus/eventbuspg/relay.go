package eventbuspg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// Relay publishes the outbox: committed, unpublished rows, in id order
// per topic, through an eventbus.Publisher, marking each sent once the
// broker has acknowledged it. Several relays (one per instance) may run
// on one database: they share the work by topic and keep each topic's
// order (see the package documentation). Delivery is at least once.
//
// Start and Stop may be called more than once; the relay's goroutines
// belong to it and Stop waits for them.
type Relay struct {
	db      *store.DB
	pub     eventbus.Publisher
	cfg     RelayConfig
	log     *slog.Logger
	metrics relayMetrics
	tracer  trace.Tracer

	// the backlog last observed for the gauges, reused for a while so
	// that frequent scrapes do not each query the database
	backlogMu   sync.Mutex
	backlogAt   time.Time
	backlogRows int64
	backlogAge  time.Duration

	// held by the loop goroutine only: topics whose last publication
	// failed, and when to try them again.
	retry map[string]*topicRetry

	mu      sync.Mutex
	running bool
	quit    chan struct{}      // closed by Stop: finish the batch, then end
	cancel  context.CancelFunc // ends everything at once
	allEnd  chan struct{}      // closed when the goroutines ended
	reg     metric.Registration
}

// NewRelay returns a relay that publishes the outbox of db through pub.
// log may be nil. It does nothing until Start.
func NewRelay(db *store.DB, pub eventbus.Publisher, cfg RelayConfig, log *slog.Logger, opts ...Option) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := applyOptions(opts)
	return &Relay{db: db, pub: pub, cfg: cfg.WithDefaults(), log: log, metrics: newRelayMetrics(o.meterProvider),
		tracer: o.tracerProvider.Tracer(eventbus.TracerName)}
}

// Start starts the relay: it LISTENs on NotifyChannel on a connection of
// its own (within ctx; if that fails it logs, polls, and keeps trying to
// listen in the background) and starts publishing. A running relay's
// Start does nothing.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil
	}
	runCtx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	l := &listener{connConfig: r.db.Pool.Config().ConnConfig.Copy(), wake: wake, log: r.log, cfg: r.cfg}
	conn, err := l.connect(ctx)
	if err != nil {
		r.log.Warn("outbox relay: cannot LISTEN yet; polling meanwhile", slog.Duration("poll_interval", r.cfg.PollInterval), slog.Any("error", err))
	}
	reg, err := r.metrics.meter.RegisterCallback(r.observe, r.metrics.backlog, r.metrics.oldest,
		r.metrics.taylorRows, r.metrics.taylorAge)
	if err != nil {
		r.log.Warn("outbox relay: cannot register the backlog gauges", slog.Any("error", err))
	}
	quit, allEnd := make(chan struct{}), make(chan struct{})
	r.running, r.quit, r.cancel, r.allEnd, r.reg = true, quit, cancel, allEnd, reg
	listenEnd := make(chan struct{})
	go func() {
		defer close(listenEnd)
		l.run(runCtx, conn)
	}()
	go func() {
		defer close(allEnd)
		r.loop(runCtx, quit, wake)
		cancel() // the listener has no more reason to run
		<-listenEnd
	}()
	return nil
}

// Stop stops the relay: the batch in progress ends after the message
// being published (the ones published are marked sent), then the relay
// ends. If ctx ends first, Stop cuts the batch off (its messages will be
// published again) and returns ctx's error once the goroutines ended. A
// stopped relay's Stop does nothing.
func (r *Relay) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.running {
		r.mu.Unlock()
		return nil
	}
	r.running = false
	close(r.quit)
	cancel, allEnd, reg := r.cancel, r.allEnd, r.reg
	r.mu.Unlock()
	if reg != nil {
		_ = reg.Unregister()
	}
	select {
	case <-allEnd:
		return nil
	case <-ctx.Done():
		cancel()
		<-allEnd
		return fmt.Errorf("eventbuspg: stop the outbox relay: %w", ctx.Err())
	}
}

// backlogReuse is how long an observed backlog serves the gauges before
// the database is asked again; backlogTimeout bounds the query.
const (
	backlogReuse   = 5 * time.Second
	backlogTimeout = time.Second
)

// observe reports the backlog gauges: two cheap aggregates over the
// unsent rows (a partial index), at most once per backlogReuse, within
// backlogTimeout; scrapes in between get the last values (their age
// grown by the time passed).
func (r *Relay) observe(ctx context.Context, o metric.Observer) error {
	r.backlogMu.Lock()
	defer r.backlogMu.Unlock()
	now := time.Now()
	n, age := r.backlogRows, r.backlogAge
	if r.backlogAt.IsZero() || now.Sub(r.backlogAt) >= backlogReuse {
		qctx, cancel := context.WithTimeout(ctx, backlogTimeout)
		var err error
		n, age, err = backlog(qctx, r.db)
		cancel()
		if err != nil {
			return err
		}
		r.backlogAt, r.backlogRows, r.backlogAge = now, n, age
	} else if n > 0 {
		age += now.Sub(r.backlogAt)
	}
	o.ObserveInt64(r.metrics.backlog, n)
	o.ObserveFloat64(r.metrics.oldest, age.Seconds())
	o.ObserveInt64(r.metrics.taylorRows, n)
	o.ObserveFloat64(r.metrics.taylorAge, age.Seconds())
	return nil
}

// topicRetry is the backoff of a topic whose publication failed.
type topicRetry struct {
	failures int
	at       time.Time
	retried  bool // a batch since at looked at the topic again
}

// loop publishes batches while there is work; then it waits for a
// notification, the poll interval, or the retry time of a topic in
// backoff. A topic whose publication fails waits a capped, jittered,
// growing backoff while the other topics go on; a database failure makes
// the whole relay wait such a backoff.
func (r *Relay) loop(ctx context.Context, quit <-chan struct{}, wake <-chan struct{}) {
	r.retry = make(map[string]*topicRetry)
	failures := 0
	for {
		if stopping(quit) {
			return
		}
		n, pubErr, err := r.relayBatch(ctx, quit)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			d := backoff(r.cfg.MinBackoff, r.cfg.MaxBackoff, failures)
			r.log.Warn("outbox relay: database failure; will retry", slog.Int("failures", failures), slog.Duration("backoff", d), slog.Any("error", err))
			if !sleep(ctx, quit, d) {
				return
			}
			continue
		}
		if failures > 0 {
			r.log.Info("outbox relay: database available again", slog.Int("after_failures", failures))
			failures = 0
		}
		if pubErr != nil || n >= r.cfg.BatchSize {
			continue // other topics, or more rows, may be waiting
		}
		wait := r.cfg.PollInterval
		for _, tr := range r.retry {
			if !tr.retried {
				wait = min(wait, max(time.Until(tr.at), 0))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-quit:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// failed puts topic in backoff after a failed publication of row id.
func (r *Relay) failed(topic string, id int64, err error) {
	tr := r.retry[topic]
	if tr == nil {
		tr = &topicRetry{}
		r.retry[topic] = tr
	}
	tr.failures++
	d := backoff(r.cfg.MinBackoff, r.cfg.MaxBackoff, tr.failures)
	tr.at, tr.retried = time.Now().Add(d), false
	level := slog.LevelDebug
	if tr.failures == 1 || tr.failures%10 == 0 {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "outbox relay: publish failed; the topic waits, the others go on", slog.String("topic", topic),
		slog.Int64("outbox_id", id), slog.Int("failures", tr.failures), slog.Duration("backoff", d), slog.Any("error", err))
}

// published takes topic out of backoff.
func (r *Relay) published(topic string) {
	if tr, ok := r.retry[topic]; ok {
		r.log.Info("outbox relay: publishing again", slog.String("topic", topic), slog.Int("after_failures", tr.failures))
		delete(r.retry, topic)
	}
}

// waiting lists the topics still in backoff (never nil: it is an SQL
// array). A topic whose backoff ended long ago without a new failure
// (another relay published it) is forgotten.
func (r *Relay) waiting() []string {
	now := time.Now()
	topics := []string{}
	for topic, tr := range r.retry {
		switch {
		case now.Before(tr.at):
			topics = append(topics, topic)
		case now.Sub(tr.at) > 2*r.cfg.MaxBackoff:
			delete(r.retry, topic)
		default:
			tr.retried = true // this batch may take it again
		}
	}
	return topics
}

func stopping(quit <-chan struct{}) bool {
	select {
	case <-quit:
		return true
	default:
		return false
	}
}

// sleep waits d; it reports false if the relay is stopping.
func sleep(ctx context.Context, quit <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-quit:
		return false
	case <-ctx.Done():
		return false
	}
}

// backoff is the wait after n consecutive failures: min doubling up to
// max, of which a random half is taken off (so that relays spread out).
func backoff(minD, maxD time.Duration, n int) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + rand.N(d/2+1)
}

// outboxLockClass is the first key of the relays' advisory locks (the
// second is the topic's hashtext): "tdob". Two-key advisory locks never
// collide with single-key ones such as the migration lock.
const outboxLockClass = 0x7464_6f62

// The relay's statements, run in one transaction per batch.
const (
	// candidateTopics: the topics of the oldest unsent rows, with how
	// many of those rows each has, leaving out the topics in backoff.
	candidateTopics = `SELECT topic, count(*) FROM (
	SELECT topic FROM outbox WHERE sent_at IS NULL AND NOT (topic = ANY($2)) ORDER BY id LIMIT $1
) head GROUP BY topic`
	// lockTopics: the topics of $2 whose lock this relay took; each is
	// its own until the transaction ends. (The lock function is volatile:
	// evaluated once per topic, in the filter.)
	lockTopics = `SELECT t FROM unnest($2::text[]) AS t WHERE pg_try_advisory_xact_lock($1, hashtext(t))`
	// takeRows: the oldest unsent rows of the topics held. Under the
	// topic's lock no other relay touches these rows; NOWAIT turns a
	// foreign row lock into an error (and a retry) instead of a skipped
	// row, which would break the topic's order.
	takeRows = `SELECT id, topic, envelope FROM outbox
WHERE sent_at IS NULL AND topic = ANY($1)
ORDER BY id LIMIT $2
FOR UPDATE NOWAIT`
	markSent   = `UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1)`
	markFailed = `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`
)

// maxBatchTime bounds the publishing of one batch, so that a slow broker
// does not keep the relay's transaction (and its locks, and the oldest
// snapshot that vacuum must respect) open for long: the rest waits for
// the next batch.
const maxBatchTime = 10 * time.Second

// headFactor sets how many of the oldest unsent rows are looked at to
// choose topics: headFactor batches' worth.
const headFactor = 4

// relayBatch publishes one batch in one transaction and returns how many
// rows it published. A publish error (pubErr) ends the batch: the rows
// published before it are marked sent, the failing one records the error,
// and its topic goes into backoff. err is a database failure: then no row
// of the batch is marked sent.
func (r *Relay) relayBatch(ctx context.Context, quit <-chan struct{}) (n int, pubErr, err error) {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("eventbuspg: relay: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx) // after Commit, a no-op
	}()

	topics, err := r.lockTopics(ctx, tx)
	if err != nil || len(topics) == 0 {
		return 0, nil, err
	}
	rows, err := tx.Query(ctx, takeRows, topics, r.cfg.BatchSize)
	if err != nil {
		return 0, nil, fmt.Errorf("eventbuspg: relay: take rows: %w", err)
	}
	type outboxRow struct {
		id       int64
		topic    string
		envelope []byte
	}
	var batch []outboxRow
	var row outboxRow
	if _, err := pgx.ForEachRow(rows, []any{&row.id, &row.topic, &row.envelope}, func() error {
		batch = append(batch, row)
		return nil
	}); err != nil {
		return 0, nil, fmt.Errorf("eventbuspg: relay: take rows: %w", err)
	}

	sent := make([]int64, 0, len(batch))
	sentTopics := make(map[string]bool)
	start := time.Now()
	for _, m := range batch {
		if stopping(quit) || time.Since(start) > maxBatchTime {
			break // commit what went out
		}
		err := r.publish(ctx, m.id, m.topic, m.envelope)
		if err != nil {
			// Stop here: no later row of this topic may overtake it.
			pubErr = fmt.Errorf("eventbuspg: relay: publish outbox row %d to %s: %w", m.id, m.topic, err)
			r.metrics.failures.Add(ctx, 1)
			if _, err := tx.Exec(ctx, markFailed, m.id, cleanText(err.Error())); err != nil {
				return 0, nil, errors.Join(pubErr, fmt.Errorf("eventbuspg: relay: record the failure: %w", err))
			}
			r.failed(m.topic, m.id, err)
			break
		}
		sent = append(sent, m.id)
		sentTopics[m.topic] = true
	}
	if len(sent) > 0 {
		if _, err := tx.Exec(ctx, markSent, sent); err != nil {
			return 0, nil, fmt.Errorf("eventbuspg: relay: mark %d rows sent: %w", len(sent), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// Published but not marked: they will be published again.
		return 0, nil, fmt.Errorf("eventbuspg: relay: commit %d rows sent: %w", len(sent), err)
	}
	for topic := range sentTopics {
		r.published(topic)
	}
	if len(sent) > 0 {
		r.metrics.published.Add(ctx, int64(len(sent)))
	}
	return len(sent), pubErr, nil
}

// publish publishes one outbox row within PublishTimeout, under the
// producer span "publish <topic>", whose parent is the envelope's
// traceparent: the trace of the request that wrote the row goes on to the
// broker, although the relay runs later, in another goroutine.
func (r *Relay) publish(ctx context.Context, id int64, topic string, envelope []byte) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	if _, off := r.tracer.(tracenoop.Tracer); off {
		return r.pub.Publish(ctx, topic, envelope)
	}
	ctx = eventbus.ContextWithTraceparent(ctx, eventbus.TraceparentOf(envelope))
	ctx, span := eventbus.StartPublishSpan(ctx, r.tracer, topic)
	defer span.End()
	span.SetAttributes(attribute.Int64("eventbus.outbox.id", id))
	err := r.pub.Publish(ctx, topic, envelope)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

// lockTopics picks topics among those of the oldest unsent rows, in
// random order, and takes the advisory lock of each it can until the
// rows it holds fill a batch: relays share the topics instead of the
// first one taking them all.
func (r *Relay) lockTopics(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, candidateTopics, r.cfg.BatchSize*headFactor, r.waiting())
	if err != nil {
		return nil, fmt.Errorf("eventbuspg: relay: find topics: %w", err)
	}
	type candidate struct {
		topic string
		rows  int
	}
	var candidates []candidate
	var c candidate
	if _, err := pgx.ForEachRow(rows, []any{&c.topic, &c.rows}, func() error {
		candidates = append(candidates, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("eventbuspg: relay: find topics: %w", err)
	}
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	rowsOf := make(map[string]int, len(candidates))
	for _, c := range candidates {
		rowsOf[c.topic] = c.rows
	}
	var held []string
	total := 0
	for rest := candidates; len(rest) > 0 && total < r.cfg.BatchSize; {
		// Try the fewest topics that could fill the batch; if some are
		// another relay's, try more. Usually one round trip.
		var try []string
		for sum := 0; len(rest) > 0 && total+sum < r.cfg.BatchSize; rest = rest[1:] {
			try = append(try, rest[0].topic)
			sum += rest[0].rows
		}
		rows, err := tx.Query(ctx, lockTopics, outboxLockClass, try)
		if err != nil {
			return nil, fmt.Errorf("eventbuspg: relay: lock topics: %w", err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("eventbuspg: relay: lock topics: %w", err)
		}
		for _, topic := range got {
			held = append(held, topic)
			total += rowsOf[topic]
		}
	}
	return held, nil
}

// listener holds the LISTEN connection and turns notifications into
// wake-ups of the loop. It reconnects when the connection drops; while it
// is down, the loop polls.
type listener struct {
	connConfig *pgx.ConnConfig
	wake       chan<- struct{}
	log        *slog.Logger
	cfg        RelayConfig
}

// listenCheck is how long the listener waits in silence before it checks
// that its connection is alive (a dead peer may send no error).
const listenCheck = 30 * time.Second

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.connConfig)
	if err != nil {
		return nil, fmt.Errorf("eventbuspg: relay: connect to listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("eventbuspg: relay: LISTEN %s: %w", NotifyChannel, err)
	}
	return conn, nil
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = l.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				d := backoff(l.cfg.MinBackoff, min(l.cfg.MaxBackoff, 5*time.Second), failures)
				if failures == 1 || failures%10 == 0 {
					l.log.Warn("outbox relay: cannot LISTEN; polling meanwhile", slog.Int("failures", failures), slog.Any("error", err))
				}
				if !sleep(ctx, nil, d) {
					return
				}
				continue
			}
			if failures > 0 {
				l.log.Info("outbox relay: listening again", slog.Int("after_failures", failures))
			}
			failures = 0
			l.signal() // notifications may have been missed while down
		}
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			l.signal()
			continue
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			if err = conn.Ping(ctx); err == nil {
				continue
			}
		}
		l.log.Warn("outbox relay: lost the LISTEN connection; reconnecting", slog.Any("error", err))
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		conn = nil
	}
}
