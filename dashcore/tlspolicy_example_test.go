package dashcore_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/taylordash/taylordash/dashcore"
)

// A module describes its links and checks them with the application's
// policy: loopback and verified TLS pass; a plaintext link to another
// machine is a warning, or, requiring TLS, an error.
func ExampleTLSPolicy() {
	links := []dashcore.Endpoint{
		{Name: "cache", Setting: "TAYLORDASH_CACHE_URL", Address: "127.0.0.1:6379", Transport: dashcore.Plaintext},
		{Name: "cache", Setting: "TAYLORDASH_CACHE_URL", Address: "cache.internal:6379", Transport: dashcore.Plaintext, Fix: "use rediss://"},
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.MessageKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	fmt.Println(dashcore.NewTLSPolicy(false, log).Check(links...))
	fmt.Println(dashcore.NewTLSPolicy(true, log).Check(links...))
	// Output:
	// level=WARN link=cache address=cache.internal:6379 transport=plaintext setting=TAYLORDASH_CACHE_URL fix="use rediss://"
	// <nil>
	// TAYLORDASH_REQUIRE_TLS is true, but the cache (TAYLORDASH_CACHE_URL) at cache.internal:6379 uses plaintext: use rediss://; or set TAYLORDASH_REQUIRE_TLS=false to allow it
}
