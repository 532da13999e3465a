package natslocal_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/internal/natslocal"
)

func start(t *testing.T, opts natslocal.Options) *natslocal.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := natslocal.Start(ctx, opts)
	if errors.Is(err, natslocal.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("nats-server is not installed (with CI=true this fails): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// A server answers MQTT on its port (a CONNECT gets a CONNACK accepting
// it), and Stop ends it and removes its JetStream store.
func TestStartStop(t *testing.T) {
	s := start(t, natslocal.Options{DieWithParent: true, Log: childproctest.Log(t, "nats-server")})
	if !strings.HasPrefix(s.URL(), "tcp://127.0.0.1:") || !strings.HasPrefix(s.NATSURL(), "nats://127.0.0.1:") {
		t.Fatalf("URLs %s, %s", s.URL(), s.NATSURL())
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// MQTT 3.1.1 CONNECT, clean session, client id "t", keep-alive 10s.
	if _, err := c.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 10, 0, 1, 't'}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	if _, err := c.Read(ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x, %v; want 20 02 00 00", ack, err)
	}
	c.Close()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "tcp://"), time.Second); err == nil {
		c.Close()
		t.Fatal("the MQTT port still accepts connections after Stop")
	}
}

// A configuration nats-server refuses is an error with its log.
func TestBadConfig(t *testing.T) {
	if _, err := natslocal.FindBinary(); err != nil && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	_, err := natslocal.Start(context.Background(), natslocal.Options{MQTT: "no_such_option: 1"})
	if err == nil || !strings.Contains(err.Error(), "exited during startup") {
		t.Fatalf("Start with a bad option: %v", err)
	}
}
