package testkit

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Variables that steer the testkit. All start with TAYLORDASH_TEST_, which
// the application's config loader never reports as unknown.
const (
	// EnvDatabaseURL names a PostgreSQL server to use (a superuser URL to a
	// maintenance database such as postgres). Set, it is the only provider.
	EnvDatabaseURL = "TAYLORDASH_TEST_DATABASE_URL"
	// EnvMQTTURL names an MQTT broker to use (tcp://host:port). Set, it is
	// the only provider.
	EnvMQTTURL = "TAYLORDASH_TEST_MQTT_URL"
	// EnvProvider forces one provider for both services: env, local,
	// binaries, testcontainers or embedded (MQTT only; PostgreSQL then uses
	// its normal chain).
	EnvProvider = "TAYLORDASH_TEST_PROVIDER"
	// EnvPostgresProvider and EnvMQTTProvider force a provider for one
	// service, winning over EnvProvider.
	EnvPostgresProvider = "TAYLORDASH_TEST_PG_PROVIDER"
	// EnvMQTTProvider forces the MQTT provider.
	EnvMQTTProvider = "TAYLORDASH_TEST_MQTT_PROVIDER"
	// EnvKeepFailed=false drops a failed test's database instead of
	// keeping it for inspection.
	EnvKeepFailed = "TAYLORDASH_TEST_KEEP_FAILED"
	// EnvPostgresImage and EnvMosquittoImage name the testcontainers
	// images (default postgres:15 and eclipse-mosquitto:2).
	EnvPostgresImage = "TAYLORDASH_TEST_PG_IMAGE"
	// EnvMosquittoImage names the Mosquitto image for testcontainers.
	EnvMosquittoImage = "TAYLORDASH_TEST_MQTT_IMAGE"
)

// Provider names, in the order they are tried.
const (
	ProviderEnv            = "env"
	ProviderLocal          = "local"
	ProviderBinaries       = "binaries"
	ProviderTestcontainers = "testcontainers"
	ProviderEmbedded       = "embedded"
)

// kit is the state a test binary shares between its tests: the resolved
// servers, the template families and the services it started. Tests of
// one binary share it; tests of different binaries (go test ./...)
// coordinate through PostgreSQL advisory locks.
type kit struct {
	opts     Options
	mu       sync.Mutex
	pg       *pgServer
	pgErr    error
	mqtt     *mqttServer
	mqttErr  error
	families map[string]*family
	stops    []func(context.Context) error
}

var shared = &kit{families: make(map[string]*family)}

// Options configures the testkit for a test binary, from TestMain with
// MainWith. Every field has a TAYLORDASH_TEST_ variable, which wins (an
// operator or CI can always override the code).
type Options struct {
	// PostgresImage is the testcontainers image for PostgreSQL
	// (TAYLORDASH_TEST_PG_IMAGE; default postgres:15).
	PostgresImage string
	// MosquittoImage is the testcontainers image for MQTT
	// (TAYLORDASH_TEST_MQTT_IMAGE; default eclipse-mosquitto:2).
	MosquittoImage string
	// ContainerStartupTimeout bounds a container's start
	// (TAYLORDASH_TEST_CONTAINER_TIMEOUT; default 60s).
	ContainerStartupTimeout time.Duration
	// ContainerNetwork is "bridge" (default) or "host"
	// (TAYLORDASH_TEST_CONTAINER_NETWORK).
	ContainerNetwork string
}

// MainWith is Main with options for the providers.
func MainWith(m *testing.M, opts Options) {
	shared.mu.Lock()
	shared.opts = opts
	shared.mu.Unlock()
	Main(m)
}

// Main runs the tests of a package and then stops every service the
// testkit started for them (a PostgreSQL cluster from local binaries,
// containers, an embedded broker). Call it from TestMain:
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
//
// Without it, started servers still die with the test binary (they are
// bound to it), but containers and temporary directories may linger.
func Main(m *testing.M) {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.stopAll(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func (k *kit) stopAll(ctx context.Context) error {
	k.mu.Lock()
	stops := k.stops
	k.stops = nil
	families := k.families
	srv := k.pg
	k.mu.Unlock()
	// Close our connections first: a server asked to stop waits for its
	// clients (a container gets SIGTERM, a smart shutdown).
	for _, f := range families {
		f.close(ctx)
	}
	if srv != nil {
		srv.close(ctx)
	}
	var errs []string
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop services: %s", strings.Join(errs, "; "))
	}
	return nil
}

// forcedProvider returns the provider forced for a service, or "".
func forcedProvider(serviceVar string) string {
	if p := os.Getenv(serviceVar); p != "" {
		return p
	}
	return os.Getenv(EnvProvider)
}

// inCI reports whether CI=true: then a missing service is a failure with
// no excuse, never a skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// lockKey turns a name into an advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("taylordash/testkit/" + name))
	return int64(h.Sum64())
}

// portOpen reports whether something accepts TCP connections on addr.
func portOpen(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
