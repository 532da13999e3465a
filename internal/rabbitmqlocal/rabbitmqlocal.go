// Package rabbitmqlocal gives a test an MQTT listener of its own on the
// machine's running RabbitMQ.
//
// RabbitMQ serves MQTT through its rabbitmq_mqtt plugin, which listens on
// 1883 by default; on a machine where Mosquitto holds 1883,
// `rabbitmq-plugins enable rabbitmq_mqtt` fails. [Start] therefore works
// through `rabbitmqctl eval` on the running node (as root, or as a user
// with the node's Erlang cookie):
//
//   - the plugin's application is loaded (an error names the plugin when
//     it is not installed) and, when it is not running, started with its
//     listener on a free port of 127.0.0.1 instead of 1883;
//   - when it was already running (an earlier run, another test process,
//     an operator), a listener on a free port is added to its supervisor
//     (rabbit_mqtt_sup), next to the listeners it has.
//
// [Listener.Stop] removes the listener again; the plugin's application
// keeps running without it until the node restarts (stopping it could cut
// another test process's listener). Clients connect as RabbitMQ's default
// user (guest, allowed from loopback), with no user name; their sessions
// are durable queues in the default virtual host, so tests should end
// their persistent sessions (a clean-session connection with the same
// client id deletes the queue).
//
// The eval code matches RabbitMQ 3.8 to 3.12's plugin (rabbit_mqtt_sup
// with ranch listeners); on other versions the error says what failed.
// A rabbitmqctl that is not there is [ErrNotInstalled]; a node that does
// not run, or a plugin that is missing or fails to start, is another
// error, naming it.
package rabbitmqlocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/taylordash/taylordash/internal/childproc"
)

// defaultCtl is where Debian's rabbitmq-server package installs rabbitmqctl.
const defaultCtl = "/usr/sbin/rabbitmqctl"

// ErrNotInstalled is returned (wrapped) when no rabbitmqctl is found.
var ErrNotInstalled = errors.New("rabbitmqlocal: rabbitmqctl not found on PATH or at " + defaultCtl + "; install the rabbitmq-server package (e.g. apt-get install rabbitmq-server)")

// Options configures Start. The zero value adds a listener on a free port
// to the local node.
type Options struct {
	// Ctl is the rabbitmqctl executable; "" looks up "rabbitmqctl" on
	// PATH, then /usr/sbin/rabbitmqctl.
	Ctl string
	// Node is the node to work on (rabbitmqctl -n); "" is rabbitmqctl's
	// default, the local node.
	Node string
}

// FindCtl returns the path of rabbitmqctl: "rabbitmqctl" on PATH, else
// /usr/sbin/rabbitmqctl. The error wraps [ErrNotInstalled].
func FindCtl() (string, error) {
	if p, err := exec.LookPath("rabbitmqctl"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat(defaultCtl); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
		return defaultCtl, nil
	}
	return "", ErrNotInstalled
}

// Listener is an MQTT listener added by Start.
type Listener struct {
	ctl  string
	node string
	port int

	mu      sync.Mutex
	stopped bool
}

// Start adds an MQTT listener on a free port of 127.0.0.1 to the running
// RabbitMQ node (see the package doc) and waits until it accepts
// connections. It retries with another port when the one picked is taken
// by the time the node binds it.
func Start(ctx context.Context, opts Options) (*Listener, error) {
	ctl := opts.Ctl
	if ctl == "" {
		var err error
		if ctl, err = FindCtl(); err != nil {
			return nil, err
		}
	}
	const maxAttempts = 3
	for attempt := 1; ; attempt++ {
		port, err := childproc.FreePort()
		if err != nil {
			return nil, fmt.Errorf("rabbitmqlocal: find a free port: %w", err)
		}
		l := &Listener{ctl: ctl, node: opts.Node, port: port}
		out, err := l.eval(ctx, addListener(port))
		if err == nil {
			err = parseResult(out)
		}
		if err == nil {
			if err := waitListening(ctx, port); err != nil {
				_ = l.Stop(context.WithoutCancel(ctx))
				return nil, fmt.Errorf("rabbitmqlocal: the MQTT listener on port %d does not accept connections: %w", port, err)
			}
			return l, nil
		}
		if attempt == maxAttempts || !strings.Contains(err.Error(), "eaddrinuse") {
			return nil, err
		}
	}
}

// URL returns the listener's address, tcp://127.0.0.1:PORT.
func (l *Listener) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", l.port) }

// Port returns the listener's port.
func (l *Listener) Port() int { return l.port }

// Stop removes the listener from the node; connections through it are
// closed. Later calls return nil.
func (l *Listener) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil
	}
	l.stopped = true
	out, err := l.eval(ctx, removeListener(l.port))
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte("taylordash_removed")) {
		return fmt.Errorf("rabbitmqlocal: remove the MQTT listener on port %d: %s", l.port, bytes.TrimSpace(out))
	}
	return nil
}

// eval runs rabbitmqctl eval with code and returns its output. A node that
// does not answer is reported as RabbitMQ not running.
func (l *Listener) eval(ctx context.Context, code string) ([]byte, error) {
	args := []string{"eval", code}
	if l.node != "" {
		args = append([]string{"-n", l.node}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.ctl, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		text := strings.TrimSpace(out.String())
		if strings.Contains(text, "unable to perform an operation on node") || strings.Contains(text, "nodedown") {
			return nil, fmt.Errorf("rabbitmqlocal: the RabbitMQ service is not running (start it with `rabbitmq-server -detached`); %s said:\n%s", l.ctl, text)
		}
		return nil, fmt.Errorf("rabbitmqlocal: %s eval: %w:\n%s", l.ctl, err, text)
	}
	return out.Bytes(), nil
}

// resultPattern finds the term the eval code returns.
var resultPattern = regexp.MustCompile(`\{taylordash_(ok|error),\s*(\w+)`)

// parseResult turns the output of addListener into an error.
func parseResult(out []byte) error {
	m := resultPattern.FindSubmatch(out)
	text := strings.TrimSpace(string(out))
	switch {
	case m == nil:
		return fmt.Errorf("rabbitmqlocal: unexpected rabbitmqctl output: %s", text)
	case string(m[1]) == "ok":
		return nil
	case string(m[2]) == "plugin":
		return fmt.Errorf("rabbitmqlocal: the rabbitmq_mqtt plugin is not installed on the node (it ships with rabbitmq-server 3.x; check `rabbitmq-plugins list`): %s", text)
	case string(m[2]) == "start":
		return fmt.Errorf("rabbitmqlocal: the rabbitmq_mqtt plugin does not start: %s", text)
	}
	return fmt.Errorf("rabbitmqlocal: add an MQTT listener to the rabbitmq_mqtt plugin: %s", text)
}

// addListener is Erlang code that starts the plugin with a listener on
// port, or adds one to it when it runs; it returns {taylordash_ok, Port}
// or {taylordash_error, What, Reason}.
func addListener(port int) string {
	return strings.ReplaceAll(`
P = PORT,
try
  case application:load(rabbitmq_mqtt) of
    {error, {already_loaded, _}} -> ok;
    ok -> ok;
    LoadError -> throw({plugin, LoadError})
  end,
  case lists:keymember(rabbitmq_mqtt, 1, application:which_applications()) of
    false ->
      ok = application:set_env(rabbitmq_mqtt, tcp_listeners, [{"127.0.0.1", P}]),
      ok = application:set_env(rabbitmq_mqtt, ssl_listeners, []),
      case application:ensure_all_started(rabbitmq_mqtt) of
        {ok, _} -> ok;
        StartError -> throw({start, StartError})
      end;
    true -> ok
  end,
  Suffix = ":" ++ integer_to_list(P),
  Listening = [Id || {Id, _, _, _} <- supervisor2:which_children(rabbit_mqtt_sup),
    is_atom(Id), lists:suffix(Suffix, atom_to_list(Id))],
  case Listening of
    [_ | _] -> ok;
    [] ->
      {ok, SocketOpts} = application:get_env(rabbitmq_mqtt, tcp_listen_options),
      [Address] = rabbit_networking:tcp_listener_addresses({"127.0.0.1", P}),
      Spec = rabbit_networking:tcp_listener_spec(rabbit_mqtt_listener_sup, Address, SocketOpts,
        ranch_tcp, rabbit_mqtt_connection_sup, [], mqtt, 10, 1, "MQTT TCP listener"),
      case supervisor2:start_child(rabbit_mqtt_sup, Spec) of
        {ok, _} -> ok;
        ChildError -> throw({listener, ChildError})
      end
  end,
  {taylordash_ok, P}
catch
  throw:{What, Why} -> {taylordash_error, What, Why};
  Class:Reason -> {taylordash_error, exception, {Class, Reason}}
end.
`, "PORT", strconv.Itoa(port))
}

// removeListener is Erlang code that removes the plugin's listeners on
// port and returns {taylordash_removed, N}.
func removeListener(port int) string {
	return strings.ReplaceAll(`
Suffix = ":PORT",
Ids = [Id || {Id, _, _, _} <- supervisor2:which_children(rabbit_mqtt_sup),
  is_atom(Id), lists:suffix(Suffix, atom_to_list(Id))],
[begin
   supervisor2:terminate_child(rabbit_mqtt_sup, Id),
   supervisor2:delete_child(rabbit_mqtt_sup, Id)
 end || Id <- Ids],
{taylordash_removed, length(Ids)}.
`, "PORT", strconv.Itoa(port))
}

// waitListening waits until the port accepts TCP connections, for at most
// 10s.
func waitListening(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	d := net.Dialer{Timeout: time.Second}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
