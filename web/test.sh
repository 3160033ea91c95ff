#!/usr/bin/env bash
# web/test.sh: everything the web part of Ovation needs checked, in one
# command (the Makefile calls it). Installs the locked dependencies, type-
# checks, builds the SDK and the demo, runs the unit tests (Vitest) and the
# browser end-to-end tests (playwright-core + Debian's Chromium against a
# real `ovation dev` built from this repository). Exits non-zero on any
# failure.
#
#   OVATION_SKIP_E2E=1       unit tests only
#   OVATION_BIN=path         use this ovation binary instead of building one
#   OVATION_CHROMIUM=path    Chromium to drive (default /usr/bin/chromium)
#   OVATION_E2E_HTTP_ADDR / OVATION_E2E_KAFKA_ADDR   ports of the dev server
#   (the audience, token, moderation, SSE and custom-types tests:
#   OVATION_E2E_AUDIENCE_*, OVATION_E2E_TOKEN_*, OVATION_E2E_MOD_*,
#   OVATION_E2E_SSE_* and OVATION_E2E_CUSTOM_*, default 127.0.0.1:18481/19481,
#   127.0.0.1:18482/19482, 127.0.0.1:18483/19483, 127.0.0.1:18484/19484 and
#   127.0.0.1:18485/19485)
set -euo pipefail
cd "$(dirname "$0")"

echo "== web: npm ci"
npm ci --no-audit --no-fund

echo "== web: typecheck"
npm run --silent typecheck

echo "== web: build (SDK, demo into cmd/ovation/demoassets)"
npm run --silent build
if git rev-parse --git-dir >/dev/null 2>&1; then
  if ! git diff --quiet -- ../cmd/ovation/demoassets || [ -n "$(git ls-files --others --exclude-standard -- ../cmd/ovation/demoassets)" ]; then
    git status --short -- ../cmd/ovation/demoassets
    echo "web: the committed demo build in cmd/ovation/demoassets is stale; commit the rebuilt files" >&2
    exit 1
  fi
fi

echo "== web: unit tests"
npm test

if [ "${OVATION_SKIP_E2E:-}" = 1 ]; then
  echo "== web: e2e skipped (OVATION_SKIP_E2E=1)"
  exit 0
fi
chromium="${OVATION_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "web: $chromium not found; install Debian's chromium (apt-get install chromium) or set OVATION_SKIP_E2E=1" >&2
  exit 1
fi
echo "== web: e2e (Chromium against ovation dev)"
npm run e2e
