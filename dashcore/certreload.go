package dashcore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckInterval is how often, at most, the certificate files are
// looked at for a change.
const certCheckInterval = time.Second

// certReloader serves the certificate of a pair of PEM files and picks up
// a new one when the files change, without a restart: at most once per
// certCheckInterval, a handshake stats both files (the only cost when
// nothing changed); when either changed, both are read and parsed, and a
// valid pair replaces the one served. A half-written or invalid pair is
// logged once per change and the last good one is kept.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds

	mu       sync.Mutex // held by the one handshake that checks
	loaded   [2]fileStamp
	certPEM  []byte
	keyPEM   []byte
	rejected [2]fileStamp // the change last found invalid, logged once
}

// fileStamp tells whether a file changed: a renewal writes new bytes (new
// size or modification time) or swaps the file (new inode, as Kubernetes
// does with secret volumes).
type fileStamp struct {
	modTime time.Time
	size    int64
	ino     uint64
	ok      bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size(), ino: inode(fi), ok: true}
}

// newCertReloader loads the pair; an error names both files and the
// variables that set them.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamps := [2]fileStamp{stampOf(certFile), stampOf(keyFile)}
	cert, certPEM, keyPEM, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("dashcore: load TLS key pair %s, %s: %w (check TAYLORDASH_HTTP_TLS_CERT_FILE and TAYLORDASH_HTTP_TLS_KEY_FILE)", certFile, keyFile, err)
	}
	r.cert.Store(cert)
	r.loaded, r.certPEM, r.keyPEM = stamps, certPEM, keyPEM
	r.nextCheck.Store(r.now().Add(certCheckInterval).UnixNano())
	log.Info("HTTP TLS certificate loaded", certAttrs(cert)...)
	return r, nil
}

func loadPair(certFile, keyFile string) (*tls.Certificate, []byte, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, err
	}
	return &cert, certPEM, keyPEM, nil
}

// GetCertificate is the tls.Config hook: it returns the current
// certificate, after checking the files when the interval has passed.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := r.now()
	next := r.nextCheck.Load()
	if now.UnixNano() >= next && r.nextCheck.CompareAndSwap(next, now.Add(certCheckInterval).UnixNano()) {
		r.check()
	}
	return r.cert.Load(), nil
}

// check reloads the pair if a file changed.
func (r *certReloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps := [2]fileStamp{stampOf(r.certFile), stampOf(r.keyFile)}
	if stamps == r.loaded || stamps == r.rejected {
		return
	}
	cert, certPEM, keyPEM, err := loadPair(r.certFile, r.keyFile)
	if err != nil {
		r.rejected = stamps
		r.log.Warn("HTTP TLS certificate files changed but do not load; still serving the previous certificate",
			slog.String("cert_file", r.certFile), slog.String("key_file", r.keyFile), slog.String("error", err.Error()))
		return
	}
	r.loaded, r.rejected = stamps, [2]fileStamp{}
	if bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM) {
		return // touched or rewritten, not renewed
	}
	r.certPEM, r.keyPEM = certPEM, keyPEM
	r.cert.Store(cert)
	r.log.Info("HTTP TLS certificate reloaded", certAttrs(cert)...)
}

// certAttrs describes the leaf of cert for the log.
func certAttrs(cert *tls.Certificate) []any {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf == nil {
		return nil
	}
	return []any{
		slog.String("subject", leaf.Subject.String()),
		slog.String("serial", leaf.SerialNumber.Text(16)),
		slog.Time("not_after", leaf.NotAfter),
	}
}
