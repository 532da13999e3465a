package tracker

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

type projectIDInput struct {
	ProjectID string `path:"project_id" doc:"The project's id (a UUID); another string is answered 400." example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
}

type listProjectsInput struct {
	Status        string    `query:"status" enum:"planning,active,inactive,on_hold,completed,cancelled,archived" doc:"Only projects with this status."`
	OwnerID       string    `query:"owner_id" format:"uuid" doc:"Only projects of this owner."`
	Limit         int       `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size; above 500 is refused (422)."`
	Offset        int       `query:"offset" minimum:"0" default:"0" doc:"Items to skip."`
	CreatedAfter  time.Time `query:"created_after" doc:"Only items created at or after this time (RFC 3339)."`
	CreatedBefore time.Time `query:"created_before" doc:"Only items created before this time (RFC 3339)."`
}

type listProjectsOutput struct {
	Body struct {
		Projects []Project `json:"projects"`
		Count    int       `json:"count" doc:"Projects in this page (the original's count)." example:"1"`
		Total    int       `json:"total" doc:"Projects matching the filters, on every page." example:"1"`
	}
}

type createProjectInput struct {
	Body NewProject
}

type updateProjectInput struct {
	ProjectID string `path:"project_id" doc:"The project's id (a UUID); another string is answered 400." example:"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10"`
	Body      ProjectUpdate
}

type projectOutput struct {
	Body *Project
}

func (rt *Routes) registerProjects(api huma.API) {
	tags := []string{"projects"}
	const item = "/api/v1/projects/{project_id}"
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "list-projects", Method: http.MethodGet, Path: "/api/v1/projects", Tags: tags,
		Summary:     "List projects",
		Description: "Projects newest first, filtered, a page at a time: count is the page's length, total the number of projects matching.",
		Errors:      errs(readErrors, http.StatusUnprocessableEntity),
	}, "projects", "read"), "list_projects"), rt.listProjects)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects", Tags: tags,
		Summary:       "Create a project",
		Description:   "Publishes project_created on tracker/events/projects/created in the same transaction.",
		DefaultStatus: http.StatusCreated,
		Errors:        errs(writeErrors),
	}, "projects", "write"), "create_project"), rt.createProject)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "get-project", Method: http.MethodGet, Path: item, Tags: tags,
		Summary: "Get a project",
		Errors:  errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "read"), "get_project"), rt.getProject)
	update := huma.Operation{
		OperationID: "update-project", Method: http.MethodPut, Path: item, Tags: tags,
		Summary: "Update a project",
		Description: "Changes the fields given: an absent field stays, null clears description or owner_id, an empty body is refused (422). " +
			"When something changed, updated_at moves and project_updated (with updated_fields) is published.",
		Errors: errs(writeErrors, http.StatusBadRequest, http.StatusNotFound),
	}
	huma.Register(api, dashcore.MCPTool(auth.Require(update, "projects", "write"), "update_project"), rt.updateProject)
	update.OperationID, update.Method, update.Summary = "patch-project", http.MethodPatch, "Update a project (PATCH)"
	huma.Register(api, auth.Require(update, "projects", "write"), rt.updateProject)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "delete-project", Method: http.MethodDelete, Path: item, Tags: tags,
		Summary:       "Delete a project",
		Description:   "Deletes the project with its components, their tasks and dependencies, and publishes project_deleted.",
		DefaultStatus: http.StatusNoContent,
		Errors:        errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), rt.deleteProject)
}

func (rt *Routes) listProjects(ctx context.Context, in *listProjectsInput) (*listProjectsOutput, error) {
	l, err := rt.Projects.List(ctx, ProjectFilter{Status: in.Status, OwnerID: in.OwnerID, Page: page(in.Limit, in.Offset, in.CreatedAfter, in.CreatedBefore)})
	if err != nil {
		return nil, httpError(err)
	}
	out := &listProjectsOutput{}
	out.Body.Projects, out.Body.Count, out.Body.Total = l.Items, len(l.Items), l.Total
	return out, nil
}

func (rt *Routes) createProject(ctx context.Context, in *createProjectInput) (*projectOutput, error) {
	p, err := rt.Projects.Create(ctx, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &projectOutput{Body: p}, nil
}

func (rt *Routes) getProject(ctx context.Context, in *projectIDInput) (*projectOutput, error) {
	id, err := pathID(in.ProjectID, "project")
	if err != nil {
		return nil, err
	}
	p, err := rt.Projects.Get(ctx, id)
	if err != nil {
		return nil, httpError(err)
	}
	return &projectOutput{Body: p}, nil
}

func (rt *Routes) updateProject(ctx context.Context, in *updateProjectInput) (*projectOutput, error) {
	id, err := pathID(in.ProjectID, "project")
	if err != nil {
		return nil, err
	}
	p, err := rt.Projects.Update(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &projectOutput{Body: p}, nil
}

func (rt *Routes) deleteProject(ctx context.Context, in *projectIDInput) (*struct{}, error) {
	id, err := pathID(in.ProjectID, "project")
	if err != nil {
		return nil, err
	}
	if err := rt.Projects.Delete(ctx, id); err != nil {
		return nil, httpError(err)
	}
	return nil, nil
}
