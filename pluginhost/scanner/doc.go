// Package scanner checks UI plugin bundles before they are installed.
package scanner
