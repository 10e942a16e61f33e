# syntax=docker/dockerfile:1
# capmaas-manager image: a static (musl) binary on distroless, running as
# non-root. Build: make docker-build [CAPMAAS_IMAGE=registry/name] [VERSION=v0.1.0]
# The same script builds the binaries here and in crates/release-tests (which
# checks that they are static and that this file keeps its invariants).

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
# musl-gcc compiles ring's C code for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rustup target add "$(uname -m)-unknown-linux-musl" \
 && hack/release/build-static.sh release /out

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="capmaas-manager" \
      org.opencontainers.image.description="Cluster API infrastructure provider for MAAS" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/capmaas-manager /capmaas-manager
# The MAAS simulator, for trials (Helm chart value maasSim.enabled).
COPY --from=builder /out/maas-sim /maas-sim
# distroless "nonroot" (65532), numeric so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/capmaas-manager"]
