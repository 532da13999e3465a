package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
)

// runningState is what a serving dashboard tells the commands run in the
// same directory: the database cluster and the broker it started itself,
// which they could not find otherwise (a cluster in ./.taylordash/pg
// cannot be started twice; an embedded broker may be on any free port).
// It is kept in ./.taylordash/running.json while the server runs.
type runningState struct {
	// PID is the serving process.
	PID int `json:"pid"`
	// DatabaseURL is the cluster it started, if it started one.
	DatabaseURL string `json:"database_url,omitempty"`
	// MQTTURL is the broker it embeds, if it embeds one.
	MQTTURL string `json:"mqtt_url,omitempty"`
}

func (c *cli) statePath() string { return filepath.Join(c.dir, "running.json") }

// writeState records st, readable by the owner only, and returns the
// function that removes it.
func (c *cli) writeState(st runningState) (func(), error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	path := c.statePath()
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	return func() {
		// Only its own: a second server may have started meanwhile.
		if cur := readStateFile(path); cur != nil && cur.PID == st.PID {
			_ = os.Remove(path)
		}
	}, nil
}

// readState returns the state of the dashboard serving from this
// directory, or nil when none does.
func (c *cli) readState() *runningState {
	st := readStateFile(c.statePath())
	if st == nil || !alive(st.PID) {
		return nil
	}
	return st
}

func readStateFile(path string) *runningState {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var st runningState
	if json.Unmarshal(b, &st) != nil || st.PID <= 0 {
		return nil
	}
	return &st
}

// alive reports whether process pid exists (a state file left by a
// server that was killed names a process that is gone).
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
