#!/bin/bash
# healthcheck.sh — the images' HEALTHCHECK (installed as roomstate-healthcheck): GET /healthz
# over plain HTTP with bash's /dev/tcp, so the image needs no curl.  Exit 0 on a 200.
#
#   roomstate-healthcheck server|relay [PATH]
#
# The port comes from ROOMSTATE_LISTEN (server) or ROOMSTATE_RELAY_LISTEN (relay); a
# wildcard listen address (0.0.0.0, [::]) is probed on loopback.
set -u
case "${1:-server}" in
server) listen=${ROOMSTATE_LISTEN:-127.0.0.1:8080} ;;
relay) listen=${ROOMSTATE_RELAY_LISTEN:-127.0.0.1:8090} ;;
*) echo "usage: roomstate-healthcheck server|relay [PATH]" >&2; exit 2 ;;
esac
path=${2:-/healthz}
port=${listen##*:}
host=${listen%:*}
host=${host#[}
host=${host%]}
case "$host" in
'' | 0.0.0.0 | '*') host=127.0.0.1 ;;
:: ) host=::1 ;;
esac

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3 || exit 1
case "$status" in
"HTTP/1."?" 200 "*) exit 0 ;;
*) echo "roomstate-healthcheck: $host:$port$path answered: ${status%$'\r'}" >&2; exit 1 ;;
esac
