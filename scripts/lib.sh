# shellcheck shell=bash
# Shared helpers for the Mailmesh setup scripts: progress lines, loud failures,
# and the cache layout outside the repository.

MAILMESH_CACHE="${MAILMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mailmesh}"
MAILMESH_BIN="$MAILMESH_CACHE/bin"
export MAILMESH_CACHE MAILMESH_BIN

_mm_t0=$(date +%s)

step() { printf '\033[1m==>\033[0m %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
ok() { printf '    \033[32mok\033[0m %s\n' "$*"; }

# die prints the exact failing step and what to do about it, then exits 1.
die() {
  printf '\033[31merror:\033[0m %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf '       fix: %s\n' "$2" >&2
  exit 1
}

elapsed() { echo "$(( $(date +%s) - _mm_t0 ))s"; }

# run_logged LOGFILE CMD... runs CMD with output to LOGFILE; on failure prints the
# log's tail so the exact cause is on screen, not buried in a file.
run_logged() {
  local log="$1"; shift
  if ! "$@" >"$log" 2>&1; then
    printf '\033[31merror:\033[0m command failed: %s\n' "$*" >&2
    printf '       log: %s (last 30 lines follow)\n' "$log" >&2
    tail -n 30 "$log" | sed 's/^/       | /' >&2
    return 1
  fi
}

# Shared by the test and dev entry points: turbo without telemetry, its task
# cache beside the peers (a fresh clone on a warm machine reuses it).
mm_turbo_env() {
  export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
  export TURBO_CACHE_DIR="${TURBO_CACHE_DIR:-$MAILMESH_CACHE/turbo}"
  export PATH="$MAILMESH_BIN:$PATH"
}

# ensure_node_modules: `npm ci` only when package-lock.json or node changed since
# the last install (a stamp in node_modules records both).
ensure_node_modules() {
  local stamp
  stamp="$( (cat package-lock.json; node --version) | sha256sum | cut -c1-16)"
  if [ -f node_modules/.mailmesh-stamp ] && [ "$(cat node_modules/.mailmesh-stamp)" = "$stamp" ]; then
    ok "node_modules up to date"
    return
  fi
  info "npm ci (first run or package-lock.json changed)"
  run_logged "$MAILMESH_CACHE/logs/npm-ci.log" npm ci --no-audit --no-fund \
    || die "npm ci failed" "check the npm registry is reachable; see the log above"
  echo "$stamp" > node_modules/.mailmesh-stamp
  ok "installed ($(elapsed))"
}
