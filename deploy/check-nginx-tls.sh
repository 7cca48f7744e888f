#!/bin/bash
# check-nginx-tls.sh — runs deploy/nginx-tls.conf for real, unchanged, in front of the real
# server and relay: nginx -t, then https and wss requests through it.  A manual check for
# whoever edits the nginx example (not part of `make test`: needs root for a private
# network and mount namespace, and nginx, e.g. `apt-get install nginx-light`).
#
#   sudo deploy/check-nginx-tls.sh [BUILD_DIR]      # default: build
#
# Inside `unshare -m -n`: loopback only; /etc/hosts maps the compose service names to
# 127.0.0.1; /var/log/nginx is a temp dir; a self-signed certificate for the example names.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$ROOT/build}" && pwd)
if [ -z "${CHECK_NGINX_INSIDE:-}" ]; then
    for c in nginx openssl unshare curl; do
        command -v $c >/dev/null || { echo "check-nginx-tls: needs $c" >&2; exit 2; }
    done
    [ "$(id -u)" = 0 ] || { echo "check-nginx-tls: run as root (unshare)" >&2; exit 2; }
    T=$(mktemp -d /tmp/check-nginx-tls.XXXXXX)
    mkdir -p "$T/tls" "$T/log"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=api.example.com' \
        -addext 'subjectAltName=DNS:api.example.com,DNS:relay.example.com,DNS:nakama.example.com' \
        -keyout "$T/tls/privkey.pem" -out "$T/tls/fullchain.pem" 2>/dev/null
    printf 'pid %s/nginx.pid;\nerror_log %s/log/error.log;\nevents { worker_connections 64; }\nhttp { include %s; }\n' \
        "$T" "$T" "$ROOT/deploy/nginx-tls.conf" > "$T/nginx.conf"
    printf '127.0.0.1 localhost roomstate-server roomstate-relay relay-proxy nakama\n' > "$T/hosts"
    rc=0
    CHECK_NGINX_INSIDE=$T timeout 120 unshare -m -n "$0" "$BIN" || rc=$?
    rm -rf "$T"
    [ $rc = 0 ] && echo "check-nginx-tls: ok" || echo "check-nginx-tls: FAILED"
    exit $rc
fi

T=$CHECK_NGINX_INSIDE
ip link set lo up
mount --bind "$T/hosts" /etc/hosts
mount --bind "$T/log" /var/log/nginx
nginx -t -c "$T/nginx.conf"
"$BIN/roomstate-migrate" --db "$T/db/roomstate.db" up
export ROOMSTATE_SERVICE_KEY=check-service-key
"$BIN/roomstate-server" --db "$T/db/roomstate.db" --listen 127.0.0.1:8080 >"$T/server.log" 2>&1 &
spid=$!
"$BIN/roomstate-relay" --listen 127.0.0.1:8090 --server-url http://127.0.0.1:8080 >"$T/relay.log" 2>&1 &
rpid=$!
pids="$spid $rpid"
nginx -c "$T/nginx.conf" -g 'daemon off;' &
pids="$pids $!"
trap 'kill $pids 2>/dev/null; wait 2>/dev/null' EXIT
C=(curl -s --max-time 10 --cacert "$T/tls/fullchain.pem"
   --resolve api.example.com:443:127.0.0.1 --resolve relay.example.com:443:127.0.0.1)
for _ in $(seq 100); do "${C[@]}" -o /dev/null https://api.example.com/healthz && break; sleep 0.1; done
TOKEN=$("$BIN/roomstate-token" --uid 0b7d6c2e-4f1a-4c39-9d2e-5a8f3b1c7e01 --username host)
expect() { # what expected actual
    if [ "$2" = "$3" ]; then echo "ok    $1: $3"; else echo "FAIL  $1: expected $2, got $3"; exit 1; fi
}
expect "http -> https redirect" "301 https://api.example.com/healthz" \
    "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --resolve api.example.com:80:127.0.0.1 http://api.example.com/healthz)"
expect "https save" 201 "$("${C[@]}" -o /dev/null -w '%{http_code}' -X POST https://api.example.com/rooms/lobby-1/save \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$ROOT/examples/room.json")"
expect "https state" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' https://api.example.com/rooms/lobby-1/state -H "Authorization: Bearer $TOKEN")"
head -c 9000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
expect "over 8 MiB: 413 problem document" "413 application/problem+json" \
    "$("${C[@]}" -o /dev/null -w '%{http_code} %{content_type}' -X POST https://api.example.com/rooms/lobby-1/save \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$T/big.json")"
expect "/metrics not public" 404 "$("${C[@]}" -o /dev/null -w '%{http_code}' https://api.example.com/metrics)"
expect "relay /healthz over https" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' https://relay.example.com/healthz)"
/usr/bin/python3 - "$T/tls/fullchain.pem" "$TOKEN" <<'PY'
import asyncio, json, socket, ssl, sys
import websockets
real = socket.getaddrinfo
socket.getaddrinfo = lambda h, *a, **k: real("127.0.0.1" if h.endswith("example.com") else h, *a, **k)
ctx = ssl.create_default_context(cafile=sys.argv[1])
async def main():
    url = "wss://relay.example.com/rooms/lobby-1?token=" + sys.argv[2]
    async with websockets.connect(url, ssl=ctx, ping_interval=None, open_timeout=10) as ws:
        for _ in range(20):
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if any(x.get("op") == 1 for x in (m if isinstance(m, list) else [m])):
                print("ok    wss join through nginx: WELCOME"); return
    raise SystemExit("FAIL  wss join: no WELCOME")
asyncio.run(main())
PY
n=$(grep -c 'token=' /var/log/nginx/access.log || true)
expect "no token in nginx's access log" 0 "$n"
# Both stop cleanly on SIGTERM (exit 0; with a sanitizer build, no report either).
for p in $rpid $spid; do
    kill -TERM "$p"
    st=0; wait "$p" || st=$?
    [ $st = 0 ] || { echo "FAIL  pid $p exited $st on SIGTERM"; tail -n 20 "$T/server.log" "$T/relay.log"; exit 1; }
done
echo "ok    server and relay exit 0 on SIGTERM"
