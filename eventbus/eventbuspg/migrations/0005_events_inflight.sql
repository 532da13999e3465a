-- Batches of the mirror whose handlers have not finished: one row per
-- batch, listing its events' mirror ids, written in the statement that
-- stores the batch and deleted when its handlers are done. owner is the
-- advisory lock its writer holds while alive. An event listed here by a
-- writer that is gone (the process died between the commit and the
-- handlers) is no duplicate when the broker delivers it again: its
-- handlers run. The table holds a handful of rows, plus those of crashed
-- runs until their events are handled again or retention removes them.
CREATE TABLE events_inflight (
    id         bigserial   PRIMARY KEY,
    owner      bigint      NOT NULL,
    mirror_ids bigint[]    NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Whether the writer holding the advisory lock owner (a bigint key, taken
-- in this database) is alive.
CREATE FUNCTION eventbus_owner_alive(owner bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::bigint = (owner >> 32) & 4294967295
          AND objid::bigint = owner & 4294967295)
$$;
