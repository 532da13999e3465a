package rabbitmqlocal_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/rabbitmqlocal"
)

func start(t *testing.T) *rabbitmqlocal.Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rabbitmqlocal.Start(ctx, rabbitmqlocal.Options{})
	if errors.Is(err, rabbitmqlocal.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("RabbitMQ is not installed (with CI=true this fails): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return l
}

// Two listeners of one node are two ports; Stop closes its own and not
// the other.
func TestStartTwoAndStop(t *testing.T) {
	a := start(t)
	b := start(t)
	if a.Port() == b.Port() || !strings.HasPrefix(a.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("listeners %s and %s", a.URL(), b.URL())
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(a.URL(), "tcp://"), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", a.URL())
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(b.URL(), "tcp://"), time.Second)
	if err != nil {
		t.Fatalf("%s: %v", b.URL(), err)
	}
	c.Close()
}

// A rabbitmqctl that cannot run is an error; a node that does not answer
// is an error saying the service is not running.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := rabbitmqlocal.Start(ctx, rabbitmqlocal.Options{Ctl: "/nonexistent/rabbitmqctl"}); err == nil {
		t.Fatal("Start with a missing rabbitmqctl succeeded")
	}
	start(t) // skips without RabbitMQ outside CI
	_, err := rabbitmqlocal.Start(ctx, rabbitmqlocal.Options{Node: "nobody@localhost"})
	if err == nil || !strings.Contains(err.Error(), "RabbitMQ service is not running") {
		t.Fatalf("Start on a node that does not run: %v, want an error saying the service is not running", err)
	}
}
