package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
)

// TestMQTT publishes and receives a QoS 1 message under the test's prefix
// on whatever broker the chain gives.
func TestMQTT(t *testing.T) {
	b := MQTT(t)
	if !strings.HasPrefix(b.Prefix, "tdtest/TestMQTT/") || !strings.HasSuffix(b.Prefix, "/") {
		t.Fatalf("prefix %q", b.Prefix)
	}
	if other := MQTT(t); other.Prefix == b.Prefix {
		t.Fatal("two calls gave the same prefix")
	}
	roundTrip(t, b)
}

func roundTrip(t *testing.T, b *Broker) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(b.URL).SetClientID(fmt.Sprintf("tdtest-%d", time.Now().UnixNano())).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", b.URL, tok.Error())
	}
	defer c.Disconnect(100)
	got := make(chan string, 1)
	topic := b.Topic("events", "ping")
	if tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish(topic, 1, false, "pong"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != "pong" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no message from %s (%s)", b.URL, b.Provider)
	}
}

// probeEnv marks a child test process started by TestProviderChain.
const probeEnv = "TAYLORDASH_TEST_PROBE"

// TestProviderProbe runs only in a child process: it uses the services the
// forced provider gives and prints which ones it got.
func TestProviderProbe(t *testing.T) {
	if os.Getenv(probeEnv) == "" {
		t.Skip("runs as a child of TestProviderChain")
	}
	if want := os.Getenv(probeEnv); want == "pg" || want == "both" {
		db := Postgres(t, widgets)
		if got := count(t, db, "kinds"); got != 1 {
			t.Fatalf("kinds: %d", got)
		}
		fmt.Printf("PROBE pg=%s\n", db.Provider)
	}
	if want := os.Getenv(probeEnv); want == "mqtt" || want == "both" {
		b := MQTT(t)
		roundTrip(t, b)
		fmt.Printf("PROBE mqtt=%s\n", b.Provider)
	}
}

// TestProviderChain forces each provider in a fresh test process (the
// chain is resolved once per process) and checks that it really serves,
// and that a forced provider that cannot serve fails loudly.
func TestProviderChain(t *testing.T) {
	if os.Getenv(probeEnv) != "" {
		t.Skip("already a child")
	}
	cases := []struct {
		name, probe string
		env         []string
		want        []string // substrings of the output
		fail        bool
	}{
		{"local", "both", []string{EnvProvider + "=local"}, []string{"PROBE pg=local", "PROBE mqtt=local"}, false},
		{"binaries", "both", []string{EnvProvider + "=binaries"}, []string{"PROBE pg=binaries", "PROBE mqtt=binaries"}, false},
		{"embedded-mqtt", "mqtt", []string{EnvMQTTProvider + "=embedded"}, []string{"PROBE mqtt=embedded"}, false},
		{"env", "both", []string{EnvDatabaseURL + "=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", EnvMQTTURL + "=tcp://127.0.0.1:1883"}, []string{"PROBE pg=env", "PROBE mqtt=env"}, false},
		{"env-unreachable", "pg", []string{EnvDatabaseURL + "=postgres://postgres@127.0.0.1:1/postgres?connect_timeout=1"}, []string{"env PostgreSQL server", "127.0.0.1:1", "check " + EnvDatabaseURL}, true},
		{"env-mqtt-unreachable", "mqtt", []string{EnvMQTTURL + "=tcp://127.0.0.1:1"}, []string{"does not answer MQTT"}, true},
		{"unknown", "pg", []string{EnvProvider + "=magic"}, []string{"is not a PostgreSQL provider"}, true},
	}
	// A user who may create databases but is no superuser: every test gets
	// its own clone (no event triggers, no reset).
	if err := ensureCreatedbRole(t); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name, probe string
		env         []string
		want        []string
		fail        bool
	}{"env-createdb-only", "pg", []string{EnvDatabaseURL + "=postgres://tdt_createdb@127.0.0.1:5432/postgres?sslmode=disable"}, []string{"PROBE pg=env"}, false})
	if dockerAbsent(t.Context()) != "" {
		cases = append(cases, struct {
			name, probe string
			env         []string
			want        []string
			fail        bool
		}{"testcontainers-without-engine", "pg", []string{EnvProvider + "=testcontainers"}, []string{"forced", "Docker engine"}, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestProviderProbe$", "-test.count=1")
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "TAYLORDASH_TEST_") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(append(env, probeEnv+"="+c.probe), c.env...)
			out, err := cmd.CombinedOutput()
			if c.fail != (err != nil) {
				t.Fatalf("exit error %v, want failure=%v; output:\n%s", err, c.fail, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// ensureCreatedbRole creates the role tdt_createdb (CREATEDB, no
// superuser) on the local server, through the chain's server.
func ensureCreatedbRole(t *testing.T) error {
	srv, err := shared.postgresServer(t.Context())
	if err != nil {
		return err
	}
	return srv.admin(t.Context(), func(c *pgx.Conn) error {
		_, err := c.Exec(t.Context(), `DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tdt_createdb') THEN
				CREATE ROLE tdt_createdb LOGIN CREATEDB;
			END IF;
		END $$`)
		return err
	})
}
