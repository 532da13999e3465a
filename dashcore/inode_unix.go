//go:build unix

package dashcore

import (
	"os"
	"syscall"
)

// inode returns the inode number of fi, or 0.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) // uint32 on some platforms
	}
	return 0
}
