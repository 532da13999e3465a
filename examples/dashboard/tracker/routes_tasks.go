package tracker

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

type taskIDInput struct {
	TaskID string `path:"task_id" doc:"The task's id (a UUID); another string is answered 400." example:"9d3c6b2a-1e4f-4a7b-8c90-3b2e1f0a9d44"`
}

type listTasksInput struct {
	ComponentID   string    `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Status        string    `query:"status" enum:"todo,in_progress,review,done,cancelled" doc:"Only tasks with this status."`
	AssigneeID    string    `query:"assignee_id" format:"uuid" doc:"Only tasks assigned to this id."`
	Limit         int       `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size; above 500 is refused (422)."`
	Offset        int       `query:"offset" minimum:"0" default:"0" doc:"Items to skip."`
	CreatedAfter  time.Time `query:"created_after" doc:"Only items created at or after this time (RFC 3339)."`
	CreatedBefore time.Time `query:"created_before" doc:"Only items created before this time (RFC 3339)."`
}

type listTasksOutput struct {
	Body struct {
		Tasks []Task `json:"tasks"`
		Count int    `json:"count" doc:"Tasks in this page (the original's count)." example:"1"`
		Total int    `json:"total" doc:"Tasks matching the filters, on every page." example:"1"`
	}
}

type createTaskInput struct {
	ComponentID string `path:"component_id" doc:"The component's id (a UUID); another string is answered 400." example:"5e2a8c1d-7b3f-4e6a-9c20-1f4d8b7a3e55"`
	Body        NewTask
}

type updateTaskInput struct {
	TaskID string `path:"task_id" doc:"The task's id (a UUID); another string is answered 400." example:"9d3c6b2a-1e4f-4a7b-8c90-3b2e1f0a9d44"`
	Body   TaskUpdate
}

type taskOutput struct {
	Body *Task
}

func (rt *Routes) registerTasks(api huma.API) {
	tags := []string{"tasks"}
	const item = "/api/v1/tasks/{task_id}"
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "list-component-tasks", Method: http.MethodGet, Path: "/api/v1/components/{component_id}/tasks", Tags: tags,
		Summary:     "List a component's tasks",
		Description: "Tasks newest first, filtered, a page at a time. An unknown component is a 404.",
		Errors:      errs(readErrors, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "projects", "read"), "list_tasks"), rt.listTasks)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "create-task", Method: http.MethodPost, Path: "/api/v1/components/{component_id}/tasks", Tags: tags,
		Summary:       "Create a task on a component",
		Description:   "Publishes task_created on tracker/events/tasks/created in the same transaction.",
		DefaultStatus: http.StatusCreated,
		Errors:        errs(writeErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), "create_task"), rt.createTask)
	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
		OperationID: "get-task", Method: http.MethodGet, Path: item, Tags: tags,
		Summary: "Get a task",
		Errors:  errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "read"), "get_task"), rt.getTask)
	update := huma.Operation{
		OperationID: "update-task", Method: http.MethodPut, Path: item, Tags: tags,
		Summary: "Update a task",
		Description: "Changes the fields given: an absent field stays, null clears description, assignee_id, due_date or completed_at, " +
			"an empty body is refused (422). When something changed, updated_at moves and task_updated (with updated_fields) is published.",
		Errors: errs(writeErrors, http.StatusBadRequest, http.StatusNotFound),
	}
	huma.Register(api, dashcore.MCPTool(auth.Require(update, "projects", "write"), "update_task"), rt.updateTask)
	update.OperationID, update.Method, update.Summary = "patch-task", http.MethodPatch, "Update a task (PATCH)"
	huma.Register(api, auth.Require(update, "projects", "write"), rt.updateTask)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "delete-task", Method: http.MethodDelete, Path: item, Tags: tags,
		Summary:       "Delete a task",
		Description:   "Publishes task_deleted.",
		DefaultStatus: http.StatusNoContent,
		Errors:        errs(readErrors, http.StatusBadRequest, http.StatusNotFound),
	}, "projects", "write"), rt.deleteTask)
}

func (rt *Routes) listTasks(ctx context.Context, in *listTasksInput) (*listTasksOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	l, err := rt.Tasks.List(ctx, id, TaskFilter{Status: in.Status, AssigneeID: in.AssigneeID, Page: page(in.Limit, in.Offset, in.CreatedAfter, in.CreatedBefore)})
	if err != nil {
		return nil, httpError(err)
	}
	out := &listTasksOutput{}
	out.Body.Tasks, out.Body.Count, out.Body.Total = l.Items, len(l.Items), l.Total
	return out, nil
}

func (rt *Routes) createTask(ctx context.Context, in *createTaskInput) (*taskOutput, error) {
	id, err := pathID(in.ComponentID, "component")
	if err != nil {
		return nil, err
	}
	t, err := rt.Tasks.Create(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &taskOutput{Body: t}, nil
}

func (rt *Routes) getTask(ctx context.Context, in *taskIDInput) (*taskOutput, error) {
	id, err := pathID(in.TaskID, "task")
	if err != nil {
		return nil, err
	}
	t, err := rt.Tasks.Get(ctx, id)
	if err != nil {
		return nil, httpError(err)
	}
	return &taskOutput{Body: t}, nil
}

func (rt *Routes) updateTask(ctx context.Context, in *updateTaskInput) (*taskOutput, error) {
	id, err := pathID(in.TaskID, "task")
	if err != nil {
		return nil, err
	}
	t, err := rt.Tasks.Update(ctx, id, in.Body)
	if err != nil {
		return nil, httpError(err)
	}
	return &taskOutput{Body: t}, nil
}

func (rt *Routes) deleteTask(ctx context.Context, in *taskIDInput) (*struct{}, error) {
	id, err := pathID(in.TaskID, "task")
	if err != nil {
		return nil, err
	}
	if err := rt.Tasks.Delete(ctx, id); err != nil {
		return nil, httpError(err)
	}
	return nil, nil
}
