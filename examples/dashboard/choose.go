package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/devbroker"
	"github.com/taylordash/taylordash/internal/devdb"
)

// commandConfig is what the command reads for itself, besides what the
// application's modules read.
type commandConfig struct {
	// MQTTEmbeddedAddr is where the embedded broker serves MQTT over TCP
	// when TAYLORDASH_MQTT_URL is unset; a free port of the same host
	// when taken.
	MQTTEmbeddedAddr string `env:"MQTT_EMBEDDED_ADDR" expect:"host:port"`
	// MQTTEmbeddedWebsocketAddr is where it serves MQTT over websockets,
	// for browsers; a free port of the same host when taken.
	MQTTEmbeddedWebsocketAddr string `env:"MQTT_EMBEDDED_WS_ADDR" expect:"host:port"`
}

// WithDefaults returns c with empty fields set to their defaults.
func (c commandConfig) WithDefaults() commandConfig {
	if c.MQTTEmbeddedAddr == "" {
		c.MQTTEmbeddedAddr = devbroker.DefaultAddr
	}
	if c.MQTTEmbeddedWebsocketAddr == "" {
		c.MQTTEmbeddedWebsocketAddr = devbroker.DefaultWebsocketAddr
	}
	return c
}

// picked is what the command chose for a start with no configuration.
type picked struct {
	db     *devdb.Database
	broker *devbroker.Broker
	// env is what the application gets from code (dashcore.WithEnv).
	env map[string]string
}

// stop lets go of what choose started.
func (p *picked) stop(ctx context.Context) {
	_ = p.broker.Stop(ctx) // nothing to report at exit
	_ = p.db.Stop(ctx)     // the cluster's own shutdown log says what went wrong
}

// choose picks the database, the broker, the API key and the first
// admin's source as the command's documentation says, and logs each
// choice and then all of them in one line.
func choose(ctx context.Context, env dashcore.Environment, dir string) (*picked, error) {
	// Read leniently here: a bad variable is reported, with every other
	// one, by dashcore.Run.
	cfg := dashcore.DefaultConfig()
	cmd := commandConfig{}.WithDefaults()
	_ = dashcore.LoadConfig(env.With(map[string]string{"TAYLORDASH_ALLOW_UNKNOWN_ENV": "true"}), &cfg, &cmd)
	log := dashcore.NewLogger(cfg.Log, os.Stderr)

	dbURL, _ := env.Lookup("TAYLORDASH_DATABASE_URL")
	db, err := devdb.Resolve(ctx, devdb.Options{URL: dbURL, Dir: filepath.Join(dir, "pg"), Logger: log})
	if err != nil {
		return nil, err
	}
	brokerURL, _ := env.Lookup("TAYLORDASH_MQTT_URL")
	broker, err := devbroker.Resolve(ctx, devbroker.Options{URL: brokerURL,
		Addr: cmd.MQTTEmbeddedAddr, WebsocketAddr: cmd.MQTTEmbeddedWebsocketAddr, Logger: log})
	if err != nil {
		_ = db.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	p := &picked{db: db, broker: broker, env: map[string]string{
		"TAYLORDASH_DATABASE_URL": db.URL,
		"TAYLORDASH_MQTT_URL":     broker.URL,
	}}

	keySource := "TAYLORDASH_API_KEY"
	key, ok := env.Lookup("TAYLORDASH_API_KEY")
	if !ok {
		path := filepath.Join(dir, "api-key")
		if key, err = devAPIKey(path); err != nil {
			p.stop(context.WithoutCancel(ctx))
			return nil, err
		}
		keySource = "file " + path
		log.Info("API key: TAYLORDASH_API_KEY is unset; clients send the key in " + path + " as X-API-Key")
	}
	p.env["TAYLORDASH_API_KEY"] = key

	adminSource := "TAYLORDASH_BOOTSTRAP_ADMIN_USER"
	if _, ok := env.Lookup("TAYLORDASH_BOOTSTRAP_ADMIN_USER"); !ok {
		generate, set := env.Lookup("TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE")
		if on, err := strconv.ParseBool(generate); set && (err != nil || !on) {
			adminSource = "none (TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE=" + generate + "); make one with: dashboard user create --role admin --username NAME"
		} else {
			p.env["TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE"] = "true"
			adminSource = "generated if no active admin exists, its password printed once on standard error"
			log.Info("admin: TAYLORDASH_BOOTSTRAP_ADMIN_USER is unset; if no active admin exists, one is generated and its password printed once on standard error")
		}
	}

	log.Info("dashboard: chosen",
		slog.Group("database", slog.String("source", db.Source), slog.String("url", redact(db.URL))),
		slog.Group("broker", slog.String("source", broker.Source), slog.String("url", redact(broker.URL)),
			slog.String("websocket_url", broker.WebsocketURL)),
		slog.String("api_key", keySource),
		slog.String("admin", adminSource))
	return p, nil
}

// redact returns u without its password; a connection string that is not
// a URL is not shown.
func redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" {
		return "(set, not a URL: not shown)"
	}
	return parsed.Redacted()
}

// devAPIKey returns the key kept in path, creating a random one (readable
// by the owner only) the first time.
func devAPIKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("keep the API key in %s: %w; or set TAYLORDASH_API_KEY", path, err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the API key in %s: %w; or set TAYLORDASH_API_KEY", path, err)
	}
	return key, nil
}
