#!/bin/sh
# roomstate-db-init.sh — deploy step: gives roomstate its own role and database on the
# PostgreSQL server Nakama already uses (docker-compose.yml's `roomstate-db-init` job).
# Idempotent: creates the role `roomstate` (LOGIN, password from a file) and the database
# `roomstate` owned by it when missing, sets the password again (so rotating it is rerunning
# this), and keeps other roles out of that database.  Passwords travel in files and psql
# variables, never on a command line.
#
#   PGHOST, PGPORT, PGUSER, PGDATABASE       the superuser connection (libpq; default
#                                           postgres@postgres:5432/postgres)
#   POSTGRES_PASSWORD_FILE                   the superuser's password (optional: trust/peer)
#   ROOMSTATE_DB_PASSWORD_FILE               the password to give the roomstate role
#   ROOMSTATE_DB_NAME, ROOMSTATE_DB_ROLE      default roomstate, roomstate
set -eu
: "${PGHOST:=postgres}" "${PGUSER:=postgres}" "${PGDATABASE:=postgres}"
export PGHOST PGUSER PGDATABASE
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(head -n 1 "$POSTGRES_PASSWORD_FILE")
    export PGPASSWORD
fi
pw=$(head -n 1 "${ROOMSTATE_DB_PASSWORD_FILE:?the roomstate role password file}")
[ -n "$pw" ] || { echo "roomstate-db-init: $ROOMSTATE_DB_PASSWORD_FILE is empty" >&2; exit 1; }
db=${ROOMSTATE_DB_NAME:-roomstate}
role=${ROOMSTATE_DB_ROLE:-roomstate}
psql -X -q -v ON_ERROR_STOP=1 -v pw="$pw" -v db="$db" -v role="$role" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
echo "roomstate-db-init: role $role and database $db ready on $PGHOST"
