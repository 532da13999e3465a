package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/pluginhost"
)

func (c *cli) pluginCommand() *cobra.Command {
	return group("plugin", "Install and list plugins", `  dashboard plugin install ./my-widget.zip
  dashboard plugin list`, c.pluginInstallCommand(), c.pluginListCommand())
}

// severities are the findings' severities, worst first.
var severities = []string{"critical", "high", "medium", "low", "info"}

// installSummary is plugin install's --output json: the API's install
// answer, with the findings counted by severity.
type installSummary struct {
	Status          string               `json:"status"`
	PluginID        string               `json:"plugin_id,omitempty"`
	Version         string               `json:"version,omitempty"`
	PreviousVersion string               `json:"previous_version,omitempty"`
	Message         string               `json:"message"`
	Findings        []pluginhost.Finding `json:"findings"`
	Severities      map[string]int       `json:"severities" doc:"Findings by severity."`
	Blocking        int                  `json:"blocking"`
	UnknownKeys     []string             `json:"unknown_keys,omitempty"`
}

func (c *cli) pluginInstallCommand() *cobra.Command {
	var sha256Hex string
	var force bool
	cmd := &cobra.Command{
		Use:   "install (ARCHIVE | DIRECTORY | URL --sha256 HEX)",
		Short: "Check and install a plugin",
		Long: `plugin install installs a plugin from a .zip or .tar.gz archive, a bundle
directory, or an https URL pinned by the archive's SHA-256, as the API's
install does: the bundle is staged, its manifest checked, UI code scanned
and wasm modules compiled and checked, and only then moved into place and
recorded, all or nothing. A running server serves it without a restart
(a wasm plugin within TAYLORDASH_PLUGINS_WASM_SYNC_INTERVAL).

It shows progress (reading or downloading, then checking) and ends with a
summary: the status, the plugin and version, and the findings by severity.
A plugin with blocking findings is rejected: the findings are printed and
the exit code is 1. Plugins go to TAYLORDASH_PLUGINS_DIR (default
./data/plugins): run it where the server runs, or set that variable.`,
		Example: `  dashboard plugin install ./my-widget.zip
  dashboard plugin install ./my-widget/            # a bundle directory
  dashboard plugin install https://example.com/widget-1.2.0.zip --sha256 3f9a...e1
  dashboard plugin install ./widget.tar.gz --force --output json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.installPlugin(cmd.Context(), args[0], sha256Hex, force)
		},
	}
	cmd.Flags().StringVar(&sha256Hex, "sha256", "", "the hex SHA-256 of the archive at URL (required with a URL)")
	cmd.Flags().BoolVar(&force, "force", false, "install again when the same version is installed")
	return cmd
}

// installPhases shows an install's progress: a bar while the archive is
// read or downloaded, then a spinner while it is checked and installed.
type installPhases struct {
	c     *cli
	mu    sync.Mutex
	bars  []phaseBar
	spin  *progressbar.ProgressBar
	ended bool
}

// phaseBar is a bar of an install, and whether its length is unknown.
type phaseBar struct {
	*progressbar.ProgressBar
	unknown bool
}

// read returns a bar for reading size bytes (unknown when < 0).
func (p *installPhases) read(size int64, what string) *progressbar.ProgressBar {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := phaseBar{p.c.bar(size, what, true), size < 0}
	p.bars = append(p.bars, b)
	return b.ProgressBar
}

// checking starts the spinner (once).
func (p *installPhases) checking() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spin == nil && !p.ended {
		p.spin = p.c.spinner("checking and installing")
	}
}

// end stops every bar: an unfinished one stays as it was.
func (p *installPhases) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	for _, b := range p.bars {
		if !b.IsFinished() {
			if b.unknown {
				_ = b.Finish() // a spinner: Finish stops its goroutine
			} else {
				_ = b.Exit()
			}
		}
	}
	if p.spin != nil {
		_ = p.spin.Finish()
	}
}

// downloadProgress shows a download's bytes on a bar.
type downloadProgress struct {
	base   http.RoundTripper
	phases *installPhases
}

func (d *downloadProgress) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	bar := d.phases.read(resp.ContentLength, "downloading")
	resp.Body = struct {
		io.Reader
		io.Closer
	}{&readProgress{r: resp.Body, bar: bar, done: d.phases.checking}, resp.Body}
	return resp, nil
}

func (c *cli) installPlugin(ctx context.Context, arg, sha256Hex string, force bool) error {
	phases := &installPhases{c: c}
	defer phases.end()
	var src pluginhost.Source
	kind := pluginhost.SourceUpload
	isURL := strings.HasPrefix(arg, "https://") || strings.HasPrefix(arg, "http://")
	switch {
	case isURL && sha256Hex == "":
		return usagef("--sha256 is required with a URL: the archive's hex SHA-256 (sha256sum prints it)")
	case isURL:
		src, kind = pluginhost.FromURL(arg, sha256Hex), pluginhost.SourceURL
	case sha256Hex != "":
		return usagef("--sha256 goes with an https URL only; an archive or directory on this machine is read as it is")
	default:
		fi, err := os.Stat(arg)
		if err != nil {
			return fmt.Errorf("plugin install: %w; give a .zip or .tar.gz archive, a bundle directory, or an https URL with --sha256", err)
		}
		if fi.IsDir() {
			abs, err := filepath.Abs(arg)
			if err != nil {
				return fmt.Errorf("plugin install: %w", err)
			}
			src, kind = pluginhost.FromPath(abs), pluginhost.SourcePath
			phases.checking()
		} else {
			f, err := os.Open(arg)
			if err != nil {
				return fmt.Errorf("plugin install: %w", err)
			}
			defer f.Close()
			src = pluginhost.FromArchive(&readProgress{r: f, bar: phases.read(fi.Size(), "reading archive"), done: phases.checking})
		}
	}

	tb, err := c.open(ctx, needDatabase|needPolicy|needWasmCache)
	if err != nil {
		return err
	}
	defer tb.close(context.WithoutCancel(ctx))
	in, err := tb.installer(c, phases)
	if err != nil {
		return err
	}
	started := time.Now()
	res, err := in.Install(ctx, pluginhost.InstallRequest{Source: src, Force: force, Actor: cliClient.UserAgent})
	phases.end()
	if err != nil {
		return fmt.Errorf("plugin install: %w", err)
	}

	switch res.Status {
	case pluginhost.OutcomeInstalled:
		// The plugin's role in the policy, as the API sets it; the
		// running servers reload the policy when told.
		if err := tb.Principals.SyncRole(ctx, res.PluginID, res.Plugin.Manifest.Permissions); err != nil {
			tb.Logger.WarnContext(ctx, "the plugin's role is not updated yet; the server reconciles it when it starts",
				slog.String("plugin", res.PluginID), slog.Any("error", err))
		}
		typ := pluginhost.AuditPluginInstalled
		if res.PreviousVersion != "" {
			typ = pluginhost.AuditPluginUpdated
		}
		tb.audit(ctx, typ, "success", installAudit(res, kind, started))
	case pluginhost.OutcomeRejected:
		tb.audit(ctx, pluginhost.AuditPluginRejected, "failure", installAudit(res, kind, started))
	}

	sum := summarize(res)
	if c.jsonOutput() {
		if err := c.printJSON(sum); err != nil {
			return err
		}
	} else {
		c.printInstall(arg, sum)
	}
	if res.Status == pluginhost.OutcomeRejected {
		return fmt.Errorf("plugin install: rejected with %d blocking finding(s); fix them and install again", sum.Blocking)
	}
	return nil
}

// installer returns an installer configured as the server's, which
// accepts bundle directories (the operator's files, on the host) and
// shows download progress.
func (tb *toolbox) installer(c *cli, phases *installPhases) (*pluginhost.Installer, error) {
	dir, err := filepath.Abs(tb.Plugins.Dir)
	if err != nil {
		return nil, fmt.Errorf("plugin install: TAYLORDASH_PLUGINS_DIR: %w", err)
	}
	base := c.transport
	if base == nil {
		base = http.DefaultTransport
	}
	version := tb.Info.Version
	if version == "" {
		version = "1.0.0"
	}
	return pluginhost.NewInstaller(tb.DB, pluginhost.InstallerConfig{
		Dir:              dir,
		HostVersion:      version,
		AllowPathSource:  true,
		AllowHTTPOrigins: tb.Plugins.AllowHTTPOrigins,
		DownloadTimeout:  tb.Plugins.DownloadTimeout,
		Limits:           pluginhost.ArchiveLimits{MaxArchiveBytes: tb.Plugins.MaxArchiveBytes, MaxTotalBytes: tb.Plugins.MaxBundleBytes},
	}, pluginhost.InstallerOptions{
		Scanner:    tb.Scanner,
		Modules:    tb.Wasm,
		HTTPClient: &http.Client{Transport: &downloadProgress{base: base, phases: phases}},
		Logger:     tb.Logger.With(slog.String("module", "pluginhost")),
	})
}

func installAudit(res *pluginhost.InstallResult, source string, started time.Time) map[string]any {
	blocking := 0
	for _, f := range res.Findings {
		if f.Blocking {
			blocking++
		}
	}
	return map[string]any{"plugin_id": res.PluginID, "version": res.Version, "previous_version": res.PreviousVersion,
		"source": source, "findings": len(res.Findings), "blocking": blocking, "via": "command line",
		"duration_ms": time.Since(started).Milliseconds()}
}

func summarize(res *pluginhost.InstallResult) installSummary {
	sum := installSummary{Status: res.Status, PluginID: res.PluginID, Version: res.Version, PreviousVersion: res.PreviousVersion,
		Message: res.Message, Findings: res.Findings, Severities: map[string]int{}, UnknownKeys: res.Unknown}
	if sum.Findings == nil {
		sum.Findings = []pluginhost.Finding{}
	}
	for _, s := range severities {
		sum.Severities[s] = 0
	}
	for _, f := range res.Findings {
		sum.Severities[f.Severity]++
		if f.Blocking {
			sum.Blocking++
		}
	}
	return sum
}

// printInstall prints the summary for people.
func (c *cli) printInstall(arg string, sum installSummary) {
	id := strings.TrimSpace(sum.PluginID + " " + sum.Version)
	if id == "" {
		id = arg
	}
	switch sum.Status {
	case pluginhost.OutcomeInstalled:
		switch sum.PreviousVersion {
		case "":
			c.printf("Installed %s.\n", id)
		case sum.Version:
			c.printf("Installed %s again.\n", id)
		default:
			c.printf("Installed %s (replacing %s).\n", id, sum.PreviousVersion)
		}
	case pluginhost.OutcomeAlreadyInstalled:
		c.printf("%s is already installed; nothing changed (--force installs it again).\n", id)
	case pluginhost.OutcomeRejected:
		c.printf("Rejected %s: %s.\n", id, strings.TrimSuffix(sum.Message, "."))
		c.printf("Blocking findings:\n")
		w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, f := range sum.Findings {
			if f.Blocking {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", f.Severity, f.RuleID, findingPlace(f), f.Message)
			}
		}
		_ = w.Flush()
	}
	var counts []string
	for _, s := range severities {
		if n := sum.Severities[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(counts) == 0 {
		c.printf("Status: %s; findings: none.\n", sum.Status)
	} else {
		c.printf("Status: %s; findings: %s (%d blocking).\n", sum.Status, strings.Join(counts, ", "), sum.Blocking)
	}
}

// findingPlace is file:line:column, as much as is known.
func findingPlace(f pluginhost.Finding) string {
	switch {
	case f.File == "":
		return "-"
	case f.Line == 0:
		return f.File
	case f.Column == 0:
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
}

func (c *cli) pluginListCommand() *cobra.Command {
	var status, typ string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the installed plugins",
		Long: `plugin list prints the installed plugins, by id: a table, or with --output json
the body of GET /api/v1/plugins (secret configuration values masked).`,
		Example: `  dashboard plugin list
  dashboard plugin list --status disabled
  dashboard plugin list --output json | jq -r '.plugins[].id'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" && status != pluginhost.StatusInstalled && status != pluginhost.StatusDisabled {
				return usagef(`--status must be "installed" or "disabled", not %q`, status)
			}
			ctx := cmd.Context()
			tb, err := c.open(ctx, needDatabase)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			ps, err := tb.Registry.List(ctx, pluginhost.ListFilter{Status: status, Type: typ})
			if err != nil {
				return fmt.Errorf("plugin list: %w", err)
			}
			if c.jsonOutput() {
				out := struct {
					Plugins []pluginhost.PluginInfo `json:"plugins"`
					Total   int                     `json:"total"`
				}{Plugins: make([]pluginhost.PluginInfo, len(ps)), Total: len(ps)}
				for i, p := range ps {
					out.Plugins[i] = pluginInfo(p)
				}
				return c.printJSON(out)
			}
			if len(ps) == 0 {
				c.printf("No plugins installed; install one with: dashboard plugin install ARCHIVE\n")
				return nil
			}
			w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tVERSION\tRUNTIME\tSTATUS\tSOURCE\tINSTALLED")
			for _, p := range ps {
				st := p.Status
				if p.DisabledReason != "" {
					st += " (" + p.DisabledReason + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Version, p.Runtime, st, p.Source, p.InstalledAt.Local().Format(time.DateTime))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", `only plugins "installed" (enabled) or "disabled"`)
	cmd.Flags().StringVar(&typ, "type", "", "only plugins of this manifest type")
	return cmd
}

// pluginInfo is a plugin as GET /api/v1/plugins shows it to a caller
// without plugins:admin: secret configuration values masked.
func pluginInfo(p *pluginhost.Plugin) pluginhost.PluginInfo {
	cfg := p.Config
	if len(p.Manifest.ConfigSchema) > 0 {
		cfg = pluginhost.MaskSecrets(p.Manifest.ConfigSchema, cfg)
	}
	info := pluginhost.PluginInfo{ID: p.ID, Name: p.Name, Version: p.Version, Description: p.Description, Author: p.Author,
		Type: p.Type, Kind: p.Kind, Runtime: p.Runtime, Status: p.Status, Enabled: p.Status == pluginhost.StatusInstalled,
		DisabledReason: p.DisabledReason, RepositoryURL: p.RepositoryURL, Source: p.Source, BundleSHA256: p.BundleSHA256,
		InstalledAt: p.InstalledAt, LastUpdated: p.LastUpdated, Config: cfg,
		Permissions: orEmpty(p.Manifest.Permissions), APIEndpoints: orEmpty(p.Manifest.APIEndpoints),
		AllowedOrigins: orEmpty(p.Manifest.AllowedOrigins), SecurityScore: p.SecurityScore,
		SecurityViolations: p.SecurityViolations, LastViolation: p.LastViolation}
	if p.Runtime == pluginhost.RuntimeUI && p.Manifest.EntryPoint != "" {
		info.UIPath = "/plugins/" + p.ID + "/" + p.Manifest.EntryPoint
	}
	return info
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
