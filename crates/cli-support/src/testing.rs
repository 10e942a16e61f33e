//! For the binaries' own tests (feature `test-support`): build other targets
//! of the workspace that a test runs as child processes.

use std::path::Path;
use std::process::Command;

/// Runs `$CARGO build --quiet <targets>` (`cargo` when `CARGO` is unset) in
/// `workspace_root`, e.g. `targets = ["-p", "maas-sim-bin", "--bin",
/// "maas-sim"]`; the binaries land next to the test's own (`target/debug/`).
///
/// # Errors
/// The command line and cargo's stderr when cargo cannot run or fails.
pub fn cargo_build(workspace_root: &Path, targets: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let shown = format!("cargo build {}", targets.join(" "));
    let out = Command::new(cargo)
        .current_dir(workspace_root)
        .args(["build", "--quiet"])
        .args(targets)
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_names_the_command_and_cargos_error() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let err = cargo_build(&root, &["-p", "no-such-package-here"]).unwrap_err();
        assert!(
            err.starts_with("cargo build -p no-such-package-here failed:"),
            "{err}"
        );
        assert!(err.contains("no-such-package-here"), "{err}");
    }
}
