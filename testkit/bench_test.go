package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// BenchmarkPostgres measures what a test pays for an isolated, migrated
// database: acquire (from asking to a pool that answered its first query)
// and test (acquire plus the release after the test, which resets the
// slot). "recycled" is testkit.Postgres; "clone-drop" is
// the usual design (CREATE DATABASE ... TEMPLATE per test, DROP after),
// run in the same process on the same server as the baseline.
//
//	go test ./testkit -run '^$' -bench BenchmarkPostgres -benchtime 200x
func BenchmarkPostgres(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	sets := []store.Migrations{widgets}

	b.Run("recycled", func(b *testing.B) {
		// Warm up: the template and one slot exist before timing.
		_, release, err := acquireDatabase(ctx, sets, log)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := release(ctx, false); err != nil {
			b.Fatal(err)
		}
		acquire := make([]time.Duration, 0, b.N)
		cycle := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			db, release, err := acquireDatabase(ctx, sets, log)
			if err != nil {
				b.Fatal(err)
			}
			if err := db.DB.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			acquire = append(acquire, time.Since(start))
			if _, err := db.DB.Exec(ctx, "INSERT INTO widgets (kind_id, name) VALUES (1, 'x')"); err != nil {
				b.Fatal(err)
			}
			releaseStart := time.Now()
			if _, err := release(ctx, false); err != nil {
				b.Fatal(err)
			}
			cycle = append(cycle, acquire[len(acquire)-1]+time.Since(releaseStart))
		}
		reportMedian(b, acquire, cycle)
	})

	b.Run("clone-drop", func(b *testing.B) {
		srv, err := shared.postgresServer(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fam, err := shared.family(srv, sets)
		if err != nil {
			b.Fatal(err)
		}
		if err := fam.ensureTemplate(ctx, log); err != nil {
			b.Fatal(err)
		}
		acquire := make([]time.Duration, 0, b.N)
		cycle := make([]time.Duration, 0, b.N)
		i := 0
		b.ResetTimer()
		for b.Loop() {
			i++
			name := fmt.Sprintf("tdt_bench_baseline_%d", i)
			start := time.Now()
			err := srv.admin(ctx, func(c *pgx.Conn) error {
				_, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+fam.templateName())
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			db, err := store.Open(ctx, store.Config{URL: srv.dbURL(name), MinConns: -1, MaxConns: 10})
			if err != nil {
				b.Fatal(err)
			}
			acquire = append(acquire, time.Since(start))
			if _, err := db.Exec(ctx, "INSERT INTO widgets (kind_id, name) VALUES (1, 'x')"); err != nil {
				b.Fatal(err)
			}
			releaseStart := time.Now()
			db.Close()
			if err := srv.admin(ctx, func(c *pgx.Conn) error { return dropDatabase(ctx, c, name) }); err != nil {
				b.Fatal(err)
			}
			cycle = append(cycle, acquire[len(acquire)-1]+time.Since(releaseStart))
		}
		reportMedian(b, acquire, cycle)
	})
}

// reportMedian reports the median and 90th percentile of the time to get
// a database (acquire) and of acquire plus release after the test (the
// cost a test pays, excluding its own work).
func reportMedian(b *testing.B, acquire, cycle []time.Duration) {
	b.Helper()
	if len(acquire) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(acquire)
	slices.Sort(cycle)
	b.ReportMetric(ms(acquire[len(acquire)/2]), "ms/acquire-p50")
	b.ReportMetric(ms(acquire[len(acquire)*9/10]), "ms/acquire-p90")
	b.ReportMetric(ms(cycle[len(cycle)/2]), "ms/test-p50")
	b.ReportMetric(ms(cycle[len(cycle)*9/10]), "ms/test-p90")
}
