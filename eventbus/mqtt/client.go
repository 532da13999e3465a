package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
)

// Client is the MQTT transport: an [eventbus.Publisher] and an
// [eventbus.Subscriber] on two connections to one broker. Create it with
// [New], then Start it; Stop (or Close) ends it. It is safe for concurrent
// use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	addr    string // the broker URL without credentials, for messages
	broker  *url.URL
	tls     *tls.Config
	status  string // the status topic with the prefix, "" for none
	metrics *metrics
	tracer  trace.Tracer // nil: no spans

	pub *connection
	sub *connection

	// life
	lifeMu  sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	quit    chan struct{} // closed by Stop: handlers, pumps and waits return
	gate    gate          // Publish calls in progress; closed by Stop

	// subscriptions; see subscribe.go
	mu      sync.Mutex
	subs    []*subscription
	filters map[string]bool // broker filters of this client's session
	pending []*delivery     // received, matching no live subscription
	changed chan struct{}   // closed and replaced on every change
	pumps   sync.WaitGroup
	warned  time.Time // when the "held messages" warning was last logged
	stalled bool      // route waits for room: paho reads nothing meanwhile

	lastMessage atomic.Int64 // unix nanoseconds of the last message received
}

var (
	_ eventbus.Publisher  = (*Client)(nil)
	_ eventbus.Subscriber = (*Client)(nil)
)

// New returns a client for cfg (defaults applied, then validated) that
// logs to log (nil discards). It does no I/O: Start connects.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt: invalid configuration: %w", err)
	}
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: URL %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.NoSharedSubscriptions && cfg.SharedGroup != "" {
		log.Info("mqtt: the broker has no shared subscriptions (NoSharedSubscriptions): SharedGroup is ignored, every instance receives every message",
			slog.String("group", cfg.SharedGroup))
	}
	c := &Client{
		cfg:     cfg,
		log:     log,
		addr:    u.Redacted(),
		broker:  u,
		quit:    make(chan struct{}),
		filters: make(map[string]bool),
		changed: make(chan struct{}),
	}
	if u.User != nil {
		c.addr = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	if u.Scheme == "ssl" {
		if c.tls, err = tlsConfig(cfg); err != nil {
			return nil, err
		}
	}
	if t := cfg.StatusTopic(); t != "" {
		c.status = cfg.TopicPrefix + t
	}
	if c.metrics, err = newMetrics(cfg.MeterProvider); err != nil {
		return nil, err
	}
	if eventbus.TracingEnabled(cfg.TracerProvider) {
		c.tracer = cfg.TracerProvider.Tracer(eventbus.TracerName)
	}
	c.pub = newConnection(c, "publish", cfg.ClientID+"-pub", c.publishOptions, c.onPublishUp, nil)
	c.sub = newConnection(c, "subscribe", cfg.ClientID+"-sub", c.subscribeOptions, c.onSubscribeUp, c.dropConnection)
	return c, nil
}

// Config returns the client's configuration, with defaults applied.
func (c *Client) Config() Config { return c.cfg }

// baseOptions are the paho options both connections share.
func (c *Client) baseOptions(id string) *paho.ClientOptions {
	o := paho.NewClientOptions()
	o.AddBroker(c.broker.String())
	o.SetClientID(id)
	o.SetProtocolVersion(4) // MQTT 3.1.1, without paho's fallback to 3.1
	o.SetUsername(c.cfg.Username)
	o.SetPassword(c.cfg.Password)
	o.SetKeepAlive(c.cfg.KeepAlive.Truncate(time.Second))
	o.SetConnectTimeout(c.cfg.ConnectTimeout)
	o.SetWriteTimeout(c.cfg.ConnectTimeout)
	o.SetDialer(&net.Dialer{Timeout: c.cfg.ConnectTimeout})
	// Dials as paho does, with buffered reads: see netconn.go.
	o.SetCustomOpenConnectionFn(openConnection)
	// A new paho client per connection never resumes: see nostore.go.
	o.SetStore(noStore{})
	o.SetAutoReconnect(false) // connection.run reconnects, with jitter
	o.SetConnectRetry(false)
	o.SetResumeSubs(false) // onSubscribeUp subscribes again
	if c.tls != nil {
		o.SetTLSConfig(c.tls)
	}
	if c.status != "" {
		o.SetBinaryWill(c.status, c.statusPayload("offline"), 1, true)
	}
	return o
}

func (c *Client) publishOptions(uint64) *paho.ClientOptions {
	o := c.baseOptions(c.cfg.ClientID + "-pub")
	// Nothing is kept for the publishing side between connections: a
	// Publish interrupted by a lost connection fails and is retried by the
	// caller.
	o.SetCleanSession(true)
	return o
}

func (c *Client) subscribeOptions(gen uint64) *paho.ClientOptions {
	o := c.baseOptions(c.cfg.ClientID + "-sub")
	o.SetCleanSession(c.cfg.CleanSession)
	o.SetOrderMatters(true)     // one handler call at a time, in the broker's order
	o.SetAutoAckDisabled(true)  // PUBACK when the consumer acks, not before
	o.SetDefaultPublishHandler( // every message, whichever filter: see route
		func(cli paho.Client, m paho.Message) { c.route(cli, gen, m) })
	return o
}

// Start connects both connections in the background and returns; it fails
// only when called twice or after Stop. The client connects, and
// reconnects after any loss, forever, with a jittered backoff: an
// application starts while its broker is down, and Check reports it not
// ready until both connections are up. Use WaitConnected to wait for them.
func (c *Client) Start(context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	switch {
	case c.stopped:
		return fmt.Errorf("mqtt: Start after Stop: %w", ErrClosed)
	case c.started:
		return errors.New("mqtt: Start called twice")
	}
	c.started = true
	if err := c.metrics.register(c); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.pub.run(ctx)
	go c.sub.run(ctx)
	c.log.Info("mqtt: connecting", slog.String("broker", c.addr), slog.String("client_id", c.cfg.ClientID))
	return nil
}

// Stop ends the client: Publish and Subscribe fail from now on, Publish
// calls in progress are waited for, the status goes offline, every
// subscription's channel closes (messages not acked stay with the broker,
// which delivers them again to the next client with this ClientID), and
// both connections are closed with a DISCONNECT. It waits up to ctx and is
// safe to call more than once, and without Start.
func (c *Client) Stop(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	published := c.gate.close()
	select {
	case <-published:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("mqtt: stop: waiting for publications in progress: %w", ctx.Err()))
	}
	if c.started {
		c.publishStatus(ctx, "offline")
	}
	c.mu.Lock()
	close(c.quit)
	c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
		for _, k := range []*connection{c.pub, c.sub} {
			select {
			case <-k.done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("mqtt: stop: waiting for the %s connection to close: %w", k.name, ctx.Err()))
			}
		}
	}
	c.pumps.Wait()
	c.metrics.unregister()
	return errors.Join(errs...)
}

// Close stops the client (see Stop), waiting up to ConnectTimeout. It
// closes both sides: a Client used as both Publisher and Subscriber is
// closed once, when neither is needed any more.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout)
	defer cancel()
	return c.Stop(ctx)
}

// Connected reports whether both connections are up (as Check does).
func (c *Client) Connected() bool { return c.pub.state().up && c.sub.state().up }

// Check is the readiness check: nil while both connections are up, else
// an error naming the broker, the connection that is down and why.
func (c *Client) Check(context.Context) error {
	var down []string
	for _, k := range []*connection{c.pub, c.sub} {
		if st := k.state(); !st.up {
			why := "not connected yet"
			if st.lastErr != nil {
				why = st.lastErr.Error()
			}
			down = append(down, fmt.Sprintf("%s connection down (%s)", k.name, why))
		}
	}
	if len(down) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %s", ErrNotConnected, c.addr, strings.Join(down, ", "))
}

// WaitConnected waits until both connections are up, or ctx ends; then it
// returns the error of Check, which says why the client cannot connect.
// A connection counts as up once the filters subscribed so far are
// subscribed on it again (the SUBACK came, or delivery is paused by
// back-pressure, or ConnectTimeout passed): messages published after
// WaitConnected returns reach them.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		pub, sub := c.pub.state(), c.sub.state()
		if pub.up && sub.up {
			return nil
		}
		select {
		case <-pub.changed:
		case <-sub.changed:
		case <-c.quit:
			return ErrClosed
		case <-ctx.Done():
			if err := c.Check(ctx); err != nil {
				return fmt.Errorf("%w (waited: %w)", err, ctx.Err())
			}
			return nil
		}
	}
}

// LastMessageAge returns how long ago the last message was received, or
// zero if none was.
func (c *Client) LastMessageAge() time.Duration {
	ns := c.lastMessage.Load()
	if ns == 0 {
		return 0
	}
	return time.Since(time.Unix(0, ns))
}

// Reconnects returns how many times each connection came up again after
// its first connection.
func (c *Client) Reconnects() (publish, subscribe int64) {
	c.pub.mu.Lock()
	publish = c.pub.reconnects
	c.pub.mu.Unlock()
	c.sub.mu.Lock()
	subscribe = c.sub.reconnects
	c.sub.mu.Unlock()
	return publish, subscribe
}
