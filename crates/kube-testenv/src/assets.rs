//! Finding the control-plane binaries and the CAPI CRDs.

use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// Environment variable naming a directory with `etcd` and `kube-apiserver`
/// (the envtest convention).
pub const ASSETS_ENV: &str = "KUBEBUILDER_ASSETS";
/// Environment variable naming a directory of labelled CAPI CRDs, overriding
/// `hack/capi-crds.sh`.
pub const CAPI_CRDS_ENV: &str = "KUBE_TESTENV_CAPI_CRDS";

/// The binaries a control plane needs.
pub(crate) const REQUIRED_BINARIES: [&str; 2] = ["etcd", "kube-apiserver"];

static ASSETS: OnceCell<PathBuf> = OnceCell::const_new();
static CAPI_CRDS: OnceCell<PathBuf> = OnceCell::const_new();

/// The workspace root, found from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|p| p.join("hack").join("kube-assets.sh").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join("../.."))
}

/// The directory holding `etcd` and `kube-apiserver`.
///
/// `$KUBEBUILDER_ASSETS` if set (it must hold both binaries); otherwise the
/// output of `hack/kube-assets.sh`, which builds the binaries into the cache
/// on first use (minutes when cold). Computed once per process.
pub async fn assets_dir() -> Result<PathBuf> {
    ASSETS
        .get_or_try_init(|| async {
            let dir = match std::env::var_os(ASSETS_ENV) {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir),
                _ => {
                    run_script(
                        "kube-assets.sh",
                        "Install Go >= 1.26 (or set KUBEBUILDER_ASSETS to a directory with etcd and kube-apiserver).",
                    )
                    .await?
                }
            };
            check_assets(&dir)?;
            Ok(dir)
        })
        .await
        .cloned()
}

/// Checks that `dir` holds executable `etcd` and `kube-apiserver`.
pub(crate) fn check_assets(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for bin in REQUIRED_BINARIES {
        let path = dir.join(bin);
        let executable = std::fs::metadata(&path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if !executable {
            return Err(Error::Assets(format!(
                "{} is missing or not executable (asset dir from {ASSETS_ENV} or hack/kube-assets.sh)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The directory of CAPI CRDs carrying the contract labels.
///
/// `$KUBE_TESTENV_CAPI_CRDS` if set, otherwise the output of
/// `hack/capi-crds.sh` (downloads the cluster-api module on first use).
pub async fn capi_crds_dir() -> Result<PathBuf> {
    CAPI_CRDS
        .get_or_try_init(|| async {
            let dir = match std::env::var_os(CAPI_CRDS_ENV) {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir),
                _ => {
                    run_script(
                        "capi-crds.sh",
                        "Install Go >= 1.26 (or set KUBE_TESTENV_CAPI_CRDS to a directory of CRD YAML).",
                    )
                    .await?
                }
            };
            if !dir.is_dir() {
                return Err(Error::Assets(format!(
                    "CAPI CRD directory {} does not exist",
                    dir.display()
                )));
            }
            Ok(dir)
        })
        .await
        .cloned()
}

/// Runs `hack/<script>` and returns the directory it prints last on stdout.
/// Its stderr (build progress) goes straight to ours.
async fn run_script(script: &str, hint: &'static str) -> Result<PathBuf> {
    let path = workspace_root().join("hack").join(script);
    if !path.is_file() {
        return Err(Error::Assets(format!(
            "{} not found; set {ASSETS_ENV} / {CAPI_CRDS_ENV} instead",
            path.display()
        )));
    }
    tracing::info!(script = %path.display(), "preparing test control plane assets");
    let output = tokio::process::Command::new("bash")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| Error::io(format!("running {}", path.display()), e))?;
    if !output.status.success() {
        return Err(Error::Script {
            script: path,
            status: output.status.to_string(),
            hint,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().last().map(str::trim).unwrap_or_default();
    if dir.is_empty() {
        return Err(Error::Assets(format!(
            "{} printed no directory",
            path.display()
        )));
    }
    Ok(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_scripts() {
        let root = workspace_root();
        assert!(root.join("hack/kube-assets.sh").is_file(), "{root:?}");
        assert!(root.join("hack/capi-crds.sh").is_file(), "{root:?}");
    }

    #[test]
    fn check_assets_names_the_missing_binary() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let etcd = dir.path().join("etcd");
        std::fs::write(&etcd, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&etcd, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_assets(dir.path()).unwrap_err().to_string();
        assert!(err.contains("kube-apiserver"), "{err}");

        let apiserver = dir.path().join("kube-apiserver");
        std::fs::write(&apiserver, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&apiserver, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_assets(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not executable"), "{err}");

        std::fs::set_permissions(&apiserver, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_assets(dir.path()).unwrap();
    }
}
