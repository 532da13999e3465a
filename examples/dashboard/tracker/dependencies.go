package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// The types of a dependency. Both count for the cycle check.
const (
	// DependencyBlocking: the component cannot be completed before the
	// one it depends on (the default).
	DependencyBlocking = "blocking"
	// DependencyOptional: the component uses the other but can go on
	// without it.
	DependencyOptional = "optional"
)

var dependencyTypes = []string{DependencyBlocking, DependencyOptional}

// Dependency says that a component depends on another of its project
// (the original's component_dependencies row, with its type and time).
type Dependency struct {
	ComponentID    string    `json:"component_id" db:"component_id" format:"uuid" example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	DependsOnID    string    `json:"depends_on_id" db:"depends_on_id" format:"uuid" example:"7c1b4e9a-2d3f-4b8c-a1e0-6f5d4c3b2a19"`
	ProjectID      string    `json:"project_id" db:"project_id" format:"uuid" example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	DependencyType string    `json:"dependency_type" db:"dependency_type" enum:"blocking,optional" example:"blocking"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
}

const dependencyColumns = `component_id, depends_on_id, project_id, dependency_type, created_at`

// NewDependency is a dependency to add to a component.
type NewDependency struct {
	DependsOnID    string `json:"depends_on_id" format:"uuid" example:"7c1b4e9a-2d3f-4b8c-a1e0-6f5d4c3b2a19" doc:"A component of the same project, other than this one."`
	DependencyType string `json:"dependency_type,omitempty" enum:"blocking,optional" default:"blocking"`
}

// Dependencies stores the dependencies between the components of a
// project, which form no cycle; every write publishes its event through
// the Outbox in the write's transaction. It is safe for concurrent use.
type Dependencies struct {
	db *store.DB
	publisher
}

// NewDependencies returns the dependencies of db (migrated with
// Migrations). outbox may be nil: writes then publish no event.
func NewDependencies(db *store.DB, outbox Outbox) *Dependencies {
	return &Dependencies{db: db, publisher: publisher{outbox: outbox}}
}

// event is the payload of an event of d: component_id, depends_on_id,
// project_id, dependency_type, <action>_by and timestamp.
func (d *Dependency) event(a action, by *string, at time.Time) map[string]any {
	return payload(a, by, at, nil, map[string]any{"component_id": d.ComponentID, "depends_on_id": d.DependsOnID,
		"project_id": d.ProjectID, "dependency_type": d.DependencyType})
}

// lockGraph serializes the changes of a project's dependency graph until
// tx ends: the cycle check of an insert then sees every insert committed
// before it, so two concurrent inserts cannot close a cycle together.
func lockGraph(ctx context.Context, tx pgx.Tx, projectID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tracker.dependencies:' || $1::text, 0))`, projectID)
	return err
}

// reachable walks a project's graph ($3) from $2 and, if it reaches $1,
// returns every component reached with an edge that reached it (UNION
// keeps each edge once: linear in the edges, however many paths there
// are); otherwise nothing.
const reachable = `WITH RECURSIVE reach(id, via) AS (
	SELECT $2::uuid, NULL::uuid
	UNION
	SELECT d.depends_on_id, d.component_id
	FROM reach r JOIN component_dependencies d ON d.project_id = $3 AND d.component_id = r.id
)
SELECT id::text, via::text FROM reach WHERE EXISTS (SELECT 1 FROM reach WHERE id = $1)`

// findCycle returns the cycle that an edge from → to would close, from
// from back to itself ([from, to, ..., from]), or nil.
func findCycle(ctx context.Context, tx pgx.Tx, projectID, from, to string) ([]string, error) {
	rows, err := tx.Query(ctx, reachable, from, to, projectID)
	if err != nil {
		return nil, err
	}
	via := map[string]string{}
	var id string
	var parent *string
	_, err = pgx.ForEachRow(rows, []any{&id, &parent}, func() error {
		if _, seen := via[id]; !seen && parent != nil {
			via[id] = *parent
		}
		return nil
	})
	if err != nil || len(via) == 0 {
		return nil, err
	}
	// Back from `from` to `to` along the recorded edges (the graph has no
	// cycle, so this ends), then the new edge closes it.
	path := []string{from}
	for n := from; n != to; {
		p, ok := via[n]
		if !ok || len(path) > len(via)+1 {
			return nil, fmt.Errorf("tracker: dependency graph of project %s: broken walk at %s", projectID, n)
		}
		path = append(path, p)
		n = p
	}
	slices.Reverse(path) // to … from
	return append([]string{from}, path...), nil
}

// cycleError is the 409 refusing a dependency that closes cycle.
func cycleError(ctx context.Context, tx pgx.Tx, cycle []string) error {
	names := make([]string, len(cycle))
	rows, err := tx.Query(ctx, `SELECT id::text, name FROM components WHERE id = ANY($1::uuid[])`, cycle)
	if err != nil {
		return err
	}
	byID := map[string]string{}
	var id, name string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { byID[id] = name; return nil }); err != nil {
		return err
	}
	quoted := make([]string, len(cycle))
	for i, c := range cycle {
		names[i] = byID[c]
		quoted[i] = fmt.Sprintf("%q", names[i])
	}
	detail := "the dependency would close a cycle: " + strings.Join(quoted, " → ")
	return &dashcore.Error{Kind: dashcore.ErrConflict, Detail: detail,
		Fields: []*huma.ErrorDetail{{Location: "depends_on_id", Message: "closes the cycle " + strings.Join(cycle, " → "), Value: cycle[1]}},
		Err:    &CycleError{Cycle: cycle, Names: names}}
}

// Add makes the component componentID depend on in.DependsOnID and
// returns the dependency. It refuses (422) a component depending on
// itself, on a missing component or on one of another project; (409) a
// dependency that exists (ErrDependencyExists) or that would close a
// cycle (a *CycleError in the chain, naming the cycle). The check runs in
// the insert's transaction under a lock on the project's graph, so
// concurrent inserts cannot close a cycle together.
func (s *Dependencies) Add(ctx context.Context, componentID string, in NewDependency) (*Dependency, error) {
	componentID, err := canonicalID(componentID, ErrComponentNotFound)
	if err != nil {
		return nil, err
	}
	var v invalid
	dependsOn := *v.uuid("depends_on_id", &in.DependsOnID)
	v.oneOf("dependency_type", in.DependencyType, dependencyTypes, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	if dependsOn == componentID {
		v.add("depends_on_id", "a component cannot depend on itself", in.DependsOnID)
		return nil, v.err()
	}
	if in.DependencyType == "" {
		in.DependencyType = DependencyBlocking
	}
	var d *Dependency
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		projectID, err := projectOf(ctx, tx, componentID)
		if err != nil {
			return err
		}
		if err := lockGraph(ctx, tx, projectID); err != nil {
			return err
		}
		otherProject, err := projectOf(ctx, tx, dependsOn)
		if errors.Is(err, ErrComponentNotFound) {
			v.add("depends_on_id", "no component has this id", dependsOn)
			return v.err()
		}
		if err != nil {
			return err
		}
		if otherProject != projectID {
			v.add("depends_on_id", "must be a component of the same project", dependsOn)
			return v.err()
		}
		cycle, err := findCycle(ctx, tx, projectID, componentID, dependsOn)
		if err != nil {
			return err
		}
		if cycle != nil {
			return cycleError(ctx, tx, cycle)
		}
		d, err = one[Dependency](ctx, tx, nil, `INSERT INTO component_dependencies (project_id, component_id, depends_on_id, dependency_type)
			VALUES ($1, $2, $3, $4) RETURNING `+dependencyColumns, projectID, componentID, dependsOn, in.DependencyType)
		if store.IsUniqueViolation(err) {
			return ErrDependencyExists
		}
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicComponentLinked, KindComponentLinked, d.event(created, actor(ctx, nil), d.CreatedAt))
	})
	if err != nil {
		return nil, wrap("add dependency", err)
	}
	return d, nil
}

// List returns a page of the dependencies of the component componentID
// (what it depends on), newest first, and how many it has; or
// ErrComponentNotFound.
func (s *Dependencies) List(ctx context.Context, componentID string, p Page) (List[Dependency], error) {
	componentID, err := canonicalID(componentID, ErrComponentNotFound)
	if err != nil {
		return List[Dependency]{}, err
	}
	page, err := p.withDefaults()
	if err != nil {
		return List[Dependency]{}, err
	}
	var w where
	w.add("component_id = ?", componentID)
	w.page(page)
	// The rows have no id: the newest first, then by depends_on_id.
	l, err := list[Dependency](ctx, s.db, "component_dependencies", dependencyColumns, "created_at DESC, depends_on_id DESC", w, page)
	if err == nil && l.Total == 0 {
		var ok bool
		if ok, err = exists(ctx, s.db, "components", componentID); err == nil && !ok {
			err = ErrComponentNotFound
		}
	}
	if err != nil {
		return List[Dependency]{}, wrap("list dependencies", err)
	}
	return l, nil
}

// Remove deletes the dependency of componentID on dependsOnID, or returns
// ErrDependencyNotFound (ErrComponentNotFound for a missing component).
func (s *Dependencies) Remove(ctx context.Context, componentID, dependsOnID string) error {
	componentID, err := canonicalID(componentID, ErrComponentNotFound)
	if err != nil {
		return err
	}
	dependsOnID, err = canonicalID(dependsOnID, ErrDependencyNotFound)
	if err != nil {
		return err
	}
	err = store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		projectID, err := projectOf(ctx, tx, componentID)
		if err != nil {
			return err
		}
		d, err := one[Dependency](ctx, tx, ErrDependencyNotFound, `DELETE FROM component_dependencies
			WHERE project_id = $1 AND component_id = $2 AND depends_on_id = $3 RETURNING `+dependencyColumns,
			projectID, componentID, dependsOnID)
		if err != nil {
			return err
		}
		return s.publish(ctx, tx, TopicComponentUnlinked, KindComponentUnlinked, d.event(deleted, actor(ctx, nil), time.Now()))
	})
	return wrap("remove dependency", err)
}
