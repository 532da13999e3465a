package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// showProgress reports whether progress bars are drawn: on standard
// error, when it is a terminal (or --progress always), never with
// --quiet.
func (c *cli) showProgress() bool {
	switch {
	case c.quiet || c.progress == "never":
		return false
	case c.progress == "always":
		return true
	}
	return isTerminal(c.stderr)
}

// bar returns a progress bar over max steps (bytes when inBytes), or an
// invisible one. End it with Finish, or Exit when the work stops short.
func (c *cli) bar(max int64, description string, inBytes bool) *progressbar.ProgressBar {
	visible := c.showProgress()
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	}
	if visible {
		opts = append(opts, progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }))
	}
	if inBytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount())
	}
	return progressbar.NewOptions64(max, opts...)
}

// spinner returns a spinner for work of unknown length, or an invisible
// one; Finish clears it (and stops its goroutine).
func (c *cli) spinner(description string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetVisibility(c.showProgress()),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
}

// readProgress counts what is read from r on a bar, and calls done once
// when r ends.
type readProgress struct {
	r    io.Reader
	bar  *progressbar.ProgressBar
	once sync.Once
	done func()
}

func (p *readProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	_ = p.bar.Add(n)
	if err == io.EOF {
		p.once.Do(func() {
			_ = p.bar.Finish()
			if p.done != nil {
				p.done()
			}
		})
	}
	return n, err
}
