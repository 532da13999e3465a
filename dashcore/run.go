package dashcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// New builds an application from opts (include [Module]) with fx's event
// log routed to the application's logger. Check app.Err() before use.
func New(opts ...fx.Option) *fx.App {
	return fx.New(append([]fx.Option{FxLogger()}, opts...)...)
}

// Run builds the application from opts (include [Module]), starts it within
// Config.StartTimeout, serves until ctx ends, SIGINT or SIGTERM arrives, or
// a module asks fx to shut down, then stops it within Config.StopTimeout.
// A configuration error is returned as the *ConfigError itself (one
// readable message listing every bad variable), and a refusal of the TLS
// policy as the *InsecureLinkError itself, not wrapped in fx's graph
// errors. Run is what a main function calls:
//
//	func run() error { return dashcore.Run(context.Background(), dashcore.Module, store.Module) }
func Run(ctx context.Context, opts ...fx.Option) error {
	var cfg Config
	all := append([]fx.Option{
		// Run returns the error itself, so fx logs it at debug only.
		fx.WithLogger(func(log *slog.Logger) fxevent.Logger { return newFxLogger(log, slog.LevelDebug) }),
		fx.Populate(&cfg),
	}, opts...)
	app := fx.New(all...)
	if err := app.Err(); err != nil {
		return readable(err)
	}

	// Start is bounded by StartTimeout only: a ctx that ends meanwhile
	// means "stop once started", handled below like a signal, so that the
	// modules never see a start cut off half-way.
	// Signals are caught from before the start: one that arrives while
	// the modules start (the server may already answer) stops the
	// application once started, instead of killing the process.
	sigCtx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.StartTimeout)
	err := app.Start(startCtx)
	cancel()
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.StopTimeout)
		defer cancel()
		_ = app.Stop(stopCtx)
		return fmt.Errorf("start: %w", readable(err))
	}

	var exitCode int
	select {
	case <-sigCtx.Done():
	case sig := <-app.Wait():
		exitCode = sig.ExitCode
	}

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.StopTimeout)
	defer cancel()
	if err := app.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if exitCode != 0 {
		return fmt.Errorf("application shut down with exit code %d; see the log above for the cause", exitCode)
	}
	return nil
}

// readable returns a configuration error as the *ConfigError itself,
// stripped of fx's and dig's graph wrapping, so that the operator reads the
// list of bad variables and nothing else.
func readable(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	var le *InsecureLinkError
	if errors.As(err, &le) {
		return le
	}
	return err
}
