package mqtt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures a [Client]. Fields with an env tag are read from
// TAYLORDASH_MQTT_* variables by dashcore.
type Config struct {
	// URL is the broker's address: tcp://host:1883 or mqtt://host:1883 in
	// the clear, ssl://, tls:// or mqtts://host:8883 with TLS. The port
	// defaults to 1883 (8883 with TLS). A user and password in the URL win
	// over Username and Password.
	URL string `env:"MQTT_URL" secret:"true" expect:"a broker URL such as tcp://127.0.0.1:1883 or ssl://broker:8883"`
	// ClientID names this instance's sessions on the broker: the client
	// connects twice, as ClientID+"-pub" and ClientID+"-sub". It must be
	// stable across restarts, since the subscribing session (and the
	// messages the broker keeps for it while the instance is down) is
	// found by it, and unique among running instances, since the broker
	// disconnects the older of two clients with one id. The default,
	// "taylordash-<hostname>", fits machines and StatefulSet pods, not
	// Deployment pods (renamed on every restart): set it there.
	ClientID string `env:"MQTT_CLIENT_ID"`
	// Username authenticates the client, if the broker requires it.
	Username string `env:"MQTT_USERNAME"`
	// Password goes with Username.
	Password string `env:"MQTT_PASSWORD" secret:"true"`
	// QoS is the quality of service of publications and subscriptions:
	// AtLeastOnce (1, the default) or AtMostOnce (0, for telemetry that may
	// be lost). QoS 2 is refused: its exactly-once holds only between the
	// client and the broker, never end to end (a consumer can fail between
	// storing an event and acknowledging it), so consumers deduplicate by
	// idempotency key anyway, and it costs two more packets per message.
	QoS QoS `env:"MQTT_QOS" expect:"0 or 1"`
	// CleanSession makes the subscribing session last only as long as
	// each connection: nothing is queued for this client while it is
	// disconnected, and unacknowledged messages are dropped when it
	// reconnects. For tools and examples; services leave it false.
	CleanSession bool `env:"MQTT_CLEAN_SESSION"`
	// SharedGroup, when set, subscribes with "$share/<group>/<filter>", so
	// that the instances of the group split the messages, each delivered
	// to one of them.
	SharedGroup string `env:"MQTT_SHARED_GROUP"`
	// NoSharedSubscriptions says that the broker does not serve shared
	// subscriptions ("$share/<group>/<filter>"). RabbitMQ's MQTT plugin
	// and NATS's MQTT listener are such brokers, and they do not refuse
	// one: they take "$share/..." as a literal topic, which nothing is
	// published to, so the subscription silently receives nothing. With
	// NoSharedSubscriptions, SharedGroup is ignored and "$share/<group>/"
	// filters given to Subscribe are subscribed without it: every
	// instance receives every message, which the mirror's idempotency key
	// stores once. docs/eventbus.md lists the brokers and their features.
	NoSharedSubscriptions bool `env:"MQTT_NO_SHARED_SUBSCRIPTIONS"`
	// TopicPrefix is put before every topic published and every filter
	// subscribed, and removed from the topics of received messages, so
	// that several deployments (or tests) share a broker. It usually ends
	// with "/".
	TopicPrefix string `env:"MQTT_TOPIC_PREFIX"`
	// KeepAlive is the MQTT keep-alive interval, in whole seconds: a
	// connection silent for longer is checked with a ping, and the broker
	// drops a client silent for 1.5 times as long.
	KeepAlive time.Duration `env:"MQTT_KEEP_ALIVE"`
	// ConnectTimeout bounds one connection attempt (TCP, TLS and CONNACK),
	// and the wait for a SUBACK.
	ConnectTimeout time.Duration `env:"MQTT_CONNECT_TIMEOUT"`
	// MaxReconnectInterval caps the wait between connection attempts,
	// which doubles from 250ms with jitter. The client never gives up.
	MaxReconnectInterval time.Duration `env:"MQTT_MAX_RECONNECT_INTERVAL"`
	// Window is how many messages one subscription holds, delivered or
	// waiting, without an Ack or Nack: at that point the client stops
	// reading from the broker until the consumer settles one (see the
	// package doc on flow control). The broker's max_inflight_messages
	// limits what it sends unacknowledged too.
	Window int `env:"MQTT_WINDOW"`
	// CAFile is a PEM file of the certificate authorities that the
	// broker's certificate is verified against; empty means the system's.
	// With TLS only.
	CAFile string `env:"MQTT_CA_FILE"`
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// brokers that authenticate clients by certificate. With TLS only.
	CertFile string `env:"MQTT_CERT_FILE"`
	// KeyFile goes with CertFile.
	KeyFile string `env:"MQTT_KEY_FILE"`
	// WillTopic is where the client's status is kept, retained:
	// {"status":"online","client_id":...} once both connections are up,
	// {"status":"offline",...} after Stop, and the same as the last will
	// the broker publishes when a connection dies. Empty means
	// "tracker/status/<ClientID>"; "-" turns the status off. TopicPrefix
	// applies.
	WillTopic string `env:"MQTT_WILL_TOPIC"`

	// MeterProvider, if set, receives the connection metrics; nil means
	// none.
	MeterProvider metric.MeterProvider
	// TracerProvider, if set, receives a producer span "publish <topic>"
	// per Publish, a child of the caller's span; nil means none.
	TracerProvider trace.TracerProvider
}

// QoS is the MQTT quality of service a Client publishes and subscribes
// with. Its zero value is the default, AtLeastOnce.
type QoS int8

const (
	// AtLeastOnce is QoS 1: Publish waits for the broker's PUBACK, and a
	// message is delivered until the subscriber acknowledges it.
	AtLeastOnce QoS = 0
	// AtMostOnce is QoS 0: Publish returns once the message is written
	// to the connection, and a message is never delivered twice (nor kept
	// for an offline subscriber).
	AtMostOnce QoS = 1
)

// Level returns the MQTT QoS level, 1 or 0.
func (q QoS) Level() byte {
	if q == AtMostOnce {
		return 0
	}
	return 1
}

// MarshalText returns the level, "1" or "0".
func (q QoS) MarshalText() ([]byte, error) {
	return []byte(strconv.Itoa(int(q.Level()))), nil
}

// UnmarshalText accepts "1" and "0".
func (q *QoS) UnmarshalText(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "1":
		*q = AtLeastOnce
	case "0":
		*q = AtMostOnce
	case "2":
		return errors.New("QoS 2 is not supported: use 1 (consumers deduplicate by idempotency key)")
	default:
		return fmt.Errorf("QoS %q is not 0 or 1", b)
	}
	return nil
}

// String returns "QoS 1" or "QoS 0".
func (q QoS) String() string { return "QoS " + strconv.Itoa(int(q.Level())) }

// DefaultURL is the broker a zero Config connects to.
const DefaultURL = "tcp://127.0.0.1:1883"

// DefaultWillTopic is the status topic of a client whose WillTopic is
// empty: the original TaylorDash's, followed by the client id.
const DefaultWillTopic = "tracker/status/"

// WithDefaults returns a copy of c with zero fields set to their defaults.
// WillTopic stays empty: it follows ClientID (see [Config.StatusTopic]).
func (c Config) WithDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.ClientID == "" {
		c.ClientID = defaultClientID()
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxReconnectInterval == 0 {
		c.MaxReconnectInterval = 30 * time.Second
	}
	if c.Window == 0 {
		c.Window = 1000
	}
	return c
}

func defaultClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "taylordash"
	}
	return "taylordash-" + host
}

// StatusTopic returns the topic of the client's status messages without
// TopicPrefix, or "" when WillTopic is "-".
func (c Config) StatusTopic() string {
	switch c.WillTopic {
	case "-":
		return ""
	case "":
		return DefaultWillTopic + c.ClientID
	}
	return c.WillTopic
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	tls := false
	if u, err := parseURL(c.URL); err != nil {
		bad("URL", err.Error())
	} else {
		tls = u.Scheme == "ssl"
	}
	if c.ClientID == "" {
		bad("ClientID", "is required: a name stable across restarts and unique among instances")
	}
	if c.Password != "" && c.Username == "" {
		bad("Password", "is set without Username: MQTT sends a password only with a user name")
	}
	if c.QoS != AtLeastOnce && c.QoS != AtMostOnce {
		bad("QoS", "must be AtLeastOnce (1) or AtMostOnce (0)")
	}
	if strings.ContainsAny(c.SharedGroup, "/+#\x00") {
		bad("SharedGroup", "must not contain /, + or #")
	}
	if strings.ContainsAny(c.TopicPrefix, "+#\x00") {
		bad("TopicPrefix", "must not contain the wildcards + or #")
	}
	if w := c.WillTopic; w != "-" && strings.ContainsAny(w, "+#\x00") {
		bad("WillTopic", `must be a topic without wildcards, or "-" for none`)
	}
	if c.KeepAlive < time.Second {
		bad("KeepAlive", "must be at least 1s (it is sent in whole seconds); 30s is usual")
	}
	if c.ConnectTimeout <= 0 {
		bad("ConnectTimeout", "must be positive, such as 10s")
	}
	if c.MaxReconnectInterval <= 0 {
		bad("MaxReconnectInterval", "must be positive, such as 30s")
	}
	if c.Window < 1 {
		bad("Window", "must be at least 1, such as 1000")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			bad("CertFile", "must be set together with KeyFile")
		} else {
			bad("KeyFile", "must be set together with CertFile")
		}
	}
	if !tls {
		for _, f := range []struct{ field, v string }{{"CAFile", c.CAFile}, {"CertFile", c.CertFile}, {"KeyFile", c.KeyFile}} {
			if f.v != "" {
				bad(f.field, "is set but URL does not use TLS: use ssl://, tls:// or mqtts://")
			}
		}
	}
	return errors.Join(errs...)
}

// Endpoints returns the broker's address as the dashcore.TLSPolicy sees
// it: verified TLS with ssl://, tls:// or mqtts:// (the broker is always
// verified, against CAFile or the system's roots), plaintext otherwise. It
// returns nil for a URL that does not parse (Validate reports it).
func (c Config) Endpoints() []dashcore.Endpoint {
	u, err := parseURL(c.URL)
	if err != nil {
		return nil
	}
	e := dashcore.Endpoint{
		Name:      "MQTT broker",
		Setting:   dashcore.EnvPrefix + "MQTT_URL",
		Address:   u.Host,
		Transport: dashcore.Plaintext,
		Fix:       "use ssl://host:8883 and set TAYLORDASH_MQTT_CA_FILE to the CA that signed the broker's certificate",
	}
	if u.Scheme == "ssl" {
		e.Transport, e.Fix = dashcore.TLSVerified, ""
	}
	return []dashcore.Endpoint{e}
}

// parseURL parses a broker URL, normalising its scheme to tcp or ssl and
// adding the default port.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required: set it to a broker URL such as tcp://127.0.0.1:1883")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("is not a broker URL such as tcp://127.0.0.1:1883 or ssl://broker:8883")
	}
	port := "1883"
	switch u.Scheme {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "ssl", "tls", "mqtts":
		u.Scheme = "ssl"
		port = "8883"
	default:
		return nil, fmt.Errorf("has the scheme %q; use tcp://, mqtt://, ssl://, tls:// or mqtts://", u.Scheme)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	} else if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("has the port %q, not a number from 1 to 65535", u.Port())
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("has a path (%s); a broker URL is scheme://host:port", u.Path)
	}
	u.Path = ""
	return u, nil
}
