#!/usr/bin/env bash
# The whole Mailmesh test suite: exactly what CI runs (.ci/run calls `npm test`).
# Installs what it needs first (peers, npm dependencies), each step idempotent and
# cached outside the repository, then builds, checks and tests every package.
# Extra arguments go to the test step, e.g. `npm test -- --filter=@mailmesh/runtime`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. scripts/lib.sh

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
# Turbo's task cache lives beside the peers, so a fresh clone on a warm machine reuses it.
export TURBO_CACHE_DIR="${TURBO_CACHE_DIR:-$MAILMESH_CACHE/turbo}"
export PATH="$MAILMESH_BIN:$PATH"
turbo=(npx --no-install turbo)

step "[1/5] real test peers"
bash scripts/setup.sh

step "[2/5] npm dependencies"
stamp="$( (cat package-lock.json; node --version) | sha256sum | cut -c1-16)"
if [ -f node_modules/.mailmesh-stamp ] && [ "$(cat node_modules/.mailmesh-stamp)" = "$stamp" ]; then
  ok "node_modules up to date"
else
  info "npm ci (first run or package-lock.json changed)"
  run_logged "$MAILMESH_CACHE/logs/npm-ci.log" npm ci --no-audit --no-fund \
    || die "npm ci failed" "check the npm registry is reachable; see the log above"
  echo "$stamp" > node_modules/.mailmesh-stamp
  ok "installed ($(elapsed))"
fi

step "[3/5] generate + build"
"${turbo[@]}" run build --output-logs=errors-only || die "build failed" "run \`npx turbo run build\` to see the compiler errors"
ok "built ($(elapsed))"

step "[4/5] static checks: format, lint, typecheck"
npx --no-install prettier --check --log-level=warn . || die "formatting differs" "run \`npm run format\`"
"${turbo[@]}" run lint typecheck --output-logs=errors-only || die "lint or typecheck failed" "run \`npx turbo run lint typecheck\`"
ok "clean ($(elapsed))"

step "[5/5] tests against real peers"
"${turbo[@]}" run test --concurrency=1 --output-logs=full "$@" || die "tests failed" "the failing package's output is above"
step "all tests passed in $(elapsed)"
