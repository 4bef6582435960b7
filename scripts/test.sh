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

mm_turbo_env
turbo=(npx --no-install turbo)

step "[1/5] real test peers"
bash scripts/setup.sh

step "[2/5] npm dependencies"
ensure_node_modules

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
