#!/usr/bin/env bash
# Prints a directory holding the Cluster API CRDs that tests install: all core
# CRD bases (Cluster, Machine, MachineSet, MachineDeployment, MachinePool, ...)
# plus the kubeadm bootstrap and control-plane CRDs, each labelled with the
# contract labels `cluster.x-k8s.io/v1beta1: v1beta1` and
# `cluster.x-k8s.io/v1beta2: v1beta2`.
#
# The CRDs come from the sigs.k8s.io/cluster-api Go module (downloaded through
# the Go module proxy and checked against the checksum database) and are cached
# under ${CAPMAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capmaas}/capi-crds/<version>/.
# CAPI_VERSION overrides the version (default below).
#
# The bases carry no conversion webhook, so only the storage version (v1beta2)
# can be used for objects.
#
# stdout: exactly one line, the directory. Progress goes to stderr.
set -euo pipefail
LOG_PREFIX=capi-crds
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CAPI_VERSION=${CAPI_VERSION:-v1.14.0}
RECIPE=1
# Module subdirectories whose CRD bases are installed (layout of CAPI >= v1.14).
CRD_DIRS=(core/config/crd/bases bootstrap/kubeadm/config/crd/bases controlplane/kubeadm/config/crd/bases)
LABELS=(cluster.x-k8s.io/v1beta1=v1beta1 cluster.x-k8s.io/v1beta2=v1beta2)

crds_root="$(cache_root)/capi-crds"
dest="$crds_root/$CAPI_VERSION"
stamp_text="recipe $RECIPE
cluster-api $CAPI_VERSION
labels ${LABELS[*]}"

is_complete() {
  [[ -f "$dest/versions.txt" && "$(cat "$dest/versions.txt")" == "$stamp_text" ]] &&
    compgen -G "$dest/*.yaml" >/dev/null
}

build() {
  is_complete && return 0
  require_go
  local tmp scratch module_dir d files=()
  mkdir -p "$crds_root"
  tmp=$(mktemp -d "$crds_root/.build-$CAPI_VERSION.XXXXXX")
  scratch=$(mktemp -d)
  trap 'rm -rf "$tmp" "$scratch"' EXIT

  log "downloading sigs.k8s.io/cluster-api@$CAPI_VERSION ..."
  # Outside any module, so the tools module's dependency graph is untouched.
  module_dir=$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/cluster-api@$CAPI_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -n "$module_dir" && -d "$module_dir" ]] || die "go mod download gave no module directory"

  for d in "${CRD_DIRS[@]}"; do
    [[ -d "$module_dir/$d" ]] || die "$module_dir has no $d (CAPI layout changed?)"
    files+=("$module_dir/$d"/*.yaml)
  done

  local label_args=()
  for d in "${LABELS[@]}"; do label_args+=(-label "$d"); done
  (cd "$TOOLS_DIR" && go run -buildvcs=false ./cmd/crd-labels "${label_args[@]}" -out "$tmp" "${files[@]}") >&2

  printf '%s\n' "$stamp_text" >"$tmp/versions.txt"
  chmod 0755 "$tmp"
  publish_dir "$tmp" "$dest"
  rm -rf "$scratch"
  trap - EXIT
  log "wrote ${#files[@]} CRD files to $dest"
}

if ! is_complete; then
  with_lock "$crds_root/.lock" build
fi
is_complete || die "preparing $dest failed"
printf '%s\n' "$dest"
