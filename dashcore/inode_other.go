//go:build !unix

package dashcore

import "os"

// inode returns 0: the platform has no inode numbers to compare.
func inode(os.FileInfo) uint64 { return 0 }
