package tracker

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
)

type listDependenciesInput struct {
	ComponentID   string    `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Limit         int       `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size; above 500 is refused (422)."`
	Offset        int       `query:"offset" minimum:"0" default:"0" doc:"Items to skip."`
	CreatedAfter  time.Time `query:"created_after" doc:"Only items created at or after this time (RFC 3339)."`
	CreatedBefore time.Time `query:"created_before" doc:"Only items created before this time (RFC 3339)."`
}

type listDependenciesOutput struct {
	Body struct {
		Dependencies []Dependency `json:"dependencies"`
		Count        int          `json:"count" doc:"Dependencies in this page." example:"1"`
		Total        int          `json:"total" doc:"Dependencies matching the filters, on every page." example:"1"`
	}
}

type addDependencyInput struct {
	ComponentID string `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Body        NewDependency
}

type dependencyOutput struct {
	Body *Dependency
}

type removeDependencyInput struct {
	ComponentID string `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	DependsOnID string `path:"depends_on_id" doc:"The id of the component depended on (a UUID)." example:"7c1b4e9a-2d3f-4b8c-a1e0-6f5d4c3b2a19"`
}

func (rt *Routes) registerDependencies(api huma.API) {
	tags := []string{"components"}
	const path = "/api/v1/components/{component_id}/dependencies"
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-component-dependencies", Method: http.MethodGet, Path: path, Tags: tags,
		Summary:     "List what a component depends on",
		Description: "The component's dependencies, newest first, a page at a time. An unknown component is a 404.",
		Errors:      errs(readErrors, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "projects", "read"), rt.listDependencies)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "add-component-dependency", Method: http.MethodPost, Path: path, Tags: tags,
		Summary: "Make a component depend on another",
		Description: "Both components must belong to one project. A component depending on itself, on an unknown component or on one " +
			"of another project is refused (422); a dependency that exists, or that would close a cycle, is refused (409, the detail " +
			"naming the cycle). Publishes component_linked on tracker/events/components/linked.",
		DefaultStatus: http.StatusCreated,
		Errors:        errs(writeErrors, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict),
	}, "projects", "write"), rt.addDependency)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "remove-component-dependency", Method: http.MethodDelete, Path: path + "/{depends_on_id}", Tags: tags,
		Summary:       "Remove a dependency",
		Description:   "Publishes component_unlinked on tracker/events/components/unlinked.",
		DefaultStatus: http.StatusNoContent,
		Errors:        errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), rt.removeDependency)
}

func (rt *Routes) listDependencies(ctx context.Context, in *listDependenciesInput) (*listDependenciesOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	l, err := rt.Dependencies.List(ctx, id, page(in.Limit, in.Offset, in.CreatedAfter, in.CreatedBefore))
	if err != nil {
		return nil, httpError(err)
	}
	out := &listDependenciesOutput{}
	out.Body.Dependencies, out.Body.Count, out.Body.Total = l.Items, len(l.Items), l.Total
	return out, nil
}

func (rt *Routes) addDependency(ctx context.Context, in *addDependencyInput) (*dependencyOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	d, err := rt.Dependencies.Add(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &dependencyOutput{Body: d}, nil
}

func (rt *Routes) removeDependency(ctx context.Context, in *removeDependencyInput) (*struct{}, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	dep, err := pathID(in.DependsOnID, "component")
	if err != nil {
		return nil, err
	}
	if err := rt.Dependencies.Remove(ctx, id, dep); err != nil {
		return nil, httpError(err)
	}
	return nil, nil
}
