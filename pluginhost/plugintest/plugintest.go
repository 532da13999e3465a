// Package plugintest builds plugin bundles for tests: zip archives of a
// directory or of files in memory, as an author would upload them.
package plugintest

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ZipDir returns a zip archive of the regular files under dir, named
// relative to it, each passed through edit when edit is not nil (to
// change a manifest on the way). It fails the test on any error.
func ZipDir(tb testing.TB, dir string, edit func(name string, data []byte) []byte) []byte {
	tb.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if edit != nil {
			data = edit(name, data)
		}
		files[name] = data
		return nil
	})
	if err != nil {
		tb.Fatalf("plugintest: zip %s: %v", dir, err)
	}
	return ZipFiles(tb, files)
}

// ZipFiles returns a zip archive of name → content, in name order.
func ZipFiles(tb testing.TB, files map[string][]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err == nil {
			_, err = w.Write(files[n])
		}
		if err != nil {
			tb.Fatalf("plugintest: zip %s: %v", n, err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatalf("plugintest: zip: %v", err)
	}
	return buf.Bytes()
}
