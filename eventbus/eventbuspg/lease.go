package eventbuspg

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// lease is the advisory lock that shows this process alive to the others:
// the in-flight batches it writes carry its key, and while a dedicated
// connection holds the lock, other writers leave those batches to it. If
// the connection dies (the process, or the database, restarted), the lock
// goes with it and the batches count as abandoned: their events are
// handled again when they come back, as at-least-once allows. A new lease
// is taken on the next use.
type lease struct {
	db *store.DB

	mu      sync.Mutex
	conn    *pgx.Conn
	key     int64
	checked time.Time
}

// owner returns the key of a lock held now (checked at most every second).
func (l *lease) owner(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil && !l.conn.IsClosed() {
		if time.Since(l.checked) < time.Second {
			return l.key, nil
		}
		if err := l.conn.Ping(ctx); err == nil {
			l.checked = time.Now()
			return l.key, nil
		}
		_ = l.conn.Close(context.WithoutCancel(ctx))
		l.conn = nil
	}
	pooled, err := l.db.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventbuspg: take the in-flight lease: %w", err)
	}
	conn := pooled.Hijack() // held for the lock's life, not returned to the pool
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := int64(binary.BigEndian.Uint64(b[:]) &^ (1 << 63))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("eventbuspg: take the in-flight lease: %w", err)
	}
	l.conn, l.key, l.checked = conn, key, time.Now()
	return key, nil
}

// close releases the lease.
func (l *lease) close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	// Unlock first: the server ends a closed connection's session (and its
	// locks) a moment after the close, and other instances must see this
	// one gone at once. If the connection is dead, so is the lock: that
	// error does not matter.
	_, _ = l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key)
	err := l.conn.Close(ctx)
	l.conn = nil
	return err
}
