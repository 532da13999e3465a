package tracker

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// The statuses of a project: the original frontend's planning, active,
// on_hold and completed (its create form), inactive (its Project type),
// archived (the original's event schema), and cancelled.
const (
	ProjectPlanning  = "planning" // the default
	ProjectActive    = "active"
	ProjectInactive  = "inactive"
	ProjectOnHold    = "on_hold"
	ProjectCompleted = "completed"
	ProjectCancelled = "cancelled"
	ProjectArchived  = "archived"
)

// projectStatuses are the statuses in the order the API documents them
// (the enum tags below, and the CHECK of the projects table).
var projectStatuses = []string{ProjectPlanning, ProjectActive, ProjectInactive, ProjectOnHold,
	ProjectCompleted, ProjectCancelled, ProjectArchived}

// Project is a project, as the API shows it: the original's
// ProjectResponse, with metadata always a JSON object.
type Project struct {
	ID          string         `json:"id" db:"id" format:"uuid" example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	Name        string         `json:"name" db:"name" example:"Website relaunch"`
	Description *string        `json:"description" db:"description" example:"Move the public site to the new stack."`
	Status      string         `json:"status" db:"status" enum:"planning,active,inactive,on_hold,completed,cancelled,archived" example:"planning"`
	OwnerID     *string        `json:"owner_id" db:"owner_id" format:"uuid" example:"00000000-0000-0000-0000-000000000001"`
	Metadata    map[string]any `json:"metadata" db:"metadata" doc:"Any JSON object."`
	CreatedAt   time.Time      `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at" db:"updated_at"`
}

const projectColumns = `id, name, description, status, owner_id, metadata, created_at, updated_at`

// NewProject is a project to create (the original's ProjectCreate).
type NewProject struct {
	Name        string         `json:"name" minLength:"1" maxLength:"255" example:"Website relaunch"`
	Description *string        `json:"description,omitempty" nullable:"true" maxLength:"1000" example:"Move the public site to the new stack."`
	Status      string         `json:"status,omitempty" enum:"planning,active,inactive,on_hold,completed,cancelled,archived" default:"planning"`
	OwnerID     *string        `json:"owner_id,omitempty" nullable:"true" format:"uuid" example:"00000000-0000-0000-0000-000000000001"`
	Metadata    map[string]any `json:"metadata,omitempty" doc:"Any JSON object; default {}." example:"{\"team\":\"web\"}"`
}

func (in *NewProject) validate() error {
	var v invalid
	v.name("name", in.Name)
	v.maxLen("description", in.Description, 1000)
	v.oneOf("status", in.Status, projectStatuses, true)
	in.OwnerID = v.uuid("owner_id", in.OwnerID)
	if in.Status == "" {
		in.Status = ProjectPlanning
	}
	if in.Metadata == nil {
		in.Metadata = map[string]any{}
	}
	return v.err()
}

// ProjectUpdate changes the fields it sets (the original's ProjectUpdate,
// where null now clears description and owner_id). metadata is replaced
// whole.
type ProjectUpdate struct {
	Name        Optional[string]         `json:"name,omitzero" nullable:"false" minLength:"1" maxLength:"255" example:"Website relaunch, phase 2"`
	Description Optional[string]         `json:"description,omitzero" maxLength:"1000" doc:"null clears it."`
	Status      Optional[string]         `json:"status,omitzero" nullable:"false" enum:"planning,active,inactive,on_hold,completed,cancelled,archived" example:"active"`
	OwnerID     Optional[string]         `json:"owner_id,omitzero" format:"uuid" doc:"null clears it."`
	Metadata    Optional[map[string]any] `json:"metadata,omitzero" nullable:"false" doc:"Replaces the whole object."`
}

// assignments checks u and returns its SET list.
func (u ProjectUpdate) assignments() (assignments, error) {
	var v invalid
	var a assignments
	v.notNull("name", u.Name.Null)
	v.notNull("status", u.Status.Null)
	v.notNull("metadata", u.Metadata.Null)
	if u.Name.Set && !u.Name.Null {
		v.name("name", u.Name.Value)
	}
	if u.Description.Set && !u.Description.Null {
		v.maxLen("description", &u.Description.Value, 1000)
	}
	if u.Status.Set && !u.Status.Null {
		v.oneOf("status", u.Status.Value, projectStatuses, false)
	}
	if u.OwnerID.Set && !u.OwnerID.Null {
		u.OwnerID.Value = *v.uuid("owner_id", &u.OwnerID.Value)
	}
	if u.Metadata.Set && !u.Metadata.Null && u.Metadata.Value == nil {
		u.Metadata.Value = map[string]any{}
	}
	if err := v.err(); err != nil {
		return a, err
	}
	setOptional(&a, "name", u.Name)
	setOptional(&a, "description", u.Description)
	setOptional(&a, "status", u.Status)
	setOptional(&a, "owner_id", u.OwnerID)
	setOptional(&a, "metadata", u.Metadata)
	if len(a.sets) == 0 {
		return a, ErrNoChanges
	}
	return a, nil
}

// ProjectFilter selects projects.
type ProjectFilter struct {
	// Status, if set, keeps projects with this status.
	Status string
	// OwnerID, if set, keeps projects of this owner (a UUID).
	OwnerID string
	Page
}

// Projects stores projects; every write publishes its event through the
// Outbox in the write's transaction. It is safe for concurrent use.
type Projects struct {
	db *store.DB
	publisher
}

// NewProjects returns the projects of db (migrated with Migrations).
// outbox may be nil: writes then publish no event.
func NewProjects(db *store.DB, outbox Outbox) *Projects {
	return &Projects{db: db, publisher: publisher{outbox: outbox}}
}

// event is the payload of an event of p: the original's project_id, name,
// status, <action>_by and timestamp, and updated_fields for updates.
func (p *Project) event(a action, by *string, at time.Time, changed []string) map[string]any {
	return payload(a, by, at, changed, map[string]any{"project_id": p.ID, "name": p.Name, "status": p.Status})
}

// Create stores a new project with a new id; its status defaults to
// planning and its metadata to {}. The actor of project_created is the
// caller's principal, else the owner.
func (s *Projects) Create(ctx context.Context, in NewProject) (*Project, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var p *Project
	err := store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		p, err = one[Project](ctx, tx, nil, `INSERT INTO projects (name, description, status, owner_id, metadata)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+projectColumns,
			in.Name, in.Description, in.Status, in.OwnerID, in.Metadata)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicProjectCreated, KindProjectCreated, p.event(created, actor(ctx, p.OwnerID), p.CreatedAt, nil))
	})
	if err != nil {
		return nil, wrap("create project", err)
	}
	return p, nil
}

// Get returns the project with id, or ErrProjectNotFound.
func (s *Projects) Get(ctx context.Context, id string) (*Project, error) {
	id, err := canonicalID(id, ErrProjectNotFound)
	if err != nil {
		return nil, err
	}
	p, err := one[Project](ctx, s.db, ErrProjectNotFound, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id)
	return p, wrap("get project", err)
}

// List returns a page of the projects f selects, newest first, and how
// many it selects in all.
func (s *Projects) List(ctx context.Context, f ProjectFilter) (List[Project], error) {
	page, err := f.Page.withDefaults()
	if err != nil {
		return List[Project]{}, err
	}
	var v invalid
	if f.Status != "" {
		v.oneOf("status", f.Status, projectStatuses, false)
	}
	if f.OwnerID != "" {
		f.OwnerID = *v.uuid("owner_id", &f.OwnerID)
	}
	if err := v.err(); err != nil {
		return List[Project]{}, err
	}
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.OwnerID != "" {
		w.add("owner_id = ?", f.OwnerID)
	}
	w.page(page)
	l, err := list[Project](ctx, s.db, "projects", projectColumns, newestFirst, w, page)
	return l, wrap("list projects", err)
}

// Update changes the fields u sets and returns the project. An update
// with no field is ErrNoChanges; one that changes nothing leaves
// updated_at and publishes no event. project_updated lists the fields
// whose value changed.
func (s *Projects) Update(ctx context.Context, id string, u ProjectUpdate) (*Project, error) {
	a, err := u.assignments()
	if err != nil {
		return nil, err
	}
	id, err = canonicalID(id, ErrProjectNotFound)
	if err != nil {
		return nil, err
	}
	var after *Project
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		before, err := one[Project](ctx, tx, ErrProjectNotFound,
			`SELECT `+projectColumns+` FROM projects WHERE id = $1 FOR NO KEY UPDATE`, id)
		if err != nil {
			return err
		}
		after, err = one[Project](ctx, tx, ErrProjectNotFound,
			`UPDATE projects SET `+joinSets(a)+` WHERE id = $1 RETURNING `+projectColumns, append([]any{id}, a.args...)...)
		if err != nil {
			return err
		}
		changed := changedFields(before, after)
		if len(changed) == 0 {
			return nil
		}
		return s.publish(ctx, tx, TopicProjectUpdated, KindProjectUpdated, after.event(updated, actor(ctx, after.OwnerID), after.UpdatedAt, changed))
	})
	if err != nil {
		return nil, wrap("update project", err)
	}
	return after, nil
}

// Delete deletes the project with id, its components, their tasks and
// dependencies, and publishes project_deleted (only: the rows deleted
// with it publish nothing).
func (s *Projects) Delete(ctx context.Context, id string) error {
	id, err := canonicalID(id, ErrProjectNotFound)
	if err != nil {
		return err
	}
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		p, err := one[Project](ctx, tx, ErrProjectNotFound, `DELETE FROM projects WHERE id = $1 RETURNING `+projectColumns, id)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicProjectDeleted, KindProjectDeleted, p.event(deleted, actor(ctx, p.OwnerID), time.Now(), nil))
	})
	return wrap("delete project", err)
}
