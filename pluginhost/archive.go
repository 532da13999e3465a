package pluginhost

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// ArchiveLimits bound what an archive or a bundle directory may unpack
// to. The zero value means the defaults of [ArchiveLimits.WithDefaults].
type ArchiveLimits struct {
	// MaxArchiveBytes caps the archive itself (compressed). Default 20 MiB.
	MaxArchiveBytes int64
	// MaxTotalBytes caps the unpacked size of all files. Default 50 MiB.
	MaxTotalBytes int64
	// MaxFileBytes caps one unpacked file. Default 10 MiB.
	MaxFileBytes int64
	// MaxFiles caps the number of entries (files and directories).
	// Default 2000.
	MaxFiles int
	// MaxRatio caps unpacked/packed size, for the whole archive and for
	// each zip entry (zip bombs). Default 100.
	MaxRatio int64
	// MaxDepth caps directory nesting. Default 16.
	MaxDepth int
}

// WithDefaults returns l with zero fields set to their defaults.
func (l ArchiveLimits) WithDefaults() ArchiveLimits {
	if l.MaxArchiveBytes == 0 {
		l.MaxArchiveBytes = 20 << 20
	}
	if l.MaxTotalBytes == 0 {
		l.MaxTotalBytes = 50 << 20
	}
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = 10 << 20
	}
	if l.MaxFiles == 0 {
		l.MaxFiles = 2000
	}
	if l.MaxRatio == 0 {
		l.MaxRatio = 100
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = 16
	}
	return l
}

// Archive rule codes, the bounded reasons of an [ArchiveError].
const (
	RuleNotArchive     = "not_an_archive"
	RuleArchiveSize    = "archive_too_large"
	RuleTraversal      = "path_traversal"
	RuleAbsolutePath   = "absolute_path"
	RuleBadName        = "bad_name"
	RuleSymlink        = "symlink"
	RuleHardLink       = "hard_link"
	RuleSpecialFile    = "special_file"
	RuleDuplicate      = "duplicate_entry"
	RuleTooManyFiles   = "too_many_files"
	RuleTooDeep        = "too_deep"
	RuleFileTooLarge   = "file_too_large"
	RuleTotalTooLarge  = "total_too_large"
	RuleCompressRatio  = "compression_ratio"
	RuleCorruptArchive = "corrupt_archive"
)

// ArchiveError is an archive or bundle that breaks a guard. Nothing of it
// is left on disk.
type ArchiveError struct {
	// Rule is one of the Rule* codes.
	Rule string
	// Entry is the offending entry's name as the archive spells it
	// (sanitized for display), or "".
	Entry string
	// Detail says more, e.g. the limit.
	Detail string
}

// Error implements error.
func (e *ArchiveError) Error() string {
	var b strings.Builder
	b.WriteString("pluginhost: archive refused: ")
	b.WriteString(e.Rule)
	if e.Entry != "" {
		fmt.Fprintf(&b, " (%q)", e.Entry)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func archiveErr(rule, entry, format string, args ...any) *ArchiveError {
	if len(entry) > 200 {
		entry = entry[:200] + "…"
	}
	if !utf8.ValidString(entry) {
		entry = strings.ToValidUTF8(entry, "?")
	}
	return &ArchiveError{Rule: rule, Entry: entry, Detail: fmt.Sprintf(format, args...)}
}

// Unpacked is what [Unpack] wrote.
type Unpacked struct {
	// Files are the regular files written, slash-separated, relative to
	// the destination, sorted.
	Files []string
	// Bytes is their total size.
	Bytes int64
}

// unpacker writes entries into dst, enforcing the limits.
type unpacker struct {
	dst     string
	lim     ArchiveLimits
	packed  int64
	entries int
	total   int64
	seen    map[string]bool
	files   []string
}

// entryName validates an archive entry name and returns its clean,
// slash-separated relative form ("" for the root itself).
func (u *unpacker) entryName(name string) (string, error) {
	switch {
	case name == "" || strings.ContainsRune(name, 0) || !utf8.ValidString(name):
		return "", archiveErr(RuleBadName, name, "names must be non-empty UTF-8 without NUL")
	case strings.Contains(name, `\`):
		return "", archiveErr(RuleBadName, name, "backslashes are not allowed in names")
	case strings.HasPrefix(name, "/") || (len(name) > 1 && name[1] == ':'):
		return "", archiveErr(RuleAbsolutePath, name, "entries must be relative")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", archiveErr(RuleTraversal, name, "entries must not contain .. segments")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	if strings.Count(clean, "/") >= u.lim.MaxDepth {
		return "", archiveErr(RuleTooDeep, name, "nesting is limited to %d levels", u.lim.MaxDepth)
	}
	return clean, nil
}

// count registers one more entry.
func (u *unpacker) count(name string) error {
	u.entries++
	if u.entries > u.lim.MaxFiles {
		return archiveErr(RuleTooManyFiles, "", "at most %d entries", u.lim.MaxFiles)
	}
	if u.seen[name] {
		return archiveErr(RuleDuplicate, name, "the archive holds this name twice")
	}
	u.seen[name] = true
	return nil
}

// dir creates a directory entry.
func (u *unpacker) dir(name string) error {
	if name == "" {
		return nil
	}
	if err := u.count(name + "/"); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(u.dst, filepath.FromSlash(name)), 0o755)
}

// file writes a regular file, reading at most the limits from r.
// packedSize, when positive, is the entry's compressed size (zip) for
// the per-entry ratio guard.
func (u *unpacker) file(name string, r io.Reader, packedSize int64) error {
	if name == "" {
		return archiveErr(RuleBadName, name, "a file cannot be the root")
	}
	if err := u.count(name); err != nil {
		return err
	}
	full := filepath.Join(u.dst, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("pluginhost: unpack %s: %w", name, err)
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return archiveErr(RuleDuplicate, name, "the archive holds this name twice")
		}
		return fmt.Errorf("pluginhost: unpack %s: %w", name, err)
	}
	defer f.Close()
	// Read one byte past every limit, to tell "at the limit" from "over".
	limit := min(u.lim.MaxFileBytes, u.lim.MaxTotalBytes-u.total) + 1
	n, err := io.Copy(f, io.LimitReader(r, limit))
	if err != nil {
		return archiveErr(RuleCorruptArchive, name, "cannot be read")
	}
	switch {
	case n > u.lim.MaxFileBytes:
		return archiveErr(RuleFileTooLarge, name, "files are limited to %d bytes", u.lim.MaxFileBytes)
	case u.total+n > u.lim.MaxTotalBytes:
		return archiveErr(RuleTotalTooLarge, name, "the bundle is limited to %d bytes unpacked", u.lim.MaxTotalBytes)
	case packedSize > 0 && n > 1<<20 && n/packedSize > u.lim.MaxRatio:
		return archiveErr(RuleCompressRatio, name, "compresses more than %d:1", u.lim.MaxRatio)
	}
	u.total += n
	if u.packed > 0 && u.total > 1<<20 && u.total/u.packed > u.lim.MaxRatio {
		return archiveErr(RuleCompressRatio, "", "the archive unpacks to more than %d times its size", u.lim.MaxRatio)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pluginhost: unpack %s: %w", name, err)
	}
	u.files = append(u.files, name)
	return nil
}

// Unpack extracts a .zip or .tar.gz (told apart by their first bytes)
// from r into dst, which must be an empty directory, enforcing lim: size,
// entry count, per-file size, nesting, compression ratio; no traversal,
// absolute paths, symlinks, hard links, devices or duplicates. The whole
// archive is checked before anything is trusted: on any error, dst is
// emptied again. A single top-level directory that holds every entry
// (GitHub's archives) is stripped when the manifest is not at the root.
func Unpack(r io.Reader, dst string, lim ArchiveLimits) (*Unpacked, error) {
	lim = lim.WithDefaults()
	// Spool the archive to a temporary file: zip needs random access, and
	// the size limit must hold before any parsing.
	tmp, err := os.CreateTemp("", "taylordash-archive-*")
	if err != nil {
		return nil, fmt.Errorf("pluginhost: spool archive: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, io.LimitReader(r, lim.MaxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pluginhost: spool archive: %w", err)
	}
	if n > lim.MaxArchiveBytes {
		return nil, archiveErr(RuleArchiveSize, "", "archives are limited to %d bytes", lim.MaxArchiveBytes)
	}
	u := &unpacker{dst: dst, lim: lim, packed: n, seen: map[string]bool{}}
	var magic [4]byte
	if _, err := tmp.ReadAt(magic[:], 0); err != nil {
		return nil, archiveErr(RuleNotArchive, "", "expected a .zip or .tar.gz archive")
	}
	switch {
	case bytes.Equal(magic[:], []byte("PK\x03\x04")) || bytes.Equal(magic[:], []byte("PK\x05\x06")):
		err = u.zip(tmp, n)
	case magic[0] == 0x1f && magic[1] == 0x8b:
		if _, err = tmp.Seek(0, io.SeekStart); err == nil {
			err = u.tarGz(tmp)
		}
	default:
		err = archiveErr(RuleNotArchive, "", "expected a .zip or .tar.gz archive")
	}
	if err == nil {
		err = stripSingleRoot(dst)
	}
	return u.finish(err)
}

// finish lists what was written, or on err empties the destination.
func (u *unpacker) finish(err error) (*Unpacked, error) {
	var files []string
	if err == nil {
		files, err = listFiles(u.dst)
	}
	if err != nil {
		clearDir(u.dst)
		return nil, err
	}
	return &Unpacked{Files: files, Bytes: u.total}, nil
}

func (u *unpacker) zip(f *os.File, size int64) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return archiveErr(RuleCorruptArchive, "", "not a readable zip archive")
	}
	if len(zr.File) > u.lim.MaxFiles {
		return archiveErr(RuleTooManyFiles, "", "at most %d entries", u.lim.MaxFiles)
	}
	for _, zf := range zr.File {
		name, err := u.entryName(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return archiveErr(RuleSymlink, zf.Name, "symbolic links are not allowed")
		case mode.IsDir() || strings.HasSuffix(zf.Name, "/"):
			if err := u.dir(name); err != nil {
				return err
			}
			continue
		case !mode.IsRegular():
			return archiveErr(RuleSpecialFile, zf.Name, "only regular files and directories are allowed")
		}
		if zf.UncompressedSize64 > uint64(u.lim.MaxFileBytes) {
			return archiveErr(RuleFileTooLarge, zf.Name, "files are limited to %d bytes", u.lim.MaxFileBytes)
		}
		rc, err := zf.Open()
		if err != nil {
			return archiveErr(RuleCorruptArchive, zf.Name, "cannot be read")
		}
		err = u.file(name, rc, max(int64(zf.CompressedSize64), 1))
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (u *unpacker) tarGz(f io.Reader) error {
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return archiveErr(RuleCorruptArchive, "", "not a readable gzip stream")
	}
	defer gz.Close()
	// Headers and padding count too: bound everything gzip produces.
	budget := u.lim.MaxTotalBytes + int64(u.lim.MaxFiles+2)*1024 + 1
	lr := &io.LimitedReader{R: gz, N: budget}
	tr := tar.NewReader(lr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if lr.N <= 0 {
				return archiveErr(RuleTotalTooLarge, "", "the bundle is limited to %d bytes unpacked", u.lim.MaxTotalBytes)
			}
			return archiveErr(RuleCorruptArchive, "", "not a readable tar archive")
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeSymlink:
			return archiveErr(RuleSymlink, h.Name, "symbolic links are not allowed")
		case tar.TypeLink:
			return archiveErr(RuleHardLink, h.Name, "hard links are not allowed")
		}
		name, err := u.entryName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := u.dir(name); err != nil {
				return err
			}
		case tar.TypeReg:
			if h.Size > u.lim.MaxFileBytes {
				return archiveErr(RuleFileTooLarge, h.Name, "files are limited to %d bytes", u.lim.MaxFileBytes)
			}
			if err := u.file(name, tr, 0); err != nil {
				if lr.N <= 0 {
					return archiveErr(RuleTotalTooLarge, "", "the bundle is limited to %d bytes unpacked", u.lim.MaxTotalBytes)
				}
				return err
			}
		default:
			return archiveErr(RuleSpecialFile, h.Name, "only regular files and directories are allowed")
		}
		if u.packed > 0 && budget-lr.N > 1<<20 && (budget-lr.N)/u.packed > u.lim.MaxRatio {
			return archiveErr(RuleCompressRatio, "", "the archive unpacks to more than %d times its size", u.lim.MaxRatio)
		}
	}
}

// CopyBundle copies a bundle directory into dst (an empty directory)
// under the same guards as [Unpack]: it refuses symbolic links (it never
// follows one), special files and bundles over the limits.
func CopyBundle(src, dst string, lim ArchiveLimits) (*Unpacked, error) {
	lim = lim.WithDefaults()
	u := &unpacker{dst: dst, lim: lim, seen: map[string]bool{}}
	root, err := os.OpenRoot(src)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: open bundle %s: %w", src, err)
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("pluginhost: read bundle %s: %w", src, err)
		}
		name, err := u.entryName(p)
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return archiveErr(RuleSymlink, p, "symbolic links are not allowed")
		case d.IsDir():
			return u.dir(name)
		case !t.IsRegular():
			return archiveErr(RuleSpecialFile, p, "only regular files and directories are allowed")
		}
		f, err := root.Open(p)
		if err != nil {
			return fmt.Errorf("pluginhost: read bundle %s: %w", p, err)
		}
		defer f.Close()
		return u.file(name, f, 0)
	})
	return u.finish(err)
}

// stripSingleRoot moves the contents of a lone top-level directory up
// when the manifest is not at the root.
func stripSingleRoot(dst string) error {
	if _, err := os.Stat(filepath.Join(dst, ManifestFile)); err == nil {
		return nil
	}
	ents, err := os.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("pluginhost: read %s: %w", dst, err)
	}
	if len(ents) != 1 || !ents[0].IsDir() {
		return nil
	}
	top := filepath.Join(dst, ents[0].Name())
	inner, err := os.ReadDir(top)
	if err != nil {
		return fmt.Errorf("pluginhost: read %s: %w", top, err)
	}
	// Rename the top directory aside first: an entry inside may share
	// its name.
	aside := filepath.Join(dst, ".strip-"+ents[0].Name())
	if err := os.Rename(top, aside); err != nil {
		return fmt.Errorf("pluginhost: strip %s: %w", top, err)
	}
	for _, e := range inner {
		if err := os.Rename(filepath.Join(aside, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("pluginhost: strip %s: %w", top, err)
		}
	}
	return os.Remove(aside)
}

// listFiles lists the regular files under dir, slash-separated, sorted.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pluginhost: list %s: %w", dir, err)
	}
	return files, nil
}

// clearDir removes everything inside dir, keeping dir.
func clearDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
