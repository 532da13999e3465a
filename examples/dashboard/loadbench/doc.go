// Package loadbench measures the dashboard under load with wrk, against a
// raw net/http + pgx server of the same two endpoints built into the
// benchmark (same query, same JSON, an API-key check and nothing else).
//
// It builds the dashboard command and runs it as users do, on a fresh
// database and the test broker, with every module on: API-key
// authentication with RBAC and rate limits, a trace per request sampled
// at 100 % and exported over OTLP/HTTP (to a sink in the benchmark),
// metrics, logs (stderr and the PostgreSQL sink), and the outbox event of
// every write. wrk must be installed (apt-get install wrk):
//
//	go test ./examples/dashboard/loadbench -run '^$' -bench Load -benchtime 1x -v
//
// The results, and how to read them, are in docs/benchmarks.md.
package loadbench
