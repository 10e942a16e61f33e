//! Release artifacts of capmaas, and the checks that keep them honest.
//!
//! * [`components`] assembles `infrastructure-components.yaml` (the one
//!   Namespace, the CRDs, RBAC, the credentials Secret and the manager
//!   Deployment, all labelled for clusterctl provider `capmaas-maas`).
//! * [`release`] writes `out/release/` and the local clusterctl provider
//!   repository `out/repository/infrastructure-capmaas-maas/<version>/`.
//! * [`cli_doc`] and [`crd_doc`] generate `docs/reference/cli.md` (from the
//!   binaries' clap `--help`) and `docs/reference/crds.md` (from the CRD
//!   schemas).
//! * [`tools`] finds `clusterctl`, `capi-manager` (the Cluster API core
//!   manager), `helm` (built from the Go module proxy by
//!   `hack/release/tool.sh`), `mdbook` and the workspace binaries;
//!   [`apply`] server-side applies YAML (dry run) to an apiserver.
//!
//! The `capmaas-release` binary drives the first three:
//!
//! ```console
//! capmaas-release manifests --out out          # make release-manifests
//! capmaas-release docs --bin-dir target/debug  # make docs (reference pages)
//! ```
//!
//! The tests in `tests/` run the real `clusterctl` and `helm` and apply
//! what they render to a real kube-apiserver (`kube-testenv`); see
//! `docs/release.md`. `tests/capi_core.rs` runs our controller next to the
//! real CAPI core manager (`docs/testing.md`).

pub mod apply;
pub mod cli_doc;
pub mod components;
pub mod crd_doc;
mod error;
pub mod oci;
pub mod release;
pub mod tools;
pub mod yaml;

pub use error::{Error, Result};

use std::path::Path;

/// The binaries documented in the CLI reference: `(package, binary)`.
/// Only the shipped product binary: the test tools document themselves
/// (`--help`, `docs/lxd.md`, `docs/maas-sim.md`).
pub const DOCUMENTED_BINARIES: [(&str, &str); 1] = [("capmaas-manager", "capmaas-manager")];

/// Where the generated reference pages live, relative to the workspace root.
pub const CLI_REFERENCE: &str = "docs/reference/cli.md";
/// See [`CLI_REFERENCE`].
pub const CRD_REFERENCE: &str = "docs/reference/crds.md";

/// The CLI reference for binaries found in `bin_dir` (named as in
/// [`DOCUMENTED_BINARIES`]).
///
/// # Errors
/// When a binary is missing or its `--help` fails.
pub fn cli_reference(bin_dir: &Path) -> Result<String> {
    let mut docs = Vec::new();
    for (_, bin) in DOCUMENTED_BINARIES {
        let path = bin_dir.join(bin);
        if !path.is_file() {
            return Err(Error::Invalid(format!(
                "{} not found; build it first (cargo build --bins)",
                path.display()
            )));
        }
        docs.push(cli_doc::collect(&path, bin)?);
    }
    Ok(cli_doc::render(&docs))
}
