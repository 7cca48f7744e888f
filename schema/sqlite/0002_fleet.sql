-- 0002_fleet.sql — relay fleet: room hosting leases and live checkpoints (docs/http-api.md
-- "Relay fleet").  Append-only like every migration; its PostgreSQL twin is
-- schema/postgres/0002_fleet.sql.

-- One row per room whose lease was ever asked for.  fence only grows: a new holder gets
-- fence + 1, also after a release or an expiry, so a fence is never reused for a room.
-- holder is NULL when released (or before the first grant); expires_at_ms is the server's
-- wall clock in ms since the epoch.
CREATE TABLE room_leases (
    room_id       TEXT    NOT NULL PRIMARY KEY,
    holder        TEXT,
    fence         INTEGER NOT NULL CHECK (fence >= 0),
    expires_at_ms INTEGER NOT NULL
);

-- The latest live checkpoint of a room (at most one): not a version, not in room_versions.
-- saved_version is the room's current saved version when it was written (NULL: none).
-- Rows past expires_at_ms are invisible and removed by later checkpoint writes.
CREATE TABLE room_checkpoints (
    room_id            TEXT    NOT NULL PRIMARY KEY,
    fence              INTEGER NOT NULL CHECK (fence >= 1),
    checkpointed_at_ms INTEGER NOT NULL,
    expires_at_ms      INTEGER NOT NULL,
    saved_version      INTEGER,
    bytes              INTEGER NOT NULL,
    doc                BLOB    NOT NULL
);
CREATE INDEX room_checkpoints_expiry ON room_checkpoints (expires_at_ms);
