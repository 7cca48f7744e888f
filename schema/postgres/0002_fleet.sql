-- 0002_fleet.sql (PostgreSQL) — relay fleet: room hosting leases and live checkpoints; the
-- same tables and rules as schema/sqlite/0002_fleet.sql.  Append-only; the runner wraps it
-- in one transaction.  Times are ms since the epoch taken from the DATABASE clock
-- (clock_timestamp()), so that several servers on one database agree on expiry.

-- One row per room whose lease was ever asked for; fence only grows (never reused).
-- holder is NULL when released (or before the first grant).
CREATE TABLE room_leases (
    room_id       TEXT   NOT NULL PRIMARY KEY,
    holder        TEXT,
    fence         BIGINT NOT NULL CHECK (fence >= 0),
    expires_at_ms BIGINT NOT NULL
);

-- The latest live checkpoint of a room (at most one): not a version.  saved_version is the
-- room's current saved version when it was written (NULL: none).
CREATE TABLE room_checkpoints (
    room_id            TEXT   NOT NULL PRIMARY KEY,
    fence              BIGINT NOT NULL CHECK (fence >= 1),
    checkpointed_at_ms BIGINT NOT NULL,
    expires_at_ms      BIGINT NOT NULL,
    saved_version      BIGINT,
    bytes              BIGINT NOT NULL,
    doc                TEXT   NOT NULL
);
CREATE INDEX room_checkpoints_expiry ON room_checkpoints (expires_at_ms);
