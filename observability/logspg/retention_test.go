package logspg_test

import (
	"context"
	"testing"
	"time"

	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/testkit"
)

func TestRetention(t *testing.T) {
	db := testkit.Postgres(t, logspg.Migrations)
	ctx := context.Background()
	if _, err := db.DB.Exec(ctx, `INSERT INTO application_logs (ts, level, level_num, service, message)
		SELECT now() - make_interval(days => d), 'INFO', 0, 'api', 'day ' || d FROM generate_series(0, 20) AS d`); err != nil {
		t.Fatal(err)
	}
	r := logspg.NewRetention(db.DB, logspg.RetentionConfig{MaxAge: 14*24*time.Hour + time.Hour, BatchSize: 2}, testkit.NewLogger(t))
	n, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 { // days 15..20
		t.Errorf("deleted %d rows, want 6", n)
	}
	var left, oldest int
	if err := db.DB.QueryRow(ctx, `SELECT count(*), max(extract(day FROM now() - ts))::int FROM application_logs`).Scan(&left, &oldest); err != nil {
		t.Fatal(err)
	}
	if left != 15 || oldest != 14 {
		t.Errorf("%d rows left, the oldest %d days old; want 15, 14", left, oldest)
	}

	keep := logspg.NewRetention(db.DB, logspg.RetentionConfig{}, nil)
	if n, err := keep.RunOnce(ctx); n != 0 || err != nil {
		t.Errorf("a zero MaxAge deleted %d (%v), want nothing", n, err)
	}

	// The job runs at Start, and Stop twice is harmless.
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Stop(ctx); err != nil {
			t.Error(err)
		}
	}
}
