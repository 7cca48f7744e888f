-- 0001_rooms.sql (PostgreSQL) — room state and its retained history; the same tables and
-- rules as schema/sqlite/0001_rooms.sql.  Append-only like every migration (its sha256 is
-- recorded in schema_migrations and checked by `roomstate-migrate verify`).  The runner
-- wraps it in one transaction (holding the migration advisory lock): no BEGIN/COMMIT here.
-- Kept within what CockroachDB also runs (no extensions, no PL/pgSQL).

-- One row per room that was ever saved.  last_version only grows and survives a DELETE
-- (current_version becomes NULL), so versions are never reused.  0 only inside the save
-- transaction that creates the row (it sets the first version before committing).
CREATE TABLE rooms (
    room_id         TEXT   NOT NULL PRIMARY KEY,
    last_version    BIGINT NOT NULL CHECK (last_version >= 0),
    current_version BIGINT CHECK (current_version IS NULL OR current_version = last_version),
    updated_at_ms   BIGINT NOT NULL
);

-- Every retained version of a room's document (the current one included), pruned to the
-- configured history length by each save.
CREATE TABLE room_versions (
    room_id       TEXT   NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    version       BIGINT NOT NULL CHECK (version >= 1),
    saved_at_ms   BIGINT NOT NULL,
    user_id       TEXT   NOT NULL DEFAULT '',
    username      TEXT   NOT NULL DEFAULT '',
    service       TEXT   NOT NULL DEFAULT '',
    objects_saved BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL,
    doc           TEXT   NOT NULL,
    PRIMARY KEY (room_id, version)
);
