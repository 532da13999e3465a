package tracker

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// The statuses of a component: the original's event schema's pending,
// in_progress, completed and blocked, and cancelled.
const (
	ComponentPending    = "pending" // the default
	ComponentInProgress = "in_progress"
	ComponentBlocked    = "blocked"
	ComponentCompleted  = "completed"
	ComponentCancelled  = "cancelled"
)

var componentStatuses = []string{ComponentPending, ComponentInProgress, ComponentBlocked, ComponentCompleted, ComponentCancelled}

// Component is a part of a project, as the API shows it: the original's
// fields, with position and metadata JSON objects (the original returned
// them as strings).
type Component struct {
	ID        string         `json:"id" db:"id" format:"uuid" example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	ProjectID string         `json:"project_id" db:"project_id" format:"uuid" example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	Name      string         `json:"name" db:"name" example:"Checkout API"`
	Type      *string        `json:"type" db:"type" example:"service"`
	Status    string         `json:"status" db:"status" enum:"pending,in_progress,blocked,completed,cancelled" example:"in_progress"`
	Progress  int            `json:"progress" db:"progress" minimum:"0" maximum:"100" example:"40"`
	Position  map[string]any `json:"position" db:"position" nullable:"true" doc:"Where the component sits on the canvas; null when unplaced." example:"{\"x\":120,\"y\":80}"`
	Metadata  map[string]any `json:"metadata" db:"metadata" doc:"Any JSON object."`
	CreatedAt time.Time      `json:"created_at" db:"created_at"`
	UpdatedAt time.Time      `json:"updated_at" db:"updated_at"`
}

const componentColumns = `id, project_id, name, type, status, progress, position, metadata, created_at, updated_at`

// NewComponent is a component to create in a project.
type NewComponent struct {
	Name     string         `json:"name" minLength:"1" maxLength:"255" example:"Checkout API"`
	Type     *string        `json:"type,omitempty" nullable:"true" maxLength:"100" example:"service" doc:"Free text, such as service, library or ui."`
	Status   string         `json:"status,omitempty" enum:"pending,in_progress,blocked,completed,cancelled" default:"pending"`
	Progress *int           `json:"progress,omitempty" minimum:"0" maximum:"100" example:"0" doc:"Percent done; default 0."`
	Position map[string]any `json:"position,omitempty" nullable:"true" doc:"Where the component sits on the canvas." example:"{\"x\":120,\"y\":80}"`
	Metadata map[string]any `json:"metadata,omitempty" doc:"Any JSON object; default {}."`
}

func (in *NewComponent) validate() error {
	var v invalid
	v.name("name", in.Name)
	v.maxLen("type", in.Type, 100)
	v.oneOf("status", in.Status, componentStatuses, true)
	if in.Progress != nil && (*in.Progress < 0 || *in.Progress > 100) {
		v.add("progress", "must be 0 to 100", *in.Progress)
	}
	if in.Status == "" {
		in.Status = ComponentPending
	}
	if in.Progress == nil {
		in.Progress = new(int)
	}
	if in.Metadata == nil {
		in.Metadata = map[string]any{}
	}
	return v.err()
}

// ComponentUpdate changes the fields it sets; null clears type and
// position. position and metadata are replaced whole. A component stays
// in its project.
type ComponentUpdate struct {
	Name     Optional[string]         `json:"name,omitzero" nullable:"false" minLength:"1" maxLength:"255" example:"Checkout API v2"`
	Type     Optional[string]         `json:"type,omitzero" maxLength:"100" doc:"null clears it."`
	Status   Optional[string]         `json:"status,omitzero" nullable:"false" enum:"pending,in_progress,blocked,completed,cancelled" example:"completed"`
	Progress Optional[int]            `json:"progress,omitzero" nullable:"false" minimum:"0" maximum:"100" example:"100"`
	Position Optional[map[string]any] `json:"position,omitzero" doc:"Replaces the whole object; null clears it."`
	Metadata Optional[map[string]any] `json:"metadata,omitzero" nullable:"false" doc:"Replaces the whole object."`
}

func (u ComponentUpdate) assignments() (assignments, error) {
	var v invalid
	var a assignments
	v.notNull("name", u.Name.Null)
	v.notNull("status", u.Status.Null)
	v.notNull("progress", u.Progress.Null)
	v.notNull("metadata", u.Metadata.Null)
	if u.Name.Set && !u.Name.Null {
		v.name("name", u.Name.Value)
	}
	if u.Type.Set && !u.Type.Null {
		v.maxLen("type", &u.Type.Value, 100)
	}
	if u.Status.Set && !u.Status.Null {
		v.oneOf("status", u.Status.Value, componentStatuses, false)
	}
	if u.Progress.Set && !u.Progress.Null && (u.Progress.Value < 0 || u.Progress.Value > 100) {
		v.add("progress", "must be 0 to 100", u.Progress.Value)
	}
	if u.Position.Set && !u.Position.Null && u.Position.Value == nil {
		u.Position.Value = map[string]any{}
	}
	if u.Metadata.Set && !u.Metadata.Null && u.Metadata.Value == nil {
		u.Metadata.Value = map[string]any{}
	}
	if err := v.err(); err != nil {
		return a, err
	}
	setOptional(&a, "name", u.Name)
	setOptional(&a, "type", u.Type)
	setOptional(&a, "status", u.Status)
	setOptional(&a, "progress", u.Progress)
	setOptional(&a, "position", u.Position)
	setOptional(&a, "metadata", u.Metadata)
	if len(a.sets) == 0 {
		return a, ErrNoChanges
	}
	return a, nil
}

// ComponentFilter selects the components of a project.
type ComponentFilter struct {
	// Status, if set, keeps components with this status.
	Status string
	Page
}

// Components stores components; every write publishes its event through
// the Outbox in the write's transaction. It is safe for concurrent use.
type Components struct {
	db *store.DB
	publisher
}

// NewComponents returns the components of db (migrated with Migrations).
// outbox may be nil: writes then publish no event.
func NewComponents(db *store.DB, outbox Outbox) *Components {
	return &Components{db: db, publisher: publisher{outbox: outbox}}
}

// event is the payload of an event of c: component_id, project_id, name,
// type, status, progress, <action>_by, timestamp, and updated_fields for
// updates.
func (c *Component) event(a action, by *string, at time.Time, changed []string) map[string]any {
	return payload(a, by, at, changed, map[string]any{"component_id": c.ID, "project_id": c.ProjectID,
		"name": c.Name, "type": c.Type, "status": c.Status, "progress": c.Progress})
}

// Create stores a new component in the project projectID, or returns
// ErrProjectNotFound. Its status defaults to pending, its progress to 0,
// its metadata to {}.
func (s *Components) Create(ctx context.Context, projectID string, in NewComponent) (*Component, error) {
	projectID, err := canonicalID(projectID, ErrProjectNotFound)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	var c *Component
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		// The project stays until the insert commits (the lock its foreign
		// key would take), and a missing one is a 404, not a conflict.
		if _, err := one[struct{ ID string }](ctx, tx, ErrProjectNotFound,
			`SELECT id FROM projects WHERE id = $1 FOR KEY SHARE`, projectID); err != nil {
			return err
		}
		var err error
		c, err = one[Component](ctx, tx, nil, `INSERT INTO components (project_id, name, type, status, progress, position, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+componentColumns,
			projectID, in.Name, in.Type, in.Status, *in.Progress, objectOrNull(in.Position), in.Metadata)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicComponentCreated, KindComponentCreated, c.event(created, actor(ctx, nil), c.CreatedAt, nil))
	})
	if err != nil {
		return nil, wrap("create component", err)
	}
	return c, nil
}

// Get returns the component with id, or ErrComponentNotFound.
func (s *Components) Get(ctx context.Context, id string) (*Component, error) {
	id, err := canonicalID(id, ErrComponentNotFound)
	if err != nil {
		return nil, err
	}
	c, err := one[Component](ctx, s.db, ErrComponentNotFound, `SELECT `+componentColumns+` FROM components WHERE id = $1`, id)
	return c, wrap("get component", err)
}

// List returns a page of the components of the project projectID that f
// selects, newest first, and how many it selects in all; or
// ErrProjectNotFound (the original answered an empty list).
func (s *Components) List(ctx context.Context, projectID string, f ComponentFilter) (List[Component], error) {
	projectID, err := canonicalID(projectID, ErrProjectNotFound)
	if err != nil {
		return List[Component]{}, err
	}
	page, err := f.Page.withDefaults()
	if err != nil {
		return List[Component]{}, err
	}
	var v invalid
	if f.Status != "" {
		v.oneOf("status", f.Status, componentStatuses, false)
	}
	if err := v.err(); err != nil {
		return List[Component]{}, err
	}
	var w where
	w.add("project_id = ?", projectID)
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	w.page(page)
	l, err := list[Component](ctx, s.db, "components", componentColumns, newestFirst, w, page)
	if err == nil && l.Total == 0 {
		var ok bool
		if ok, err = exists(ctx, s.db, "projects", projectID); err == nil && !ok {
			err = ErrProjectNotFound
		}
	}
	if err != nil {
		return List[Component]{}, wrap("list components", err)
	}
	return l, nil
}

// Update changes the fields u sets and returns the component. An update
// with no field is ErrNoChanges; one that changes nothing leaves
// updated_at and publishes no event.
func (s *Components) Update(ctx context.Context, id string, u ComponentUpdate) (*Component, error) {
	a, err := u.assignments()
	if err != nil {
		return nil, err
	}
	id, err = canonicalID(id, ErrComponentNotFound)
	if err != nil {
		return nil, err
	}
	var after *Component
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		before, err := one[Component](ctx, tx, ErrComponentNotFound,
			`SELECT `+componentColumns+` FROM components WHERE id = $1 FOR NO KEY UPDATE`, id)
		if err != nil {
			return err
		}
		after, err = one[Component](ctx, tx, ErrComponentNotFound,
			`UPDATE components SET `+joinSets(a)+` WHERE id = $1 RETURNING `+componentColumns, append([]any{id}, a.args...)...)
		if err != nil {
			return err
		}
		changed := changedFields(before, after)
		if len(changed) == 0 {
			return nil
		}
		return s.publish(ctx, tx, TopicComponentUpdated, KindComponentUpdated, after.event(updated, actor(ctx, nil), after.UpdatedAt, changed))
	})
	if err != nil {
		return nil, wrap("update component", err)
	}
	return after, nil
}

// Delete deletes the component with id, its tasks and its dependencies
// (both ways), and publishes component_deleted.
func (s *Components) Delete(ctx context.Context, id string) error {
	id, err := canonicalID(id, ErrComponentNotFound)
	if err != nil {
		return err
	}
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		c, err := one[Component](ctx, tx, ErrComponentNotFound, `DELETE FROM components WHERE id = $1 RETURNING `+componentColumns, id)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicComponentDeleted, KindComponentDeleted, c.event(deleted, actor(ctx, nil), time.Now(), nil))
	})
	return wrap("delete component", err)
}
