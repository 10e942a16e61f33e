# The two commands a newcomer needs: `make demo` and `make test`.
# `make lint` is what CI runs before the tests.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: all build test test-rust soak-properties test-doc test-clients test-release lint fmt fmt-check clippy deny demo demo-maas clean kube-assets crds release-manifests docs docker-build differential

all: build

build:
	$(CARGO) build --workspace --all-targets

## test: every test tier (unit, component, integration, real daemons)
test: test-rust test-doc test-clients test-release

test-rust:
	assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	$(CARGO) test --workspace --exclude release-tests --all-targets --no-fail-fast

## soak-properties: the lifecycle properties from random seeds with 50x the CI cases
## (PROPTEST_CASES to change); every failing case's seed is appended to
## $(SOAK_PROPERTIES_FAILURES): copy a line into the crate's .proptest-regressions to replay it in CI
SOAK_PROPERTIES_FAILURES ?= $(CURDIR)/target/soak/properties-failures.txt
soak-properties:
	mkdir -p "$$(dirname "$(SOAK_PROPERTIES_FAILURES)")"
	CAPMAAS_PROPTEST_SOAK="$(SOAK_PROPERTIES_FAILURES)" \
	$(CARGO) test --release -p machine-lifecycle --test properties \
	  || { echo "soak-properties: failing seeds in $(SOAK_PROPERTIES_FAILURES)" >&2; exit 1; }

## kube-assets: build (or find in the cache) etcd, kube-apiserver and the CAPI CRDs used by tests
kube-assets:
	hack/kube-assets.sh
	hack/capi-crds.sh

test-doc:
	$(CARGO) test --workspace --doc

## test-clients: python-libmaas and juju's gomaasapi against the maas-sim binary (docs/conformance.md)
test-clients:
	CARGO="$(CARGO)" tests/third-party/run.sh

## crds: regenerate config/crd/*.yaml from crates/capi-types (a test fails when they are stale)
crds:
	UPDATE_CRDS=1 $(CARGO) test -p capi-types --test crds
	UPDATE_CRDS=1 $(CARGO) test -p release-tests --test helm chart_crds

## lint: formatting, clippy on all targets with -D warnings, cargo-deny
lint: fmt-check clippy deny package-check semver-check

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

deny:
	$(CARGO) deny --log-level error check licenses bans sources

## demo: the main job on one machine: a real etcd + kube-apiserver, maas-sim and the capmaas-manager
## binary provision and release a mixed cluster (knobs: DEMO_MACHINES, DEMO_MAAS_VERSION,
## DEMO_NONINTERACTIVE=1; docs/demo.md). The first run builds etcd and kube-apiserver (~6 min).
demo:
	@echo "make demo: building maas-sim, capmaas-manager and capmaas-demo" >&2
	$(CARGO) build --quiet -p maas-sim-bin -p capmaas-manager -p capmaas-demo --bins
	@echo "make demo: finding etcd + kube-apiserver (the first run builds them from source with Go, ~6 min)" >&2
	@assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	"$${CARGO_TARGET_DIR:-target}/debug/capmaas-demo"

## differential: one request corpus to two MAAS endpoints, every difference and a score
## (MAAS_A, MAAS_A_KEY, MAAS_B, MAAS_B_KEY; optional MAAS_A_READY, MAAS_B_READY, DIFF_REPORT,
## DIFF_AUTH, DIFF_PREFIX; docs/differential.md)
differential:
	@test -n "$${MAAS_A:-}" -a -n "$${MAAS_A_KEY:-}" -a -n "$${MAAS_B:-}" -a -n "$${MAAS_B_KEY:-}" || \
	  { echo "make differential: set MAAS_A, MAAS_A_KEY, MAAS_B and MAAS_B_KEY (docs/differential.md)" >&2; exit 2; }
	MAAS_A="$(MAAS_A)" MAAS_A_KEY="$(MAAS_A_KEY)" MAAS_B="$(MAAS_B)" MAAS_B_KEY="$(MAAS_B_KEY)" \
	$(CARGO) run --quiet -p maas-differential -- run

## demo-maas: the MAAS lifecycle example (maas-api) against the real maas-sim binary (docs/demo.md)
demo-maas:
	CARGO="$(CARGO)" examples/demo-maas/run.sh

clean:
	$(CARGO) clean

# --- release artifacts (docs/release.md) ---------------------------------------
VERSION ?= v$(shell awk -F'"' '/^version = /{print $$2; exit}' Cargo.toml)

## test-release: templates and components through the real clusterctl, the Helm chart through
## the real helm, our controller next to the real CAPI core manager (all three built from the Go
## module proxy, cached), a real apiserver, the docs book
## (mdbook), the Dockerfile and its static build (needs the musl target and musl-tools)
test-release:
	assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	clusterctl="$$(hack/release/tool.sh clusterctl)"; helm="$$(hack/release/tool.sh helm)"; \
	capi_manager="$$(hack/release/tool.sh capi-manager)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	CLUSTERCTL_BIN="$$clusterctl" HELM_BIN="$$helm" CAPI_MANAGER_BIN="$$capi_manager" \
	$(CARGO) test -p release-tests --all-targets --no-fail-fast

## release-manifests: out/release (infrastructure-components.yaml, metadata.yaml, templates) and the
## clusterctl repository out/repository (CAPMAAS_IMAGE=registry/name and VERSION=vX.Y.Z override)
release-manifests:
	$(CARGO) run --quiet --locked -p release-tests --bin capmaas-release -- manifests --out out --version $(VERSION)

## docs: regenerate docs/reference/{cli,crds}.md, then build the book into out/book (mdbook)
docs:
	UPDATE_DOCS=1 $(CARGO) test --quiet -p release-tests --test docs generated
	mdbook build

## docker-build: the manager image $${CAPMAAS_IMAGE:-ghcr.io/capmaas/capmaas-manager}:$(VERSION): with
## the Dockerfile where a Docker engine answers, else (or with DOCKER_BUILD=oci) as an OCI image
## layout out/image/capmaas-manager (+ .tar) assembled without an engine (make oci-image)
docker-build:
	@if [ "$${DOCKER_BUILD:-}" != oci ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -t "$${CAPMAAS_IMAGE:-ghcr.io/capmaas/capmaas-manager}:$(VERSION)" .; \
	else \
	  echo "docker-build: no Docker engine: assembling the OCI image without one (make oci-image)" >&2; \
	  $(MAKE) --no-print-directory oci-image; \
	fi

# --- published library crates (docs/release.md, "Crates") ------------------------
.PHONY: package-check package-verify semver-check

## package-check: the publishable crates (PUBLISHED_CRATES; `cargo publish --workspace` covers every
## crate without `publish = false`) package and pass `cargo publish --dry-run` (no upload); the crates are packaged together, so each one resolves its
## unpublished siblings from a local overlay. --no-verify keeps it fast: package-verify also builds
## each packaged crate alone (its own feature set: ~15 min on 2 cores)
PUBLISHED_CRATES := machine-lifecycle capi-types capmaas-secret maas-api lxd-host maas-sim capmaas-controller
package-check:
	$(CARGO) package $(addprefix -p ,$(PUBLISHED_CRATES)) --no-verify --allow-dirty --quiet
	$(CARGO) publish --workspace --dry-run --no-verify --allow-dirty --quiet

package-verify:
	$(CARGO) publish --workspace --dry-run --allow-dirty

## semver-check: the published crates' public API against the newest v* tag (cargo-semver-checks);
## without a tag there is nothing to compare against and it says so
semver-check:
	@tag="$$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)"; \
	if [ -z "$$tag" ]; then \
	  echo "semver-check: no v* tag yet, nothing to compare against (runs once a release is tagged)"; exit 0; \
	fi; \
	$(CARGO) semver-checks --version >/dev/null 2>&1 || \
	  { echo "semver-check: tag $$tag exists; install the checker: cargo install --locked cargo-semver-checks" >&2; exit 1; }; \
	echo "semver-check: public API against $$tag"; \
	$(CARGO) semver-checks check-release --workspace --baseline-rev "$$tag"

# --- install into a cluster (docs/helm.md, "make deploy") -----------------------
.PHONY: deploy undeploy

## deploy: the provider (CRDs, RBAC, Deployment, Secret wiring) from charts/capmaas into the cluster of
## the current kubeconfig, server-side applied (DEPLOY_NAMESPACE, DEPLOY_ARGS="--set k=v ..."); a
## second run changes nothing. undeploy: removes exactly that, then the namespace
deploy:
	hack/deploy.sh deploy

undeploy:
	hack/deploy.sh undeploy

# --- the image without a container engine (docs/release.md, "Image") ------------
.PHONY: oci-image

## oci-image: static release binaries (hack/release/build-static.sh) assembled into an OCI image layout
## out/image/capmaas-manager and the archive out/image/capmaas-manager.tar (capmaas-release oci-image)
oci-image:
	hack/release/build-static.sh release out/static >/dev/null
	$(CARGO) run --quiet --locked -p release-tests --bin capmaas-release -- oci-image \
	  --bin-dir out/static --out out/image/capmaas-manager --version $(VERSION)

## bench: the scale benchmark (docs/benchmarks.md): a real etcd + kube-apiserver, maas-sim
## (--latency-profile region) and capmaas-manager, release profile, provision and release
## 1 control plane + N-1 workers per run; BENCH_N (10,200; up to 1000), BENCH_LATENCY (region|none),
## BENCH_DEPLOY_SECONDS (2), BENCH_OUT (target/bench: one JSON report per run)
.PHONY: bench
BENCH_N ?= 10,200
bench:
	@echo "make bench: building maas-sim, capmaas-manager and capmaas-bench (release)" >&2
	$(CARGO) build --release --quiet -p maas-sim-bin -p capmaas-manager -p capmaas-bench --bins
	@assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" BENCH_N="$(BENCH_N)" \
	"$${CARGO_TARGET_DIR:-target}/release/capmaas-bench"

# --- soak (docs/testing.md "Soak") ---------------------------------------------
.PHONY: soak

## soak: kill -9 of capmaas-manager at random moments (with MAAS faults) against a real apiserver and
## maas-sim, invariants checked by sampling MAAS (knobs SOAK_RUNS, SOAK_MACHINES, SOAK_KILLS, SOAK_SEED,
## SOAK_VARIANTS, SOAK_RUN; SOAK_PROFILE=release for an optimised build). Does not run soak-properties.
SOAK_RUNS ?= 20
SOAK_MACHINES ?= 6
SOAK_KILLS ?= 40
SOAK_PROFILE ?= debug
soak:
	# the same build as the tests' (cli_support::testing::cargo_build), so the binaries are shared
	$(CARGO) build --quiet $(if $(filter release,$(SOAK_PROFILE)),--release,) \
	  -p maas-sim-bin --bin maas-sim -p capmaas-manager --bin capmaas-manager
	$(CARGO) build --quiet $(if $(filter release,$(SOAK_PROFILE)),--release,) -p capmaas-soak --bin capmaas-soak
	assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	SOAK_RUNS="$(SOAK_RUNS)" SOAK_MACHINES="$(SOAK_MACHINES)" SOAK_KILLS="$(SOAK_KILLS)" \
	SOAK_SEED="$(SOAK_SEED)" SOAK_RUN="$(SOAK_RUN)" SOAK_VARIANTS="$(SOAK_VARIANTS)" \
	"$${CARGO_TARGET_DIR:-target}/$(SOAK_PROFILE)/capmaas-soak"

## conformance: the controller end to end (real kube-apiserver, the capmaas-manager binary) against
## any MAAS: MAAS_ENDPOINT, MAAS_API_KEY and CONFORMANCE_POOL and/or CONFORMANCE_TAG (the machines it
## may allocate); optional CONFORMANCE_DNS_DOMAIN, CONFORMANCE_IMAGE, CONFORMANCE_TIMEOUT
## (docs/conformance.md). Exit 0 all passed, 1 a check failed, 2 bad input.
.PHONY: conformance
conformance:
	@test -n "$${MAAS_ENDPOINT:-}" -a -n "$${MAAS_API_KEY:-}" || \
	  { echo "make conformance: set MAAS_ENDPOINT and MAAS_API_KEY, and CONFORMANCE_POOL or CONFORMANCE_TAG (docs/conformance.md)" >&2; exit 2; }
	$(CARGO) build --quiet -p capmaas-manager -p capmaas-conformance --bins
	@assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	"$${CARGO_TARGET_DIR:-target}/debug/capmaas-conformance"
