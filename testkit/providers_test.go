package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
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
	// A user who may create databases but is no superuser: every test gets
	// its own clone (no event triggers, no reset).
	if err := ensureCreatedbRole(t); err != nil {
		t.Fatal(err)
	}
	type chainCase struct {
		name, probe string
		env         []string
		want        []string // substrings of the output
		fail        bool
	}
	const noRyuk = "TESTCONTAINERS_RYUK_DISABLED=true"
	cases := []chainCase{
		{"local", "both", []string{EnvProvider + "=local"}, []string{"PROBE pg=local", "PROBE mqtt=local"}, false},
		{"binaries", "both", []string{EnvProvider + "=binaries"}, []string{"PROBE pg=binaries", "PROBE mqtt=binaries"}, false},
		{"embedded-mqtt", "mqtt", []string{EnvMQTTProvider + "=embedded"}, []string{"PROBE mqtt=embedded"}, false},
		{"env", "both", []string{EnvDatabaseURL + "=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", EnvMQTTURL + "=tcp://127.0.0.1:1883"}, []string{"PROBE pg=env", "PROBE mqtt=env"}, false},
		{"env-createdb-only", "pg", []string{EnvDatabaseURL + "=postgres://tdt_createdb@127.0.0.1:5432/postgres?sslmode=disable"}, []string{"PROBE pg=env"}, false},
		{"env-unreachable", "pg", []string{EnvDatabaseURL + "=postgres://postgres@127.0.0.1:1/postgres?connect_timeout=1"}, []string{"env PostgreSQL server", "127.0.0.1:1", "check " + EnvDatabaseURL}, true},
		{"env-mqtt-unreachable", "mqtt", []string{EnvMQTTURL + "=tcp://127.0.0.1:1"}, []string{"does not answer MQTT"}, true},
		{"unknown", "pg", []string{EnvProvider + "=magic"}, []string{"is not a PostgreSQL provider"}, true},
		// A forced testcontainers provider with no engine fails at once,
		// naming the engine and what to do.
		{"testcontainers-no-engine", "pg", []string{EnvProvider + "=testcontainers", "DOCKER_HOST=unix:///nonexistent/docker.sock"},
			[]string{"forced", "Docker engine", "start one"}, true},
	}
	if dockerAbsent(t.Context()) == "" {
		host := EnvContainerNetwork + "=host" // never send traffic to the engine's bridge here
		cases = append(cases,
			chainCase{"testcontainers-image-missing", "pg", []string{EnvPostgresProvider + "=testcontainers", EnvPostgresImage + "=taylordash/missing:0", host, noRyuk},
				[]string{"image taylordash/missing:0 is not on this Docker engine", "docker pull taylordash/missing:0", "build-local.sh"}, true})
		if !imageMissing(t.Context(), "taylordash/postgres:15") && !imageMissing(t.Context(), "taylordash/mosquitto:2") {
			images := []string{EnvPostgresImage + "=taylordash/postgres:15", EnvMosquittoImage + "=taylordash/mosquitto:2", host, noRyuk}
			cases = append(cases,
				chainCase{"testcontainers-host", "both", append([]string{EnvProvider + "=testcontainers"}, images...),
					[]string{"PROBE pg=testcontainers", "PROBE mqtt=testcontainers"}, false},
				chainCase{"testcontainers-never-answers", "pg", append([]string{EnvProvider + "=testcontainers", EnvContainerTimeout + "=1ms"}, images...),
					[]string{"never answered within 1ms", "last log lines"}, true})
		} else {
			t.Log("local images missing (testkit/images/build-local.sh): the testcontainers start cases do not run")
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestProviderProbe$", "-test.count=1")
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "TAYLORDASH_TEST_") && !strings.HasPrefix(kv, "DOCKER_HOST=") {
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
			if left := containersOf(t, cmd.Process.Pid); len(left) > 0 {
				t.Fatalf("containers of the finished test process remain: %v", left)
			}
		})
	}
}

// containersOf lists the containers the testkit process pid started that
// still exist (none, once it has ended), or nothing without an engine.
func containersOf(t *testing.T, pid int) []string {
	t.Helper()
	if dockerAbsent(t.Context()) != "" {
		return nil
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	list, err := p.Client().ContainerList(t.Context(), client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelPID+"="+strconv.Itoa(pid)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list.Items {
		ids = append(ids, c.ID[:12]+" "+c.Image)
	}
	return ids
}

// TestResolveChainFallsThrough: an absent provider (no Docker engine)
// passes to the next one unless it is forced.
func TestResolveChainFallsThrough(t *testing.T) {
	absent := func(why string) func() (string, string, error) {
		return func() (string, string, error) { return "", why, nil }
	}
	c := chain{service: "PostgreSQL", forceVar: EnvPostgresProvider, howTo: "start one", providers: []provider{
		{ProviderLocal, absent("nothing listens")},
		{ProviderTestcontainers, absent("no Docker engine")},
		{ProviderEmbedded, func() (string, string, error) { return "tcp://x", "", nil }},
	}}
	t.Setenv(EnvProvider, "")
	t.Setenv(EnvPostgresProvider, "")
	name, u, err := resolveChain(c)
	if err != nil || name != ProviderEmbedded || u != "tcp://x" {
		t.Fatalf("got %q %q %v, want the provider after the absent ones", name, u, err)
	}
	t.Setenv(EnvPostgresProvider, ProviderTestcontainers)
	if _, _, err := resolveChain(c); err == nil || !strings.Contains(err.Error(), "forced") || !strings.Contains(err.Error(), "no Docker engine") {
		t.Fatalf("forced absent provider: %v", err)
	}
	t.Setenv(EnvPostgresProvider, "")
	c.providers = c.providers[:2]
	if _, _, err := resolveChain(c); err == nil || !strings.Contains(err.Error(), "Tried:") || !strings.Contains(err.Error(), "To fix: start one") {
		t.Fatalf("no provider: %v", err)
	}
}

// ensureCreatedbRole creates the role tdt_createdb (CREATEDB, no
// superuser) on the local server on the standard port, which the
// env-createdb-only case connects to.
func ensureCreatedbRole(t *testing.T) error {
	c, err := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer c.Close(t.Context())
	_, err = c.Exec(t.Context(), `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tdt_createdb') THEN
			CREATE ROLE tdt_createdb LOGIN CREATEDB;
		END IF;
	END $$`)
	return err
}

// BenchmarkProviderStart measures what a test binary pays, once, to get a
// service from each provider: one iteration runs a child test process
// that takes a database (migrated, from an existing template) or a broker
// (one QoS 1 round trip) from the forced provider, and stops what it
// started. "local" is the baseline: its time is mostly the child process
// itself.
//
//	go test ./testkit -run '^$' -bench BenchmarkProviderStart -benchtime 5x
//
// The testcontainers rows need a Docker engine and the local images
// (testkit/images/build-local.sh); they use host networking.
func BenchmarkProviderStart(b *testing.B) {
	type bench struct{ service, provider string }
	benches := []bench{
		{"pg", ProviderLocal}, {"pg", ProviderBinaries}, {"pg", ProviderTestcontainers},
		{"mqtt", ProviderLocal}, {"mqtt", ProviderBinaries}, {"mqtt", ProviderTestcontainers}, {"mqtt", ProviderEmbedded},
	}
	docker := dockerAbsent(b.Context()) == "" && !imageMissing(b.Context(), "taylordash/postgres:15")
	for _, bc := range benches {
		b.Run(bc.service+"/"+bc.provider, func(b *testing.B) {
			if bc.provider == ProviderTestcontainers && !docker {
				b.Skip("no Docker engine or no local images")
			}
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "TAYLORDASH_TEST_") {
					env = append(env, kv)
				}
			}
			env = append(env, probeEnv+"="+bc.service, EnvProvider+"="+bc.provider,
				EnvPostgresImage+"=taylordash/postgres:15", EnvMosquittoImage+"=taylordash/mosquitto:2",
				EnvContainerNetwork+"=host", "TESTCONTAINERS_RYUK_DISABLED=true")
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestProviderProbe$", "-test.count=1", "-test.bench=^$")
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
		})
	}
}
