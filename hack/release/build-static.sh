#!/usr/bin/env bash
# Usage: hack/release/build-static.sh [PROFILE] [OUT_DIR]
#
# Builds fully static (musl, no glibc, no dynamic loader) capmaas-manager and
# maas-sim binaries and copies them to OUT_DIR (default out/static). The
# Dockerfile runs it with PROFILE=release; crates/release-tests runs it with
# PROFILE=dev to check that the static build works and yields a static binary.
#
# CAPMAAS_STATIC_TARGET overrides the target (default <arch>-unknown-linux-musl
# of this machine). The target's Rust std must be installed
# (`rustup target add x86_64-unknown-linux-musl`); ring's C code is compiled
# with musl-gcc when present (Debian: musl-tools), else with the system cc.
#
# stdout: the paths of the two binaries. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

profile=${1:-release}
out=${2:-out/static}
target=${CAPMAAS_STATIC_TARGET:-$(uname -m)-unknown-linux-musl}

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  echo "build-static: the Rust target $target is not installed; run: rustup target add $target" >&2
  exit 1
fi
if command -v musl-gcc >/dev/null 2>&1; then
  cc_var="CC_${target//-/_}"
  export "$cc_var=${!cc_var:-musl-gcc}"
fi

cargo build --locked --profile "$profile" --target "$target" \
  -p capmaas-manager --bin capmaas-manager -p maas-sim-bin --bin maas-sim >&2

case "$profile" in
  dev | test) dir=debug ;;
  bench) dir=release ;;
  *) dir=$profile ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$out"
for bin in capmaas-manager maas-sim; do
  cp "$target_dir/$target/$dir/$bin" "$out/$bin"
  printf '%s\n' "$out/$bin"
done
