//! The manager image as an OCI image layout, assembled without a container
//! engine (`make docker-build` where no Docker daemon runs): one uncompressed
//! layer holding the static binaries, a minimal `/etc/passwd` and `/etc/group`
//! with distroless' `nonroot` (65532), `/tmp`, and the CA bundle of the build
//! machine; the config runs `/capmaas-manager` as `65532:65532`, like the
//! Dockerfile's distroless image. Everything is deterministic (mtime 0, owner
//! root, sorted entries), so the same binaries give the same digests.
//!
//! ```text
//! <out>/oci-layout, index.json, blobs/sha256/<config, manifest, layer>
//! <out>.tar                       the same layout as one archive (oci-archive)
//! ```

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The non-root user of the image (distroless' `nonroot`).
pub const USER: &str = "65532:65532";
/// The entrypoint (the Deployment's command).
pub const ENTRYPOINT: &str = "/capmaas-manager";
/// Media types.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of the (uncompressed) layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// Where the CA bundle goes (Debian's path; the manager reads the system trust store).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// What to assemble.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Directory holding the static `capmaas-manager` and `maas-sim`.
    pub bin_dir: PathBuf,
    /// Output directory of the layout (replaced).
    pub out: PathBuf,
    /// Image repository, e.g. `ghcr.io/capmaas/capmaas-manager`.
    pub repository: String,
    /// Tag, e.g. `v0.1.0`.
    pub tag: String,
    /// OCI architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// A CA bundle to ship at [`CA_BUNDLE`] (none: the image trusts nothing but `--maas-ca-bundle`).
    pub ca_bundle: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Image {
    /// The layout directory.
    pub dir: PathBuf,
    /// The layout as one tar archive.
    pub archive: PathBuf,
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
}

/// The OCI architecture of this machine.
#[must_use]
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// A file or directory of a tar archive.
struct Entry {
    path: String,
    mode: u32,
    /// `None`: a directory.
    data: Option<Vec<u8>>,
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// A POSIX ustar archive of `entries` (paths relative, no leading `/`).
fn tar(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let name = match e.data {
            None => format!("{}/", e.path.trim_end_matches('/')),
            Some(_) => e.path.clone(),
        };
        if name.len() > 100 {
            return Err(Error::Invalid(format!("tar path too long: {name}")));
        }
        let size = e.data.as_ref().map_or(0, Vec::len) as u64;
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(e.mode));
        octal(&mut h[108..116], 0); // uid
        octal(&mut h[116..124], 0); // gid
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0); // mtime
        h[156] = if e.data.is_some() { b'0' } else { b'5' };
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&h);
        if let Some(d) = &e.data {
            out.extend_from_slice(d);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("reading", path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}

fn to_json(v: &Value) -> Vec<u8> {
    // serde_json's compact form: the bytes whose digest is recorded
    v.to_string().into_bytes()
}

/// Writes the image layout (and its archive) from the static binaries.
pub fn write_image(opts: &ImageOptions) -> Result<Image> {
    let mut entries = vec![
        Entry {
            path: "capmaas-manager".into(),
            mode: 0o755,
            data: Some(read(&opts.bin_dir.join("capmaas-manager"))?),
        },
        Entry {
            path: "etc".into(),
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "etc/group".into(),
            mode: 0o644,
            data: Some(b"root:x:0:\nnonroot:x:65532:\n".to_vec()),
        },
        Entry {
            path: "etc/passwd".into(),
            mode: 0o644,
            data: Some(
                b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
                    .to_vec(),
            ),
        },
    ];
    if let Some(ca) = &opts.ca_bundle {
        entries.extend([
            Entry {
                path: "etc/ssl".into(),
                mode: 0o755,
                data: None,
            },
            Entry {
                path: "etc/ssl/certs".into(),
                mode: 0o755,
                data: None,
            },
            Entry {
                path: CA_BUNDLE.into(),
                mode: 0o644,
                data: Some(read(ca)?),
            },
        ]);
    }
    entries.extend([
        Entry {
            path: "home".into(),
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "home/nonroot".into(),
            mode: 0o700,
            data: None,
        },
        Entry {
            path: "maas-sim".into(),
            mode: 0o755,
            data: Some(read(&opts.bin_dir.join("maas-sim"))?),
        },
        Entry {
            path: "tmp".into(),
            mode: 0o1777,
            data: None,
        },
    ]);
    let layer = tar(&entries)?;
    let layer_digest = sha256(&layer);

    let mut env = vec![json!("PATH=/")];
    if opts.ca_bundle.is_some() {
        env.push(json!(format!("SSL_CERT_FILE=/{CA_BUNDLE}")));
    }
    let labels = json!({
        "org.opencontainers.image.title": "capmaas-manager",
        "org.opencontainers.image.description": "Cluster API infrastructure provider for MAAS",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.version": opts.tag,
    });
    let config = json!({
        "architecture": opts.architecture,
        "os": "linux",
        "config": {
            "User": USER,
            "Entrypoint": [ENTRYPOINT],
            "Env": env,
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "capmaas-release oci-image (static capmaas-manager and maas-sim)"}],
    });
    let config = to_json(&config);
    let config_digest = sha256(&config);
    let manifest = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer.len()}],
        "annotations": labels,
    }));
    let manifest_digest = sha256(&manifest);
    let index = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": opts.architecture, "os": "linux"},
            "annotations": {
                "org.opencontainers.image.ref.name": opts.tag,
                "io.containerd.image.name": format!("{}:{}", opts.repository, opts.tag),
            },
        }],
    }));
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();

    if opts.out.exists() {
        std::fs::remove_dir_all(&opts.out).map_err(|e| Error::io("removing", &opts.out, e))?;
    }
    let blobs = opts.out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io("creating", &blobs, e))?;
    let mut files: Vec<(String, u32, Vec<u8>)> = Vec::new();
    for (digest, bytes) in [
        (&config_digest, config),
        (&layer_digest, layer),
        (&manifest_digest, manifest),
    ] {
        let name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        write(&opts.out.join(&name), &bytes)?;
        files.push((name, 0o644, bytes));
    }
    write(&opts.out.join("index.json"), &index)?;
    write(&opts.out.join("oci-layout"), &layout)?;
    files.push(("index.json".into(), 0o644, index));
    files.push(("oci-layout".into(), 0o644, layout));
    files.sort_by(|a, b| a.0.cmp(&b.0));

    let mut archive_entries = vec![
        Entry {
            path: "blobs".into(),
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "blobs/sha256".into(),
            mode: 0o755,
            data: None,
        },
    ];
    archive_entries.extend(files.into_iter().map(|(path, mode, data)| Entry {
        path,
        mode,
        data: Some(data),
    }));
    let archive = opts.out.with_extension("tar");
    write(&archive, &tar(&archive_entries)?)?;
    Ok(Image {
        dir: opts.out.clone(),
        archive,
        manifest_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_have_valid_checksums_and_padding() {
        let t = tar(&[
            Entry {
                path: "a".into(),
                mode: 0o755,
                data: Some(b"hello".to_vec()),
            },
            Entry {
                path: "d".into(),
                mode: 0o1777,
                data: None,
            },
        ])
        .unwrap();
        // header + one data block + header + two end blocks
        assert_eq!(t.len(), 512 * 5);
        let h = &t[..512];
        let mut sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        sum -= h[148..156].iter().map(|&b| u32::from(b)).sum::<u32>();
        sum += 8 * u32::from(b' ');
        let recorded = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        assert_eq!(sum, recorded);
        assert_eq!(&h[124..135], b"00000000005");
        assert_eq!(&t[1024..1026], b"d/");
        assert_eq!(&t[1024 + 100..1024 + 107], b"0001777");
        assert_eq!(t[1024 + 156], b'5');
    }
}
