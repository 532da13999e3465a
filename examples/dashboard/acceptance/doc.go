// Package acceptance is the dashboard's black-box acceptance suite: every
// scenario of the original TaylorDash backend's test plan (§9.4 of the
// study of the original), run against the whole application over real
// HTTP and the real MQTT broker.
//
// The package has no code of its own; its tests are the suite. Each test
// starts the application as an operator would (app.Modules with
// environment variables, through testkit.App), and then talks to it only
// as the original's clients did: HTTP requests with the X-API-Key header
// or a bearer session token, and MQTT messages, over TCP or, as the
// original's browser front end, over websockets.
//
// One test per scenario, named after it (TestScenario01Health ...
// TestScenario14Root), with a subtest per expectation. Where the original
// was wrong, the test asserts the corrected behaviour; where the
// dashboard deliberately answers differently (RFC 9457 problems, RBAC
// instead of one shared key, a 401 instead of a 403 without credentials,
// ...), the test asserts the documented behaviour and says so in a
// comment starting "Deliberate difference". README.md lists them all.
//
// Run it with
//
//	go test ./examples/dashboard/acceptance
//
// It needs what every test of the repository needs: PostgreSQL and an
// MQTT broker (see testkit), and the PostgreSQL and mosquitto binaries for
// the servers some scenarios start for themselves (a database they stop, a
// broker with a websocket listener). README.md maps the scenarios to the
// tests and lists the deliberate differences.
package acceptance
