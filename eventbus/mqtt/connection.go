package mqtt

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Reconnection timing: the first retry after a loss waits 125-250ms, each
// failure doubles the wait up to Config.MaxReconnectInterval, and a
// connection that lasted less than stableAfter counts as a failure (a
// broker that accepts and drops at once, or another instance with the
// same client id, is not hammered).
const (
	initialBackoff = 250 * time.Millisecond
	stableAfter    = 10 * time.Second
	// disconnectQuiesce is how long Disconnect waits for the DISCONNECT
	// packet (and the acknowledgements before it) to be sent.
	disconnectQuiesce = 500 * time.Millisecond
)

// backoff returns the wait before attempt n (n >= 1): 250ms doubled n-1
// times, capped at maxWait, with "equal jitter" (a random wait between
// half of that and all of it), so that instances cut off together do not
// reconnect together.
func backoff(n int, maxWait time.Duration) time.Duration {
	d := initialBackoff
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + rand.N(d-half+1)
}

// connection keeps one paho connection up: it connects, and when the
// connection is lost, connects again with a new paho client after a
// jittered backoff, forever, until its context ends. paho's own
// reconnection is off: it has no jitter, and a new client per connection
// leaves no state of a dead one behind (its acknowledgements are dropped;
// the broker delivers the unacknowledged messages again).
type connection struct {
	c       *Client
	name    string // "publish" or "subscribe", for logs and metrics
	id      string // the MQTT client id
	options func(gen uint64) *paho.ClientOptions
	// onUp runs after every successful connection, before the loop
	// watches for its loss: the subscriber resubscribes, the status goes
	// online.
	onUp func(ctx context.Context, cli paho.Client)
	// onDown runs after a connection of generation gen was lost.
	onDown func(gen uint64)

	mu         sync.Mutex
	cli        paho.Client // the connected client; nil while down
	ready      bool        // onUp has run for cli: it is up for Check and WaitConnected
	gen        uint64      // the generation of the last client created
	lastErr    error       // why the last attempt failed or the last connection ended
	everUp     bool
	reconnects int64
	changed    chan struct{} // closed and replaced on every change of state

	done chan struct{} // closed when run returns
}

func newConnection(c *Client, name, id string, options func(gen uint64) *paho.ClientOptions,
	onUp func(context.Context, paho.Client), onDown func(gen uint64)) *connection {
	return &connection{c: c, name: name, id: id, options: options, onUp: onUp, onDown: onDown,
		changed: make(chan struct{}), done: make(chan struct{})}
}

// current returns the connected paho client, or nil.
func (k *connection) current() paho.Client {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cli
}

// up reports whether the connection is up now, at the network level
// (onUp may still be running: see state).
func (k *connection) up() bool {
	cli := k.current()
	return cli != nil && cli.IsConnectionOpen()
}

// connState is a snapshot of a connection's state.
type connState struct {
	up      bool
	lastErr error           // why the last attempt failed or the last connection ended
	changed <-chan struct{} // closed at the next change
}

// state is the connection's state for Check and WaitConnected: up once
// the connection is made and onUp has run for it (the subscriber's
// filters are subscribed again), so that a caller who waited for it finds
// the subscriptions in place.
func (k *connection) state() connState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return connState{up: k.cli != nil && k.ready && k.cli.IsConnectionOpen(), lastErr: k.lastErr, changed: k.changed}
}

func (k *connection) set(cli paho.Client, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cli != nil {
		if k.everUp {
			k.reconnects++
		}
		k.everUp = true
	}
	k.cli, k.ready = cli, false
	if err != nil || cli != nil {
		k.lastErr = err
	}
	close(k.changed)
	k.changed = make(chan struct{})
}

// setReady records that onUp has run for cli, if it is still the
// connection's client.
func (k *connection) setReady(cli paho.Client) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cli != cli {
		return
	}
	k.ready = true
	close(k.changed)
	k.changed = make(chan struct{})
}

// run is the connection loop; it returns when ctx ends, after a clean
// DISCONNECT of the live connection.
func (k *connection) run(ctx context.Context) {
	defer close(k.done)
	log := k.c.log.With(slog.String("connection", k.name), slog.String("client_id", k.id), slog.String("broker", k.c.addr))
	failures := 0
	for {
		k.mu.Lock()
		k.gen++
		gen := k.gen
		k.mu.Unlock()
		lost := make(chan error, 1)
		opts := k.options(gen)
		opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
		cli := paho.NewClient(opts)
		tok := cli.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			<-tok.Done() // bounded by ConnectTimeout
			if tok.Error() == nil {
				cli.Disconnect(uint(disconnectQuiesce / time.Millisecond))
			}
			k.set(nil, ErrClosed)
			return
		}
		if err := tok.Error(); err != nil {
			failures++
			k.set(nil, err)
			wait := backoff(failures, k.c.cfg.MaxReconnectInterval)
			attrs := []any{slog.String("error", err.Error()), slog.Int("attempt", failures), slog.Duration("retry_in", wait)}
			if hint := tlsHint(err); hint != "" {
				attrs = append(attrs, slog.String("fix", hint))
			}
			switch {
			case failures == 1, failures%10 == 0:
				log.Warn("mqtt: cannot connect to the broker; retrying", attrs...)
			default:
				log.Debug("mqtt: cannot connect to the broker; retrying", attrs...)
			}
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		connectedAt := time.Now()
		if failures > 0 {
			log.Info("mqtt: connected to the broker", slog.Int("attempts", failures+1))
		} else {
			log.Debug("mqtt: connected to the broker")
		}
		k.set(cli, nil)
		k.onUp(ctx, cli)
		k.setReady(cli)
		select {
		case err := <-lost:
			k.set(nil, err)
			if k.onDown != nil {
				k.onDown(gen)
			}
			if time.Since(connectedAt) < stableAfter {
				failures++
				if failures >= 3 {
					log.Warn("mqtt: the connection keeps dropping right after it is made; is another instance using the same client id?")
				}
			} else {
				failures = 1
			}
			wait := backoff(max(failures, 1), k.c.cfg.MaxReconnectInterval)
			log.Warn("mqtt: connection to the broker lost; reconnecting", slog.String("error", errString(err)), slog.Duration("retry_in", wait))
			if !sleep(ctx, wait) {
				return
			}
		case <-ctx.Done():
			k.set(nil, ErrClosed)
			cli.Disconnect(uint(disconnectQuiesce / time.Millisecond))
			return
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// tlsHint says what to check when err is a TLS failure, or "". paho
// flattens the errors of a connection attempt into text, hence the
// matching on it.
func tlsHint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "signed by unknown authority"):
		return "the broker's certificate is not signed by a trusted CA: check that TAYLORDASH_MQTT_CA_FILE holds the CA that signed it"
	case strings.Contains(s, "certificate is valid for"), strings.Contains(s, "doesn't contain any IP SANs"):
		return "the broker's certificate does not name the host of TAYLORDASH_MQTT_URL: connect by a name the certificate holds, or reissue it with this host"
	case strings.Contains(s, "has expired or is not yet valid"):
		return "the broker's certificate has expired or is not yet valid: renew it"
	case strings.Contains(s, "tls: certificate required"), strings.Contains(s, "tls: bad certificate"), strings.Contains(s, "tls: unknown certificate authority"):
		return "the broker wants a client certificate signed by its CA: check TAYLORDASH_MQTT_CERT_FILE and TAYLORDASH_MQTT_KEY_FILE"
	case strings.Contains(s, "first record does not look like a TLS handshake"):
		return "the broker's port does not speak TLS: use the TLS listener's port (8883 by convention), or tcp://"
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
