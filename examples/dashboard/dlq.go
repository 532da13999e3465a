package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
)

func (c *cli) dlqCommand() *cobra.Command {
	return group("dlq", "List and replay dead letters (messages the event bus could not handle)", `  dashboard dlq list
  dashboard dlq replay --all`, c.dlqListCommand(), c.dlqReplayCommand())
}

// reasons are the dead letters' failure reasons.
var reasons = []eventbus.Reason{eventbus.ReasonNotUTF8, eventbus.ReasonNotJSON, eventbus.ReasonMissingField,
	eventbus.ReasonBadTimestamp, eventbus.ReasonBadTraceID, eventbus.ReasonBadPayload, eventbus.ReasonOversize,
	eventbus.ReasonUnknownKind, eventbus.ReasonHandlerFailed}

// dlqFilterFlags are the filters list and replay share.
type dlqFilterFlags struct {
	topic, reason, replayed string
}

func (f *dlqFilterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "only dead letters of this original topic (exact)")
	names := make([]string, len(reasons))
	for i, r := range reasons {
		names[i] = string(r)
	}
	fs.StringVar(&f.reason, "reason", "", "only dead letters that failed for this reason: "+strings.Join(names, ", "))
	fs.StringVar(&f.replayed, "replayed", "", `"true": only those replayed already; "false": only those not replayed yet`)
}

func (f *dlqFilterFlags) filter() (eventbuspg.DLQFilter, error) {
	out := eventbuspg.DLQFilter{Topic: f.topic, Reason: eventbus.Reason(f.reason)}
	if f.reason != "" && !slices.Contains(reasons, out.Reason) {
		return out, usagef("--reason %q is not a reason; see --help for the list", f.reason)
	}
	if f.replayed != "" {
		v, err := strconv.ParseBool(f.replayed)
		if err != nil {
			return out, usagef(`--replayed must be "true" or "false", not %q`, f.replayed)
		}
		out.Replayed = &v
	}
	return out, nil
}

// dlqItem is a dead letter as GET /api/v1/dlq shows it to a caller
// allowed events:admin (the command line has the database's rights).
func dlqItem(l eventbuspg.StoredDeadLetter) eventbuspg.DLQItem {
	return eventbuspg.DLQItem{
		ID: l.ID, OriginalTopic: l.Topic, FailureReason: l.Reason, FailureDetail: l.Detail,
		Payload: eventbuspg.DLQEnvelope(eventbus.NewDLQMessage(eventbus.DeadLetter{Topic: l.Topic, Payload: l.Payload,
			Reason: l.Reason, Detail: l.Detail, FailedAt: l.LastFailureAt})),
		IdempotencyKey: l.IdempotencyKey, Attempts: l.Attempts, CreatedAt: l.CreatedAt,
		FirstFailureAt: l.FirstFailureAt, LastFailureAt: l.LastFailureAt, ReplayedAt: l.ReplayedAt, ReplayCount: l.ReplayCount,
	}
}

func (c *cli) dlqListCommand() *cobra.Command {
	var ff dlqFilterFlags
	var since, until string
	var limit int
	var after int64
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first",
		Long: `dlq list prints the dead letters (messages that could not be parsed or handled,
kept with why), newest first, a page at a time: a table, or with --output
json the body of GET /api/v1/dlq, payloads included.`,
		Example: `  dashboard dlq list
  dashboard dlq list --reason not_json --replayed false
  dashboard dlq list --since 2026-01-01T00:00:00Z --limit 500 --output json
  dashboard dlq list --after 1200          # the next page`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if f.Since, err = parseTime("--since", since); err != nil {
				return err
			}
			if f.Until, err = parseTime("--until", until); err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usagef("--limit must be from 1 to 1000, not %d", limit)
			}
			if after < 0 {
				return usagef("--after must not be negative")
			}
			f.Limit, f.AfterID = limit, after
			ctx := cmd.Context()
			tb, err := c.open(ctx, needDatabase)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			letters, err := tb.DeadLetters.List(ctx, f)
			if err != nil {
				return fmt.Errorf("dlq list: %w", err)
			}
			var next int64
			if len(letters) == limit {
				next = letters[len(letters)-1].ID
			}
			if c.jsonOutput() {
				out := struct {
					DLQEvents []eventbuspg.DLQItem `json:"dlq_events"`
					Count     int                  `json:"count"`
					NextAfter int64                `json:"next_after,omitempty"`
				}{DLQEvents: make([]eventbuspg.DLQItem, len(letters)), Count: len(letters), NextAfter: next}
				for i, l := range letters {
					out.DLQEvents[i] = dlqItem(l)
				}
				return c.printJSON(out)
			}
			if len(letters) == 0 {
				c.printf("No dead letters match.\n")
				return nil
			}
			w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tTOPIC\tREASON\tATTEMPTS\tLAST FAILURE\tREPLAYED")
			for _, l := range letters {
				replayed := "no"
				if l.ReplayedAt != nil {
					replayed = fmt.Sprintf("%d× (last %s)", l.ReplayCount, l.ReplayedAt.Local().Format(time.DateTime))
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\n", l.ID, l.Topic, l.Reason, l.Attempts, l.LastFailureAt.Local().Format(time.DateTime), replayed)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if next != 0 {
				c.printf("%d dead letters shown; the next page: dashboard dlq list --after %d\n", len(letters), next)
			} else {
				c.printf("%d dead letters.\n", len(letters))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	ff.register(fs)
	fs.StringVar(&since, "since", "", "only those whose last failure is at or after this time (RFC 3339)")
	fs.StringVar(&until, "until", "", "only those whose last failure is before this time (RFC 3339)")
	fs.IntVar(&limit, "limit", 50, "at most this many (1 to 1000)")
	fs.Int64Var(&after, "after", 0, "only those older than this id: the next page after a full one")
	return cmd
}

func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", flag, s)
	}
	return t, nil
}

// replaySummary is dlq replay's --output json: the API's replay answer.
type replaySummary struct {
	Total    int    `json:"total"`
	Replayed int    `json:"replayed"`
	FailedID int64  `json:"failed_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (c *cli) dlqReplayCommand() *cobra.Command {
	var ff dlqFilterFlags
	var all bool
	var ids []int64
	var mqttURL string
	cmd := &cobra.Command{
		Use:   "replay (--all [--topic T] [--reason R] [--replayed false] | --id N...)",
		Short: "Publish dead letters again to their original topics",
		Long: `dlq replay publishes dead letters again, each byte-exact to its original topic,
through the broker, as POST /api/v1/dlq/replay does, and marks each
replayed. It stops at the first failure. A replay is a redelivery: an event
the mirror already holds is recognized by its idempotency key and stored
once; a message that is still invalid is dead-lettered again onto the same
row. With --all, dead letters stored after the replay began are left alone.

The broker is TAYLORDASH_MQTT_URL (or --mqtt-url), else the broker embedded
in the dashboard serving from this directory. It shows a progress bar and
ends with a summary; the exit code is 1 when a dead letter failed.`,
		Example: `  dashboard dlq replay --all
  dashboard dlq replay --all --reason handler_failed --replayed false
  dashboard dlq replay --id 12 --id 13,14
  TAYLORDASH_MQTT_URL=tcp://broker:1883 dashboard dlq replay --all --output json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (len(ids) > 0) {
				return usagef("give either --all (with an optional filter) or --id N, e.g. dashboard dlq replay --all")
			}
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if !all && (ff.topic != "" || ff.reason != "" || ff.replayed != "") {
				return usagef("--topic, --reason and --replayed filter --all; with --id the ids say which")
			}
			if mqttURL != "" {
				c.env = c.env.With(map[string]string{"TAYLORDASH_MQTT_URL": mqttURL})
			}
			if _, set := c.env.Lookup("TAYLORDASH_MQTT_URL"); !set && c.readState() == nil {
				return errors.New("dlq replay: no broker to replay to: TAYLORDASH_MQTT_URL is unset and no dashboard with an " +
					"embedded broker serves from this directory; start the dashboard here (dashboard serve), or set TAYLORDASH_MQTT_URL or --mqtt-url")
			}
			return c.replay(cmd.Context(), all, f, ids)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&all, "all", false, "replay every dead letter that matches the filter")
	fs.Int64SliceVar(&ids, "id", nil, "a dead letter to replay; repeat or separate with commas")
	ff.register(fs)
	fs.StringVar(&mqttURL, "mqtt-url", "", "the broker to publish to; wins over TAYLORDASH_MQTT_URL")
	return cmd
}

func (c *cli) replay(ctx context.Context, all bool, f eventbuspg.DLQFilter, ids []int64) error {
	tb, err := c.open(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer tb.close(context.WithoutCancel(ctx))

	var total int
	if all {
		n, err := tb.DeadLetters.Count(ctx, f)
		if err != nil {
			return fmt.Errorf("dlq replay: %w", err)
		}
		total = int(n)
	} else {
		// Unknown ids fail the replay before anything is published.
		ids = unique(ids)
		found, err := tb.DeadLetters.List(ctx, eventbuspg.DLQFilter{IDs: ids, Limit: len(ids)})
		if err != nil {
			return fmt.Errorf("dlq replay: %w", err)
		}
		var missing []int64
		for _, id := range ids {
			if !slices.ContainsFunc(found, func(l eventbuspg.StoredDeadLetter) bool { return l.ID == id }) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("dlq replay: no dead letters with ids %v; nothing was replayed (dashboard dlq list shows them)", missing)
		}
		total = len(ids)
	}
	if total == 0 {
		if c.jsonOutput() {
			return c.printJSON(replaySummary{})
		}
		c.printf("Nothing to replay: no dead letters match.\n")
		return nil
	}

	client, err := c.connectBroker(ctx, tb)
	if err != nil {
		return err
	}
	defer func() { _ = client.Stop(context.WithoutCancel(ctx)) }()

	bar := c.bar(int64(total), "replaying", false)
	var res eventbuspg.ReplayResult
	if all {
		res, err = tb.DeadLetters.ReplayAll(ctx, client, f, func(done, n int) {
			if n != total {
				total = n
				bar.ChangeMax(n)
			}
			_ = bar.Set(done)
		})
	} else {
		res.Total = len(ids)
		for _, id := range ids {
			var r eventbuspg.ReplayResult
			r, err = tb.DeadLetters.Replay(ctx, client, id)
			res.Replayed += r.Replayed
			_ = bar.Add(r.Replayed)
			if err != nil {
				res.FailedID = id
				break
			}
		}
	}
	if err != nil {
		_ = bar.Exit()
	} else {
		_ = bar.Finish()
	}

	sum := replaySummary{Total: res.Total, Replayed: res.Replayed, FailedID: res.FailedID}
	if err != nil {
		sum.Error = err.Error()
	}
	if c.jsonOutput() {
		if perr := c.printJSON(sum); perr != nil {
			return perr
		}
	} else {
		c.printf("Replayed %d of %d dead letters.\n", res.Replayed, res.Total)
	}
	if err != nil {
		if res.FailedID != 0 {
			return fmt.Errorf("dlq replay: stopped at dead letter %d: %w; the rest were not replayed: run the command again once the cause is fixed", res.FailedID, err)
		}
		return fmt.Errorf("dlq replay: %w", err)
	}
	return nil
}

// connectBroker connects a publishing client of its own (its own client
// id and a clean session, so that it never takes over the server's
// sessions) to the application's broker.
func (c *cli) connectBroker(ctx context.Context, tb *toolbox) (*mqtt.Client, error) {
	cfg := tb.MQTT
	cfg.ClientID += "-cli-" + strconv.Itoa(os.Getpid())
	cfg.CleanSession = true
	cfg.WillTopic = "-"
	cfg.SharedGroup = ""
	if err := tb.TLSPolicy.Check(cfg.Endpoints()...); err != nil {
		return nil, fmt.Errorf("dlq replay: %w", err)
	}
	client, err := mqtt.New(cfg, tb.Logger.With(slog.String("module", "eventbus.mqtt")))
	if err != nil {
		return nil, fmt.Errorf("dlq replay: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("dlq replay: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := client.WaitConnected(wait); err != nil {
		_ = client.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("dlq replay: cannot reach the MQTT broker at %s: %w; start it (or the dashboard, for its embedded broker), or set TAYLORDASH_MQTT_URL",
			redact(cfg.URL), err)
	}
	return client, nil
}

// unique returns ids without repeats, in their order.
func unique(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
