-- The tracker's schema: projects hold components, components hold tasks,
-- and the components of one project may depend on each other, without
-- cycles. The original's tables (projects, components, tasks,
-- component_dependencies) with its column names, plus what it lacked:
-- CHECK constraints for every enum and range, NOT NULL parents, every
-- foreign key indexed, ON DELETE CASCADE down the hierarchy, and
-- updated_at maintained by a trigger.

-- updated_at moves to the transaction's time when an UPDATE changes
-- anything; an UPDATE that changes nothing leaves it.
CREATE FUNCTION tracker_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description text CHECK (char_length(description) <= 1000),
    status      text NOT NULL DEFAULT 'planning'
                CHECK (status IN ('planning', 'active', 'inactive', 'on_hold', 'completed', 'cancelled', 'archived')),
    owner_id    uuid,
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_owner_id_idx ON projects (owner_id);
CREATE INDEX projects_status_idx ON projects (status);
CREATE INDEX projects_created_at_idx ON projects (created_at, id);
CREATE TRIGGER projects_touch_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION tracker_touch_updated_at();

CREATE TABLE components (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    type        text CHECK (char_length(type) <= 100),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'in_progress', 'blocked', 'completed', 'cancelled')),
    progress    integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    position    jsonb CHECK (jsonb_typeof(position) = 'object'),
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The target of component_dependencies' foreign keys, which keep both
    -- ends of a dependency in one project.
    UNIQUE (project_id, id)
);
-- Also indexes the foreign key project_id.
CREATE INDEX components_project_id_idx ON components (project_id, created_at, id);
CREATE TRIGGER components_touch_updated_at BEFORE UPDATE ON components
    FOR EACH ROW EXECUTE FUNCTION tracker_touch_updated_at();

CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    component_id uuid NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description  text CHECK (char_length(description) <= 1000),
    status       text NOT NULL DEFAULT 'todo'
                 CHECK (status IN ('todo', 'in_progress', 'review', 'done', 'cancelled')),
    assignee_id  uuid,
    due_date     timestamptz,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Also indexes the foreign key component_id.
CREATE INDEX tasks_component_id_idx ON tasks (component_id, created_at, id);
CREATE INDEX tasks_assignee_id_idx ON tasks (assignee_id);

-- completed_at is set when a task becomes done (unless the writer gives
-- one), and cleared when it leaves done (unless the writer changes it).
-- Triggers fire in name order: this one before tasks_touch_updated_at.
CREATE FUNCTION tracker_task_completed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'done' AND NEW.completed_at IS NULL THEN
            NEW.completed_at := now();
        END IF;
    ELSIF NEW.status = 'done' AND OLD.status <> 'done' AND NEW.completed_at IS NULL THEN
        NEW.completed_at := now();
    ELSIF NEW.status <> 'done' AND OLD.status = 'done' AND NEW.completed_at IS NOT DISTINCT FROM OLD.completed_at THEN
        NEW.completed_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_completed_at BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tracker_task_completed_at();
CREATE TRIGGER tasks_touch_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tracker_touch_updated_at();

-- component_id depends on depends_on_id; both are components of
-- project_id. The graph of a project has no cycle: the application checks
-- every insert under a transaction-scoped advisory lock on the project.
CREATE TABLE component_dependencies (
    project_id      uuid NOT NULL,
    component_id    uuid NOT NULL,
    depends_on_id   uuid NOT NULL,
    dependency_type text NOT NULL DEFAULT 'blocking' CHECK (dependency_type IN ('blocking', 'optional')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Also indexes the foreign key (project_id, component_id).
    PRIMARY KEY (project_id, component_id, depends_on_id),
    FOREIGN KEY (project_id, component_id) REFERENCES components (project_id, id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, depends_on_id) REFERENCES components (project_id, id) ON DELETE CASCADE,
    CHECK (component_id <> depends_on_id)
);
CREATE INDEX component_dependencies_depends_on_id_idx ON component_dependencies (project_id, depends_on_id);
