package childproc_test

import (
	"fmt"
	"os/exec"

	"github.com/taylordash/taylordash/internal/childproc"
)

// A child's output goes into a LogTail, whose last lines make error
// messages useful when the child dies at start.
func Example() {
	logs := childproc.NewLogTail(nil, 2)
	cmd := exec.Command("sh", "-c", "echo starting; echo 'bind: address in use'; echo giving up; exit 3")
	cmd.Stdout, cmd.Stderr = logs, logs
	p, err := childproc.Start(cmd, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	<-p.Done()
	fmt.Printf("%v; last lines:\n%s\n", p.Err(), logs.Tail())
	// Output:
	// exit status 3; last lines:
	// bind: address in use
	// giving up
}
