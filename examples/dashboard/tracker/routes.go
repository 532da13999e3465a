package tracker

import (
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/taylordash/taylordash/dashcore"
)

// Routes is the tracker API: the original's /api/v1/projects,
// /api/v1/projects/{project_id}/components and
// /api/v1/components/{component_id}/tasks, with the create, update and
// delete operations it lacked, and component dependencies. Reads need
// the permission projects:read and writes projects:write, for components,
// tasks and dependencies too.
type Routes struct {
	// Projects stores projects. Required.
	Projects *Projects
	// Components stores components. Required.
	Components *Components
	// Tasks stores tasks. Required.
	Tasks *Tasks
	// Dependencies stores dependencies. Required.
	Dependencies *Dependencies
}

// Contribution returns the routes as a dashcore contribution named
// "tracker".
func (rt *Routes) Contribution() dashcore.Routes {
	return dashcore.Routes{Name: "tracker", Register: rt.Register}
}

// Register adds the operations to api.
func (rt *Routes) Register(api huma.API) {
	rt.registerProjects(api)
	rt.registerComponents(api)
	rt.registerTasks(api)
	rt.registerDependencies(api)
}

// The errors every operation may answer, besides its own.
var (
	readErrors  = []int{http.StatusUnauthorized, http.StatusForbidden}
	writeErrors = []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity}
)

// errs returns the documented statuses: base and more.
func errs(base []int, more ...int) []int {
	return append(append([]int{}, base...), more...)
}

// page is the Page of a list's query parameters (limit, offset,
// created_after, created_before; declared in each list's input, since
// huma reads no parameters from unexported embedded structs).
func page(limit, offset int, after, before time.Time) Page {
	return Page{Limit: limit, Offset: offset, CreatedAfter: after, CreatedBefore: before}
}

// pathID returns a path's id in canonical form, or the original's 400
// "Invalid <what> ID format".
func pathID(id, what string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", dashcore.NewError(dashcore.ErrBadRequest, "Invalid "+what+" ID format", nil)
	}
	return u.String(), nil
}

// httpError maps a repository error to the API's: field problems of an
// input are located in the request body.
func httpError(err error) error {
	var de *dashcore.Error
	if errors.As(err, &de) && len(de.Fields) > 0 {
		cp := *de
		cp.Fields = make([]*huma.ErrorDetail, len(de.Fields))
		for i, f := range de.Fields {
			g := *f
			g.Location = "body." + f.Location
			cp.Fields[i] = &g
		}
		return &cp
	}
	return dashcore.HTTPError(err)
}
