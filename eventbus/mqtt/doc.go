// Package mqtt is the event bus's MQTT transport, on
// [github.com/eclipse/paho.mqtt.golang] (MQTT 3.1.1). A [Client] is an
// [eventbus.Publisher] and an [eventbus.Subscriber]; it passes the
// transport conformance suite
// ([github.com/taylordash/taylordash/eventbus/eventbustest]).
//
//	c, err := mqtt.New(mqtt.Config{URL: "tcp://broker:1883", ClientID: "backend-0"}, logger)
//	if err != nil {
//		return err // a bad configuration, naming the field
//	}
//	if err := c.Start(ctx); err != nil { // connects in the background
//		return err
//	}
//	defer c.Stop(context.Background())
//	ch, err := c.Subscribe(ctx, "tracker/events/#")
//	...
//	err = c.Publish(ctx, "tracker/events/projects/created", payload)
//
// In an fx application, [Module] provides the client from the
// TAYLORDASH_MQTT_* variables ([Config]), as *Client, eventbus.Publisher
// and eventbus.Subscriber, with the "mqtt" readiness check.
//
// # Two connections
//
// The client connects twice, as ClientID+"-pub" and ClientID+"-sub". The
// subscribing connection stops reading when a consumer falls behind (see
// Flow control); on one connection that would also hold up the PUBACKs
// that publications wait for. The publishing connection has a clean
// session: a Publish interrupted by a lost connection fails and the
// caller (the outbox) publishes again. The subscribing connection has a
// persistent session (CleanSession false): the broker keeps its
// subscriptions, and the messages published for them, while the client is
// away.
//
// # Delivery
//
// Publications use QoS 1 (see [Config.QoS] for QoS 0 and why not 2):
// Publish returns nil once the broker's PUBACK arrived. While the
// publishing connection is down, Publish fails at once with
// [ErrNotConnected]; callers retry.
//
// Received messages are acknowledged by hand: the client sends the PUBACK
// when the consumer calls Message.Ack, never before, so a message the
// consumer has not processed stays with the broker. Message.Nack sends
// nothing: MQTT 3.1.1 has no negative acknowledgement, and the broker
// delivers an unacknowledged message again only when the session next
// connects (after a lost connection, or to the next client with the same
// ClientID), marked as a duplicate (Message.Redelivered). Messages
// delivered but not settled when a subscription or the client stops are
// likewise delivered again on the next connection, before newer ones. A
// nacked message also keeps one of the broker's in-flight slots for the
// client (max_inflight_messages) until then: a consumer that nacks that
// many messages stops delivery until the next connection. Retry in place,
// as the ingest pipeline does, or ack and dead-letter; Nack is for giving
// up on shutdown.
//
// Messages reach a subscription in the order the broker sends them, which
// for messages of one publishing connection is the order they were
// published. Delivery is at least once: after a lost connection the broker
// sends again what was not acknowledged, so consumers deduplicate (the
// eventbus idempotency key). A client whose filters overlap ("a/#" and
// "a/+") receives each matching message once per filter, on each matching
// subscription; it is acknowledged once every one of them acked it.
//
// Messages that arrive on the subscribing connection before a matching
// Subscribe (the session's queue is sent as soon as it connects) are held,
// unacknowledged, and are the first ones the matching Subscribe delivers.
//
// # Flow control
//
// Each subscription holds at most [Config.Window] messages, delivered or
// waiting, without an Ack or Nack. When a message arrives for a
// subscription whose window is full, the client stops reading from the
// broker until the consumer settles one, and every subscription of the
// client pauses with it (they share the connection): the broker keeps the
// rest (in its per-client queue), nothing is dropped on the client. MQTT 3.1.1 has no
// other way to pause a broker, and it has a cost: a client that reads
// nothing does not see its PINGRESPs, so a consumer stalled for longer
// than KeepAlive plus the ping timeout (10s) has its subscribing
// connection dropped and reconnected, which delivers again what was not
// acknowledged. Let the broker's max_inflight_messages (the messages it
// sends a client before waiting for PUBACKs) be the usual limit instead:
// set it at or below Window, and the window is reached only when a
// consumer holds more than that.
//
// # Connecting and reconnecting
//
// [Client.Start] does not wait for the broker: it starts both connections
// in the background and returns. An application therefore starts (and
// serves what needs no broker) while the broker is down; its readiness
// check ([Client.Check], the "mqtt" check of the module) reports it not
// ready, naming the broker and the last error (connection refused, a TLS
// verification failure, "not Authorized"), until both connections are up.
// [Client.WaitConnected] waits for them where that is wanted (tools,
// tests). Subscribe works while disconnected: the filter is subscribed
// when the connection comes up.
//
// Each connection reconnects forever after any loss, with a new paho
// client each time (paho's own reconnection has no jitter): the wait
// starts at 125-250ms and doubles up to [Config.MaxReconnectInterval],
// each wait randomly between half and all of its value, so instances cut
// off together do not return together. A connection that drops within
// 10s of being made counts as a failure, so a broker that accepts and
// drops at once, or another instance with the same ClientID (the broker
// disconnects the older of two), is not hammered, and the log says so.
// After every connection the client subscribes to all its filters again:
// the broker may have lost the session.
//
// # Broker settings
//
// The guarantees above hold only with a broker configured for them. For
// Mosquitto 2 (mosquitto.conf):
//
//	persistence true
//	persistence_location /var/lib/mosquitto/
//	autosave_interval 60
//	max_queued_messages 0
//	max_queued_bytes 1073741824
//	max_inflight_messages 1000
//	persistent_client_expiration 14d
//
// What each one is for, and what happens without it:
//
//   - persistence true (Mosquitto's default is false): without it a broker
//     restart loses every session, with its subscriptions, the messages
//     queued for offline clients and those in flight. The client
//     subscribes again when it reconnects, so new messages flow, but the
//     others are gone.
//   - autosave_interval: Mosquitto writes its database at shutdown and
//     every autosave_interval seconds (default 1800). A PUBACK means the
//     message is in the broker's memory, not on disk: a crash (kill -9,
//     power loss) loses what arrived since the last save. Lower it, or use
//     autosave_on_changes true with autosave_interval counting changes,
//     at the price of more writes.
//   - max_queued_messages (default 1000): the messages queued for one
//     client, offline or behind, beyond those in flight. Past it, QoS 1
//     messages for that client are dropped, silently. 0 means no limit;
//     bound the memory with max_queued_bytes instead (past which messages
//     are dropped too), and watch $SYS/broker/publish/messages/dropped.
//   - max_inflight_messages (default 20): the messages the broker sends a
//     client before waiting for PUBACKs. It is the flow control that
//     keeps the client reading (see Flow control): keep it at or below
//     Window, and at or above what a consumer holds unacknowledged at once,
//     or throughput suffers. The ingest pipeline gathers a batch while it
//     stores the previous one, so give it at least twice its batch size
//     (1000 for the default 500, the default Window). 0 (no limit) leaves
//     the flow control to the client's Window.
//   - persistent_client_expiration: a session of a client that never
//     returns (a ClientID retired, a pod renamed) otherwise lives, and
//     queues, forever.
//   - Shared subscriptions ($share/<group>/<filter>, [Config.SharedGroup])
//     split the messages among the group's instances, for scale-out;
//     Mosquitto supports them for MQTT 3.1.1 clients since 1.6. Mosquitto
//     also assigns shares to members that are offline with a persistent
//     session: those wait in that member's session until it returns, with
//     the same ClientID. Give instances ClientIDs that come back (a
//     StatefulSet's ordinal names), and let persistent_client_expiration
//     drop the sessions of instances removed for good (their queued share
//     goes with them).
//
// Other brokers pass the conformance suite too, each with its own
// settings: mochi-mqtt (embedded by the example dashboard), RabbitMQ's
// MQTT plugin and NATS server's MQTT listener; docs/eventbus.md
// ("Brokers") has their feature table and settings. RabbitMQ and NATS
// have no shared subscriptions, and grant a "$share/..." subscription as
// a literal topic that receives nothing: set
// [Config.NoSharedSubscriptions] there, and every instance receives every
// message, which the mirror stores once.
//
// # Stale subscriptions
//
// The broker session remembers every filter the ClientID ever subscribed
// to, after the application stopped asking for it (a changed filter list,
// a changed TopicPrefix). Messages for such a filter are held by the
// client, unacknowledged, waiting for a matching Subscribe; once Window of
// them are held, delivery pauses, and the client logs a warning naming a
// topic. Remove the stale subscriptions by discarding the session once,
// while the application is stopped: connect as ClientID+"-sub" with a
// clean session, e.g. mosquitto_sub -h broker -i <ClientID>-sub -t unused
// -E (mosquitto_sub's sessions are clean unless -c is given), or start the
// application once with TAYLORDASH_MQTT_CLEAN_SESSION=true. Either drops
// the messages queued in the session too. Or change ClientID.
//
// # Status and last will
//
// Unless [Config.WillTopic] is "-", the client keeps a retained status at
// tracker/status/<ClientID> (or WillTopic), after TopicPrefix:
// {"status":"online","client_id":"..."} once both connections are up, and
// {"status":"offline","client_id":"..."} when Stop is called. Both
// connections carry a last will with the offline status (QoS 1, retained),
// which the broker publishes when a connection dies without a DISCONNECT
// (a killed process, a lost network), after 1.5 times KeepAlive at most.
//
// # Topics
//
// [Config.TopicPrefix] is put before every published topic, every
// subscribed filter and the status topic, and removed from received
// topics; deployments (and tests) share a broker with it. The event
// topics themselves (tracker/events/#, ...) belong to the layers above.
//
// # Security
//
// ssl://, tls:// and mqtts:// URLs use TLS 1.2 or later; the broker's
// certificate is verified against [Config.CAFile], or the system's roots,
// for the URL's host name. CertFile and KeyFile add a client certificate.
// Username and Password (or user:password in the URL) authenticate with
// the broker; neither appears in errors or logs.
// A failed TLS attempt is logged with a "fix" attribute saying what to
// check. [Config.Endpoints] describes the broker's address for a
// dashcore.TLSPolicy, and [Module] checks it with the application's
// policy: a tcp:// URL to another machine is warned about, or refused with
// TAYLORDASH_REQUIRE_TLS.
//
// # Observability
//
// The client logs connections, losses and retries to its *slog.Logger.
// With [Config.MeterProvider] it reports, per connection ("connection":
// publish or subscribe), the gauge taylordash.mqtt.connected (1 while up)
// and the counter taylordash.mqtt.reconnects, and the original's gauges
// [MetricTaylorConnected] (1 while both are up) and
// [MetricLastMessageAge]. [Client.LastMessageAge] tells how long ago a
// message was last received, for alerting on a quiet bus. With
// [Config.TracerProvider], each Publish records a producer span "publish
// <topic>", a child of the caller's span.
package mqtt
