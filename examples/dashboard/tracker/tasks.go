package tracker

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// The statuses of a task: the original's event schema's todo,
// in_progress, review and done, and cancelled. A task that becomes done
// gets completed_at (unless the writer gives one); one that leaves done
// loses it (unless the writer changes it).
const (
	TaskTodo       = "todo" // the default
	TaskInProgress = "in_progress"
	TaskReview     = "review"
	TaskDone       = "done"
	TaskCancelled  = "cancelled"
)

var taskStatuses = []string{TaskTodo, TaskInProgress, TaskReview, TaskDone, TaskCancelled}

// Task is a piece of work on a component, as the API shows it (the
// original's fields).
type Task struct {
	ID          string     `json:"id" db:"id" format:"uuid" example:"9d3c6b2a-1e4f-4a7b-8c90-3b2e1f0a9d44"`
	ComponentID string     `json:"component_id" db:"component_id" format:"uuid" example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Name        string     `json:"name" db:"name" example:"Write the payment webhook"`
	Description *string    `json:"description" db:"description" example:"Handle refunds too."`
	Status      string     `json:"status" db:"status" enum:"todo,in_progress,review,done,cancelled" example:"todo"`
	AssigneeID  *string    `json:"assignee_id" db:"assignee_id" format:"uuid" example:"00000000-0000-0000-0000-000000000002"`
	DueDate     *time.Time `json:"due_date" db:"due_date"`
	CompletedAt *time.Time `json:"completed_at" db:"completed_at"`
	CreatedAt   time.Time  `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at" db:"updated_at"`
}

const taskColumns = `id, component_id, name, description, status, assignee_id, due_date, completed_at, created_at, updated_at`

// NewTask is a task to create on a component.
type NewTask struct {
	Name        string     `json:"name" minLength:"1" maxLength:"255" example:"Write the payment webhook"`
	Description *string    `json:"description,omitempty" nullable:"true" maxLength:"1000" example:"Handle refunds too."`
	Status      string     `json:"status,omitempty" enum:"todo,in_progress,review,done,cancelled" default:"todo"`
	AssigneeID  *string    `json:"assignee_id,omitempty" nullable:"true" format:"uuid" example:"00000000-0000-0000-0000-000000000002"`
	DueDate     *time.Time `json:"due_date,omitempty" nullable:"true" doc:"RFC 3339."`
	CompletedAt *time.Time `json:"completed_at,omitempty" nullable:"true" doc:"RFC 3339; set when the task becomes done if not given."`
}

func (in *NewTask) validate() error {
	var v invalid
	v.name("name", in.Name)
	v.maxLen("description", in.Description, 1000)
	v.oneOf("status", in.Status, taskStatuses, true)
	in.AssigneeID = v.uuid("assignee_id", in.AssigneeID)
	if in.Status == "" {
		in.Status = TaskTodo
	}
	return v.err()
}

// TaskUpdate changes the fields it sets; null clears description,
// assignee_id, due_date and completed_at.
type TaskUpdate struct {
	Name        Optional[string]    `json:"name,omitzero" nullable:"false" minLength:"1" maxLength:"255" example:"Write the refund webhook"`
	Description Optional[string]    `json:"description,omitzero" maxLength:"1000" doc:"null clears it."`
	Status      Optional[string]    `json:"status,omitzero" nullable:"false" enum:"todo,in_progress,review,done,cancelled" example:"done"`
	AssigneeID  Optional[string]    `json:"assignee_id,omitzero" format:"uuid" doc:"null unassigns the task."`
	DueDate     Optional[time.Time] `json:"due_date,omitzero" doc:"RFC 3339; null clears it."`
	CompletedAt Optional[time.Time] `json:"completed_at,omitzero" doc:"RFC 3339; null clears it."`
}

func (u TaskUpdate) assignments() (assignments, error) {
	var v invalid
	var a assignments
	v.notNull("name", u.Name.Null)
	v.notNull("status", u.Status.Null)
	if u.Name.Set && !u.Name.Null {
		v.name("name", u.Name.Value)
	}
	if u.Description.Set && !u.Description.Null {
		v.maxLen("description", &u.Description.Value, 1000)
	}
	if u.Status.Set && !u.Status.Null {
		v.oneOf("status", u.Status.Value, taskStatuses, false)
	}
	if u.AssigneeID.Set && !u.AssigneeID.Null {
		u.AssigneeID.Value = *v.uuid("assignee_id", &u.AssigneeID.Value)
	}
	if err := v.err(); err != nil {
		return a, err
	}
	setOptional(&a, "name", u.Name)
	setOptional(&a, "description", u.Description)
	setOptional(&a, "status", u.Status)
	setOptional(&a, "assignee_id", u.AssigneeID)
	setOptional(&a, "due_date", u.DueDate)
	setOptional(&a, "completed_at", u.CompletedAt)
	if len(a.sets) == 0 {
		return a, ErrNoChanges
	}
	return a, nil
}

// TaskFilter selects the tasks of a component.
type TaskFilter struct {
	// Status, if set, keeps tasks with this status.
	Status string
	// AssigneeID, if set, keeps tasks assigned to this UUID.
	AssigneeID string
	Page
}

// Tasks stores tasks; every write publishes its event through the
// Outbox in the write's transaction. It is safe for concurrent use.
type Tasks struct {
	db *store.DB
	publisher
}

// NewTasks returns the tasks of db (migrated with Migrations). outbox may
// be nil: writes then publish no event.
func NewTasks(db *store.DB, outbox Outbox) *Tasks {
	return &Tasks{db: db, publisher: publisher{outbox: outbox}}
}

// event is the payload of an event of t: task_id, component_id,
// project_id, name, status, assignee_id, <action>_by, timestamp, and
// updated_fields for updates.
func (t *Task) event(projectID string, a action, by *string, at time.Time, changed []string) map[string]any {
	return payload(a, by, at, changed, map[string]any{"task_id": t.ID, "component_id": t.ComponentID,
		"project_id": projectID, "name": t.Name, "status": t.Status, "assignee_id": t.AssigneeID})
}

// projectOf returns the project of the component componentID, locking
// the component against deletion until tx ends.
func projectOf(ctx context.Context, tx pgx.Tx, componentID string) (string, error) {
	c, err := one[struct{ ProjectID string }](ctx, tx, ErrComponentNotFound,
		`SELECT project_id FROM components WHERE id = $1 FOR KEY SHARE`, componentID)
	if err != nil {
		return "", err
	}
	return c.ProjectID, nil
}

// Create stores a new task on the component componentID, or returns
// ErrComponentNotFound. Its status defaults to todo.
func (s *Tasks) Create(ctx context.Context, componentID string, in NewTask) (*Task, error) {
	componentID, err := canonicalID(componentID, ErrComponentNotFound)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	var t *Task
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		projectID, err := projectOf(ctx, tx, componentID)
		if err != nil {
			return err
		}
		t, err = one[Task](ctx, tx, nil, `INSERT INTO tasks (component_id, name, description, status, assignee_id, due_date, completed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+taskColumns,
			componentID, in.Name, in.Description, in.Status, in.AssigneeID, in.DueDate, in.CompletedAt)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicTaskCreated, KindTaskCreated, t.event(projectID, created, actor(ctx, nil), t.CreatedAt, nil))
	})
	if err != nil {
		return nil, wrap("create task", err)
	}
	return t, nil
}

// Get returns the task with id, or ErrTaskNotFound.
func (s *Tasks) Get(ctx context.Context, id string) (*Task, error) {
	id, err := canonicalID(id, ErrTaskNotFound)
	if err != nil {
		return nil, err
	}
	t, err := one[Task](ctx, s.db, ErrTaskNotFound, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id)
	return t, wrap("get task", err)
}

// List returns a page of the tasks of the component componentID that f
// selects, newest first, and how many it selects in all; or
// ErrComponentNotFound.
func (s *Tasks) List(ctx context.Context, componentID string, f TaskFilter) (List[Task], error) {
	componentID, err := canonicalID(componentID, ErrComponentNotFound)
	if err != nil {
		return List[Task]{}, err
	}
	page, err := f.Page.withDefaults()
	if err != nil {
		return List[Task]{}, err
	}
	var v invalid
	if f.Status != "" {
		v.oneOf("status", f.Status, taskStatuses, false)
	}
	if f.AssigneeID != "" {
		f.AssigneeID = *v.uuid("assignee_id", &f.AssigneeID)
	}
	if err := v.err(); err != nil {
		return List[Task]{}, err
	}
	var w where
	w.add("component_id = ?", componentID)
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.AssigneeID != "" {
		w.add("assignee_id = ?", f.AssigneeID)
	}
	w.page(page)
	l, err := list[Task](ctx, s.db, "tasks", taskColumns, newestFirst, w, page)
	if err == nil && l.Total == 0 {
		var ok bool
		if ok, err = exists(ctx, s.db, "components", componentID); err == nil && !ok {
			err = ErrComponentNotFound
		}
	}
	if err != nil {
		return List[Task]{}, wrap("list tasks", err)
	}
	return l, nil
}

// Update changes the fields u sets and returns the task. An update with
// no field is ErrNoChanges; one that changes nothing leaves updated_at and
// publishes no event.
func (s *Tasks) Update(ctx context.Context, id string, u TaskUpdate) (*Task, error) {
	a, err := u.assignments()
	if err != nil {
		return nil, err
	}
	id, err = canonicalID(id, ErrTaskNotFound)
	if err != nil {
		return nil, err
	}
	var after *Task
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		before, err := one[Task](ctx, tx, ErrTaskNotFound,
			`SELECT `+taskColumns+` FROM tasks WHERE id = $1 FOR NO KEY UPDATE`, id)
		if err != nil {
			return err
		}
		after, err = one[Task](ctx, tx, ErrTaskNotFound,
			`UPDATE tasks SET `+joinSets(a)+` WHERE id = $1 RETURNING `+taskColumns, append([]any{id}, a.args...)...)
		if err != nil {
			return err
		}
		changed := changedFields(before, after)
		if len(changed) == 0 {
			return nil
		}
		projectID, err := projectOf(ctx, tx, after.ComponentID)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicTaskUpdated, KindTaskUpdated, after.event(projectID, updated, actor(ctx, nil), after.UpdatedAt, changed))
	})
	if err != nil {
		return nil, wrap("update task", err)
	}
	return after, nil
}

// Delete deletes the task with id and publishes task_deleted.
func (s *Tasks) Delete(ctx context.Context, id string) error {
	id, err := canonicalID(id, ErrTaskNotFound)
	if err != nil {
		return err
	}
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		t, err := one[Task](ctx, tx, ErrTaskNotFound, `DELETE FROM tasks WHERE id = $1 RETURNING `+taskColumns, id)
		if err != nil {
			return err
		}
		projectID, err := projectOf(ctx, tx, t.ComponentID)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicTaskDeleted, KindTaskDeleted, t.event(projectID, deleted, actor(ctx, nil), time.Now(), nil))
	})
	return wrap("delete task", err)
}
