//! The release directory and the local clusterctl provider repository.
//!
//! ```text
//! <out>/release/                      the assets of a release
//!     infrastructure-components.yaml
//!     metadata.yaml
//!     cluster-template*.yaml clusterclass-*.yaml
//! <out>/repository/                   a clusterctl provider repository
//!     infrastructure-capmaas-maas/<version>/  (the same files)
//!     clusterctl.yaml                 a `providers:` entry with its file:// URL
//! ```

use std::path::{Path, PathBuf};

use crate::components::{
    ComponentsOptions, PROVIDER_LABEL, PROVIDER_NAME, PROVIDER_TYPE, render_components,
};
use crate::error::{Error, Result};

/// Name of the components file in a release.
pub const COMPONENTS_FILE: &str = "infrastructure-components.yaml";
/// Name of the metadata file in a release and at the workspace root.
pub const METADATA_FILE: &str = "metadata.yaml";

/// Where [`write_release`] put things.
#[derive(Debug, Clone)]
pub struct ReleaseLayout {
    /// `<out>/release`
    pub release_dir: PathBuf,
    /// `<out>/repository`
    pub repository_dir: PathBuf,
    /// `<out>/repository/infrastructure-capmaas-maas/<version>`
    pub version_dir: PathBuf,
    /// `<out>/repository/clusterctl.yaml`
    pub clusterctl_config: PathBuf,
    /// Base names of the templates copied (sorted).
    pub templates: Vec<String>,
}

/// Template files shipped with a release: `templates/cluster-template*.yaml`
/// and `templates/clusterclass-*.yaml`, sorted by name.
///
/// # Errors
/// When `templates/` cannot be read.
pub fn template_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("templates");
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("listing", &dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let shipped = (name.starts_with("cluster-template") || name.starts_with("clusterclass-"))
            && name.ends_with(".yaml");
        if shipped {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| Error::io("copying", from, e))
}

/// The `~/.cluster-api/clusterctl.yaml` entry for a repository at `dir`.
#[must_use]
pub fn clusterctl_config(components_path: &Path) -> String {
    format!(
        "# Use with: clusterctl ... --config {this}\n\
         # or copy the providers entry into ~/.cluster-api/clusterctl.yaml.\n\
         providers:\n  - name: {PROVIDER_NAME}\n    url: file://{url}\n    type: {PROVIDER_TYPE}\n",
        this = components_path
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map(|p| p.join("clusterctl.yaml").display().to_string())
            .unwrap_or_default(),
        url = components_path.display(),
    )
}

/// Writes `<out>/release` and `<out>/repository` (replacing what was there).
/// `out` is made absolute so that the `file://` URL works from anywhere.
///
/// # Errors
/// I/O failures and everything [`render_components`] reports.
pub fn write_release(
    root: &Path,
    out: &Path,
    options: &ComponentsOptions,
) -> Result<ReleaseLayout> {
    let out = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("resolving", out, e))?
            .join(out)
    };
    let components = render_components(root, options)?;
    let templates = template_files(root)?;
    let release_dir = out.join("release");
    let repository_dir = out.join("repository");
    let version_dir = repository_dir.join(PROVIDER_LABEL).join(&options.version);
    for dir in [&release_dir, &repository_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io("removing", dir, e))?;
        }
    }
    let mut names = Vec::new();
    for dir in [&release_dir, &version_dir] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        write(&dir.join(COMPONENTS_FILE), &components)?;
        copy(&root.join(METADATA_FILE), &dir.join(METADATA_FILE))?;
        names.clear();
        for t in &templates {
            let name = t
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::Invalid(format!("bad template name {}", t.display())))?;
            copy(t, &dir.join(name))?;
            names.push(name.to_owned());
        }
    }
    let clusterctl_config_path = repository_dir.join("clusterctl.yaml");
    write(
        &clusterctl_config_path,
        &clusterctl_config(&version_dir.join(COMPONENTS_FILE)),
    )?;
    Ok(ReleaseLayout {
        release_dir,
        repository_dir,
        version_dir,
        clusterctl_config: clusterctl_config_path,
        templates: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clusterctl_config_points_at_the_components_file() {
        let text = clusterctl_config(Path::new(
            "/x/out/repository/infrastructure-capmaas-maas/v0.1.0/infrastructure-components.yaml",
        ));
        assert!(text.contains("- name: capmaas-maas\n"), "{text}");
        assert!(text.contains(
            "url: file:///x/out/repository/infrastructure-capmaas-maas/v0.1.0/infrastructure-components.yaml\n"
        ));
        assert!(text.contains("type: InfrastructureProvider\n"));
        assert!(text.contains("--config /x/out/repository/clusterctl.yaml"));
    }
}
