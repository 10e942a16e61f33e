#!/usr/bin/env bash
# `make demo-maas`: the MAAS lifecycle example against the real maas-sim binary.
#
# Builds maas-sim and the `lifecycle` example, starts maas-sim on a free
# loopback port, reads MAAS_API_KEY= and MAAS_ENDPOINT= from its stdout, runs
# the example against it and exits with the example's status. maas-sim is
# stopped on every exit path (trap), Ctrl-C included.
#
# Environment: CARGO (default cargo), CARGO_TARGET_DIR (default <repo>/target),
# DEMO_MAAS_VERSION (maas-sim --maas-version, default 3.6),
# DEMO_DEPLOY_SECONDS (default 3), DEMO_MAAS_SIM_ARGS (extra maas-sim flags),
# DEMO_LIFECYCLE_ARGS (extra example flags), DEMO_MAAS_NO_BUILD=1 (use the
# binaries already in the target directory).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cargo="${CARGO:-cargo}"
target="${CARGO_TARGET_DIR:-$root/target}"

if [ -z "${DEMO_MAAS_NO_BUILD:-}" ]; then
  echo "demo-maas: building maas-sim and the lifecycle example" >&2
  (cd "$root" && "$cargo" build --quiet -p maas-sim-bin --bin maas-sim -p maas-examples --example lifecycle)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/demo-maas.XXXXXX")"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# setsid: a Ctrl-C on the terminal reaches the example (which then releases
# its machines) but not the simulator, which the trap stops afterwards.
# shellcheck disable=SC2086 # DEMO_MAAS_SIM_ARGS is a list of flags
setsid "$target/debug/maas-sim" --listen 127.0.0.1:0 \
  --inventory "$root/examples/demo-maas/inventory.yaml" \
  --maas-version "${DEMO_MAAS_VERSION:-3.6}" \
  --deploy-seconds "${DEMO_DEPLOY_SECONDS:-3}" --release-seconds 1 \
  --seed 7 ${DEMO_MAAS_SIM_ARGS:-} \
  >"$work/sim.out" 2>"$work/sim.log" </dev/null &
sim_pid=$!

endpoint="" key=""
for _ in $(seq 1 300); do
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "demo-maas: maas-sim exited early:" >&2
    tail -n 20 "$work/sim.log" >&2
    exit 1
  fi
  key="$(sed -n 's/^MAAS_API_KEY=//p' "$work/sim.out")"
  endpoint="$(sed -n 's/^MAAS_ENDPOINT=//p' "$work/sim.out")"
  [ -n "$key" ] && [ -n "$endpoint" ] && break
  sleep 0.1
done
if [ -z "$key" ] || [ -z "$endpoint" ]; then
  echo "demo-maas: maas-sim printed no MAAS_API_KEY=/MAAS_ENDPOINT= within 30s" >&2
  exit 1
fi
echo "demo-maas: maas-sim (pid $sim_pid) serves $endpoint" >&2

status=0
# shellcheck disable=SC2086
MAAS_ENDPOINT="$endpoint" MAAS_API_KEY="$key" \
  "$target/debug/examples/lifecycle" --poll 0.2 ${DEMO_LIFECYCLE_ARGS:-} || status=$?
exit "$status"
