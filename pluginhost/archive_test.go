package pluginhost_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost"
)

// entry is one archive member for the test archives.
type entry struct {
	name string
	body []byte
	mode fs.FileMode // 0: regular 0644
	link string      // symlink or hard-link target
	hard bool
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		body := e.body
		if e.link != "" {
			body = []byte(e.link)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarGzOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.hard:
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.link, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.mode.IsDir():
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.mode&fs.ModeNamedPipe != 0:
			h.Typeflag, h.Size = tar.TypeFifo, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dirEntries lists everything under dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return nil
	})
	return got
}

var manifestJSON = []byte(`{"id":"demo-plugin","name":"Demo","version":"1.0.0","description":"d","author":"a","type":"ui","entry_point":"index.html","taylordash_version":"^1.0.0"}`)

func TestUnpackAcceptsAGoodArchive(t *testing.T) {
	files := []entry{
		{name: "plugin.json", body: manifestJSON},
		{name: "assets/", mode: fs.ModeDir | 0o755},
		{name: "assets/app.js", body: []byte("console.log(1)")},
		{name: "index.html", body: []byte("<p>hi</p>")},
	}
	for name, data := range map[string][]byte{"zip": zipOf(t, files...), "tar.gz": tarGzOf(t, files...)} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			u, err := pluginhost.Unpack(bytes.NewReader(data), dst, pluginhost.ArchiveLimits{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"assets/app.js", "index.html", "plugin.json"}
			if !slices.Equal(u.Files, want) {
				t.Errorf("files = %v, want %v", u.Files, want)
			}
			if u.Bytes != int64(len(manifestJSON)+len("console.log(1)")+len("<p>hi</p>")) {
				t.Errorf("bytes = %d", u.Bytes)
			}
			got, err := os.ReadFile(filepath.Join(dst, "assets", "app.js"))
			if err != nil || string(got) != "console.log(1)" {
				t.Errorf("assets/app.js = %q, %v", got, err)
			}
			if fi, _ := os.Stat(filepath.Join(dst, "index.html")); fi.Mode().Perm() != 0o644 {
				t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
			}
		})
	}
}

func TestUnpackStripsGitHubsTopDirectory(t *testing.T) {
	data := zipOf(t,
		entry{name: "widget-1.2.0/", mode: fs.ModeDir | 0o755},
		entry{name: "widget-1.2.0/plugin.json", body: manifestJSON},
		entry{name: "widget-1.2.0/widget-1.2.0/index.html", body: []byte("x")},
	)
	dst := t.TempDir()
	u, err := pluginhost.Unpack(bytes.NewReader(data), dst, pluginhost.ArchiveLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"plugin.json", "widget-1.2.0/index.html"}; !slices.Equal(u.Files, want) {
		t.Errorf("files = %v, want %v", u.Files, want)
	}
}

func TestUnpackRefusesHostileArchives(t *testing.T) {
	zeros := make([]byte, 30<<20) // compresses ~1000:1
	tiny := pluginhost.ArchiveLimits{MaxFiles: 5, MaxFileBytes: 1 << 10, MaxTotalBytes: 3 << 10}
	many := make([]entry, 6)
	for i := range many {
		many[i] = entry{name: "f" + string(rune('a'+i)), body: []byte("x")}
	}
	cases := []struct {
		name string
		data []byte
		lim  pluginhost.ArchiveLimits
		rule string
	}{
		{"zip traversal", zipOf(t, entry{name: "../evil.js", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleTraversal},
		{"zip nested traversal", zipOf(t, entry{name: "a/../../evil.js", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleTraversal},
		{"zip absolute", zipOf(t, entry{name: "/etc/cron.d/x", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleAbsolutePath},
		{"zip drive letter", zipOf(t, entry{name: "C:/x", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleAbsolutePath},
		{"zip backslash", zipOf(t, entry{name: `..\evil.js`, body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleBadName},
		{"zip symlink", zipOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "passwd", mode: fs.ModeSymlink | 0o777, link: "/etc/passwd"}), pluginhost.ArchiveLimits{}, pluginhost.RuleSymlink},
		{"zip bomb ratio", zipOf(t, entry{name: "zeros.bin", body: zeros}), pluginhost.ArchiveLimits{MaxFileBytes: 64 << 20, MaxTotalBytes: 64 << 20}, pluginhost.RuleCompressRatio},
		{"zip bomb absolute", zipOf(t, entry{name: "zeros.bin", body: zeros}), pluginhost.ArchiveLimits{MaxRatio: 1 << 20}, pluginhost.RuleFileTooLarge},
		{"zip too many files", zipOf(t, many...), tiny, pluginhost.RuleTooManyFiles},
		{"zip duplicate", zipOf(t, entry{name: "a.js", body: []byte("1")}, entry{name: "./a.js", body: []byte("2")}), pluginhost.ArchiveLimits{}, pluginhost.RuleDuplicate},
		{"zip total", zipOf(t, entry{name: "a", body: bytes.Repeat([]byte("ab"), 500)}, entry{name: "b", body: bytes.Repeat([]byte("cd"), 500)}, entry{name: "c", body: bytes.Repeat([]byte("ef"), 500)}, entry{name: "d", body: bytes.Repeat([]byte("gh"), 500)}), tiny, pluginhost.RuleTotalTooLarge},
		{"tar traversal", tarGzOf(t, entry{name: "../../evil.js", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleTraversal},
		{"tar absolute", tarGzOf(t, entry{name: "/tmp/evil.js", body: []byte("x")}), pluginhost.ArchiveLimits{}, pluginhost.RuleAbsolutePath},
		{"tar symlink", tarGzOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "link", link: "/etc/passwd"}), pluginhost.ArchiveLimits{}, pluginhost.RuleSymlink},
		{"tar hard link", tarGzOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "link", link: "/etc/shadow", hard: true}), pluginhost.ArchiveLimits{}, pluginhost.RuleHardLink},
		{"tar fifo", tarGzOf(t, entry{name: "pipe", mode: fs.ModeNamedPipe}), pluginhost.ArchiveLimits{}, pluginhost.RuleSpecialFile},
		{"tar bomb ratio", tarGzOf(t, entry{name: "zeros.bin", body: zeros}), pluginhost.ArchiveLimits{MaxFileBytes: 64 << 20, MaxTotalBytes: 64 << 20}, pluginhost.RuleCompressRatio},
		{"tar bomb absolute", tarGzOf(t, entry{name: "zeros.bin", body: zeros}), pluginhost.ArchiveLimits{MaxRatio: 1 << 20}, pluginhost.RuleFileTooLarge},
		{"archive too large", zipOf(t, entry{name: "a", body: []byte("x")}), pluginhost.ArchiveLimits{MaxArchiveBytes: 10}, pluginhost.RuleArchiveSize},
		{"not an archive", []byte("<html>not an archive</html>"), pluginhost.ArchiveLimits{}, pluginhost.RuleNotArchive},
		{"corrupt zip", append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 64)...), pluginhost.ArchiveLimits{}, pluginhost.RuleCorruptArchive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := pluginhost.Unpack(bytes.NewReader(c.data), dst, c.lim)
			var ae *pluginhost.ArchiveError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an ArchiveError %s", err, c.rule)
			}
			if ae.Rule != c.rule {
				t.Errorf("rule = %s (%v), want %s", ae.Rule, err, c.rule)
			}
			if left := dirEntries(t, dst); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			if parent := filepath.Dir(dst); c.rule == pluginhost.RuleTraversal {
				if _, err := os.Stat(filepath.Join(parent, "evil.js")); err == nil {
					t.Error("traversal wrote outside the destination")
				}
			}
		})
	}
}

func TestCopyBundleRefusesSymlinks(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "plugin.json"), manifestJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "js"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "js", "a.js"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	u, err := pluginhost.CopyBundle(src, dst, pluginhost.ArchiveLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"js/a.js", "plugin.json"}; !slices.Equal(u.Files, want) {
		t.Errorf("files = %v, want %v", u.Files, want)
	}

	if err := os.Symlink("/etc/passwd", filepath.Join(src, "js", "passwd")); err != nil {
		t.Fatal(err)
	}
	dst2 := t.TempDir()
	_, err = pluginhost.CopyBundle(src, dst2, pluginhost.ArchiveLimits{})
	var ae *pluginhost.ArchiveError
	if !errors.As(err, &ae) || ae.Rule != pluginhost.RuleSymlink || !strings.Contains(ae.Entry, "passwd") {
		t.Fatalf("err = %v, want a symlink refusal naming js/passwd", err)
	}
	if left := dirEntries(t, dst2); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
