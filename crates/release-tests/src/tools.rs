//! Finding the programs the release checks run: `clusterctl` and `helm`
//! (built from the Go module proxy by `hack/release/tool.sh`, cached by
//! version), the workspace's own binaries (built with cargo), and `mdbook`.
//! Nothing is skipped: a missing tool is an error that says how to get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, Result};

/// The workspace root (the directory holding `Cargo.lock`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file() && p.join("templates").is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join("../.."))
}

/// Renders a command line for messages.
#[must_use]
pub fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd`; a non-zero exit is an error carrying its stderr and stdout.
///
/// # Errors
/// [`Error::Command`].
pub fn run(cmd: &mut Command) -> Result<Output> {
    let shown = show(cmd);
    let out = cmd.output().map_err(|e| Error::Command {
        command: shown.clone(),
        message: format!("cannot start: {e}"),
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            command: shown,
            message: format!(
                "{}\n--- stderr ---\n{}\n--- stdout ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end(),
                String::from_utf8_lossy(&out.stdout).trim_end()
            ),
        })
    }
}

/// `clusterctl`, `capi-manager` or `helm`: `hack/release/tool.sh <name>`
/// prints its path, building it into the cache first when needed (needs
/// Go ≥ 1.26), or `$CLUSTERCTL_BIN` / `$CAPI_MANAGER_BIN` / `$HELM_BIN` when set.
///
/// # Errors
/// [`Error::Command`] with the script's output when it fails.
pub fn go_tool(name: &str) -> Result<PathBuf> {
    let script = workspace_root().join("hack/release/tool.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(name);
    // Build progress goes to the test's stderr.
    cmd.stderr(std::process::Stdio::inherit());
    let out = run(&mut cmd).map_err(|e| Error::Command {
        command: format!("{} {name}", script.display()),
        message: format!("cannot provide {name} (Go >= 1.26 and the Go module proxy are needed, or set {}_BIN): {e}", name.to_uppercase().replace('-', "_")),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Command {
            command: format!("{} {name}", script.display()),
            message: format!("printed {:?}, which is not a file", path.display()),
        })
    }
}

/// Variables `cargo test` sets for the test process that describe the test's
/// own package. A nested cargo must not see them: build scripts watch some
/// (ring reruns on `CARGO_PKG_NAME`), which would rebuild shared artifacts
/// for everyone on every run.
const PER_PACKAGE_ENV_PREFIXES: [&str; 8] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Removes the per-package variables of the calling `cargo test` from `cmd`'s
/// environment (see [`PER_PACKAGE_ENV_PREFIXES`]).
pub fn scrub_cargo_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if PER_PACKAGE_ENV_PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Builds a binary of this workspace (debug profile, or `profile`/`target`
/// when given) with cargo and returns its path, read from cargo's JSON
/// messages.
///
/// # Errors
/// [`Error::Command`] when cargo fails or reports no executable.
pub fn cargo_bin(package: &str, bin: &str, extra: &[&str]) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--locked",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", package, "--bin", bin])
        .args(extra)
        .stderr(std::process::Stdio::inherit());
    scrub_cargo_env(&mut cmd);
    let shown = show(&cmd);
    let out = run(&mut cmd)?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg.get("reason").and_then(|r| r.as_str()) == Some("compiler-artifact")
            && msg.pointer("/target/name").and_then(|n| n.as_str()) == Some(bin)
            && let Some(exe) = msg.get("executable").and_then(|e| e.as_str())
        {
            return Ok(PathBuf::from(exe));
        }
    }
    Err(Error::Command {
        command: shown,
        message: format!("cargo reported no executable for {bin}"),
    })
}

/// `mdbook` from `$MDBOOK`, else `PATH`, else `~/.cargo/bin`.
///
/// # Errors
/// [`Error::Command`] saying how to install it.
pub fn mdbook() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MDBOOK").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin")))
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")));
    for dir in candidates {
        let p = dir.join("mdbook");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Command {
        command: "mdbook".into(),
        message: "not found on PATH or in ~/.cargo/bin; install it with `cargo install --locked mdbook` (.ci/run does)".into(),
    })
}
