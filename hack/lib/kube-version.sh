# kube_version_assets VERSION: print the KUBEBUILDER_ASSETS directory for a
# Kubernetes release other than the one pinned in hack/tools/go.mod, building
# it first if needed. Sourced by hack/kube-assets.sh (see its header); expects
# lib/common.sh to be sourced already.
#
# VERSION is 1.MINOR (the newest 1.MINOR.PATCH the Go module proxy serves, or,
# offline, the newest one already cached) or 1.MINOR.PATCH.
#
# The apiserver is built from a throwaway module under the cache:
#   require k8s.io/kubernetes vVERSION
#   replace k8s.io/<staging> => k8s.io/<staging> v0.MINOR.PATCH   (each one that
#           release's own go.mod replaces with ./staging/src/...)
# so that every dependency is at the version that release asks for. It is built
# with the `providerless` tag (no in-tree cloud providers, which the tests do not
# use and whose k8s.io/legacy-cloud-providers sources the proxy does not serve
# for every release) and -mod=mod, which fetches only the packages that build
# needs.

# Bump when the way these binaries are built changes, to force a rebuild.
KUBE_VERSION_RECIPE=1

# newest complete cached entry for a minor ("" if none)
kv_cached_for_minor() {
  local minor=$1 d best=""
  for d in "$(cache_root)/kube-assets"/v"$minor".*; do
    [[ -f "$d/versions.txt" && -x "$d/kube-apiserver" && -x "$d/etcd" ]] || continue
    best=$d
  done
  [[ -z "$best" ]] || basename "$best"
}

kv_resolve() { # 1.MINOR[.PATCH] -> v1.MINOR.PATCH
  local req=$1 v
  if [[ "$req" =~ ^1\.[0-9]+\.[0-9]+$ ]]; then
    printf 'v%s\n' "$req"
    return
  fi
  if command -v go >/dev/null 2>&1 &&
    v=$(cd "$TOOLS_DIR" && go list -m -versions k8s.io/kubernetes 2>/dev/null | tr ' ' '\n' |
      grep -E "^v${req//./\\.}\.[0-9]+$" | sort -t. -k3,3n | tail -n1) && [[ -n "$v" ]]; then
    printf '%s\n' "$v"
    return
  fi
  v=$(kv_cached_for_minor "$req")
  [[ -n "$v" ]] || die "no k8s.io/kubernetes $req.x found on the Go module proxy nor in the cache"
  printf '%s\n' "$v"
}

kube_version_assets() {
  local version default_dir etcd_version stamp dest assets_root
  version=$(kv_resolve "$1")
  assets_root="$(cache_root)/kube-assets"
  dest="$assets_root/$version"
  # etcd and kubectl come from the default release's entry.
  default_dir=$(KUBE_VERSION="" "$HACK_DIR/kube-assets.sh")
  etcd_version=$(tools_module_version go.etcd.io/etcd/server/v3)
  stamp="recipe kube-version-$KUBE_VERSION_RECIPE
kubernetes $version
etcd $etcd_version"

  kv_complete() {
    [[ -f "$dest/versions.txt" && "$(cat "$dest/versions.txt")" == "$stamp" ]] || return 1
    local b
    for b in etcd kube-apiserver kubectl; do [[ -x "$dest/$b" ]] || return 1; done
  }

  kv_build() {
    kv_complete && return 0 # another process built it while we waited
    require_go
    local tmp started mod gomod minor ldflags build_date pkg
    started=$(date +%s)
    tmp=$(mktemp -d "$assets_root/.build-$version.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    mod="$tmp/module"
    mkdir -p "$mod"
    minor=${version#v1.}
    minor=${minor%%.*}
    log "resolving k8s.io/kubernetes $version ..."
    gomod=$(cd "$TOOLS_DIR" && go mod download -json "k8s.io/kubernetes@$version" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$gomod" ]] || die "could not download the go.mod of k8s.io/kubernetes $version"
    {
      printf 'module capmaas-kube-assets\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$version"
      # each "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.MINOR.PATCH"
      awk -v v="v0.${version#v1.}" '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " " v }' "$gomod"
      printf ')\n'
    } >"$mod/go.mod"

    build_date=$(cd "$mod" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$build_date"
    done
    log "building kube-apiserver $version (cold: many minutes on 2 cores) ..."
    (cd "$mod" && go build -mod=mod -tags providerless -buildvcs=false -ldflags "$ldflags" -o "$tmp/kube-apiserver" \
      k8s.io/kubernetes/cmd/kube-apiserver >&2) || die "building kube-apiserver $version failed"
    cp "$default_dir/etcd" "$default_dir/kubectl" "$tmp/"
    rm -rf "$mod"
    printf '%s\n' "$stamp" >"$tmp/versions.txt"
    chmod 0755 "$tmp"
    publish_dir "$tmp" "$dest"
    trap - EXIT
    log "built in $(($(date +%s) - started))s: $dest"
  }

  if ! kv_complete; then
    with_lock "$assets_root/.lock-$version" kv_build
  fi
  kv_complete || die "building $dest failed"
  printf '%s\n' "$dest"
}
