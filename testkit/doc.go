// Package testkit gives a test real services, isolated from other tests:
// a fresh migrated PostgreSQL database, an MQTT broker with a topic prefix
// of its own, and a running application wired to both.
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
//
//	func TestProjects(t *testing.T) {
//		app := testkit.App(t, dashcore.Module, store.Module, projects.Module)
//		resp, err := app.Client.Get(app.URL + "/api/v1/projects")
//		...
//	}
//
// # Databases
//
// [Postgres] returns a database migrated with the given migrations, as if
// new, in about a millisecond: the first test of a binary builds a
// template database for that set of migrations (once for every binary,
// under an advisory lock, keyed by a hash of the files), and tests reuse
// clones of it ("slots") that are emptied between tests in one round trip
// (rows deleted with triggers off, seeded rows restored, sequences
// rewound). Slots outlive a test binary, so the next run starts warm.
// Event triggers record any DDL a test runs; such a slot is dropped and
// cloned anew. A failed test's database is renamed and kept for
// inspection (its name is in the test log; the last five per set are
// kept). Limits: roles, database-level settings and objects outside the
// database (tablespaces) are not guarded; materialized views are not
// refreshed. This needs a superuser; with only CREATEDB every test gets a
// fresh clone, dropped after it (about 100-300 ms).
//
// The databases are named tdt_*; an older version of a migration set is
// dropped when a newer one is built. To remove them all from a server no
// test is using:
//
//	psql -Atc "SELECT format('DROP DATABASE %I WITH (FORCE);', datname) FROM pg_database WHERE datname LIKE 'tdt\_%'" | psql
//
// # Providers
//
// Each service comes from the first provider that is present:
//
//  1. env: TAYLORDASH_TEST_DATABASE_URL / TAYLORDASH_TEST_MQTT_URL. When
//     set, nothing else is tried; if it does not answer, tests fail.
//  2. local: the server on the standard port, 127.0.0.1:5432 (user
//     postgres, no password) or 127.0.0.1:1883.
//  3. binaries: initdb and postgres from the local PostgreSQL install, or
//     mosquitto, started on a free port for this test binary, bound to its
//     life.
//  4. testcontainers: postgres:15 and eclipse-mosquitto:2 when a Docker
//     engine answers (images set by TAYLORDASH_TEST_PG_IMAGE and
//     TAYLORDASH_TEST_MQTT_IMAGE, network by
//     TAYLORDASH_TEST_CONTAINER_NETWORK: bridge or host; see [Options]
//     and testkit/README.md, which also covers building images locally).
//  5. embedded (MQTT only): a mochi-mqtt broker inside the test process.
//
// TAYLORDASH_TEST_PROVIDER forces one provider for both services
// (TAYLORDASH_TEST_PG_PROVIDER and TAYLORDASH_TEST_MQTT_PROVIDER for one);
// a forced provider that cannot serve fails the test. When no provider
// can serve, the test fails with a message saying how to provide one; it
// never skips (and with CI=true says so).
//
// # Applications
//
// [App] starts an fx application for the test on a free port, gives it a
// database and a broker when its modules read TAYLORDASH_DATABASE_URL and
// TAYLORDASH_MQTT_URL, routes its logs to the test log, and stops it when
// the test ends. [Env] sets configuration variables for it.
//
// # OIDC
//
// [OIDC] starts a Keycloak-shaped issuer (discovery, key set) on
// 127.0.0.1; [OIDCIssuer.Token] mints access tokens with any claims;
// [OIDCIssuer.Rotate], [OIDCIssuer.RotateKeepOld] and
// [OIDCIssuer.TokenWithUnpublishedKey] drive key rotation;
// [OIDCIssuer.JWKSFetches] counts key set reads.
package testkit
