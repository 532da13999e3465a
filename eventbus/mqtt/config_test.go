package mqtt_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/mqtt"
)

func TestConfigDefaults(t *testing.T) {
	c := mqtt.Config{}.WithDefaults()
	host, _ := os.Hostname()
	want := mqtt.Config{
		URL: "tcp://127.0.0.1:1883", ClientID: "taylordash-" + host, KeepAlive: 30 * time.Second,
		ConnectTimeout: 10 * time.Second, MaxReconnectInterval: 30 * time.Second, Window: 1000,
	}
	if c != want {
		t.Fatalf("defaults:\n%+v\nwant\n%+v", c, want)
	}
	if c.QoS != mqtt.AtLeastOnce || c.QoS.Level() != 1 {
		t.Errorf("default QoS = %v, want QoS 1", c.QoS)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	if got := c.StatusTopic(); got != "tracker/status/taylordash-"+host {
		t.Errorf("StatusTopic() = %q", got)
	}
	c.WillTopic = "-"
	if got := c.StatusTopic(); got != "" {
		t.Errorf(`StatusTopic() with WillTopic "-" = %q, want none`, got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := mqtt.Config{}.WithDefaults()
	for _, tc := range []struct {
		name   string
		edit   func(*mqtt.Config)
		fields []string
		says   string
	}{
		{"bad scheme", func(c *mqtt.Config) { c.URL = "http://broker:1883" }, []string{"URL"}, "tcp://, mqtt://, ssl://"},
		{"no host", func(c *mqtt.Config) { c.URL = "broker:1883" }, []string{"URL"}, "broker URL"},
		{"bad port", func(c *mqtt.Config) { c.URL = "tcp://broker:99999" }, []string{"URL"}, "port"},
		{"path", func(c *mqtt.Config) { c.URL = "tcp://broker:1883/x" }, []string{"URL"}, "path"},
		{"no client id", func(c *mqtt.Config) { c.ClientID = "" }, []string{"ClientID"}, "stable"},
		{"password alone", func(c *mqtt.Config) { c.Password = "pw" }, []string{"Password"}, "Username"},
		{"qos", func(c *mqtt.Config) { c.QoS = 7 }, []string{"QoS"}, "AtLeastOnce"},
		{"group", func(c *mqtt.Config) { c.SharedGroup = "a/b" }, []string{"SharedGroup"}, "/"},
		{"prefix", func(c *mqtt.Config) { c.TopicPrefix = "a/#/" }, []string{"TopicPrefix"}, "wildcards"},
		{"will", func(c *mqtt.Config) { c.WillTopic = "status/+" }, []string{"WillTopic"}, "wildcards"},
		{"keepalive", func(c *mqtt.Config) { c.KeepAlive = 500 * time.Millisecond }, []string{"KeepAlive"}, "1s"},
		{"timeouts", func(c *mqtt.Config) { c.ConnectTimeout = -1; c.MaxReconnectInterval = -1 }, []string{"ConnectTimeout", "MaxReconnectInterval"}, "positive"},
		{"window", func(c *mqtt.Config) { c.Window = -1 }, []string{"Window"}, "at least 1"},
		{"cert without key", func(c *mqtt.Config) { c.URL = "ssl://b"; c.CertFile = "c.pem" }, []string{"KeyFile"}, "CertFile"},
		{"tls files without tls", func(c *mqtt.Config) { c.CAFile = "ca.pem" }, []string{"CAFile"}, "ssl://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *dashcore.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("not a *dashcore.FieldError: %v", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %v, want %v (%v)", got, tc.fields, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%q does not say %q", err, tc.says)
			}
		})
	}
	for _, u := range []string{"tcp://b", "mqtt://b:1884", "ssl://b", "tls://b:8884", "mqtts://user:pw@b"} {
		c := ok
		c.URL = u
		if err := c.Validate(); err != nil {
			t.Errorf("URL %s: %v", u, err)
		}
	}
}

// The variables are TAYLORDASH_MQTT_*, secrets are redacted, and QoS
// takes 0 and 1 but explains why not 2.
func TestConfigFromEnvironment(t *testing.T) {
	cfg := mqtt.Config{}.WithDefaults()
	err := dashcore.LoadConfig(dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_MQTT_URL":                    "mqtts://broker.example:8883",
		"TAYLORDASH_MQTT_CLIENT_ID":              "backend-0",
		"TAYLORDASH_MQTT_USERNAME":               "svc",
		"TAYLORDASH_MQTT_PASSWORD":               "hunter2",
		"TAYLORDASH_MQTT_QOS":                    "0",
		"TAYLORDASH_MQTT_SHARED_GROUP":           "ingest",
		"TAYLORDASH_MQTT_TOPIC_PREFIX":           "staging/",
		"TAYLORDASH_MQTT_WINDOW":                 "50",
		"TAYLORDASH_MQTT_KEEP_ALIVE":             "15s",
		"TAYLORDASH_MQTT_WILL_TOPIC":             "-",
		"TAYLORDASH_MQTT_CLEAN_SESSION":          "false",
		"TAYLORDASH_MQTT_CONNECT_TIMEOUT":        "3s",
		"TAYLORDASH_MQTT_CA_FILE":                "/etc/ssl/ca.pem",
		"TAYLORDASH_MQTT_CERT_FILE":              "/etc/ssl/c.pem",
		"TAYLORDASH_MQTT_KEY_FILE":               "/etc/ssl/k.pem",
		"TAYLORDASH_MQTT_MAX_RECONNECT_INTERVAL": "1m",
	}), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QoS != mqtt.AtMostOnce || cfg.ClientID != "backend-0" || cfg.Window != 50 || cfg.SharedGroup != "ingest" ||
		cfg.TopicPrefix != "staging/" || cfg.KeepAlive != 15*time.Second || cfg.MaxReconnectInterval != time.Minute ||
		cfg.Password != "hunter2" || cfg.WillTopic != "-" {
		t.Errorf("loaded %+v", cfg)
	}

	cfg = mqtt.Config{}.WithDefaults()
	err = dashcore.LoadConfig(dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_MQTT_QOS":      "2",
		"TAYLORDASH_MQTT_URL":      "http://user:hunter2@broker",
		"TAYLORDASH_MQTT_PASSWORD": "hunter2",
	}), &cfg)
	if err == nil {
		t.Fatal("QoS 2 and an http URL were accepted")
	}
	msg := err.Error()
	for _, want := range []string{"TAYLORDASH_MQTT_QOS", "TAYLORDASH_MQTT_URL", "TAYLORDASH_MQTT_PASSWORD", "TAYLORDASH_MQTT_USERNAME"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not name %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the error shows the password:\n%s", msg)
	}
}

func TestNewRejectsBadConfigAndUnreadableFiles(t *testing.T) {
	if _, err := mqtt.New(mqtt.Config{URL: "http://x"}, nil); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Errorf("New with an http URL: %v", err)
	}
	_, err := mqtt.New(mqtt.Config{URL: "ssl://127.0.0.1:8883", CAFile: "/nonexistent/ca.pem"}, nil)
	if err == nil || !strings.Contains(err.Error(), "CAFile") {
		t.Errorf("New with a missing CA file: %v", err)
	}
	_, err = mqtt.New(mqtt.Config{URL: "ssl://127.0.0.1:8883", CAFile: writeFile(t, "ca.pem", []byte("not pem"))}, nil)
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("New with a CA file without certificates: %v", err)
	}
}
