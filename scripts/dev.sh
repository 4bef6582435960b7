#!/usr/bin/env bash
# `npm run dev`: the whole Mailmesh platform on this machine. Installs what it needs
# first (peers, npm dependencies, a build), each step idempotent and cached, then runs
# `mailmesh dev` in the foreground. Extra arguments go to it, e.g.
# `npm run dev -- --port-base 30000 --data /tmp/mm`. Ctrl-C stops everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. scripts/lib.sh

mm_turbo_env
turbo=(npx --no-install turbo)

step "[1/3] peers (nats-server, MinIO, clamd, spamd, ...)"
bash scripts/setup.sh

step "[2/3] npm dependencies"
ensure_node_modules

step "[3/3] generate + build"
"${turbo[@]}" run build --output-logs=errors-only || die "build failed" "run \`npx turbo run build\` to see the compiler errors"
ok "built ($(elapsed))"

# exec: signals from the terminal reach `mailmesh dev` itself, which stops its children.
exec node packages/cli/dist/bin.js dev "$@"
