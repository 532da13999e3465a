package tracker

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/eventbus"
)

// Outbox writes an event in the caller's transaction, to be published
// once that transaction commits, and never if it rolls back (the event
// bus's *eventbuspg.Outbox). The envelope's trace id comes from ctx: the
// request's trace. Implementations must be safe for concurrent use.
type Outbox interface {
	PublishTx(ctx context.Context, tx pgx.Tx, topic, kind string, payload any) (eventbus.Envelope, error)
}

// The topics and kinds of the events every write publishes. The project
// ones are the original's; the others follow them (the original declared
// component and task events but never published any).
const (
	TopicProjectCreated = "tracker/events/projects/created"
	TopicProjectUpdated = "tracker/events/projects/updated"
	TopicProjectDeleted = "tracker/events/projects/deleted"
	KindProjectCreated  = "project_created"
	KindProjectUpdated  = "project_updated"
	KindProjectDeleted  = "project_deleted"

	TopicComponentCreated = "tracker/events/components/created"
	TopicComponentUpdated = "tracker/events/components/updated"
	TopicComponentDeleted = "tracker/events/components/deleted"
	KindComponentCreated  = "component_created"
	KindComponentUpdated  = "component_updated"
	KindComponentDeleted  = "component_deleted"

	// A dependency added or removed is an event of the dependent
	// component: the original's component.linked and component.unlinked,
	// with underscores.
	TopicComponentLinked   = "tracker/events/components/linked"
	TopicComponentUnlinked = "tracker/events/components/unlinked"
	KindComponentLinked    = "component_linked"
	KindComponentUnlinked  = "component_unlinked"

	TopicTaskCreated = "tracker/events/tasks/created"
	TopicTaskUpdated = "tracker/events/tasks/updated"
	TopicTaskDeleted = "tracker/events/tasks/deleted"
	KindTaskCreated  = "task_created"
	KindTaskUpdated  = "task_updated"
	KindTaskDeleted  = "task_deleted"
)

// action is what happened to a row; it names the payload's actor key
// (created_by, updated_by, deleted_by).
type action string

const (
	created action = "created"
	updated action = "updated"
	deleted action = "deleted"
)

// payload is an event's payload: the row's identifying fields, the actor
// under <action>_by, the time, and for updates the fields that changed.
func payload(a action, by *string, at time.Time, changed []string, fields map[string]any) map[string]any {
	fields[string(a)+"_by"] = by
	fields["timestamp"] = at.UTC()
	if a == updated {
		fields["updated_fields"] = changed
	}
	return fields
}

// actor returns who acts: the subject of the request's principal (a user
// id, an OIDC sub, "key:<id>" or "bootstrap"), else fallback (the
// project's owner for project events, as the original did, or nil).
func actor(ctx context.Context, fallback *string) *string {
	if p := auth.PrincipalFrom(ctx); p != nil && p.Subject != "" {
		s := p.Subject
		return &s
	}
	return fallback
}

// publisher writes events through an Outbox, if there is one.
type publisher struct {
	outbox Outbox
}

// publish writes an event in tx; without an outbox it does nothing.
func (p publisher) publish(ctx context.Context, tx pgx.Tx, topic, kind string, body map[string]any) error {
	if p.outbox == nil {
		return nil
	}
	if _, err := p.outbox.PublishTx(ctx, tx, topic, kind, body); err != nil {
		return fmt.Errorf("tracker: publish %s: %w", kind, err)
	}
	return nil
}

// changedFields lists the JSON names of the fields of two values of one
// struct type that differ, updated_at aside: an update event's
// updated_fields.
func changedFields(before, after any) []string {
	b, a := reflect.ValueOf(before), reflect.ValueOf(after)
	if b.Kind() == reflect.Pointer {
		b, a = b.Elem(), a.Elem()
	}
	var changed []string
	for i := range b.NumField() {
		f := b.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" || name == "updated_at" {
			continue
		}
		x, y := b.Field(i).Interface(), a.Field(i).Interface()
		if !equalValues(x, y) {
			changed = append(changed, name)
		}
	}
	return changed
}

// equalValues compares two field values; times by instant.
func equalValues(x, y any) bool {
	switch xv := x.(type) {
	case time.Time:
		return xv.Equal(y.(time.Time))
	case *time.Time:
		yv := y.(*time.Time)
		if xv == nil || yv == nil {
			return xv == yv
		}
		return xv.Equal(*yv)
	}
	return reflect.DeepEqual(x, y)
}
