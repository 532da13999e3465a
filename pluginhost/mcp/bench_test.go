package mcp_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/pluginhost/mcp"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcptest"
)

// BenchmarkCallTool measures a call of the test server's echo tool
// through the Manager (allow-list, semaphore, timeout, counters, span)
// against the same call on a bare SDK session, over stdio and over
// streamable HTTP on loopback.
//
//	go test ./pluginhost/mcp -run '^$' -bench CallTool -benchtime 2000x
func BenchmarkCallTool(b *testing.B) {
	ctx := context.Background()
	args := map[string]any{"text": "hello"}
	echo := func(b *testing.B, call func() error) {
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	manager := func(b *testing.B, spec mcp.ServerSpec) *mcp.Manager {
		reg, err := mcp.NewRegistry(nil, []mcp.ServerSpec{spec}, nil)
		if err != nil {
			b.Fatal(err)
		}
		m, err := mcp.NewManager(reg, mcp.ManagerOptions{Config: mcp.Config{HealthInterval: -time.Second}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Stop(ctx) })
		if _, err := m.Connect(ctx, spec.ID); err != nil {
			b.Fatal(err)
		}
		return m
	}
	bare := func(b *testing.B, t mcpsdk.Transport) *mcpsdk.ClientSession {
		cs, err := mcpsdk.NewClient(&mcpsdk.Implementation{Name: "bench", Version: "1"}, nil).
			Connect(ctx, t, &mcpsdk.ClientSessionOptions{ProtocolVersion: mcp.DefaultProtocolVersion})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	bin := mcptest.ServerBinary(b)
	stdio := mcp.ServerSpec{ID: "bench", Transport: mcp.TransportStdio, Command: bin, AllowedTools: []string{"echo"},
		CallTimeout: mcp.Duration(10 * time.Second)}

	b.Run("stdio/manager", func(b *testing.B) {
		m := manager(b, stdio)
		echo(b, func() error { _, err := m.CallTool(ctx, "bench", "echo", args); return err })
	})
	b.Run("stdio/manager-parallel", func(b *testing.B) {
		spec := stdio
		spec.MaxConcurrent = 64
		m := manager(b, spec)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.CallTool(ctx, "bench", "echo", args); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("stdio/sdk", func(b *testing.B) {
		cs := bare(b, &mcpsdk.CommandTransport{Command: exec.Command(bin)})
		echo(b, func() error {
			_, err := cs.CallTool(ctx, &mcpsdk.CallToolParams{Name: "echo", Arguments: args})
			return err
		})
	})
	b.Run("http/manager", func(b *testing.B) {
		m := manager(b, mcp.ServerSpec{ID: "bench", Transport: mcp.TransportHTTP, URL: httpServer(b), AllowedTools: []string{"echo"},
			CallTimeout: mcp.Duration(10 * time.Second)})
		echo(b, func() error { _, err := m.CallTool(ctx, "bench", "echo", args); return err })
	})
	b.Run("http/sdk", func(b *testing.B) {
		cs := bare(b, &mcpsdk.StreamableClientTransport{Endpoint: httpServer(b), DisableStandaloneSSE: true})
		echo(b, func() error {
			_, err := cs.CallTool(ctx, &mcpsdk.CallToolParams{Name: "echo", Arguments: args})
			return err
		})
	})
}
