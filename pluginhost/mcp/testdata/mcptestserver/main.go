// Command mcptestserver is the MCP server the tests of package mcp run,
// built with the official Go SDK. It serves over stdio by default, or
// over streamable HTTP with -http 127.0.0.1:0 (it then prints
// "listening http://<addr>/mcp" on stdout).
//
// Its tools: echo, add, slow (sleeps, honouring cancellation), crash
// (exits the process), env (the process environment), spawn (starts a
// grandchild that sleeps), limits (the open-files limit), noisy (writes
// to stderr) and pid. It has one resource, test://greeting.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	httpAddr := flag.String("http", "", "serve streamable HTTP on this address instead of stdio")
	sleep := flag.Duration("sleep", 0, "only sleep this long (the grandchild of the spawn tool)")
	banner := flag.String("banner", "", "write this line to stderr at start")
	flag.Parse()
	if *sleep > 0 {
		time.Sleep(*sleep)
		return
	}
	if *banner != "" {
		fmt.Fprintln(os.Stderr, *banner)
	}
	if err := run(*httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "mcptestserver:", err)
		os.Exit(1)
	}
}

func run(httpAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	server := newServer()
	if httpAddr == "" {
		return server.Run(ctx, &mcp.StdioTransport{})
	}
	l, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s/mcp\n", l.Addr())
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type echoOut struct {
	Text   string `json:"text"`
	Header string `json:"header,omitempty"`
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type addOut struct {
	Sum float64 `json:"sum"`
}

type slowIn struct {
	Seconds float64 `json:"seconds"`
}

type slowOut struct {
	Slept bool `json:"slept"`
}

type crashIn struct {
	Code int `json:"code"`
}

type none struct{}

type envOut struct {
	Env []string `json:"env"`
}

type pidOut struct {
	PID int `json:"pid"`
}

type limitsOut struct {
	OpenFiles uint64 `json:"open_files"`
}

type noisyIn struct {
	Bytes int `json:"bytes"`
}

func text(s string) []mcp.Content { return []mcp.Content{&mcp.TextContent{Text: s}} }

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcptestserver", Version: "0.3.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echoes its text (and the X-Test header over HTTP)."},
		func(_ context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			out := echoOut{Text: in.Text}
			if req.Extra != nil && req.Extra.Header != nil {
				out.Header = req.Extra.Header.Get("X-Test")
			}
			return &mcp.CallToolResult{Content: text(in.Text)}, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Sleeps, unless cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, slowOut, error) {
			select {
			case <-time.After(time.Duration(in.Seconds * float64(time.Second))):
				return nil, slowOut{Slept: true}, nil
			case <-ctx.Done():
				fmt.Fprintln(os.Stderr, "slow: cancelled")
				return nil, slowOut{}, ctx.Err()
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "Exits the process with a status."},
		func(_ context.Context, _ *mcp.CallToolRequest, in crashIn) (*mcp.CallToolResult, none, error) {
			fmt.Fprintf(os.Stderr, "crashing with status %d\n", in.Code)
			os.Exit(in.Code)
			return nil, none{}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "Returns the process environment."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, envOut, error) {
			return nil, envOut{Env: os.Environ()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "Returns the process id."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, pidOut, error) {
			return nil, pidOut{PID: os.Getpid()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "spawn", Description: "Starts a grandchild that sleeps; returns its pid."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, pidOut, error) {
			self, err := os.Executable()
			if err != nil {
				return nil, pidOut{}, err
			}
			cmd := exec.Command(self, "-sleep", "10m")
			if err := cmd.Start(); err != nil {
				return nil, pidOut{}, err
			}
			go cmd.Wait() // reap it if it ends first
			return nil, pidOut{PID: cmd.Process.Pid}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "limits", Description: "Returns the soft open-files limit."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, limitsOut, error) {
			var rl syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
				return nil, limitsOut{}, err
			}
			return nil, limitsOut{OpenFiles: rl.Cur}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "noisy", Description: "Writes lines to stderr, then answers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in noisyIn) (*mcp.CallToolResult, none, error) {
			line := strings.Repeat("n", 99) + "\n"
			for written := 0; written < in.Bytes; written += len(line) {
				fmt.Fprint(os.Stderr, line)
			}
			return &mcp.CallToolResult{Content: text("ok")}, none{}, nil
		})
	s.AddResource(&mcp.Resource{URI: "test://greeting", Name: "greeting", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "hello"}}}, nil
		})
	return s
}
