-- 0001_rooms.sql — room state and its retained history.
-- Migrations are append-only: once shipped, this file is never edited (its sha256 is
-- recorded in schema_migrations and checked by `roomstate-migrate verify`).
-- Each migration runs inside one transaction opened by the migration runner: no BEGIN,
-- COMMIT or transaction-changing PRAGMA here.

-- One row per room that was ever saved.  last_version is the counter that makes versions
-- never reused: it only grows, and survives a DELETE (current_version becomes NULL).
CREATE TABLE rooms (
    room_id         TEXT    NOT NULL PRIMARY KEY,
    last_version    INTEGER NOT NULL CHECK (last_version >= 1),
    current_version INTEGER CHECK (current_version IS NULL OR current_version = last_version),
    updated_at_ms   INTEGER NOT NULL
);

-- Every retained version of a room's document (the current one included), pruned to the
-- configured history length by each save.
CREATE TABLE room_versions (
    id            INTEGER PRIMARY KEY,
    room_id       TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    version       INTEGER NOT NULL CHECK (version >= 1),
    saved_at_ms   INTEGER NOT NULL,
    user_id       TEXT    NOT NULL DEFAULT '',
    username      TEXT    NOT NULL DEFAULT '',
    service       TEXT    NOT NULL DEFAULT '',
    objects_saved INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL,
    doc           BLOB    NOT NULL,
    UNIQUE (room_id, version)
);
