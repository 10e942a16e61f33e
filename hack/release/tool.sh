#!/usr/bin/env bash
# Usage: hack/release/tool.sh clusterctl|capi-manager|helm
#
# Prints the path of a `clusterctl`, `capi-manager` (the Cluster API core
# manager, package sigs.k8s.io/cluster-api/core) or `helm` binary built from
# the Go module proxy by the tools modules under hack/release-tools/ (their
# go.mod pins the versions: sigs.k8s.io/cluster-api and helm.sh/helm/v3;
# clusterctl and capi-manager share release-tools/clusterctl, so they are
# always the same release). Binaries are
# cached by version outside the clone, under
#   ${CAPMAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capmaas}/release-tools/<tool>/<version>/
# A missing entry is built first (a few minutes when the Go caches are cold).
#
# CLUSTERCTL_BIN / CAPI_MANAGER_BIN / HELM_BIN, when set, are checked and printed instead.
#
# stdout: exactly one line, the binary. Progress goes to stderr.
set -euo pipefail
LOG_PREFIX=release-tools
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

RECIPE=1
tool=${1:-}
case "$tool" in
  clusterctl) module=sigs.k8s.io/cluster-api; pkg=sigs.k8s.io/cluster-api/cmd/clusterctl; override=${CLUSTERCTL_BIN:-} ;;
  capi-manager) module=sigs.k8s.io/cluster-api; pkg=sigs.k8s.io/cluster-api/core; override=${CAPI_MANAGER_BIN:-} ;;
  helm) module=helm.sh/helm/v3; pkg=helm.sh/helm/v3/cmd/helm; override=${HELM_BIN:-} ;;
  *) die "usage: $0 clusterctl|capi-manager|helm" ;;
esac
module_name=$tool
[[ "$tool" == capi-manager ]] && module_name=clusterctl

if [[ -n "$override" ]]; then
  [[ -x "$override" ]] || die "$override (from the environment) is not an executable $tool"
  printf '%s\n' "$override"
  exit 0
fi

module_dir="$HACK_DIR/release-tools/$module_name"
version=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$module_dir/go.mod")
[[ -n "$version" ]] || die "$module is not required by $module_dir/go.mod"
root="$(cache_root)/release-tools/$tool"
dest="$root/$version"
stamp_text="recipe $RECIPE
$module $version"

is_complete() {
  [[ -x "$dest/$tool" && -f "$dest/versions.txt" && "$(cat "$dest/versions.txt")" == "$stamp_text" ]]
}

build() {
  is_complete && return 0 # another process built it while we waited
  require_go
  local tmp started ldflags=(-s -w)
  started=$(date +%s)
  mkdir -p "$root"
  tmp=$(mktemp -d "$root/.build-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  case "$tool" in
    # All report their version from ldflags; without them they print v0.0.0.
    clusterctl) ldflags+=(-X "sigs.k8s.io/cluster-api/version.gitVersion=$version" -X sigs.k8s.io/cluster-api/version.gitMajor=1) ;;
    # The manager logs "Version: <gitVersion>" at start.
    capi-manager)
      local minor=${version#v*.}
      ldflags+=(-X "sigs.k8s.io/cluster-api/version.gitVersion=$version" -X sigs.k8s.io/cluster-api/version.gitMajor=1 -X "sigs.k8s.io/cluster-api/version.gitMinor=${minor%%.*}")
      ;;
    helm) ldflags+=(-X "helm.sh/helm/v3/internal/version.version=$version") ;;
  esac
  log "building $tool $version (cold: minutes on 2 cores) ..."
  (cd "$module_dir" && go build -buildvcs=false -trimpath -ldflags "${ldflags[*]}" -o "$tmp/$tool" "$pkg") >&2
  printf '%s\n' "$stamp_text" >"$tmp/versions.txt"
  chmod 0755 "$tmp"
  publish_dir "$tmp" "$dest"
  trap - EXIT
  log "built in $(($(date +%s) - started))s: $dest/$tool"
}

if ! is_complete; then
  with_lock "$root/.lock" build
fi
is_complete || die "building $tool $version failed"
printf '%s\n' "$dest/$tool"
