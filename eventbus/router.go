package eventbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// Handler handles one event. A nil return means done; an error asks the
// middleware for a retry and, when the retries are spent, the dead-letter
// queue. Handlers must tolerate seeing an event twice (delivery is at
// least once; the Dedup middleware skips events the mirror already held).
type Handler func(ctx context.Context, ev *Event) error

// Middleware wraps a Handler: func(next Handler) Handler.
type Middleware func(next Handler) Handler

// Route binds a handler to the topics matching Pattern (an MQTT filter).
type Route struct {
	// Name identifies the route in logs and errors; unique per router.
	Name string
	// Pattern is the MQTT topic filter the route handles, e.g.
	// "tracker/events/projects/+".
	Pattern string
	// Handler handles the matching events.
	Handler Handler
}

// Router dispatches each event to every route whose pattern matches its
// topic, through the middleware. Routes run in Name order; middleware
// wraps each route's handler, the first in the list outermost. A Router is
// immutable and safe for concurrent use.
type Router struct {
	routes []compiledRoute
}

type compiledRoute struct {
	Route
	h Handler
}

// NewRouter returns a router of routes with middleware applied to each.
func NewRouter(routes []Route, middleware ...Middleware) (*Router, error) {
	rs := slices.Clone(routes)
	slices.SortFunc(rs, func(a, b Route) int { return cmp.Compare(a.Name, b.Name) })
	compiled := make([]compiledRoute, 0, len(rs))
	for i, r := range rs {
		if r.Name == "" || r.Pattern == "" || r.Handler == nil {
			return nil, fmt.Errorf("eventbus: route %q needs a name, a pattern and a handler", r.Name)
		}
		if i > 0 && rs[i-1].Name == r.Name {
			return nil, fmt.Errorf("eventbus: two routes are named %q; names must be unique", r.Name)
		}
		h := r.Handler
		for j := len(middleware) - 1; j >= 0; j-- {
			h = middleware[j](h)
		}
		compiled = append(compiled, compiledRoute{Route: r, h: h})
	}
	return &Router{routes: compiled}, nil
}

// Handle runs every matching route for ev and returns their errors joined,
// each wrapped with the route's name. An event no route matches is done.
func (r *Router) Handle(ctx context.Context, ev *Event) error {
	var errs []error
	for _, rt := range r.routes {
		if !MatchTopic(rt.Pattern, ev.Topic) {
			continue
		}
		if err := rt.h(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("eventbus: route %s: %w", rt.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Routes returns the router's routes in the order they run.
func (r *Router) Routes() []Route {
	out := make([]Route, len(r.routes))
	for i, rt := range r.routes {
		out[i] = rt.Route
	}
	return out
}
