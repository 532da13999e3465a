package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode/utf8"
)

// Scanner checks UI plugin bundles. It is safe for concurrent use; each
// scan is independent.
type Scanner struct {
	cfg Config
}

// New returns a Scanner for cfg (after cfg.WithDefaults), or the
// problems of cfg.
func New(cfg Config) (*Scanner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scanner: config: %w", err)
	}
	return &Scanner{cfg: cfg}, nil
}

// Config returns the scanner's configuration, defaults applied.
func (s *Scanner) Config() Config { return s.cfg }

// ScanDir scans the bundle in dir. Symbolic links are reported and never
// followed, and no file outside dir is opened (the directory is opened
// as an [os.Root]).
func (s *Scanner) ScanDir(ctx context.Context, dir string, m Manifest) (*Report, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("scanner: open bundle: %w", err)
	}
	defer root.Close()
	return s.ScanFS(ctx, root.FS(), m)
}

// ScanFS scans the bundle at the root of fsys: every file a browser runs
// or parses (.js .mjs .cjs .html .htm .xhtml .svg .xml .xsl .css, names
// compared without case), with inline scripts, styles and event-handler
// attributes. Other files are listed in Report.Skipped. Symbolic links
// are reported, not followed. The error is for a bundle that cannot be
// read or a manifest that cannot be matched against (an allowed origin
// that is not an origin); what the bundle contains is only ever a
// finding.
func (s *Scanner) ScanFS(ctx context.Context, fsys fs.FS, m Manifest) (*Report, error) {
	pol, err := compilePolicy(m)
	if err != nil {
		return nil, err
	}
	b := &bundleScan{cfg: &s.cfg, pol: pol, rep: &Report{}, seen: make(map[seenKey]bool)}
	files := 0
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scanner: read %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		files++
		if files > s.cfg.MaxFiles {
			b.file(p).report(ruleTooManyFiles, -1, fmt.Sprintf("the bundle has more than %d files; the rest is not scanned", s.cfg.MaxFiles))
			return fs.SkipAll
		}
		if d.Type()&fs.ModeSymlink != 0 {
			b.file(p).report(ruleSymlink, -1, "a symbolic link; not followed, and not allowed in a bundle")
			return nil
		}
		lang := languageOf(p)
		if lang == langNone || !d.Type().IsRegular() {
			b.rep.Skipped = append(b.rep.Skipped, p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("scanner: stat %s: %w", p, err)
		}
		if info.Size() > s.cfg.MaxFileBytes {
			b.file(p).report(ruleFileTooLarge, -1, fmt.Sprintf("%d bytes, over the %d-byte limit; not scanned", info.Size(), s.cfg.MaxFileBytes))
			return nil
		}
		if b.rep.Bytes+info.Size() > s.cfg.MaxBytes {
			b.file(p).report(ruleBundleTooLarge, -1, fmt.Sprintf("the bundle passes %d bytes here; this file and the rest are not scanned", s.cfg.MaxBytes))
			return fs.SkipAll
		}
		src, err := readLimited(fsys, p, info.Size(), s.cfg.MaxFileBytes)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				b.file(p).report(ruleFileTooLarge, -1, fmt.Sprintf("over the %d-byte limit; not scanned", s.cfg.MaxFileBytes))
				return nil
			}
			return fmt.Errorf("scanner: read %s: %w", p, err)
		}
		b.rep.Files++
		b.rep.Bytes += int64(len(src))
		b.scanFile(p, lang, src)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortFindings(b.rep.Findings)
	return b.rep, nil
}

// ScanBytes scans one file's content as if it were the bundle's file
// name (its extension picks the language).
func (s *Scanner) ScanBytes(name string, src []byte, m Manifest) (*Report, error) {
	pol, err := compilePolicy(m)
	if err != nil {
		return nil, err
	}
	b := &bundleScan{cfg: &s.cfg, pol: pol, rep: &Report{}, seen: make(map[seenKey]bool)}
	lang := languageOf(name)
	if lang == langNone {
		b.rep.Skipped = []string{name}
		return b.rep, nil
	}
	b.rep.Files, b.rep.Bytes = 1, int64(len(src))
	b.scanFile(name, lang, string(src))
	sortFindings(b.rep.Findings)
	return b.rep, nil
}

var errTooLarge = errors.New("file too large")

// readLimited reads a file expected to have size bytes, failing with
// errTooLarge past limit.
func readLimited(fsys fs.FS, name string, size, limit int64) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var sb strings.Builder
	sb.Grow(int(min(size, limit)) + 1)
	n, err := io.Copy(&sb, io.LimitReader(f, limit+1))
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", errTooLarge
	}
	return sb.String(), nil
}

// language is how a file is scanned.
type language uint8

const (
	langNone   language = iota
	langJS              // classic script or module, whichever parses
	langModule          // .mjs: always a module
	langHTML
	langXML // SVG and XML dialects: no raw-text elements, CDATA
	langCSS
)

func languageOf(name string) language {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".cjs":
		return langJS
	case ".mjs":
		return langModule
	case ".html", ".htm":
		return langHTML
	case ".svg", ".xhtml", ".xht", ".xml", ".xsl", ".xslt":
		return langXML
	case ".css":
		return langCSS
	}
	return langNone
}

// bundleScan is the state of one scan.
type bundleScan struct {
	cfg  *Config
	pol  *policy
	rep  *Report
	seen map[seenKey]bool
}

type seenKey struct {
	file, rule, msg string
	line            int
}

func (b *bundleScan) file(p string) *fileScan {
	return &fileScan{b: b, path: p, dir: path.Dir(p)}
}

func (b *bundleScan) scanFile(p string, lang language, src string) {
	f := b.file(p)
	f.src = src
	defer func() {
		// A parser bug must not take the host down: the file is
		// unverifiable, which blocks like a syntax error.
		if r := recover(); r != nil {
			f.report(ruleSyntaxError, -1, fmt.Sprintf("the file could not be analysed (%v); it cannot be verified", r))
		}
	}()
	whole := offMap{{code: 0, file: 0, exact: true}}
	switch lang {
	case langJS:
		f.scanJS(src, whole, false, false)
	case langModule:
		f.scanJS(src, whole, true, false)
	case langHTML:
		f.scanMarkup(src, whole, false)
	case langXML:
		f.scanMarkup(src, whole, true)
	case langCSS:
		f.scanCSS(src, whole)
	}
}

// fileScan reports findings in one file.
type fileScan struct {
	b     *bundleScan
	path  string
	dir   string // path.Dir(path)
	src   string
	lines []int // offsets of line starts, computed on the first finding
	depth int   // nesting of markup found inside strings and attributes
}

// report records a finding of rule at file offset off (-1: the whole
// file). One finding per rule, line and message is kept.
func (f *fileScan) report(rule string, off int, msg string) {
	r := rulesByID[rule]
	if r == nil {
		panic("scanner: unknown rule " + rule)
	}
	sev := r.Severity
	if s, ok := f.b.cfg.Severities[rule]; ok {
		sev = s
	}
	fd := Finding{RuleID: rule, Category: r.Category, Severity: sev, File: f.path, Message: msg,
		Blocking: sev.AtLeast(f.b.cfg.BlockAt)}
	if off >= 0 && off <= len(f.src) {
		fd.Line, fd.Column = f.position(off)
	}
	key := seenKey{f.path, rule, msg, fd.Line}
	if f.b.seen[key] {
		return
	}
	f.b.seen[key] = true
	if fd.Line > 0 {
		fd.Snippet = f.snippet(off)
	}
	if fd.Blocking {
		f.b.rep.Blocked = true
	}
	if len(f.b.rep.Findings) >= f.b.cfg.MaxFindings {
		f.b.rep.Dropped++
		return
	}
	f.b.rep.Findings = append(f.b.rep.Findings, fd)
}

// position returns the 1-based line and byte column of off. Lines end at
// \n, \r\n or \r.
func (f *fileScan) position(off int) (line, col int) {
	if f.lines == nil {
		f.lines = make([]int, 1, strings.Count(f.src, "\n")+2)
		for i := 0; i < len(f.src); i++ {
			switch f.src[i] {
			case '\n':
				f.lines = append(f.lines, i+1)
			case '\r':
				if i+1 < len(f.src) && f.src[i+1] == '\n' {
					i++
				}
				f.lines = append(f.lines, i+1)
			}
		}
	}
	lo, hi := 0, len(f.lines)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if f.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1, off - f.lines[lo] + 1
}

// snippet returns the line around off, trimmed to SnippetMax bytes.
func (f *fileScan) snippet(off int) string {
	line, _ := f.position(off)
	start := f.lines[line-1]
	end := len(f.src)
	if line < len(f.lines) {
		end = f.lines[line]
	}
	if end-start > SnippetMax {
		s := max(start, off-SnippetMax/3)
		start, end = s, min(end, s+SnippetMax)
		for start < end && !utf8.RuneStart(f.src[start]) {
			start++
		}
		for end > start && end < len(f.src) && !utf8.RuneStart(f.src[end]) {
			end--
		}
	}
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(f.src[start:end], "?"))
	return strings.TrimSpace(s)
}

// offMap maps offsets in code extracted from a file (an inline script,
// an attribute, a string literal's markup) back to file offsets.
// Segments are sorted by code offset; an inexact segment (its text was
// unescaped, so lengths differ) maps every offset to its start.
type offMap []segment

type segment struct {
	code, file int
	exact      bool
}

func (m offMap) at(codeOff int) int {
	i := len(m) - 1
	for i > 0 && m[i].code > codeOff {
		i--
	}
	s := m[i]
	if !s.exact || codeOff < s.code {
		return s.file
	}
	return s.file + codeOff - s.code
}

// maxDepth bounds markup found inside markup (srcdoc, innerHTML strings).
const maxDepth = 4
