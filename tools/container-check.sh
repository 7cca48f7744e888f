#!/bin/sh
# tools/container-check.sh — builds the Dockerfile with podman, runs the image on a random
# loopback port and waits (bounded, CHECK_TIMEOUT seconds, default 60) until GET /healthz
# answers 200; prints the image size; always stops the container and removes the image.
# Run from the repository root (`make container-check`).  Needs podman (Debian package
# `podman`).  The Dockerfile's default base images are local ones
# (localhost/debian:bookworm[-slim]): when they are missing and `debootstrap` is installed,
# this script makes them once from the machine's own Debian apt source (no registry).
# Env: CHECK_TARGET= (Dockerfile target; empty: the default, the server; e.g. relay)
#      CHECK_PORT=8080 (the port the program listens on in the container; 8090 for the relay)
#      CHECK_TIMEOUT=60  PODMAN_RUN_ARGS="-e NAKAMA_SESSION_KEY=..." (extra `podman run` args)
set -eu
port=${CHECK_PORT:-8080}
timeout=${CHECK_TIMEOUT:-60}
[ -f Dockerfile ] || { echo "container-check: run it from the repository root" >&2; exit 2; }
command -v podman >/dev/null || {
    echo "container-check: podman is not installed (apt-get install podman)" >&2; exit 2; }
command -v curl >/dev/null || { echo "container-check: curl is needed" >&2; exit 2; }

if ! podman image exists localhost/debian:bookworm-slim; then
    command -v debootstrap >/dev/null || {
        echo "container-check: no localhost/debian:bookworm-slim image and no debootstrap" \
            "to make it (apt-get install debootstrap)" >&2; exit 2; }
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    root=$(mktemp -d /tmp/container-check-rootfs.XXXXXX)
    echo "container-check: making localhost/debian:bookworm from $mirror (once)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - localhost/debian:bookworm >/dev/null
    podman tag localhost/debian:bookworm localhost/debian:bookworm-slim
    rm -rf "$root"
fi

tag=localhost/roomstate-container-check:$$
name=roomstate-container-check-$$
log=$(mktemp /tmp/container-check.XXXXXX.log)
cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

echo "container-check: building $tag (log: $log)"
if ! podman build --pull=never --network host --format docker \
    ${CHECK_TARGET:+--target "$CHECK_TARGET"} -t "$tag" . >"$log" 2>&1; then
    tail -n 30 "$log"
    echo "container-check: build failed (log: $log)"
    exit 1
fi
podman image inspect "$tag" --format '{{.Size}}' |
    awk '{printf "container-check: image size %.0f MB\n", $1 / 1e6}'

hport=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086 # PODMAN_RUN_ARGS is split into arguments on purpose
podman run -d --init --name "$name" -p "127.0.0.1:$hport:$port" ${PODMAN_RUN_ARGS:-} "$tag" \
    >/dev/null

ok=0
deadline=$(($(date +%s) + timeout))
while [ "$(date +%s)" -lt "$deadline" ]; do
    code=$(curl -s -o /dev/null --noproxy '*' --max-time 2 -w '%{http_code}' \
        "http://127.0.0.1:$hport/healthz" || true)
    if [ "$code" = 200 ]; then ok=1; break; fi
    # the container exited: no point in waiting any longer
    [ "$(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
    sleep 0.2
done
podman logs "$name" 2>&1 | tail -n 8 || true
if [ "$ok" = 1 ]; then
    echo "container-check: ok (GET /healthz answered 200 from the container)"
else
    echo "container-check: GET /healthz did not answer 200 within $timeout s"
    exit 1
fi
