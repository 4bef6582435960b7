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
