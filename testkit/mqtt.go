package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/mosquittolocal"
)

// Broker is an MQTT broker for one test. Tests share the broker; Prefix
// keeps their topics apart.
type Broker struct {
	// URL is the broker's address, e.g. tcp://127.0.0.1:1883.
	URL string
	// Prefix is a topic prefix unique to the test, ending in "/", e.g.
	// "tdtest/TestPublish/3f9a1c/". Put every topic of the test under it.
	Prefix string
	// Provider says where the broker came from (local, embedded, ...).
	Provider string
}

// Topic returns the topic made of the test's prefix and parts joined by "/".
func (b *Broker) Topic(parts ...string) string {
	return b.Prefix + strings.Join(parts, "/")
}

// MQTT returns a broker for the test and a topic prefix unique to it. The
// broker comes from the provider chain: TAYLORDASH_TEST_MQTT_URL, the local
// broker on 127.0.0.1:1883, the mosquitto binary on a free port,
// testcontainers, and last an embedded broker (mochi-mqtt) in the test
// process. With none the test fails, never skips.
func MQTT(tb testing.TB) *Broker {
	tb.Helper()
	b, err := broker(tb)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func broker(tb testing.TB) (*Broker, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := shared.mqttServer(ctx)
	if err != nil {
		return nil, err
	}
	return &Broker{URL: srv.url, Prefix: topicPrefix(tb.Name()), Provider: srv.provider}, nil
}

func topicPrefix(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	return "tdtest/" + b.String() + "/" + hex.EncodeToString(rnd[:]) + "/"
}

type mqttServer struct {
	provider string
	url      string
}

func (k *kit) mqttServer(ctx context.Context) (*mqttServer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mqtt != nil || k.mqttErr != nil {
		return k.mqtt, k.mqttErr
	}
	k.mqtt, k.mqttErr = resolveMQTT(ctx, k)
	return k.mqtt, k.mqttErr
}

// resolveMQTT tries the providers in order; k.mu is held.
func resolveMQTT(ctx context.Context, k *kit) (*mqttServer, error) {
	name, u, err := resolveChain(chain{
		service:  "MQTT",
		forceVar: EnvMQTTProvider,
		howTo:    "start one (mosquitto -d -c /etc/mosquitto/mosquitto.conf) or set " + EnvMQTTURL + "=tcp://host:1883",
		providers: []provider{
			{ProviderEnv, func() (string, string, error) {
				u := os.Getenv(EnvMQTTURL)
				if u == "" {
					return "", EnvMQTTURL + " is not set", nil
				}
				if err := mqttHandshake(u, 3*time.Second); err != nil {
					return "", "", fmt.Errorf("%s=%s does not answer MQTT: %w", EnvMQTTURL, u, err)
				}
				return u, "", nil
			}},
			{ProviderLocal, func() (string, string, error) {
				u := "tcp://127.0.0.1:1883"
				if err := mqttHandshake(u, time.Second); err != nil {
					return "", "no MQTT broker answers on 127.0.0.1:1883 (" + err.Error() + ")", nil
				}
				return u, "", nil
			}},
			{ProviderBinaries, func() (string, string, error) {
				if _, err := mosquittolocal.FindBinary(); err != nil {
					return "", err.Error(), nil
				}
				b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{DieWithParent: true})
				if err != nil {
					return "", "", err
				}
				k.stops = append(k.stops, b.Stop)
				return b.URL(), "", nil
			}},
			{ProviderTestcontainers, func() (string, string, error) {
				return startMosquittoContainer(ctx, k)
			}},
			{ProviderEmbedded, func() (string, string, error) {
				u, stop, err := startEmbeddedBroker()
				if err != nil {
					return "", "", err
				}
				k.stops = append(k.stops, stop)
				return u, "", nil
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	return &mqttServer{provider: name, url: u}, nil
}

// mqttHandshake checks that an MQTT 3.1.1 broker answers at u: it sends a
// CONNECT with a clean session and expects an accepting CONNACK.
func mqttHandshake(u string, timeout time.Duration) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", pu.Host, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	clientID := "tdtest-probe"
	payload := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, byte(len(clientID))}, clientID...)
	pkt := append([]byte{0x10, byte(len(payload))}, payload...)
	if _, err := c.Write(pkt); err != nil {
		return err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		return fmt.Errorf("no CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("CONNACK refused (code %d)", ack[3])
	}
	_, _ = c.Write([]byte{0xE0, 0}) // DISCONNECT
	return nil
}
