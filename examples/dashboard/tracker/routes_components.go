package tracker

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

type componentIDInput struct {
	ComponentID string `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
}

type listComponentsInput struct {
	ProjectID     string    `path:"project_id" doc:"The project's id (a UUID); another string is answered 400." example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	Status        string    `query:"status" enum:"pending,in_progress,blocked,completed,cancelled" doc:"Only components with this status."`
	Limit         int       `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size; above 500 is refused (422)."`
	Offset        int       `query:"offset" minimum:"0" default:"0" doc:"Items to skip."`
	CreatedAfter  time.Time `query:"created_after" doc:"Only items created at or after this time (RFC 3339)."`
	CreatedBefore time.Time `query:"created_before" doc:"Only items created before this time (RFC 3339)."`
}

type listComponentsOutput struct {
	Body struct {
		Components []Component `json:"components"`
		Count      int         `json:"count" doc:"Components in this page (the original's count)." example:"1"`
		Total      int         `json:"total" doc:"Components matching the filters, on every page." example:"1"`
	}
}

type createComponentInput struct {
	ProjectID string `path:"project_id" doc:"The project's id (a UUID); another string is answered 400." example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	Body      NewComponent
}

type updateComponentInput struct {
	ComponentID string `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Body        ComponentUpdate
}

type componentOutput struct {
	Body *Component
}

func (rt *Routes) registerComponents(api huma.API) {
	tags := []string{"components"}
	const item = "/api/v1/components/{component_id}"
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "list-project-components", Method: http.MethodGet, Path: "/api/v1/projects/{project_id}/components", Tags: tags,
		Summary:     "List a project's components",
		Description: "Components newest first, filtered, a page at a time. An unknown project is a 404 (the original answered an empty list).",
		Errors:      errs(readErrors, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "projects", "read"), "list_components"), rt.listComponents)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "create-component", Method: http.MethodPost, Path: "/api/v1/projects/{project_id}/components", Tags: tags,
		Summary:       "Create a component in a project",
		Description:   "Publishes component_created on tracker/events/components/created in the same transaction.",
		DefaultStatus: http.StatusCreated,
		Errors:        errs(writeErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), "create_component"), rt.createComponent)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "get-component", Method: http.MethodGet, Path: item, Tags: tags,
		Summary: "Get a component",
		Errors:  errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "read"), "get_component"), rt.getComponent)
	update := huma.Operation{
		OperationID: "update-component", Method: http.MethodPut, Path: item, Tags: tags,
		Summary: "Update a component",
		Description: "Changes the fields given: an absent field stays, null clears type or position, an empty body is refused (422). " +
			"When something changed, updated_at moves and component_updated (with updated_fields) is published.",
		Errors: errs(writeErrors, http.StatusBadRequest, http.StatusNotFound),
	}
	huma.Register(api, dashcore.MCPTool(auth.Require(update, "projects", "write"), "update_component"), rt.updateComponent)
	update.OperationID, update.Method, update.Summary = "patch-component", http.MethodPatch, "Update a component (PATCH)"
	huma.Register(api, auth.Require(update, "projects", "write"), rt.updateComponent)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "delete-component", Method: http.MethodDelete, Path: item, Tags: tags,
		Summary:       "Delete a component",
		Description:   "Deletes the component with its tasks and its dependencies (both ways), and publishes component_deleted.",
		DefaultStatus: http.StatusNoContent,
		Errors:        errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), rt.deleteComponent)
}

func (rt *Routes) listComponents(ctx context.Context, in *listComponentsInput) (*listComponentsOutput, error) {
	id, err := pathID(in.ProjectID, "project")
	if err != nil {
		return nil, err
	}
	l, err := rt.Components.List(ctx, id, ComponentFilter{Status: in.Status, Page: page(in.Limit, in.Offset, in.CreatedAfter, in.CreatedBefore)})
	if err != nil {
		return nil, httpError(err)
	}
	out := &listComponentsOutput{}
	out.Body.Components, out.Body.Count, out.Body.Total = l.Items, len(l.Items), l.Total
	return out, nil
}

func (rt *Routes) createComponent(ctx context.Context, in *createComponentInput) (*componentOutput, error) {
	id, err := pathID(in.ProjectID, "project")
	if err != nil {
		return nil, err
	}
	c, err := rt.Components.Create(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &componentOutput{Body: c}, nil
}

func (rt *Routes) getComponent(ctx context.Context, in *componentIDInput) (*componentOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	c, err := rt.Components.Get(ctx, id)
	if err != nil {
		return nil, httpError(err)
	}
	return &componentOutput{Body: c}, nil
}

func (rt *Routes) updateComponent(ctx context.Context, in *updateComponentInput) (*componentOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	c, err := rt.Components.Update(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &componentOutput{Body: c}, nil
}

func (rt *Routes) deleteComponent(ctx context.Context, in *componentIDInput) (*struct{}, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	if err := rt.Components.Delete(ctx, id); err != nil {
		return nil, httpError(err)
	}
	return nil, nil
}
