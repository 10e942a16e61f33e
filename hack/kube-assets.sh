#!/usr/bin/env bash
# Prints the directory to use as KUBEBUILDER_ASSETS: a directory holding the
# `etcd`, `kube-apiserver` and `kubectl` binaries that tests run.
#
# The binaries are built from the Go module proxy by hack/tools (see its go.mod
# for the pinned Kubernetes and etcd versions) and cached by version under
#   ${CAPMAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capmaas}/kube-assets/<k8s-version>/
# A missing or incomplete entry is built first (takes minutes when cold).
#
# KUBE_VERSION=1.29 (a minor: the newest patch the Go module proxy serves is
# used) or KUBE_VERSION=1.29.6 (exact) builds another release's kube-apiserver
# from a throwaway Go module that requires k8s.io/kubernetes at that version
# (each staging module pinned to the matching v0.x.y), cached beside the
# default one under kube-assets/<version>/. Its etcd and kubectl are the
# default release's (built first if needed): etcd 3.6 serves the etcd 3.5
# client of older apiservers, and the tests drive the apiserver over HTTP.
# Unset, or naming the pinned release (or its minor): the hack/tools build above.
#
# If KUBEBUILDER_ASSETS is already set (e.g. by setup-envtest), it is checked
# and printed unchanged; nothing is built.
#
# stdout: exactly one line, the directory. Progress goes to stderr.
set -euo pipefail
LOG_PREFIX=kube-assets
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Bump when the way the binaries are built changes, to force a rebuild.
RECIPE=1
REQUIRED_BINARIES=(etcd kube-apiserver)
BUILT_BINARIES=(etcd kube-apiserver kubectl)

check_dir() { # DIR: the required binaries are there and executable
  local b
  for b in "${REQUIRED_BINARIES[@]}"; do
    [[ -x "$1/$b" ]] || return 1
  done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  check_dir "$KUBEBUILDER_ASSETS" ||
    die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not hold executable ${REQUIRED_BINARIES[*]}"
  printf '%s\n' "$KUBEBUILDER_ASSETS"
  exit 0
fi

k8s_version=$(tools_module_version k8s.io/kubernetes)

# KUBE_VERSION other than the pinned release: a separate recipe (below).
requested=${KUBE_VERSION:-}
requested=${requested#v}
pinned_minor=${k8s_version%.*}
if [[ -n "$requested" && "v$requested" != "$k8s_version" && "v$requested" != "$pinned_minor" ]]; then
  [[ "$requested" =~ ^1\.[0-9]+(\.[0-9]+)?$ ]] ||
    die "KUBE_VERSION=$KUBE_VERSION: expected 1.MINOR or 1.MINOR.PATCH"
  # shellcheck source=lib/kube-version.sh
  source "$HACK_DIR/lib/kube-version.sh"
  kube_version_assets "$requested"
  exit 0
fi
etcd_version=$(tools_module_version go.etcd.io/etcd/server/v3)
assets_root="$(cache_root)/kube-assets"
dest="$assets_root/$k8s_version"
stamp_text="recipe $RECIPE
kubernetes $k8s_version
etcd $etcd_version"

is_complete() {
  local b
  [[ -f "$dest/versions.txt" && "$(cat "$dest/versions.txt")" == "$stamp_text" ]] || return 1
  for b in "${BUILT_BINARIES[@]}"; do
    [[ -x "$dest/$b" ]] || return 1
  done
}

build() {
  is_complete && return 0 # another process built it while we waited
  require_go
  local tmp started ldflags build_date minor
  started=$(date +%s)
  mkdir -p "$assets_root"
  tmp=$(mktemp -d "$assets_root/.build-$k8s_version.XXXXXX")
  # An interrupted build leaves only this temp dir behind, never a half-filled $dest.
  trap 'rm -rf "$tmp"' EXIT

  cd "$TOOLS_DIR"
  # /version must report the real release, not v0.0.0-master (see
  # k8s.io/kubernetes hack/lib/version.sh for the variables). The build date
  # is the module's release time, so that rebuilds are reproducible.
  build_date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  minor=${k8s_version#v1.}
  minor=${minor%%.*}
  ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$build_date"
  done

  log "building kube-apiserver $k8s_version (cold: many minutes on 2 cores) ..."
  go build -buildvcs=false -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  log "building etcd $etcd_version ..."
  go build -buildvcs=false -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
  log "building kubectl $k8s_version ..."
  go build -buildvcs=false -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl >&2

  printf '%s\n' "$stamp_text" >"$tmp/versions.txt"
  chmod 0755 "$tmp"
  publish_dir "$tmp" "$dest"
  trap - EXIT
  log "built in $(($(date +%s) - started))s: $dest"
}

if ! is_complete; then
  with_lock "$assets_root/.lock" build
fi
is_complete || die "building $dest failed"
printf '%s\n' "$dest"
