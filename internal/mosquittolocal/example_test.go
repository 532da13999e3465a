package mosquittolocal_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/taylordash/taylordash/internal/mosquittolocal"
)

// A broker of the test's own on a free port, bound to the life of the
// process that started it.
func Example() {
	ctx := context.Background()
	b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{DieWithParent: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Stop(ctx)
	c, err := net.Dial("tcp", strings.TrimPrefix(b.URL(), "tcp://"))
	if err == nil {
		c.Close()
	}
	fmt.Println(strings.HasPrefix(b.URL(), "tcp://127.0.0.1:"), err)
	// Output: true <nil>
}
