package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/devbroker"
)

// serveFlags are serve's own flags (also the root command's).
type serveFlags struct {
	addr string
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "", "listen on host:port; wins over TAYLORDASH_HTTP_ADDR (default 127.0.0.1:8000)")
}

func (c *cli) serveCommand() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard API (what the command does with no arguments)",
		Long: `serve starts the dashboard API and serves until interrupted (Ctrl-C or SIGTERM),
then drains requests and stops cleanly.

With no configuration it starts on this machine, and logs what it chose:
the database from TAYLORDASH_DATABASE_URL, else the local PostgreSQL server on
127.0.0.1:5432 (database "taylordash", created if missing), else a cluster
started from the local PostgreSQL binaries in ./.taylordash/pg; the broker
from TAYLORDASH_MQTT_URL, else one embedded in the process; the API key from
TAYLORDASH_API_KEY, else a random one kept in ./.taylordash/api-key. When no
admin exists, the first start generates one and prints its password once.
It applies pending migrations on start (unless
TAYLORDASH_DATABASE_SKIP_MIGRATIONS), and documents its API at /docs.`,
		Example: `  dashboard serve
  dashboard serve --addr 0.0.0.0:8000
  TAYLORDASH_DATABASE_URL=postgres://app:secret@db:5432/app TAYLORDASH_MQTT_URL=tcp://broker:1883 dashboard serve`,
		GroupID: "run",
		Args:    usageArgs(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context(), f) },
	}
	f.register(cmd.Flags())
	return cmd
}

// serve runs the application until a signal or a fatal error.
func (c *cli) serve(ctx context.Context, f *serveFlags) error {
	env := c.environment()
	if f.addr != "" {
		env = env.With(map[string]string{"TAYLORDASH_HTTP_ADDR": f.addr})
	}
	picked, err := choose(ctx, env, c.dir)
	if err != nil {
		return err
	}
	defer picked.stop(context.WithoutCancel(ctx))

	// The commands run in this directory find what only this process
	// knows: the cluster it started, the broker it embeds.
	st := runningState{PID: os.Getpid()}
	if picked.db.Source == "local binaries" {
		st.DatabaseURL = picked.db.URL
	}
	if picked.broker.Source == devbroker.SourceEmbedded {
		st.MQTTURL = picked.broker.URL
	}
	if st.DatabaseURL != "" || st.MQTTURL != "" {
		remove, err := c.writeState(st)
		if err != nil {
			slog.Warn("dashboard: the commands run in this directory will not find this server's database and broker",
				slog.String("file", c.statePath()), slog.Any("error", err))
		} else {
			defer remove()
		}
	}

	env = env.With(picked.env)
	return dashcore.Run(ctx,
		app.Modules(),
		dashcore.ProvideConfig[commandConfig](), // its variables are known
		fx.Decorate(func() dashcore.Environment { return env }),
	)
}
