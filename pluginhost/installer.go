package pluginhost

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Install sources.
const (
	SourceUpload = "upload"
	SourceURL    = "url"
	SourcePath   = "path"
)

// Source is where a plugin comes from; make one with [FromArchive],
// [FromURL] or [FromPath].
type Source struct {
	kind    string
	archive io.Reader
	url     string
	sha256  string
	path    string
}

// FromArchive is an uploaded .zip or .tar.gz.
func FromArchive(r io.Reader) Source { return Source{kind: SourceUpload, archive: r} }

// FromURL is an https URL to a .zip or .tar.gz, pinned by the hex SHA-256
// of the archive: a download with another digest is refused before it is
// unpacked.
func FromURL(rawURL, sha256Hex string) Source {
	return Source{kind: SourceURL, url: rawURL, sha256: strings.ToLower(sha256Hex)}
}

// FromPath is a bundle directory on the host (allowed only when
// InstallerConfig.AllowPathSource is set).
func FromPath(dir string) Source { return Source{kind: SourcePath, path: dir} }

// Finding is one result of checking a bundle: a scanner finding or a
// manifest or archive problem.
type Finding struct {
	// RuleID names the rule, e.g. "js.eval" or "manifest.permissions".
	RuleID string `json:"rule_id"`
	// Category groups rules, e.g. code_execution, network, archive.
	Category string `json:"category"`
	// Severity is info, low, medium, high or critical.
	Severity string `json:"severity"`
	// File, Line and Column locate it (1-based; 0 when unknown).
	File string `json:"file,omitempty"`
	// Line is 1-based; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Column is 1-based; 0 when unknown.
	Column int `json:"column,omitempty"`
	// Snippet is the offending source, one bounded line.
	Snippet string `json:"snippet,omitempty"`
	// Message says what is wrong and why.
	Message string `json:"message"`
	// Blocking findings refuse the install.
	Blocking bool `json:"blocking"`
}

// BundleScanner checks a staged UI bundle before it is installed.
// Implementations must be safe for concurrent use and must not follow
// symbolic links.
type BundleScanner interface {
	ScanBundle(ctx context.Context, dir string, m *Manifest) ([]Finding, error)
}

// ModuleChecker checks a wasm plugin's module before it is installed
// (that it compiles, imports only the host API, exports the ABI).
type ModuleChecker interface {
	CheckModule(ctx context.Context, wasm []byte, m *Manifest) error
}

// InstallerConfig configures an [Installer].
type InstallerConfig struct {
	// Dir holds the installed plugins, one directory per plugin and
	// version, and a .staging directory on the same file system.
	Dir string
	// HostVersion is the running TaylorDash version manifests'
	// taylordash_version must include.
	HostVersion string
	// AllowPathSource allows installs from a host directory.
	AllowPathSource bool
	// AllowHTTPOrigins allows http:// origins in allowed_origins.
	AllowHTTPOrigins bool
	// Limits bound archives and bundles.
	Limits ArchiveLimits
	// DownloadTimeout bounds a URL download. Default 60s.
	DownloadTimeout time.Duration
}

// Installer installs, updates and removes plugins: files staged, checked
// and then moved into place; rows written in one transaction; a failure
// leaves neither files nor rows behind.
type Installer struct {
	cfg     InstallerConfig
	db      *store.DB
	scanner BundleScanner
	modules ModuleChecker
	client  *http.Client
	log     *slog.Logger
}

// InstallerOptions are an [Installer]'s collaborators.
type InstallerOptions struct {
	// Scanner checks UI bundles; nil refuses UI plugins.
	Scanner BundleScanner
	// Modules checks wasm modules; nil refuses wasm plugins.
	Modules ModuleChecker
	// HTTPClient downloads URL sources; nil means a client that only
	// speaks https.
	HTTPClient *http.Client
	// Logger receives install events; nil discards them.
	Logger *slog.Logger
}

// NewInstaller returns an installer writing to db and cfg.Dir.
func NewInstaller(db *store.DB, cfg InstallerConfig, opts InstallerOptions) (*Installer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pluginhost: InstallerConfig.Dir is required")
	}
	if cfg.DownloadTimeout == 0 {
		cfg.DownloadTimeout = 60 * time.Second
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Installer{cfg: cfg, db: db, scanner: opts.Scanner, modules: opts.Modules, client: client, log: log}, nil
}

// Install outcomes.
const (
	// OutcomeInstalled: the plugin is installed (or updated).
	OutcomeInstalled = "installed"
	// OutcomeRejected: a check refused it; nothing was written.
	OutcomeRejected = "rejected"
	// OutcomeAlreadyInstalled: the same version is installed and force
	// was not set.
	OutcomeAlreadyInstalled = "already_installed"
)

// InstallRequest is one install or update.
type InstallRequest struct {
	// Source is where the bundle comes from.
	Source Source
	// Force reinstalls the same version.
	Force bool
	// Update requires the plugin to be installed already (an update);
	// without it, a different installed version is replaced too.
	Update bool
	// ExpectID, when set, requires the manifest's id (updates).
	ExpectID string
	// Actor is the subject doing it, stored and audited.
	Actor string
}

// InstallResult is what an install did.
type InstallResult struct {
	// Status is installed, rejected or already_installed.
	Status string
	// PluginID and Version are the manifest's (empty when it could not
	// be read).
	PluginID, Version string
	// PreviousVersion is the version an update replaced.
	PreviousVersion string
	// Message says what happened, for people.
	Message string
	// Findings are every finding, blocking or not.
	Findings []Finding
	// Unknown are manifest keys this version does not know.
	Unknown []string
	// Plugin is the stored plugin when installed.
	Plugin *Plugin
}

// rejected builds a rejection.
func rejected(pm *ParsedManifest, msg string, findings []Finding) *InstallResult {
	r := &InstallResult{Status: OutcomeRejected, Message: msg, Findings: findings}
	if pm != nil {
		r.PluginID, r.Version, r.Unknown = pm.ID, pm.Version, pm.Unknown
	}
	return r
}

// Install stages, checks and installs a plugin. A bundle that fails a
// check is a result with status rejected and the findings, not an error;
// errors are for faults (I/O, database) and for sources that cannot be
// used (dashcore.ErrInvalid / ErrForbidden wrapped).
func (in *Installer) Install(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	// The directory is made on the first install, not at start: an
	// application that installs nothing writes nothing.
	if err := os.MkdirAll(filepath.Join(in.cfg.Dir, ".staging"), 0o755); err != nil {
		return nil, fmt.Errorf("pluginhost: create plugin directory %s: %w", in.cfg.Dir, err)
	}
	staging, err := os.MkdirTemp(filepath.Join(in.cfg.Dir, ".staging"), "install-")
	if err != nil {
		return nil, fmt.Errorf("pluginhost: stage: %w", err)
	}
	defer os.RemoveAll(staging)
	bundle := filepath.Join(staging, "bundle")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		return nil, fmt.Errorf("pluginhost: stage: %w", err)
	}

	digest, ref, err := in.fill(ctx, req.Source, bundle)
	var ae *ArchiveError
	if errors.As(err, &ae) {
		return rejected(nil, "The archive was refused: "+ae.Rule, []Finding{archiveFinding(ae)}), nil
	}
	if err != nil {
		return nil, err
	}

	data, err := readBounded(filepath.Join(bundle, ManifestFile), MaxManifestBytes)
	if err != nil {
		return rejected(nil, "The bundle has no readable plugin.json at its root", []Finding{{
			RuleID: "manifest.missing", Category: "manifest", Severity: "critical", File: ManifestFile,
			Message: "plugin.json must be at the root of the bundle", Blocking: true}}), nil
	}
	pm, err := ParseManifest(data, ManifestCheck{HostVersion: in.cfg.HostVersion, AllowHTTPOrigins: in.cfg.AllowHTTPOrigins})
	var me *ManifestError
	if errors.As(err, &me) {
		return rejected(nil, "The manifest is invalid", manifestFindings(me)), nil
	}
	if err != nil {
		return nil, err
	}
	if req.ExpectID != "" && pm.ID != req.ExpectID {
		return rejected(pm, fmt.Sprintf("The bundle is plugin %s, not %s", pm.ID, req.ExpectID), []Finding{{
			RuleID: "manifest.id", Category: "manifest", Severity: "critical", File: ManifestFile,
			Message: "an update must keep the plugin id", Blocking: true}}), nil
	}

	findings, err := in.check(ctx, bundle, pm)
	if err != nil {
		return nil, err
	}
	for _, w := range pm.Warnings {
		findings = append(findings, Finding{RuleID: "manifest.warning", Category: "manifest", Severity: "info",
			File: ManifestFile, Message: w})
	}
	for _, k := range pm.Unknown {
		findings = append(findings, Finding{RuleID: "manifest.unknown_key", Category: "manifest", Severity: "info",
			File: ManifestFile, Message: fmt.Sprintf("unknown key %q is ignored", k)})
	}
	sortFindings(findings)
	for _, f := range findings {
		if f.Blocking {
			return rejected(pm, fmt.Sprintf("The plugin was refused: %d blocking finding(s)", countBlocking(findings)), findings), nil
		}
	}
	return in.commit(ctx, req, pm, bundle, digest, ref, findings)
}

// fill puts the source's files into dir and returns the bundle digest
// and the source reference to store.
func (in *Installer) fill(ctx context.Context, src Source, dir string) (digest, ref string, err error) {
	switch src.kind {
	case SourceUpload:
		h := sha256.New()
		if _, err := Unpack(io.TeeReader(src.archive, h), dir, in.cfg.Limits); err != nil {
			return "", "", err
		}
		return hex.EncodeToString(h.Sum(nil)), "", nil
	case SourceURL:
		return in.download(ctx, src, dir)
	case SourcePath:
		if !in.cfg.AllowPathSource {
			return "", "", fmt.Errorf("pluginhost: installing from a host path is disabled (set TAYLORDASH_PLUGINS_ALLOW_PATH): %w", dashcore.ErrForbidden)
		}
		if !filepath.IsAbs(src.path) {
			return "", "", fmt.Errorf("pluginhost: path %q must be absolute: %w", src.path, dashcore.ErrInvalid)
		}
		u, err := CopyBundle(src.path, dir, in.cfg.Limits)
		if err != nil {
			return "", "", err
		}
		d, err := treeDigest(dir, u.Files)
		return d, src.path, err
	}
	return "", "", fmt.Errorf("pluginhost: no source given: %w", dashcore.ErrInvalid)
}

// download fetches an https archive, checks its digest and unpacks it.
func (in *Installer) download(ctx context.Context, src Source, dir string) (string, string, error) {
	if b, err := hex.DecodeString(src.sha256); err != nil || len(b) != 32 {
		return "", "", fmt.Errorf("pluginhost: sha256 must be 64 hex digits: %w", dashcore.ErrInvalid)
	}
	if !strings.HasPrefix(src.url, "https://") {
		return "", "", fmt.Errorf("pluginhost: url must be https: %w", dashcore.ErrInvalid)
	}
	ctx, cancel := context.WithTimeout(ctx, in.cfg.DownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url, nil)
	if err != nil {
		return "", "", fmt.Errorf("pluginhost: url %q: %w", src.url, dashcore.ErrInvalid)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return "", "", &DownloadError{URL: src.url, Reason: "the server could not be reached over https"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", &DownloadError{URL: src.url, Reason: fmt.Sprintf("the server answered %d", resp.StatusCode)}
	}
	if resp.Request != nil && resp.Request.URL.Scheme != "https" {
		return "", "", &DownloadError{URL: src.url, Reason: "a redirect left https"}
	}
	// Spool and hash first: nothing is unpacked before the digest matches.
	tmp, err := os.CreateTemp(filepath.Dir(dir), "download-")
	if err != nil {
		return "", "", fmt.Errorf("pluginhost: spool download: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, in.cfg.Limits.MaxArchiveBytes+1))
	if err != nil {
		return "", "", &DownloadError{URL: src.url, Reason: "the download broke off"}
	}
	if n > in.cfg.Limits.MaxArchiveBytes {
		return "", "", archiveErr(RuleArchiveSize, "", "archives are limited to %d bytes", in.cfg.Limits.MaxArchiveBytes)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(got), []byte(src.sha256)) != 1 {
		return "", "", &DownloadError{URL: src.url, Reason: fmt.Sprintf("its sha256 is %s, not the pinned %s", got, src.sha256)}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", "", fmt.Errorf("pluginhost: spool download: %w", err)
	}
	if _, err := Unpack(tmp, dir, in.cfg.Limits); err != nil {
		return "", "", err
	}
	return got, src.url, nil
}

// DownloadError is a URL source that could not be used. It wraps
// dashcore.ErrInvalid: the request named a URL that does not serve the
// pinned archive.
type DownloadError struct {
	// URL is the source.
	URL string
	// Reason says what went wrong, without internals.
	Reason string
}

// Error implements error.
func (e *DownloadError) Error() string {
	return fmt.Sprintf("pluginhost: download %s: %s", e.URL, e.Reason)
}

// Unwrap makes the error a dashcore.ErrInvalid.
func (e *DownloadError) Unwrap() error { return dashcore.ErrInvalid }

// check runs the scanner on a UI bundle or the module checker on a wasm
// plugin.
func (in *Installer) check(ctx context.Context, dir string, pm *ParsedManifest) ([]Finding, error) {
	var findings []Finding
	if pm.Runtime == RuntimeWasm {
		if in.modules == nil {
			return []Finding{{RuleID: "wasm.unsupported", Category: "runtime", Severity: "critical",
				Message: "this host runs no wasm plugins", Blocking: true}}, nil
		}
		wasm, err := readBounded(filepath.Join(dir, filepath.FromSlash(pm.Wasm)), in.cfg.Limits.MaxFileBytes)
		if err != nil {
			return []Finding{{RuleID: "wasm.missing", Category: "runtime", Severity: "critical", File: pm.Wasm,
				Message: "the wasm module named by the manifest is not in the bundle", Blocking: true}}, nil
		}
		if pm.SHA256 != "" {
			sum := sha256.Sum256(wasm)
			if hex.EncodeToString(sum[:]) != strings.ToLower(pm.SHA256) {
				return []Finding{{RuleID: "wasm.sha256", Category: "integrity", Severity: "critical", File: pm.Wasm,
					Message: "the module's sha256 does not match the manifest", Blocking: true}}, nil
			}
		}
		if err := in.modules.CheckModule(ctx, wasm, &pm.Manifest); err != nil {
			return []Finding{{RuleID: "wasm.invalid", Category: "runtime", Severity: "critical", File: pm.Wasm,
				Message: err.Error(), Blocking: true}}, nil
		}
		if pm.EntryPoint == "" {
			return nil, nil
		}
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(pm.EntryPoint))); err != nil && pm.EntryPoint != "" {
		findings = append(findings, Finding{RuleID: "manifest.entry_point", Category: "manifest", Severity: "critical",
			File: pm.EntryPoint, Message: "the entry point named by the manifest is not in the bundle", Blocking: true})
	}
	if in.scanner == nil {
		return append(findings, Finding{RuleID: "scan.unavailable", Category: "scan", Severity: "critical",
			Message: "this host has no bundle scanner, so it installs no UI plugins", Blocking: true}), nil
	}
	fs, err := in.scanner.ScanBundle(ctx, dir, &pm.Manifest)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: scan %s: %w", pm.ID, err)
	}
	return append(findings, fs...), nil
}

// commit moves the bundle into place and writes the rows in one
// transaction; if the transaction fails, the moved files are removed.
func (in *Installer) commit(ctx context.Context, req InstallRequest, pm *ParsedManifest, bundle, digest, ref string,
	findings []Finding) (*InstallResult, error) {
	short := digest
	if len(short) > 12 {
		short = short[:12]
	}
	target := filepath.Join(in.cfg.Dir, pm.ID, pm.Version+"-"+short)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, fmt.Errorf("pluginhost: install %s: %w", pm.ID, err)
	}
	res := &InstallResult{Status: OutcomeInstalled, PluginID: pm.ID, Version: pm.Version, Findings: findings, Unknown: pm.Unknown}
	var oldPath string
	moved := false
	err := store.Tx(ctx, in.db, func(tx pgx.Tx) error {
		// One install of a plugin at a time, across instances.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('taylordash-plugin:' || $1))`, pm.ID); err != nil {
			return fmt.Errorf("pluginhost: lock %s: %w", pm.ID, store.MapError(err))
		}
		old, err := getPlugin(ctx, tx, pm.ID, true)
		switch {
		case errors.Is(err, ErrNotFound):
			if req.Update {
				return fmt.Errorf("%w: %s", ErrNotFound, pm.ID)
			}
		case err != nil:
			return err
		default:
			if old.Version == pm.Version && old.BundleSHA256 == digest && !req.Force {
				res.Status = OutcomeAlreadyInstalled
				res.Message = fmt.Sprintf("Plugin %s %s is already installed", pm.ID, pm.Version)
				res.Plugin = old
				return nil
			}
			res.PreviousVersion, oldPath = old.Version, old.InstallPath
		}
		if target != oldPath {
			if err := os.RemoveAll(target); err != nil {
				return fmt.Errorf("pluginhost: install %s: %w", pm.ID, err)
			}
			if err := os.Rename(bundle, target); err != nil {
				return fmt.Errorf("pluginhost: install %s: %w", pm.ID, err)
			}
			moved = true
		}
		p := &Plugin{ID: pm.ID, Name: pm.Name, Version: pm.Version, Description: pm.Description, Author: pm.Author,
			Type: pm.Type, Kind: pm.Kind, Runtime: pm.Runtime, RepositoryURL: pm.Repository, Source: req.Source.kind,
			SourceRef: ref, BundleSHA256: digest, InstallPath: target, Manifest: pm.Manifest, InstalledBy: req.Actor}
		if old != nil {
			p.Config = old.Config // keep the configuration across updates
		}
		if err := upsert(ctx, tx, p); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM plugin_security_violations WHERE plugin_id = $1 AND origin = 'scan'`, pm.ID); err != nil {
			return fmt.Errorf("pluginhost: reset findings of %s: %w", pm.ID, store.MapError(err))
		}
		var vs []Violation
		for _, f := range findings {
			if f.Severity != "info" {
				vs = append(vs, findingViolation(pm.ID, f))
			}
		}
		if err := addViolations(ctx, tx, pm.ID, vs); err != nil {
			return err
		}
		res.Plugin, err = getPlugin(ctx, tx, pm.ID, false)
		return err
	})
	if err != nil {
		if moved {
			_ = os.RemoveAll(target)
		}
		return nil, err
	}
	if res.Status == OutcomeInstalled {
		if oldPath != "" && oldPath != target {
			if err := os.RemoveAll(oldPath); err != nil {
				in.log.Warn("old plugin version not removed", slog.String("plugin", pm.ID), slog.String("path", oldPath), slog.Any("error", err))
			}
		}
		res.Message = fmt.Sprintf("Plugin %s %s installed", pm.ID, pm.Version)
		if res.PreviousVersion != "" {
			res.Message = fmt.Sprintf("Plugin updated from %s to %s", res.PreviousVersion, pm.Version)
		}
		in.log.Info("plugin installed", slog.String("plugin", pm.ID), slog.String("version", pm.Version),
			slog.String("source", req.Source.kind), slog.Int("findings", len(findings)))
	}
	return res, nil
}

// Uninstall removes a plugin's rows (and its violations and history)
// and then its files. It returns an error wrapping ErrNotFound for an
// unknown id.
func (in *Installer) Uninstall(ctx context.Context, id string) error {
	var path string
	err := store.Tx(ctx, in.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `DELETE FROM plugins WHERE id = $1 RETURNING install_path`, id).Scan(&path)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("pluginhost: uninstall %s: %w", id, store.MapError(err))
		}
		for _, q := range []string{`DELETE FROM plugin_security_violations WHERE plugin_id = $1`,
			`DELETE FROM plugin_api_access WHERE plugin_id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return fmt.Errorf("pluginhost: uninstall %s: %w", id, store.MapError(err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(in.cfg.Dir, id)); err != nil {
		return fmt.Errorf("pluginhost: remove files of %s: %w", id, err)
	}
	return nil
}

func findingViolation(pluginID string, f Finding) Violation {
	return Violation{PluginID: pluginID, Type: violationType(f.Category), Description: f.Message, Severity: f.Severity,
		Origin: "scan", RuleID: f.RuleID, File: f.File, Line: f.Line, Column: f.Column, Snippet: f.Snippet,
		Context: map[string]any{"category": f.Category, "blocking": f.Blocking}}
}

// violationType maps a finding category to the original's violation
// types.
func violationType(category string) string {
	switch category {
	case "network", "exfiltration":
		return "data_exfiltration"
	case "api":
		return "unauthorized_api_access"
	case "frame", "sandbox":
		return "sandbox_escape_attempt"
	case "permission":
		return "permission_escalation"
	case "resource":
		return "resource_abuse"
	}
	return "malicious_code_detected"
}

func archiveFinding(ae *ArchiveError) Finding {
	return Finding{RuleID: "archive." + ae.Rule, Category: "archive", Severity: "critical", File: ae.Entry,
		Message: strings.TrimPrefix(ae.Error(), "pluginhost: "), Blocking: true}
}

func manifestFindings(me *ManifestError) []Finding {
	out := make([]Finding, len(me.Problems))
	for i, p := range me.Problems {
		field := p.Field
		if i := strings.IndexAny(field, "[."); i > 0 {
			field = field[:i]
		}
		out[i] = Finding{RuleID: "manifest." + field, Category: "manifest", Severity: "critical", File: ManifestFile,
			Message: p.Field + ": " + p.Rule, Blocking: true}
	}
	return out
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.RuleID < b.RuleID
	})
}

func countBlocking(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Blocking {
			n++
		}
	}
	return n
}

// readBounded reads a file of at most max bytes, refusing links.
func readBounded(path string, max int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, fmt.Errorf("pluginhost: %s is not a regular file of at most %d bytes", filepath.Base(path), max)
	}
	return os.ReadFile(path)
}

// treeDigest hashes a bundle's files (names and contents) in order.
func treeDigest(dir string, files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("pluginhost: hash %s: %w", f, err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "%s\x00%x\n", f, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RescanResult is what [Installer.Rescan] found.
type RescanResult struct {
	// Plugin is the plugin after the rescan.
	Plugin *Plugin
	// Findings are the current rules' findings on the installed files.
	Findings []Finding
	// Blocked is true when the current rules would refuse the bundle;
	// the plugin is then disabled.
	Blocked bool
}

// Rescan checks an installed plugin's files again with the current
// rules, replaces its stored scan findings and disables it when a
// finding is blocking. It returns an error wrapping ErrNotFound for an
// unknown id.
func (in *Installer) Rescan(ctx context.Context, id string) (*RescanResult, error) {
	p, err := getPlugin(ctx, in.db, id, false)
	if err != nil {
		return nil, err
	}
	pm := &ParsedManifest{Manifest: p.Manifest}
	findings, err := in.check(ctx, p.InstallPath, pm)
	if err != nil {
		return nil, err
	}
	sortFindings(findings)
	res := &RescanResult{Findings: findings, Blocked: countBlocking(findings) > 0}
	err = store.Tx(ctx, in.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM plugin_security_violations WHERE plugin_id = $1 AND origin = 'scan'`, id); err != nil {
			return fmt.Errorf("pluginhost: rescan %s: %w", id, store.MapError(err))
		}
		var vs []Violation
		for _, f := range findings {
			if f.Severity != "info" {
				vs = append(vs, findingViolation(id, f))
			}
		}
		if err := addViolations(ctx, tx, id, vs); err != nil {
			return err
		}
		if len(vs) == 0 {
			// addViolations refreshes the score only when it adds rows.
			if _, err := tx.Exec(ctx, `UPDATE plugins SET security_violations = 0, last_violation = NULL, security_score = 100
				WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM plugin_security_violations WHERE plugin_id = $1 AND severity <> 'info')`, id); err != nil {
				return fmt.Errorf("pluginhost: rescan %s: %w", id, store.MapError(err))
			}
		}
		if res.Blocked {
			if _, err := tx.Exec(ctx, `UPDATE plugins SET status = 'disabled', disabled_reason = 'a rescan found blocking findings',
				last_updated = now() WHERE id = $1`, id); err != nil {
				return fmt.Errorf("pluginhost: rescan %s: %w", id, store.MapError(err))
			}
		}
		res.Plugin, err = getPlugin(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
