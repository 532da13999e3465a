package observability

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/taylordash/taylordash/dashcore"
)

// MetricsHandler serves the Prometheus text exposition of g, behind the
// basic or bearer authentication cfg configures (either is accepted when
// both are; none means open). A refused scrape gets 401 with
// WWW-Authenticate. Credentials are compared in constant time.
func MetricsHandler(g prometheus.Gatherer, cfg MetricsConfig) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	if cfg.BearerToken == "" && cfg.BasicAuthUser == "" {
		return h
	}
	var challenges []string
	if cfg.BasicAuthUser != "" {
		challenges = append(challenges, `Basic realm="metrics", charset="UTF-8"`)
	}
	if cfg.BearerToken != "" {
		challenges = append(challenges, `Bearer realm="metrics"`)
	}
	challenge := strings.Join(challenges, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !metricsAuthorized(r, cfg) {
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func metricsAuthorized(r *http.Request, cfg MetricsConfig) bool {
	if cfg.BasicAuthUser != "" {
		if user, pass, ok := r.BasicAuth(); ok {
			// Both compared, always: no early exit tells which was wrong.
			u := secretEqual(user, cfg.BasicAuthUser)
			p := secretEqual(pass, cfg.BasicAuthPassword)
			if u&p == 1 {
				return true
			}
		}
	}
	if cfg.BearerToken != "" {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && secretEqual(strings.TrimSpace(token), cfg.BearerToken) == 1 {
			return true
		}
	}
	return false
}

// secretEqual compares hashes, so that the time taken does not reveal the
// secret's length either; it returns 1 when equal.
func secretEqual(got, want string) int {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:])
}

// MetricsRoutes contributes "GET <cfg.Path>" (default /metrics) as a raw
// handler serving g. The route declares no auth requirement: the auth
// guard lets "GET /metrics" through (auth.DefaultPublicRoutes) and the
// handler applies cfg's own protection.
func MetricsRoutes(g prometheus.Gatherer, cfg MetricsConfig) dashcore.Routes {
	cfg = cfg.WithDefaults()
	h := MetricsHandler(g, cfg)
	return dashcore.Routes{
		Name:   "observability.metrics",
		Handle: func(mux *http.ServeMux) { mux.Handle("GET "+cfg.Path, h) },
	}
}

// PoolStater is what [NewPoolCollector] reads: *pgxpool.Pool and
// *store.DB implement it.
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// NewPoolCollector returns a Prometheus collector of the pool's statistics,
// read at each scrape, as taylor_db_pool_*: acquired, idle, constructing,
// total and max connections (gauges), and acquires, empty acquires,
// canceled acquires and the time spent acquiring (counters).
func NewPoolCollector(pool PoolStater) prometheus.Collector {
	return &poolCollector{pool: pool}
}

type poolCollector struct {
	pool PoolStater
}

var (
	poolAcquired     = prometheus.NewDesc("taylor_db_pool_acquired_connections", "Connections currently acquired from the pool.", nil, nil)
	poolIdle         = prometheus.NewDesc("taylor_db_pool_idle_connections", "Idle connections in the pool.", nil, nil)
	poolConstructing = prometheus.NewDesc("taylor_db_pool_constructing_connections", "Connections being opened.", nil, nil)
	poolTotal        = prometheus.NewDesc("taylor_db_pool_total_connections", "Connections in the pool (acquired, idle and constructing).", nil, nil)
	poolMax          = prometheus.NewDesc("taylor_db_pool_max_connections", "The pool's maximum size.", nil, nil)
	poolAcquires     = prometheus.NewDesc("taylor_db_pool_acquires_total", "Successful acquires from the pool.", nil, nil)
	poolAcquireTime  = prometheus.NewDesc("taylor_db_pool_acquire_duration_seconds_total", "Total time spent in successful acquires.", nil, nil)
	poolEmpty        = prometheus.NewDesc("taylor_db_pool_empty_acquires_total", "Successful acquires that had to wait for a connection (none idle).", nil, nil)
	poolCanceled     = prometheus.NewDesc("taylor_db_pool_canceled_acquires_total", "Acquires canceled by their context.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolConstructing, poolTotal, poolMax, poolAcquires, poolAcquireTime, poolEmpty, poolCanceled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolAcquired, float64(s.AcquiredConns()))
	gauge(poolIdle, float64(s.IdleConns()))
	gauge(poolConstructing, float64(s.ConstructingConns()))
	gauge(poolTotal, float64(s.TotalConns()))
	gauge(poolMax, float64(s.MaxConns()))
	counter(poolAcquires, float64(s.AcquireCount()))
	counter(poolAcquireTime, s.AcquireDuration().Seconds())
	counter(poolEmpty, float64(s.EmptyAcquireCount()))
	counter(poolCanceled, float64(s.CanceledAcquireCount()))
}
