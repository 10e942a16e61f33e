//! Helpers shared by the release tests: running the real `clusterctl` and
//! `helm` in a sealed environment, and a real apiserver with the Cluster API
//! and capmaas CRDs installed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use release_tests::{tools, yaml};
use serde_json::Value;

/// Kubernetes version passed to `--kubernetes-version`.
pub const KUBERNETES_VERSION: &str = "v1.33.1";

/// Values for the variables every template requires (as documented in
/// docs/getting-started.md).
pub const REQUIRED_VARS: [(&str, &str); 3] = [
    ("MAAS_DNS_DOMAIN", "maas.example"),
    ("CONTROL_PLANE_MACHINE_IMAGE", "custom/u-2204-k-1331"),
    ("WORKER_MACHINE_IMAGE", "custom/u-2204-k-1331"),
];

pub fn root() -> PathBuf {
    tools::workspace_root()
}

/// The path of the cached clusterctl (built on first use).
pub fn clusterctl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| tools::go_tool("clusterctl").unwrap_or_else(|e| panic!("{e}")))
}

/// The path of the cached helm (built on first use).
pub fn helm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| tools::go_tool("helm").unwrap_or_else(|e| panic!("{e}")))
}

/// A command with an empty environment except `PATH`, a private `HOME`
/// and the given variables, run in the workspace root.
pub fn sealed(bin: &Path, home: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .current_dir(root())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .envs(vars.iter().copied());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// Runs `clusterctl args...` with only `vars` set; `Ok(stdout)` or
/// `Err(stderr)`.
pub fn clusterctl(args: &[&str], vars: &[(&str, &str)]) -> Result<String, String> {
    let home = tempfile::tempdir().unwrap();
    let out = sealed(clusterctl_bin(), home.path(), vars)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(format!(
            "clusterctl {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `helm args...` sealed; `Ok(stdout)` or `Err(stderr)`.
pub fn helm(args: &[&str]) -> Result<String, String> {
    let home = tempfile::tempdir().unwrap();
    let out = sealed(helm_bin(), home.path(), &[])
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(format!(
            "helm {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Parses a YAML stream, panicking with the origin on error.
pub fn docs(text: &str, origin: &str) -> Vec<Value> {
    yaml::parse_documents(text, origin).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The documents of `kind` (and `name`, when given).
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| yaml::kind(d) == kind).collect()
}

/// The single document of `kind`, panicking when there are none or several.
pub fn one<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| yaml::kind(d) == kind && yaml::name(d) == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind}/{name}, found {}",
        found.len()
    );
    found[0]
}

/// The shared apiserver of this test binary with the CAPI core/kubeadm CRDs
/// and capmaas's CRDs installed.
pub async fn apiserver() -> &'static kube_testenv::TestEnv {
    let env = kube_testenv::shared().await.unwrap();
    env.install_capi_crds().await.unwrap();
    env.install_crds(&capi_types::crds::all().unwrap())
        .await
        .unwrap();
    env
}

/// Parses clusterctl's `--list-variables` output into
/// `name -> None (required) | Some(default as printed)`.
pub fn parse_list_variables(text: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut required = true;
    for line in text.lines() {
        match line.trim() {
            "Required Variables:" => required = true,
            "Optional Variables:" => required = false,
            l if l.starts_with("- ") => {
                let rest = &l[2..];
                let (name, default) = match rest.split_once(char::is_whitespace) {
                    Some((n, d)) => (n, Some(d.trim())),
                    None => (rest, None),
                };
                let default = default.map(|d| {
                    d.strip_prefix("(defaults to ")
                        .and_then(|d| d.strip_suffix(')'))
                        .unwrap_or(d)
                        .to_owned()
                });
                assert_eq!(required, default.is_none(), "odd line {line:?}");
                out.insert(name.to_owned(), default);
            }
            _ => {}
        }
    }
    out
}

/// Builds the image's static (musl) binaries into `out` with
/// `hack/release/build-static.sh dev`, the Dockerfile's build, using the
/// cargo that runs the tests.
pub fn build_static_binaries(out: &Path) {
    let script = root().join("hack/release/build-static.sh");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_dir = Path::new(&cargo)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(cargo_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new("bash");
    tools::scrub_cargo_env(&mut cmd);
    let result = cmd
        .arg(&script)
        .arg("dev")
        .arg(out)
        .env("PATH", path)
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{} dev failed ({}); it needs `rustup target add x86_64-unknown-linux-musl` and musl-tools (.ci/run installs both)",
        script.display(),
        result.status
    );
}
