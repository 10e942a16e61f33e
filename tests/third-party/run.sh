#!/usr/bin/env bash
# `make test-clients`: MAAS clients we did not write, driving the maas-sim binary.
#   1. python-libmaas and oauthlib's RFC 5849 HMAC-SHA1/PLAINTEXT signer (pinned in
#      python/requirements.txt) in a cached venv: pytest python/
#   2. juju's gomaasapi v2 (Debian's golang-github-juju-gomaasapi-dev): go test ./... in go/
# Missing prerequisites fail the run with a message; nothing is skipped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
CARGO="${CARGO:-cargo}"
PYTHON="${PYTHON:-python3}"
GO="${GO:-go}"
GOMAASAPI_SRC=/usr/share/gocode/src/github.com/juju/gomaasapi

die() { echo "test-clients: $*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Python >= 3.10 is needed for python-libmaas)"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON cannot create venvs: install python3-venv (apt-get install python3-venv)"
command -v "$GO" >/dev/null || die "go not found on PATH"
[ -f "$GOMAASAPI_SRC/go.mod" ] \
  || die "gomaasapi source missing at $GOMAASAPI_SRC: apt-get install golang-github-juju-gomaasapi-dev"

# --- the maas-sim binary -----------------------------------------------------
echo "test-clients: building maas-sim" >&2
sim_bin="$(cd "$root" && "$CARGO" build -p maas-sim-bin --message-format=json-render-diagnostics \
  | "$PYTHON" -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "maas-sim" and m.get("executable"):
        print(m["executable"])')"
[ -x "$sim_bin" ] || die "cargo did not produce the maas-sim binary"
export MAAS_SIM_BIN="$sim_bin"

# --- python-libmaas venv, cached outside the clone by requirements hash -----
req="$here/python/requirements.txt"
cache="${CAPMAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capmaas}"
key="$("$PYTHON" -c 'import hashlib,sys,platform
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(platform.python_version().encode())
print(h.hexdigest()[:16])' "$req")"
venv="$cache/venv-libmaas-$key"
mkdir -p "$cache"
(
  flock 9
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    echo "test-clients: creating $venv" >&2
    tmp="$(mktemp -d "$cache/.venv-build-XXXXXX")"
    "$PYTHON" -m venv "$tmp"
    "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
    touch "$tmp/.complete"
    # Only `bin/python -m ...` is used, so the venv works after the move.
    rm -rf "$venv"
    mv "$tmp" "$venv"
  fi
) 9>"$cache/.venv-libmaas.lock"

status=0
echo "test-clients: python-libmaas $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("python-libmaas"))') against maas-sim" >&2
(cd "$here/python" && "$venv/bin/python" -m pytest -p no:cacheprovider -q) || status=1

# --- gomaasapi ---------------------------------------------------------------
echo "test-clients: juju/gomaasapi v2 (Debian source) against maas-sim" >&2
(cd "$here/go" && GOFLAGS=-mod=mod "$GO" test -count=1 ./...) || status=1

exit "$status"
