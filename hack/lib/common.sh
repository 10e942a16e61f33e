# Shared helpers for hack/*.sh. Source it; do not run it.
# Everything here writes progress to stderr; stdout is left to the caller.

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR="$HACK_DIR/tools"

log() { printf '%s: %s\n' "${LOG_PREFIX:-hack}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Root of the build cache, outside the clone so that it survives `git clean`.
cache_root() {
  printf '%s\n' "${CAPMAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capmaas}"
}

require_go() {
  command -v go >/dev/null 2>&1 ||
    die "'go' is not on PATH; Go >= 1.26 is needed to build the test control plane (or set KUBEBUILDER_ASSETS)"
}

# Version of a module required by hack/tools/go.mod, read from the file itself
# so that a warm cache needs no Go at all.
tools_module_version() {
  local v
  v=$(awk -v m="$1" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v/ { print $2; exit }
  ' "$TOOLS_DIR/go.mod")
  [[ -n "$v" ]] || die "module $1 is not required by $TOOLS_DIR/go.mod"
  printf '%s\n' "$v"
}

# with_lock FILE CMD...: run CMD while holding an exclusive flock on FILE, so
# that concurrent test runs build a cache entry once.
with_lock() {
  local lock=$1; shift
  mkdir -p "$(dirname "$lock")"
  if command -v flock >/dev/null 2>&1; then
    (
      flock 9
      "$@"
    ) 9>"$lock"
  else
    log "flock not found; building without a lock"
    "$@"
  fi
}

# publish_dir TMP DEST: atomically move a fully built TMP directory to DEST,
# replacing an older DEST if there is one.
publish_dir() {
  local tmp=$1 dest=$2 old=""
  if [[ -e "$dest" ]]; then
    old="$dest.old.$$"
    mv -T "$dest" "$old"
  fi
  mv -T "$tmp" "$dest"
  [[ -z "$old" ]] || rm -rf "$old"
}
