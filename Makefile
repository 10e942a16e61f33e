# The two commands a newcomer needs: `make demo` and `make test`.
# `make lint` is what CI runs before the tests.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: all build test test-rust test-doc lint fmt fmt-check clippy deny demo clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## test: every test tier (unit, component, integration, real daemons)
test: test-rust test-doc

test-rust:
	$(CARGO) test --workspace --all-targets --no-fail-fast

test-doc:
	$(CARGO) test --workspace --doc

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

## demo: the main job on an embedded default
demo:
	@echo "make demo: not wired yet"; exit 1

clean:
	$(CARGO) clean
