//! `make docker-build` without a Docker engine: the static binaries assembled
//! into an OCI image layout by `capmaas-release oci-image`, read back by
//! `umoci` (an independent OCI implementation: Debian's `umoci`) and by hand:
//! digests, config (entrypoint, non-root user), and the unpacked binary runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn assemble(bins: &Path, out: &Path, ca: &Path) -> String {
    let result = Command::new(env!("CARGO_BIN_EXE_capmaas-release"))
        .args(["oci-image", "--image", "registry.example/capmaas-manager"])
        .args(["--version", "v9.8.7"])
        .arg("--bin-dir")
        .arg(bins)
        .arg("--out")
        .arg(out)
        .arg("--ca-bundle")
        .arg(ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8(result.stdout).unwrap();
    assert!(
        result.status.success(),
        "capmaas-release oci-image: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("manifest: "))
        .unwrap()
        .to_owned()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let bytes = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap();
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        digest,
        "blob content matches its digest"
    );
    bytes
}

#[test]
fn the_oci_image_holds_the_static_manager_as_non_root() {
    let tmp = tempfile::tempdir().unwrap();
    let bins = tmp.path().join("static");
    common::build_static_binaries(&bins);
    let ca = tmp.path().join("ca.crt");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let layout = tmp.path().join("image");
    let digest = assemble(&bins, &layout, &ca);
    // Deterministic: the same binaries give the same image.
    assert_eq!(assemble(&bins, &layout, &ca), digest);

    // By hand, following the OCI image layout spec.
    let oci_layout: Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(desc["digest"], digest.as_str());
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        "v9.8.7"
    );
    let manifest_bytes = blob(&layout, &digest);
    assert_eq!(desc["size"], manifest_bytes.len());
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let config: Value = serde_json::from_slice(&blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["architecture"],
        release_tests::oci::host_architecture()
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/capmaas-manager"])
    );
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    blob(&layout, layer_digest);
    assert_eq!(config["rootfs"]["diff_ids"][0], layer_digest);

    // GNU tar reads the layer: owner root, the binaries executable, /tmp sticky.
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(
            layout
                .join("blobs/sha256")
                .join(layer_digest.strip_prefix("sha256:").unwrap()),
        )
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8(listing.stdout).unwrap();
    for want in [
        "-rwxr-xr-x root/root",
        "capmaas-manager",
        "maas-sim",
        "drwxrwxrwt root/root",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(
            listing.contains(want),
            "{want} not in the layer:\n{listing}"
        );
    }
    // The archive form holds the same layout.
    let archive = Command::new("tar")
        .arg("-tf")
        .arg(layout.with_extension("tar"))
        .output()
        .unwrap();
    let archive = String::from_utf8(archive.stdout).unwrap();
    assert!(archive.lines().any(|l| l == "index.json"), "{archive}");
    assert!(archive.lines().any(|l| l == "oci-layout"), "{archive}");

    // umoci, an independent OCI implementation, unpacks it into a runtime bundle.
    let bundle = tmp.path().join("bundle");
    let umoci = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v9.8.7", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap_or_else(|e| {
            panic!("umoci not found ({e}): apt-get install umoci (.ci/run installs it)")
        });
    assert!(
        umoci.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&umoci.stderr)
    );
    let runtime: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["/capmaas-manager"])
    );
    assert_eq!(runtime["process"]["user"]["uid"], 65532);
    assert_eq!(runtime["process"]["user"]["gid"], 65532);
    let version = Command::new(bundle.join("rootfs/capmaas-manager"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("capmaas-manager {}", env!("CARGO_PKG_VERSION"))
    );
    let sim = Command::new(bundle.join("rootfs/maas-sim"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(sim.status.success(), "maas-sim --version");
    let passwd = std::fs::read_to_string(bundle.join("rootfs/etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
}
