# The two commands a newcomer needs: `make demo` and `make test`.
# `make lint` is what CI runs before the tests.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: all build test test-rust test-doc test-clients lint fmt fmt-check clippy deny demo demo-maas clean kube-assets crds

all: build

build:
	$(CARGO) build --workspace --all-targets

## test: every test tier (unit, component, integration, real daemons)
test: test-rust test-doc test-clients

test-rust:
	assets="$$(hack/kube-assets.sh)"; crds="$$(hack/capi-crds.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" KUBE_TESTENV_CAPI_CRDS="$$crds" \
	$(CARGO) test --workspace --all-targets --no-fail-fast

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

## lint: formatting, clippy on all targets with -D warnings, cargo-deny
lint: fmt-check clippy deny

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

## demo-maas: the MAAS lifecycle example (maas-api) against the real maas-sim binary (docs/demo.md)
demo-maas:
	CARGO="$(CARGO)" examples/demo-maas/run.sh

clean:
	$(CARGO) clean
