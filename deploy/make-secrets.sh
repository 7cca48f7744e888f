#!/bin/sh
# make-secrets.sh — creates the secret files docker-compose.yml mounts, in deploy/secrets/:
# one random key per file, and Nakama's config file carrying the same keys.  Never
# overwrites a file that exists (delete it to rotate).  No openssl needed.
#
#   deploy/make-secrets.sh                      # random keys
#   LIVEKIT_API_SECRET=... deploy/make-secrets.sh   # your LiveKit server's API secret
#
# Files: nakama_session_key (Nakama's session.encryption_key = what roomstate verifies
# session tokens with), roomstate_service_key (service tokens: relay and Nakama runtime ->
# server), postgres_password, roomstate_db_password (roomstate's own PostgreSQL role),
# livekit_api_secret, nakama.yml (Nakama's --config).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)/secrets
mkdir -p "$dir"
chmod 0700 "$dir"     # only you on the host; the files inside stay readable by the
umask 022             # containers' users (roomstate runs as uid 10001, not root)

rand() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
put() { # name value
    if [ -e "$dir/$1" ]; then echo "kept     $dir/$1"; return; fi
    printf '%s\n' "$2" > "$dir/$1"
    echo "created  $dir/$1"
}

put nakama_session_key "$(rand)"
put roomstate_service_key "$(rand)"
put postgres_password "$(rand)"
put roomstate_db_password "$(rand)"
if [ -n "${LIVEKIT_API_SECRET:-}" ]; then
    put livekit_api_secret "$LIVEKIT_API_SECRET"
else
    [ -e "$dir/livekit_api_secret" ] ||
        echo "note: livekit_api_secret is random: replace it with your LiveKit server's API secret"
    put livekit_api_secret "$(rand)"
fi

read_key() { head -n 1 "$dir/$1"; }
if [ -e "$dir/nakama.yml" ]; then
    echo "kept     $dir/nakama.yml"
else
    cat > "$dir/nakama.yml" <<YML
# Nakama configuration written by deploy/make-secrets.sh (holds secrets: keep it out of git).
name: nakama1
database:
  address:
    - "postgres:$(read_key postgres_password)@postgres:5432/nakama"
logger:
  level: INFO
session:
  # roomstate-server and roomstate-relay verify session tokens with this same key
  encryption_key: "$(read_key nakama_session_key)"
  # MUST differ from encryption_key: roomstate verifies tokens with encryption_key only, so
  # with the same key a refresh token would be accepted here as a session token
  refresh_encryption_key: "$(rand)"
socket:
  server_key: "$(rand)"
runtime:
  http_key: "$(rand)"
  env:
    - "ROOMSTATE_URL=http://roomstate-server:8080"
    - "ROOMSTATE_SERVICE_KEY=$(read_key roomstate_service_key)"
console:
  username: admin
  password: "$(rand | cut -c1-24)"
  signing_key: "$(rand)"
YML
    echo "created  $dir/nakama.yml (console password inside)"
fi

# Nakama's refresh tokens must not verify as session tokens at roomstate
key_of() { sed -n "s/^ *$1: *\"\(.*\)\"/\1/p" "$dir/nakama.yml" | head -n 1; }
enc=$(key_of encryption_key)
ref=$(key_of refresh_encryption_key)
if [ -n "$enc" ] && [ "$enc" = "$ref" ]; then
    echo "WARNING: $dir/nakama.yml: session.refresh_encryption_key equals" \
        "session.encryption_key; refresh tokens would be accepted as session tokens by" \
        "roomstate. Give refresh_encryption_key its own random value." >&2
    exit 1
fi
echo "note: session.encryption_key (= nakama_session_key, what roomstate verifies with) and" \
    "session.refresh_encryption_key in nakama.yml are different keys; keep them different"
