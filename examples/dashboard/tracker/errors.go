package tracker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// The errors of the repositories. Each is a *dashcore.Error, so the API
// answers with its status and message (the original's "Project not
// found" and so on); match them with errors.Is.
var (
	// ErrProjectNotFound: no project has the id (or the id is not a UUID).
	ErrProjectNotFound = dashcore.NewError(dashcore.ErrNotFound, "Project not found", nil)
	// ErrComponentNotFound: no component has the id.
	ErrComponentNotFound = dashcore.NewError(dashcore.ErrNotFound, "Component not found", nil)
	// ErrTaskNotFound: no task has the id.
	ErrTaskNotFound = dashcore.NewError(dashcore.ErrNotFound, "Task not found", nil)
	// ErrDependencyNotFound: the component does not depend on the other.
	ErrDependencyNotFound = dashcore.NewError(dashcore.ErrNotFound, "Dependency not found", nil)
	// ErrDependencyExists: the component already depends on the other.
	ErrDependencyExists = dashcore.NewError(dashcore.ErrConflict, "the component already depends on that component", nil)
	// ErrNoChanges: an update gave no field at all (an empty body).
	ErrNoChanges = dashcore.NewError(dashcore.ErrInvalid, "no fields to update", nil)
)

// CycleError is the cause of the 409 that refuses a dependency closing a
// cycle. Find it with errors.As.
type CycleError struct {
	// Cycle lists the component ids around the cycle, from the component
	// that would gain the dependency back to itself: [C, A, B, C] when C
	// depending on A would close C → A → B → C.
	Cycle []string
	// Names are the components' names, in the order of Cycle.
	Names []string
}

// Error implements error.
func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " → ")
}

// invalid collects the field problems of an input; err returns them as
// one 422, or nil.
type invalid []*huma.ErrorDetail

// add records a problem of field (its JSON name) with its value.
func (v *invalid) add(field, msg string, value any) {
	*v = append(*v, &huma.ErrorDetail{Location: field, Message: msg, Value: value})
}

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, d := range v {
		parts[i] = d.Location + " " + d.Message
	}
	return &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: strings.Join(parts, "; "), Fields: v}
}

// name checks a required name of 1 to 255 characters.
func (v *invalid) name(field, s string) {
	if n := len([]rune(s)); n < 1 || n > 255 {
		v.add(field, "must be 1 to 255 characters long", s)
	}
}

// maxLen checks an optional text's length.
func (v *invalid) maxLen(field string, s *string, max int) {
	if s != nil && len([]rune(*s)) > max {
		v.add(field, "must be at most "+strconv.Itoa(max)+" characters long", *s)
	}
}

// oneOf checks an enum value; "" is accepted when empty is true (the
// default applies).
func (v *invalid) oneOf(field, s string, allowed []string, empty bool) {
	if s == "" && empty {
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(field, "must be one of "+strings.Join(allowed, ", "), s)
}

// uuid checks an optional UUID and returns it in canonical form.
func (v *invalid) uuid(field string, s *string) *string {
	if s == nil {
		return nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		v.add(field, "must be a UUID", *s)
		return s
	}
	c := id.String()
	return &c
}

// notNull refuses null for a field that is not nullable.
func (v *invalid) notNull(field string, null bool) {
	if null {
		v.add(field, "cannot be null", nil)
	}
}

// canonicalID returns id in canonical form, or notFound if it is not a
// UUID (nothing can have that id).
func canonicalID(id string, notFound error) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", notFound
	}
	return u.String(), nil
}

// wrap classifies a database error (store.MapError) and adds context;
// the domain's own *dashcore.Error values pass unchanged.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var de *dashcore.Error
	if errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("tracker: %s: %w", op, store.MapError(err))
}

func itoa(n int) string { return strconv.Itoa(n) }
