package mcp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/pluginhost/mcp"
)

// transports runs a test over stdio and over streamable HTTP.
func transports(t *testing.T, run func(t *testing.T, spec mcp.ServerSpec)) {
	t.Run("stdio", func(t *testing.T) { run(t, stdioSpec(t, "test-stdio")) })
	t.Run("http", func(t *testing.T) {
		spec := mcp.ServerSpec{ID: "test-http", Transport: mcp.TransportHTTP, URL: httpServer(t),
			Headers: map[string]string{"X-Test": "from the registry"}, AllowedTools: allTools,
			CallTimeout: mcp.Duration(2 * time.Second)}
		run(t, spec)
	})
}

func TestListAndCallTools(t *testing.T) {
	transports(t, func(t *testing.T, spec mcp.ServerSpec) {
		spec.AllowedTools = []string{"echo", "add"}
		b := newManager(t, mcp.Config{}, spec)
		ctx := ctxT(t)
		st, err := b.m.Connect(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != mcp.StatusOnline || st.ServerName != "mcptestserver" || st.ServerVersion != "0.3.0" || st.ProtocolVersion != mcp.DefaultProtocolVersion {
			t.Fatalf("state after connect: %+v", st)
		}
		tools, err := b.m.ListTools(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{}
		for _, tool := range tools {
			allowed[tool.Name] = tool.Allowed
		}
		if len(tools) != len(allTools) || !allowed["echo"] || !allowed["add"] || allowed["crash"] {
			t.Fatalf("tools: %+v", tools)
		}
		res, err := b.m.CallTool(ctx, spec.ID, "echo", map[string]any{"text": "hello"})
		if err != nil {
			t.Fatal(err)
		}
		if res.IsError || len(res.Content) != 1 || res.Content[0].(*mcpsdk.TextContent).Text != "hello" {
			t.Fatalf("echo: %+v", res)
		}
		if spec.Transport == mcp.TransportHTTP {
			if got := structured[struct{ Header string }](t, res.StructuredContent).Header; got != "from the registry" {
				t.Errorf("the configured header reached the server as %q", got)
			}
		}
		res, err = b.m.CallTool(ctx, spec.ID, "add", map[string]any{"a": 2, "b": 3.5})
		if err != nil {
			t.Fatal(err)
		}
		if sum := structured[struct{ Sum float64 }](t, res.StructuredContent).Sum; sum != 5.5 {
			t.Fatalf("add: %v", sum)
		}
		resources, err := b.m.ListResources(ctx, spec.ID)
		if err != nil || len(resources) != 1 || resources[0].URI != "test://greeting" {
			t.Fatalf("resources %v: %v", resources, err)
		}
		st = b.m.State(spec.ID)
		if st.Requests != 4 || st.Errors != 0 || st.LatencyP50 <= 0 {
			t.Fatalf("counters: %+v", st)
		}
	})
}

func TestToolOutsideTheAllowListIsRefused(t *testing.T) {
	transports(t, func(t *testing.T, spec mcp.ServerSpec) {
		spec.AllowedTools = []string{"echo"}
		b := newManager(t, mcp.Config{}, spec)
		ctx := ctxT(t)
		if _, err := b.m.Connect(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		_, err := b.m.CallTool(ctx, spec.ID, "env", nil)
		if !errors.Is(err, mcp.ErrToolNotAllowed) || mcp.Status(err) != 403 || !strings.Contains(err.Error(), "tool env is not allowed on MCP server "+spec.ID) {
			t.Fatalf("env outside the allow-list: %v", err)
		}
		_, err = b.m.Forward(ctx, spec.ID, mcp.JSONRPCRequest{JSONRPC: "2.0", ID: 7, Method: "tools/call", Params: map[string]any{"name": "env"}})
		if !errors.Is(err, mcp.ErrToolNotAllowed) {
			t.Fatalf("tools/call env through request: %v", err)
		}
		resp, err := b.m.Forward(ctx, spec.ID, mcp.JSONRPCRequest{JSONRPC: "2.0", ID: "list-1", Method: "tools/list"})
		if err != nil {
			t.Fatal(err)
		}
		list := resp.Result.(*mcpsdk.ListToolsResult)
		if resp.ID != "list-1" || len(list.Tools) != 1 || list.Tools[0].Name != "echo" {
			t.Fatalf("tools/list through request answers only allowed tools: %+v", resp)
		}
		if st := b.m.State(spec.ID); st.Denied != 2 {
			t.Fatalf("denied calls counted %d, want 2", st.Denied)
		}
	})
}

func TestEmptyAllowListAllowsNothingAndStarAll(t *testing.T) {
	spec := stdioSpec(t, "deny")
	spec.AllowedTools = nil
	star := stdioSpec(t, "star")
	star.AllowedTools = []string{mcp.AllTools}
	b := newManager(t, mcp.Config{}, spec, star)
	ctx := ctxT(t)
	for _, id := range []string{"deny", "star"} {
		if _, err := b.m.Connect(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.m.CallTool(ctx, "deny", "echo", map[string]any{"text": "x"}); !errors.Is(err, mcp.ErrToolNotAllowed) {
		t.Fatalf("no allow-list: %v", err)
	}
	if _, err := b.m.CallTool(ctx, "star", "pid", nil); err != nil {
		t.Fatalf("allow-list *: %v", err)
	}
}

func TestSlowToolTimesOutAndTheServerStaysUsable(t *testing.T) {
	transports(t, func(t *testing.T, spec mcp.ServerSpec) {
		spec.CallTimeout = mcp.Duration(300 * time.Millisecond)
		b := newManager(t, mcp.Config{}, spec)
		ctx := ctxT(t)
		if _, err := b.m.Connect(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		before, _ := b.m.CallTool(ctx, spec.ID, "pid", nil)
		start := time.Now()
		_, err := b.m.CallTool(ctx, spec.ID, "slow", map[string]any{"seconds": 20})
		if !errors.Is(err, mcp.ErrTimeout) || mcp.Status(err) != 504 {
			t.Fatalf("slow: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the timeout took %s", d)
		}
		res, err := b.m.CallTool(ctx, spec.ID, "echo", map[string]any{"text": "still here"})
		if err != nil || res.Content[0].(*mcpsdk.TextContent).Text != "still here" {
			t.Fatalf("echo after the timeout: %v %v", res, err)
		}
		after, _ := b.m.CallTool(ctx, spec.ID, "pid", nil)
		if structured[struct{ PID int }](t, before.StructuredContent) != structured[struct{ PID int }](t, after.StructuredContent) {
			t.Fatal("the server was restarted by a timeout")
		}
		if spec.Transport == mcp.TransportStdio {
			// The SDK sent notifications/cancelled; the tool saw its
			// context end and said so on stderr, which reached the log.
			eventually(t, "the cancellation in the server's stderr", func() bool {
				return strings.Contains(b.logs.String(), "mcp server stderr: slow: cancelled")
			})
		}
		st := b.m.State(spec.ID)
		if st.Timeouts != 1 || st.Errors != 1 || st.Status != mcp.StatusOnline {
			t.Fatalf("state: %+v", st)
		}
	})
}

func TestCrashedProcessIsRestartedAndReported(t *testing.T) {
	spec := stdioSpec(t, "crashy")
	b := newManager(t, mcp.Config{}, spec)
	ctx := ctxT(t)
	st, err := b.m.Connect(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	firstPID := st.PID
	_, err = b.m.CallTool(ctx, spec.ID, "crash", map[string]any{"code": 3})
	if !errors.Is(err, mcp.ErrUpstream) || mcp.Status(err) != 502 {
		t.Fatalf("crash: %v", err)
	}
	eventually(t, "the restart", func() bool {
		st = b.m.State(spec.ID)
		return st.Status == mcp.StatusOnline && st.Restarts == 1
	})
	if st.PID == firstPID || st.PID == 0 {
		t.Fatalf("pid %d after the restart, %d before", st.PID, firstPID)
	}
	if !strings.Contains(st.LastError, "exit status 3") || !strings.Contains(st.LastError, "crashing with status 3") {
		t.Fatalf("last error %q should give the exit status and the stderr", st.LastError)
	}
	if childproctest.Alive(firstPID) {
		t.Fatalf("the crashed process %d is still alive", firstPID)
	}
	res, err := b.m.CallTool(ctx, spec.ID, "echo", map[string]any{"text": "back"})
	if err != nil || res.Content[0].(*mcpsdk.TextContent).Text != "back" {
		t.Fatalf("echo after the restart: %v %v", res, err)
	}
	if got := b.statuses(spec.ID); !slices.Equal(got, []string{"online", "restarting", "online"}) {
		t.Fatalf("status changes %v", got)
	}
}

func TestRestartPolicies(t *testing.T) {
	never := stdioSpec(t, "never")
	never.Restart.Policy = mcp.RestartNever
	capped := stdioSpec(t, "capped")
	capped.Restart.MaxRestarts = 1
	clean := stdioSpec(t, "clean")
	b := newManager(t, mcp.Config{}, never, capped, clean)
	ctx := ctxT(t)
	for _, id := range []string{"never", "capped", "clean"} {
		if _, err := b.m.Connect(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = b.m.CallTool(ctx, "never", "crash", map[string]any{"code": 1})
	eventually(t, "never: error", func() bool { return b.m.State("never").Status == mcp.StatusError })
	if _, err := b.m.CallTool(ctx, "never", "echo", nil); !errors.Is(err, mcp.ErrNotConnected) {
		t.Fatalf("a call to a stopped server: %v", err)
	}
	for range 2 {
		eventually(t, "capped: online", func() bool { return b.m.State("capped").Status == mcp.StatusOnline })
		_, _ = b.m.CallTool(ctx, "capped", "crash", map[string]any{"code": 1})
		eventually(t, "capped: stopped", func() bool { return b.m.State("capped").Status != mcp.StatusOnline })
	}
	eventually(t, "capped: error", func() bool { return b.m.State("capped").Status == mcp.StatusError })
	if st := b.m.State("capped"); st.Restarts != 1 || !strings.Contains(st.LastError, "not restarted again after 1 restarts") {
		t.Fatalf("capped: %+v", st)
	}
	// on-failure: a server that exits with status 0 goes offline.
	_, _ = b.m.CallTool(ctx, "clean", "crash", map[string]any{"code": 0})
	eventually(t, "clean: offline", func() bool { return b.m.State("clean").Status == mcp.StatusOffline })
	if st := b.m.State("clean"); st.Restarts != 0 || !strings.Contains(st.LastError, "status 0") {
		t.Fatalf("clean: %+v", st)
	}
	// Connecting again works.
	if st, err := b.m.Connect(ctx, "never"); err != nil || st.Status != mcp.StatusOnline {
		t.Fatalf("reconnect: %+v %v", st, err)
	}
}

func TestNoChildOutlivesTheManager(t *testing.T) {
	b := newManager(t, mcp.Config{StopGrace: 500 * time.Millisecond}, stdioSpec(t, "parent"))
	ctx := ctxT(t)
	st, err := b.m.Connect(ctx, "parent")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.m.CallTool(ctx, "parent", "spawn", nil)
	if err != nil {
		t.Fatal(err)
	}
	grandchild := structured[struct{ PID int }](t, res.StructuredContent).PID
	if !childproctest.Alive(st.PID) || !childproctest.Alive(grandchild) {
		t.Fatalf("server %d or grandchild %d not running", st.PID, grandchild)
	}
	if err := b.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{st.PID, grandchild} {
		if childproctest.Alive(pid) {
			t.Errorf("process %d outlived Stop", pid)
		}
	}
	if _, err := b.m.Connect(ctx, "parent"); !errors.Is(err, mcp.ErrStopped) {
		t.Fatalf("connect after stop: %v", err)
	}
}

func TestDisconnectEndsTheProcessGroup(t *testing.T) {
	b := newManager(t, mcp.Config{StopGrace: 500 * time.Millisecond}, stdioSpec(t, "group"))
	ctx := ctxT(t)
	st, err := b.m.Connect(ctx, "group")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.m.CallTool(ctx, "group", "spawn", nil)
	if err != nil {
		t.Fatal(err)
	}
	grandchild := structured[struct{ PID int }](t, res.StructuredContent).PID
	if err := b.m.Disconnect(ctx, "group"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{st.PID, grandchild} {
		if childproctest.Alive(pid) {
			t.Errorf("process %d outlived Disconnect", pid)
		}
	}
	if st := b.m.State("group"); st.Status != mcp.StatusOffline {
		t.Fatalf("after disconnect: %+v", st)
	}
	if _, err := b.m.CallTool(ctx, "group", "echo", nil); !errors.Is(err, mcp.ErrNotConnected) || mcp.Status(err) != 400 ||
		!strings.HasPrefix(err.Error(), "MCP server group not connected:") {
		t.Fatalf("call after disconnect: %v", err)
	}
}

func TestMissingCommandNamesServerAndCommand(t *testing.T) {
	spec := stdioSpec(t, "homelab-mcp")
	spec.Command = "no-such-mcp-server-anywhere"
	dir := stdioSpec(t, "bad-dir")
	dir.Dir = "/nonexistent/mcp/dir"
	b := newManager(t, mcp.Config{}, spec, dir)
	ctx := ctxT(t)
	_, err := b.m.Connect(ctx, "homelab-mcp")
	var nf *mcp.CommandNotFoundError
	if !errors.As(err, &nf) || nf.ServerID != "homelab-mcp" || nf.Command != "no-such-mcp-server-anywhere" || mcp.Status(err) != 502 {
		t.Fatalf("connect: %v", err)
	}
	st := b.m.State("homelab-mcp")
	if st.Status != mcp.StatusError || !strings.Contains(st.LastError, `command "no-such-mcp-server-anywhere" not found`) {
		t.Fatalf("state: %+v", st)
	}
	if _, err := b.m.Connect(ctx, "bad-dir"); err == nil || !strings.Contains(err.Error(), `MCP server bad-dir: working directory "/nonexistent/mcp/dir" does not exist`) {
		t.Fatalf("bad dir: %v", err)
	}
	if _, err := b.m.Connect(ctx, "unknown"); !errors.Is(err, mcp.ErrNotFound) || mcp.Status(err) != 404 || err.Error() != "MCP server unknown not found: "+mcp.ErrNotFound.Error() {
		t.Fatalf("unknown: %v", err)
	}
}

func TestServerExitingAtStartIsReported(t *testing.T) {
	spec := stdioSpec(t, "early-exit")
	spec.Args = []string{"-no-such-flag"}
	b := newManager(t, mcp.Config{}, spec)
	_, err := b.m.Connect(ctxT(t), "early-exit")
	if !errors.Is(err, mcp.ErrUpstream) || !strings.HasPrefix(err.Error(), "MCP server early-exit exited while starting: exit status 2; stderr: flag provided but not defined: -no-such-flag") {
		t.Fatalf("connect: %v", err)
	}
}

func TestEnvironmentIsOnlyTheAllowList(t *testing.T) {
	t.Setenv("MCP_TEST_PASSED", "yes")
	t.Setenv("MCP_TEST_SECRET", "must not leak")
	spec := stdioSpec(t, "env")
	spec.EnvAllow = []string{"MCP_TEST_PASSED", "MCP_TEST_UNSET"}
	spec.Env = map[string]string{"EXPLICIT": "set by the registry"}
	b := newManager(t, mcp.Config{}, spec)
	ctx := ctxT(t)
	if _, err := b.m.Connect(ctx, "env"); err != nil {
		t.Fatal(err)
	}
	res, err := b.m.CallTool(ctx, "env", "env", nil)
	if err != nil {
		t.Fatal(err)
	}
	env := structured[struct{ Env []string }](t, res.StructuredContent).Env
	slices.Sort(env)
	want := []string{"EXPLICIT=set by the registry", "MCP_TEST_PASSED=yes", "PATH=" + os.Getenv("PATH")}
	if !slices.Equal(env, want) {
		t.Fatalf("the server's environment is %q, want %q", env, want)
	}
}

func TestResourceLimitsApply(t *testing.T) {
	spec := stdioSpec(t, "limited")
	spec.Limits = mcp.ProcessLimits{OpenFiles: 64, CPUSeconds: 600}
	b := newManager(t, mcp.Config{}, spec)
	ctx := ctxT(t)
	if _, err := b.m.Connect(ctx, "limited"); err != nil {
		t.Fatal(err)
	}
	res, err := b.m.CallTool(ctx, "limited", "limits", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := structured[struct {
		OpenFiles uint64 `json:"open_files"`
	}](t, res.StructuredContent).OpenFiles; n != 64 {
		t.Fatalf("open files limit %d, want 64", n)
	}
}

func TestStderrIsDrainedIntoTheLog(t *testing.T) {
	b := newManager(t, mcp.Config{}, stdioSpec(t, "noisy"))
	ctx := ctxT(t)
	if _, err := b.m.Connect(ctx, "noisy"); err != nil {
		t.Fatal(err)
	}
	// 2 MiB is far more than a pipe holds: a server whose stderr is not
	// read blocks on it, and the call times out.
	res, err := b.m.CallTool(ctx, "noisy", "noisy", map[string]any{"bytes": 2 << 20})
	if err != nil || res.Content[0].(*mcpsdk.TextContent).Text != "ok" {
		t.Fatalf("noisy: %v %v", res, err)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"msg":"mcp server stderr: test server noisy up","mcp_server":"noisy"`) {
		t.Fatalf("the banner is not in the log with the server id:\n%.2000s", logs)
	}
}

func TestConcurrentCallsAreMatchedToTheirAnswers(t *testing.T) {
	transports(t, func(t *testing.T, spec mcp.ServerSpec) {
		spec.MaxConcurrent = 64
		b := newManager(t, mcp.Config{}, spec)
		ctx := ctxT(t)
		if _, err := b.m.Connect(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Go(func() {
				text := fmt.Sprintf("call %d", i)
				res, err := b.m.CallTool(ctx, spec.ID, "echo", map[string]any{"text": text})
				if err != nil {
					errs <- err
					return
				}
				if got := res.Content[0].(*mcpsdk.TextContent).Text; got != text {
					errs <- fmt.Errorf("asked %q, got %q", text, got)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestMaxConcurrentRefusesTheCallBeyond(t *testing.T) {
	spec := stdioSpec(t, "narrow")
	spec.MaxConcurrent = 2
	b := newManager(t, mcp.Config{}, spec)
	ctx := ctxT(t)
	if _, err := b.m.Connect(ctx, "narrow"); err != nil {
		t.Fatal(err)
	}
	slowCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = b.m.CallTool(slowCtx, "narrow", "slow", map[string]any{"seconds": 10}) })
	}
	eventually(t, "two calls in flight", func() bool { return b.m.State("narrow").InFlight == 2 })
	_, err := b.m.CallTool(ctx, "narrow", "echo", map[string]any{"text": "x"})
	if !errors.Is(err, mcp.ErrBusy) || mcp.Status(err) != 429 {
		t.Fatalf("a third call: %v", err)
	}
	cancel()
	wg.Wait()
	if _, err := b.m.CallTool(ctx, "narrow", "echo", map[string]any{"text": "x"}); err != nil {
		t.Fatalf("after the slow calls: %v", err)
	}
}

func TestForwardValidatesAndKeepsTheID(t *testing.T) {
	spec := stdioSpec(t, "fwd")
	spec.AllowedTools = []string{mcp.AllTools}
	b := newManager(t, mcp.Config{}, spec)
	ctx := ctxT(t)
	req := mcp.JSONRPCRequest{JSONRPC: "2.0", ID: float64(1), Method: "tools/list"}
	if _, err := b.m.Forward(ctx, "fwd", req); !errors.Is(err, mcp.ErrNotConnected) || !strings.HasPrefix(err.Error(), "MCP server fwd not connected:") {
		t.Fatalf("request before connect: %v", err)
	}
	if _, err := b.m.Connect(ctx, "fwd"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []mcp.JSONRPCRequest{
		{JSONRPC: "1.0", Method: "tools/list"},
		{JSONRPC: "2.0", Method: "initialize"},
		{JSONRPC: "2.0", Method: "notifications/initialized"},
		{JSONRPC: "2.0", Method: "tools/call"},
		{JSONRPC: "2.0", ID: []any{1}, Method: "ping"},
	} {
		if _, err := b.m.Forward(ctx, "fwd", bad); mcp.Status(err) != 422 {
			t.Errorf("%+v: %v, want a 422", bad, err)
		}
	}
	resp, err := b.m.Forward(ctx, "fwd", mcp.JSONRPCRequest{JSONRPC: "2.0", ID: float64(42), Method: "tools/call",
		Params: map[string]any{"name": "add", "arguments": map[string]any{"a": 1, "b": 2}}})
	if err != nil || resp.ID != float64(42) || resp.Error != nil {
		t.Fatalf("tools/call: %+v %v", resp, err)
	}
	if sum := structured[struct{ Sum float64 }](t, resp.Result.(*mcpsdk.CallToolResult).StructuredContent).Sum; sum != 3 {
		t.Fatalf("sum %v", sum)
	}
	resp, err = b.m.Forward(ctx, "fwd", mcp.JSONRPCRequest{JSONRPC: "2.0", ID: "r", Method: "resources/read", Params: map[string]any{"uri": "test://nothing"}})
	if err != nil || resp.Error == nil || resp.ID != "r" {
		t.Fatalf("a JSON-RPC error is answered as one: %+v %v", resp, err)
	}
	resp, err = b.m.Forward(ctx, "fwd", mcp.JSONRPCRequest{JSONRPC: "2.0", Method: "ping"})
	if err != nil || resp.ID != nil || resp.Error != nil {
		t.Fatalf("ping: %+v %v", resp, err)
	}
}

func TestServerThatStopsAnsweringIsRestarted(t *testing.T) {
	spec := stdioSpec(t, "frozen")
	spec.CallTimeout = mcp.Duration(300 * time.Millisecond)
	b := newManager(t, mcp.Config{HealthInterval: 200 * time.Millisecond, StopGrace: 300 * time.Millisecond}, spec)
	ctx := ctxT(t)
	st, err := b.m.Connect(ctx, "frozen")
	if err != nil {
		t.Fatal(err)
	}
	// A stopped process reads nothing: the next ping goes unanswered.
	if err := syscall.Kill(st.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart", func() bool {
		now := b.m.State("frozen")
		return now.Status == mcp.StatusOnline && now.Restarts == 1
	})
	if now := b.m.State("frozen"); !strings.Contains(now.LastError, "did not answer a ping") || !childproctest.Alive(now.PID) {
		t.Fatalf("state: %+v", now)
	}
	if childproctest.Alive(st.PID) {
		t.Fatalf("the frozen process %d is still there", st.PID)
	}
}
