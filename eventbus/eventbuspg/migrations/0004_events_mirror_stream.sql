-- Following the mirror in commit order (see Stream): ids are assigned when a
-- row is inserted, not when it commits, so a reader that follows ids misses
-- rows of transactions that commit late. The inserting transaction's id
-- does not have that problem: every transaction older than the oldest one
-- still running has ended, so its rows are final.
ALTER TABLE events_mirror ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_mirror_txid_idx ON events_mirror (txid, id);

-- Every statement that stores events wakes the readers, on commit.
CREATE FUNCTION eventbus_mirror_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('taylordash_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_mirror_notify AFTER INSERT ON events_mirror
    FOR EACH STATEMENT EXECUTE FUNCTION eventbus_mirror_notify();
