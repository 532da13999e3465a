package devbroker

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	b, err := Resolve(ctx, Options{URL: "tcp://broker.internal:1883"})
	if err != nil || b.Source != "environment" || b.URL != "tcp://broker.internal:1883" {
		t.Fatalf("explicit: %+v %v", b, err)
	}
	b, err = Resolve(ctx, Options{})
	if err != nil || b.Source != "local broker" {
		t.Fatalf("local (Mosquitto runs on 1883 here): %+v %v", b, err)
	}
	// Nothing on the address: the embedded broker serves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().String()
	l.Close()
	b, err = Resolve(ctx, Options{LocalAddr: free})
	if err != nil || b.Source != "embedded" || !strings.HasPrefix(b.URL, "tcp://127.0.0.1:") {
		t.Fatalf("embedded: %+v %v", b, err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(b.URL, "tcp://"))
	if err != nil {
		t.Fatalf("embedded broker does not accept connections: %v", err)
	}
	c.Close()
	// mochi-mqtt v2.7.9's Server.Close writes a field that a connection's
	// EstablishConnection reads without a lock (a data race in the
	// library, seen once under -race): let the dropped connection's
	// goroutine end before stopping.
	time.Sleep(200 * time.Millisecond)
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
