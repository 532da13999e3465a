package dashcore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// Server is the HTTP server, over TLS when HTTPConfig.TLSCertFile is set
// (reloaded when the files change). Start listens synchronously (a taken
// port fails at once) and serves in a goroutine that Stop waits for; Stop
// drains in-flight requests within HTTPConfig.DrainTimeout, then cuts the
// rest.
// Start and Stop may each be called once; a second Stop is a no-op.
type Server struct {
	cfg     HTTPConfig
	log     *slog.Logger
	srv     *http.Server
	onFatal func(error)

	mu       sync.Mutex
	ln       net.Listener
	done     chan struct{}
	serveErr error
	stopped  bool
}

// NewServer returns a server for h configured by cfg. It does no I/O.
func NewServer(cfg HTTPConfig, h http.Handler, log *slog.Logger) *Server {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg: cfg,
		log: log,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
}

// Start listens on the configured address and serves in the background.
// It loads the TLS key pair first when one is configured; a renewed pair
// written to the same files is served from the next handshake on (the
// files are looked at once a second at most), without a restart, and an
// invalid one is logged and ignored, the previous pair still served.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("dashcore: server already started")
	}
	tlsOn := s.cfg.TLSCertFile != ""
	if tlsOn {
		r, err := newCertReloader(s.cfg.TLSCertFile, s.cfg.TLSKeyFile, s.log)
		if err != nil {
			return err
		}
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dashcore: listen on %s: %w (set TAYLORDASH_HTTP_ADDR to a free address)", s.cfg.Addr, err)
	}
	s.ln = ln
	s.done = make(chan struct{})
	go s.serve(ln, tlsOn)
	s.log.Info("HTTP server listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", tlsOn))
	return nil
}

func (s *Server) serve(ln net.Listener, tlsOn bool) {
	defer close(s.done)
	var err error
	if tlsOn {
		err = s.srv.ServeTLS(ln, "", "")
	} else {
		err = s.srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return
	}
	s.mu.Lock()
	s.serveErr = err
	s.mu.Unlock()
	s.log.Error("HTTP server stopped serving", slog.String("error", err.Error()))
	if s.onFatal != nil {
		s.onFatal(err)
	}
}

// Stop shuts the server down gracefully: it stops accepting, waits for
// in-flight requests up to DrainTimeout (or ctx's deadline, if sooner),
// then closes what is left, and waits for the serving goroutine to end.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.ln == nil || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	err := s.srv.Shutdown(dctx)
	if err != nil {
		s.log.Warn("HTTP drain timed out; closing remaining connections", slog.Duration("drain_timeout", s.cfg.DrainTimeout))
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("dashcore: shut down HTTP server: %w", err)
	}
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the base URL of the server, such as http://127.0.0.1:8000,
// or "" before Start. A wildcard host is reported as 127.0.0.1.
func (s *Server) URL() string {
	addr := s.Addr()
	if addr == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if s.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Err returns the error that made the server stop serving on its own, if any.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}
