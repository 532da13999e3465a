package wasm

import (
	"fmt"
	"slices"
)

// Permission is a capability a plugin's manifest asks for. The first ten
// are the original TaylorDash's; the last two are new and grant real time
// and randomness, which a sandboxed plugin otherwise lacks.
type Permission string

// The permissions, and what each grants a WebAssembly plugin.
const (
	// ReadProjects grants projects_list and projects_get.
	ReadProjects Permission = "read:projects"
	// WriteProjects grants projects_create and projects_update.
	WriteProjects Permission = "write:projects"
	// ReadEvents lets the plugin receive the events of its subscriptions
	// ([Plugin.HandleEvent] refuses to deliver without it).
	ReadEvents Permission = "read:events"
	// PublishEvents grants publish_event.
	PublishEvents Permission = "publish:events"
	// NetworkHTTP grants http_fetch, to the plugin's allowed origins only.
	NetworkHTTP Permission = "network:http"
	// ReadLogs has no host function: a wasm plugin cannot read logs.
	ReadLogs Permission = "read:logs"
	// ReadSystem has no host function yet.
	ReadSystem Permission = "read:system"
	// NetworkWebsocket has no host function: a wasm plugin cannot open
	// sockets.
	NetworkWebsocket Permission = "network:websocket"
	// StorageLocal has no host function: a wasm plugin has no file system.
	StorageLocal Permission = "storage:local"
	// PluginMessaging has no host function yet.
	PluginMessaging Permission = "plugin:messaging"
	// SystemClock gives the guest the host's wall and monotonic clocks;
	// without it the guest sees a fake clock (starting in 2022 and
	// advancing one millisecond per reading) and sleeps return at once.
	SystemClock Permission = "system:clock"
	// SystemRandom gives the guest crypto/rand randomness; without it
	// random_get is a deterministic stream, the same in every instance.
	SystemRandom Permission = "system:random"
)

// Permissions lists every known permission.
var Permissions = []Permission{
	ReadProjects, WriteProjects, ReadEvents, PublishEvents, NetworkHTTP,
	ReadLogs, ReadSystem, NetworkWebsocket, StorageLocal, PluginMessaging,
	SystemClock, SystemRandom,
}

// permSet is a plugin's granted permissions, as bits.
type permSet uint32

func (s permSet) has(p Permission) bool {
	i := slices.Index(Permissions, p)
	return i >= 0 && s&(1<<i) != 0
}

func parsePermissions(ps []string) (permSet, error) {
	var s permSet
	for _, p := range ps {
		i := slices.Index(Permissions, Permission(p))
		if i < 0 {
			return 0, fmt.Errorf("unknown permission %q (known: %v)", p, Permissions)
		}
		s |= 1 << i
	}
	return s, nil
}
