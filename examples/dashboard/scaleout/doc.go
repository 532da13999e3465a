// Package scaleout proves that the dashboard scales out: its test starts
// two instances of the application in one process, against one
// PostgreSQL database and one MQTT broker, as two replicas behind a load
// balancer would run, and checks what docs/scaling.md promises:
//
//   - started together on an empty database, the instances apply the
//     migrations once (one applies them under the advisory lock, the
//     other finds nothing to do), and both start;
//   - events written through the API of either instance (test events and
//     project creations, through the outbox) and published by an
//     external MQTT client are each stored once in the mirror; each
//     outbox row is published once (an observer on the broker counts the
//     deliveries); the shared subscription splits the ingest between the
//     instances with no duplicate (their taylor_ingest_total counters);
//   - a Server-Sent Events client on each instance sees every event, in
//     whichever instance it was written or ingested;
//   - a policy change made on one instance is enforced by the other
//     within a second.
//
// It records the figures docs/scaling.md gives (throughput, relay
// latency, SSE delivery lag, policy propagation, connections):
//
//	go test ./examples/dashboard/scaleout -count=1 -v -run TestTwoInstances
//
// It needs PostgreSQL and a broker through testkit (the local servers on
// their standard ports, or the other providers), as every app test does.
package scaleout
