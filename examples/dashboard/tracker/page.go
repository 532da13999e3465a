package tracker

import "time"

// The bounds of a page of a list.
const (
	// DefaultLimit is the page size when none is given.
	DefaultLimit = 100
	// MaxLimit is the largest page; a larger limit is refused (422), not
	// clamped.
	MaxLimit = 500
)

// Page selects a page of a list, newest first (created_at, then id,
// descending), and the creation times to keep.
type Page struct {
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Offset skips that many items; not negative.
	Offset int
	// CreatedAfter, if set, keeps items created at or after it.
	CreatedAfter time.Time
	// CreatedBefore, if set, keeps items created before it.
	CreatedBefore time.Time
}

// withDefaults checks p and fills in the default limit.
func (p Page) withDefaults() (Page, error) {
	var v invalid
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		v.add("limit", "must be 1 to "+itoa(MaxLimit), p.Limit)
	}
	if p.Offset < 0 {
		v.add("offset", "must not be negative", p.Offset)
	}
	return p, v.err()
}

// List is a page of items and the number of items matching the filter.
type List[T any] struct {
	// Items is the page, newest first.
	Items []T
	// Total counts every item that matches the filter, on every page.
	Total int
}
