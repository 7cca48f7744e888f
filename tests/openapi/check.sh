#!/bin/sh
# check.sh — `make check-openapi`: validates openapi.yaml with a real OpenAPI validator
# (@apidevtools/swagger-parser from the npm registry, pinned by package-lock.json and
# installed into tests/openapi/node_modules by `npm ci` when missing).  Prints PASS or FAIL
# and exits non-zero on failure.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SPEC=${1:-$ROOT/openapi.yaml}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "openapi: FAIL: node and npm are needed (make deps installs them)" >&2
    exit 1
fi
if [ ! -f "$SPEC" ]; then
    echo "openapi: FAIL: $SPEC does not exist" >&2
    exit 1
fi
if [ ! -d "$HERE/node_modules/@apidevtools/swagger-parser" ]; then
    echo "openapi: installing the validator (npm ci in tests/openapi)"
    if ! (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error); then
        echo "openapi: FAIL: npm ci did not install the validator" >&2
        exit 1
    fi
fi
exec node "$HERE/validate.mjs" "$SPEC"
