package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// statusMessage is the retained message on the status topic.
type statusMessage struct {
	Status   string `json:"status"`
	ClientID string `json:"client_id"`
}

func (c *Client) statusPayload(status string) []byte {
	b, _ := json.Marshal(statusMessage{Status: status, ClientID: c.cfg.ClientID})
	return b
}

// publishStatus publishes the retained status, if the client has a status
// topic and the publishing connection is up; failures are logged (the
// last will covers a client that dies).
func (c *Client) publishStatus(ctx context.Context, status string) {
	if c.status == "" {
		return
	}
	cli := c.pub.current()
	if cli == nil || !cli.IsConnectionOpen() {
		return
	}
	tok := cli.Publish(c.status, 1, true, c.statusPayload(status))
	timer := time.NewTimer(c.cfg.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			c.log.Warn("mqtt: publishing the status failed", slog.String("status", status), slog.String("error", err.Error()))
		}
	case <-timer.C:
		c.log.Warn("mqtt: publishing the status timed out", slog.String("status", status))
	case <-ctx.Done():
	}
}

// onPublishUp announces the client online once both connections are up.
func (c *Client) onPublishUp(ctx context.Context, _ paho.Client) {
	if c.sub.up() {
		c.publishStatus(ctx, "online")
	}
}
