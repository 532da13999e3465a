//go:build wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// The host functions, imported from the taylordash module. Pointers are
// offsets in the guest's linear memory; Go keeps the memory they point to
// alive for the duration of the call.

//go:wasmimport taylordash input_read
func hostInputRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport taylordash output_write
func hostOutputWrite(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport taylordash result_read
func hostResultRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport taylordash log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport taylordash config_get
func hostConfigGet() uint64

//go:wasmimport taylordash publish_event
func hostPublishEvent(kind unsafe.Pointer, kindLen uint32, payload unsafe.Pointer, payloadLen uint32) uint64

//go:wasmimport taylordash projects_list
func hostProjectsList(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport taylordash projects_get
func hostProjectsGet(id unsafe.Pointer, idLen uint32) uint64

//go:wasmimport taylordash projects_create
func hostProjectsCreate(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport taylordash projects_update
func hostProjectsUpdate(id unsafe.Pointer, idLen uint32, ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport taylordash http_fetch
func hostHTTPFetch(ptr unsafe.Pointer, n uint32) uint64

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func stringPtr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// hostResult collects the pending result of a host function that returned
// r: the data on success, an error wrapping the status's sentinel (and the
// host's message) otherwise.
func hostResult(r uint64) ([]byte, error) {
	st, n := UnpackResult(r)
	var buf []byte
	if n > 0 {
		buf = make([]byte, n)
		buf = buf[:hostResultRead(bytesPtr(buf), n)]
	}
	if err := st.Err(); err != nil {
		if len(buf) == 0 {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", err, buf)
	}
	return buf, nil
}

// The exports below are called by the host; staticcheck does not see
// wasmexport directives as uses, hence the lint:ignore directives.

//lint:ignore U1000 exported with go:wasmexport
//go:wasmexport td_abi_version
func abiVersion() int32 { return ABIVersion }

// Serve runs fn on the input of the current call, n bytes long, and hands
// its result to the host. Use it to write your own exports; their names
// must start with "td_" and their signature must be (int32) int32:
//
//	//go:wasmexport td_echo
//	func echo(n int32) int32 {
//		return sdk.Serve(n, func(in []byte) ([]byte, error) { return in, nil })
//	}
//
// An error becomes the call's error ([ResultError] with the message as
// output); a panic is not recovered: it ends the call as a trap, and the
// host records a violation.
//
// Before returning, Serve yields to the guest's other goroutines: Go runs
// none of them once an export returns, and its garbage collector needs its
// background workers to finish a cycle; without them a long-lived
// instance's heap grows until it runs out of memory.
func Serve(n int32, fn func(input []byte) ([]byte, error)) int32 {
	defer runtime.Gosched()
	var in []byte
	if n > 0 {
		in = make([]byte, n)
		in = in[:hostInputRead(bytesPtr(in), uint32(n))]
	}
	out, err := fn(in)
	if err != nil {
		msg := err.Error()
		hostOutputWrite(stringPtr(msg), uint32(len(msg)))
		return ResultError
	}
	if st := Status(hostOutputWrite(bytesPtr(out), uint32(len(out)))); st != StatusOK {
		return ResultError
	}
	return ResultOK
}

var (
	//lint:ignore U1000 used by an export
	eventHandler func(Event) error
	//lint:ignore U1000 used by an export
	httpHandler func(Request) Response
)

// HandleEvent registers the handler of the events the plugin subscribed
// to. Call it from an init function: a plugin is a reactor, its main is
// never run. An error asks the host to retry the event later.
func HandleEvent(h func(Event) error) { eventHandler = h }

// HandleHTTP registers the handler of the plugin's own API operations,
// served under /api/v1/plugins/<id>/api/. Call it from an init function.
func HandleHTTP(h func(Request) Response) { httpHandler = h }

//lint:ignore U1000 exported with go:wasmexport
//go:wasmexport td_handle_event
func handleEvent(n int32) int32 {
	return Serve(n, func(in []byte) ([]byte, error) {
		if eventHandler == nil {
			return nil, errors.New("sdk: no event handler registered (call sdk.HandleEvent in init)")
		}
		var ev Event
		if err := json.Unmarshal(in, &ev); err != nil {
			return nil, fmt.Errorf("sdk: decode event: %w", err)
		}
		return nil, eventHandler(ev)
	})
}

//lint:ignore U1000 exported with go:wasmexport
//go:wasmexport td_handle_http
func handleHTTP(n int32) int32 {
	return Serve(n, func(in []byte) ([]byte, error) {
		if httpHandler == nil {
			return nil, errors.New("sdk: no HTTP handler registered (call sdk.HandleHTTP in init)")
		}
		var req Request
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, fmt.Errorf("sdk: decode request: %w", err)
		}
		return json.Marshal(httpHandler(req))
	})
}

// Log writes msg to the host's log at level (LevelDebug, LevelInfo,
// LevelWarn or LevelError), with the plugin's id and the call's trace.
// The host truncates long messages and caps the lines per call.
func Log(level int, msg string) { hostLog(int32(level), stringPtr(msg), uint32(len(msg))) }

// Logf formats like fmt.Sprintf and logs the result at level.
func Logf(level int, format string, args ...any) { Log(level, fmt.Sprintf(format, args...)) }

// Config returns the plugin's configuration as JSON (null when it has
// none). It needs no permission.
func Config() []byte {
	b, err := hostResult(hostConfigGet())
	if err != nil {
		return nil
	}
	return b
}

// DecodeConfig decodes the plugin's configuration into v.
func DecodeConfig(v any) error {
	b := Config()
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// Publish publishes an event of kind (matching [a-z0-9_.-]{1,64}) whose
// payload is v encoded as a JSON object. It needs the publish:events
// permission.
func Publish(kind string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sdk: encode payload: %w", err)
	}
	_, err = hostResult(hostPublishEvent(stringPtr(kind), uint32(len(kind)), bytesPtr(payload), uint32(len(payload))))
	return err
}

// ListProjects returns a page of projects. It needs read:projects.
func ListProjects(opts ListOptions) (ProjectList, error) {
	var l ProjectList
	arg, _ := json.Marshal(opts)
	b, err := hostResult(hostProjectsList(bytesPtr(arg), uint32(len(arg))))
	if err != nil {
		return l, err
	}
	return l, json.Unmarshal(b, &l)
}

// GetProject returns the project id. It needs read:projects.
func GetProject(id string) (Project, error) {
	return project(hostProjectsGet(stringPtr(id), uint32(len(id))))
}

// CreateProject creates a project. It needs write:projects.
func CreateProject(in ProjectInput) (Project, error) {
	arg, err := json.Marshal(in)
	if err != nil {
		return Project{}, err
	}
	return project(hostProjectsCreate(bytesPtr(arg), uint32(len(arg))))
}

// UpdateProject changes the fields of project id that in sets. It needs
// write:projects.
func UpdateProject(id string, in ProjectInput) (Project, error) {
	arg, err := json.Marshal(in)
	if err != nil {
		return Project{}, err
	}
	return project(hostProjectsUpdate(stringPtr(id), uint32(len(id)), bytesPtr(arg), uint32(len(arg))))
}

func project(r uint64) (Project, error) {
	var p Project
	b, err := hostResult(r)
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(b, &p)
}

// Fetch sends an HTTP request to one of the plugin's allowed_origins and
// returns the response. It needs network:http; any other origin is denied
// (and recorded as a violation).
func Fetch(req FetchRequest) (FetchResponse, error) {
	var resp FetchResponse
	arg, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	b, err := hostResult(hostHTTPFetch(bytesPtr(arg), uint32(len(arg))))
	if err != nil {
		return resp, err
	}
	return resp, json.Unmarshal(b, &resp)
}
