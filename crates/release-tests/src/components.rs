//! `infrastructure-components.yaml`: what `clusterctl init --infrastructure
//! capmaas-maas` installs.
//!
//! Assembled from (in this order):
//! 1. `config/default/namespace.yaml` — the one Namespace;
//! 2. the CRDs from [`capi_types::crds::all()`], labelled for clusterctl;
//! 3. `config/rbac/role.yaml`, labelled and namespaced into [`NAMESPACE`];
//! 4. `config/default/manager.yaml` — the credentials Secret and the
//!    Deployment, copied as text (it holds clusterctl `${VAR}`s, which must
//!    not be re-serialized) with [`IMAGE_TOKEN`] replaced by the image.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::yaml;

/// The clusterctl provider name (`maas` is taken by another provider).
pub const PROVIDER_NAME: &str = "capmaas-maas";
/// The clusterctl provider type.
pub const PROVIDER_TYPE: &str = "InfrastructureProvider";
/// `<type>-<name>`: the value of [`PROVIDER_LABEL_KEY`] and the directory of
/// a local provider repository.
pub const PROVIDER_LABEL: &str = "infrastructure-capmaas-maas";
/// Label clusterctl puts on every component.
pub const PROVIDER_LABEL_KEY: &str = "cluster.x-k8s.io/provider";
/// Label that marks objects clusterctl manages (and `move` looks at).
pub const CLUSTERCTL_LABEL_KEY: &str = "clusterctl.cluster.x-k8s.io";
/// The namespace of every namespaced component.
pub const NAMESPACE: &str = "capmaas-system";
/// The manager's Deployment.
pub const DEPLOYMENT: &str = "capmaas-controller-manager";
/// The manager's container (clusterctl requires `manager`).
pub const CONTAINER: &str = "manager";
/// The manager binary inside the image.
pub const BINARY: &str = "/capmaas-manager";
/// Default image repository, overridden by `CAPMAAS_IMAGE` at build time.
pub const DEFAULT_IMAGE: &str = "ghcr.io/capmaas/capmaas-manager";
/// Environment variable overriding [`DEFAULT_IMAGE`].
pub const IMAGE_ENV: &str = "CAPMAAS_IMAGE";
/// The default-credentials Secret (keys `endpoint`, `apiKey`).
pub const CREDENTIALS_SECRET: &str = "capmaas-manager-credentials";
/// Placeholder for the image in `config/default/manager.yaml`.
pub const IMAGE_TOKEN: &str = "__CAPMAAS_IMAGE__";
/// The contract our CRDs implement (metadata.yaml and CRD labels).
pub const CONTRACT: &str = "v1beta2";

/// Kinds in `config/rbac/` that live in a namespace.
const NAMESPACED_RBAC_KINDS: [&str; 3] = ["ServiceAccount", "Role", "RoleBinding"];

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentsOptions {
    /// Image repository without tag, e.g. [`DEFAULT_IMAGE`].
    pub image: String,
    /// Release version with a leading `v`, e.g. `v0.1.0`; also the image tag.
    pub version: String,
}

impl ComponentsOptions {
    /// The image repository from `$CAPMAAS_IMAGE` (else [`DEFAULT_IMAGE`])
    /// and [`release_version()`].
    #[must_use]
    pub fn from_env() -> Self {
        let image = std::env::var(IMAGE_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
        ComponentsOptions {
            image,
            version: release_version(),
        }
    }

    /// `image:version`.
    #[must_use]
    pub fn image_ref(&self) -> String {
        format!("{}:{}", self.image, self.version)
    }
}

/// `v` + the workspace version (`Cargo.toml` `[workspace.package] version`).
#[must_use]
pub fn release_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))
}

/// Adds the two clusterctl labels to `doc`'s metadata.
fn add_clusterctl_labels(doc: &mut Value) -> Result<()> {
    let what = yaml::describe(doc);
    let metadata = doc
        .as_object_mut()
        .and_then(|o| {
            o.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
        })
        .ok_or_else(|| Error::Invalid(format!("{what}: metadata is not a map")))?;
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::Invalid(format!("{what}: metadata.labels is not a map")))?;
    labels.insert(PROVIDER_LABEL_KEY.into(), PROVIDER_LABEL.into());
    labels.insert(CLUSTERCTL_LABEL_KEY.into(), "".into());
    Ok(())
}

/// The CRDs as YAML documents, each with the clusterctl labels.
///
/// # Errors
/// CRD generation or serialization failures.
pub fn crd_documents() -> Result<Vec<String>> {
    let mut crds = capi_types::crds::all()?;
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds.into_iter()
        .map(|mut crd| {
            crd.metadata
                .labels
                .get_or_insert_with(Default::default)
                .extend([
                    (PROVIDER_LABEL_KEY.to_owned(), PROVIDER_LABEL.to_owned()),
                    (CLUSTERCTL_LABEL_KEY.to_owned(), String::new()),
                ]);
            Ok(capi_types::crds::to_yaml(&crd)?)
        })
        .collect()
}

/// `config/rbac/role.yaml` as YAML documents: labelled, with every
/// namespaced object (and ServiceAccount subject) in [`NAMESPACE`].
///
/// # Errors
/// When the file is missing or not YAML, or names another namespace.
pub fn rbac_documents(root: &Path) -> Result<Vec<String>> {
    let path = root.join("config/rbac/role.yaml");
    let origin = path.display().to_string();
    let mut out = Vec::new();
    for mut doc in yaml::parse_documents(&read(&path)?, &origin)? {
        let kind = yaml::kind(&doc).to_owned();
        if NAMESPACED_RBAC_KINDS.contains(&kind.as_str()) {
            match yaml::namespace(&doc) {
                None | Some(NAMESPACE) => {}
                Some(other) => {
                    return Err(Error::Invalid(format!(
                        "{origin}: {} is in namespace {other}, expected {NAMESPACE}",
                        yaml::describe(&doc)
                    )));
                }
            }
            if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), NAMESPACE.into());
            }
        }
        if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && let Some(obj) = s.as_object_mut()
                {
                    obj.insert("namespace".into(), NAMESPACE.into());
                }
            }
        }
        add_clusterctl_labels(&mut doc)?;
        out.push(yaml::to_yaml(&doc, &origin)?);
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!("{origin} holds no objects")));
    }
    Ok(out)
}

/// `config/default/manager.yaml` with the image filled in.
///
/// # Errors
/// When the file is missing or [`IMAGE_TOKEN`] is not there exactly once.
pub fn manager_document(root: &Path, options: &ComponentsOptions) -> Result<String> {
    let path = root.join("config/default/manager.yaml");
    let text = read(&path)?;
    let count = text.matches(IMAGE_TOKEN).count();
    if count != 1 {
        return Err(Error::Invalid(format!(
            "{} must contain {IMAGE_TOKEN} exactly once, found {count}",
            path.display()
        )));
    }
    Ok(text.replace(IMAGE_TOKEN, &options.image_ref()))
}

/// The whole `infrastructure-components.yaml`.
///
/// # Errors
/// See [`crd_documents`], [`rbac_documents`], [`manager_document`].
pub fn render_components(root: &Path, options: &ComponentsOptions) -> Result<String> {
    let mut docs = vec![read(&root.join("config/default/namespace.yaml"))?];
    docs.extend(crd_documents()?);
    docs.extend(rbac_documents(root)?);
    docs.push(manager_document(root, options)?);
    Ok(yaml::join_documents(&docs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_added_without_dropping_existing_ones() {
        let mut doc =
            serde_json::json!({"kind": "X", "metadata": {"name": "a", "labels": {"keep": "me"}}});
        add_clusterctl_labels(&mut doc).unwrap();
        assert_eq!(yaml::label(&doc, "keep"), Some("me"));
        assert_eq!(yaml::label(&doc, PROVIDER_LABEL_KEY), Some(PROVIDER_LABEL));
        assert_eq!(yaml::label(&doc, CLUSTERCTL_LABEL_KEY), Some(""));
        let mut bare = serde_json::json!({"kind": "X"});
        add_clusterctl_labels(&mut bare).unwrap();
        assert_eq!(yaml::label(&bare, PROVIDER_LABEL_KEY), Some(PROVIDER_LABEL));
    }

    #[test]
    fn rbac_is_namespaced_and_foreign_namespaces_are_refused() {
        let dir = std::env::temp_dir().join(format!("capmaas-rbac-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config/rbac")).unwrap();
        std::fs::write(
            dir.join("config/rbac/role.yaml"),
            "kind: ServiceAccount\nmetadata: {name: sa}\n---\nkind: ClusterRoleBinding\nmetadata: {name: b}\nsubjects: [{kind: ServiceAccount, name: sa}]\n",
        )
        .unwrap();
        let docs = rbac_documents(&dir).unwrap();
        let sa = &yaml::parse_documents(&docs[0], "sa").unwrap()[0];
        assert_eq!(yaml::namespace(sa), Some(NAMESPACE));
        let b = &yaml::parse_documents(&docs[1], "b").unwrap()[0];
        assert_eq!(
            yaml::namespace(b),
            None,
            "cluster-scoped stays cluster-scoped"
        );
        assert_eq!(b["subjects"][0]["namespace"], NAMESPACE);

        std::fs::write(
            dir.join("config/rbac/role.yaml"),
            "kind: Role\nmetadata: {name: r, namespace: elsewhere}\n",
        )
        .unwrap();
        let err = rbac_documents(&dir).unwrap_err().to_string();
        assert!(err.contains("elsewhere"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_image_token_must_appear_once() {
        let dir = std::env::temp_dir().join(format!("capmaas-mgr-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config/default")).unwrap();
        let options = ComponentsOptions {
            image: "registry.example/capmaas".into(),
            version: "v9.8.7".into(),
        };
        std::fs::write(
            dir.join("config/default/manager.yaml"),
            "image: __CAPMAAS_IMAGE__\n",
        )
        .unwrap();
        assert_eq!(
            manager_document(&dir, &options).unwrap(),
            "image: registry.example/capmaas:v9.8.7\n"
        );
        std::fs::write(dir.join("config/default/manager.yaml"), "image: fixed\n").unwrap();
        assert!(manager_document(&dir, &options).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_version_follows_the_workspace() {
        assert_eq!(release_version(), format!("v{}", env!("CARGO_PKG_VERSION")));
        assert!(release_version().starts_with('v'));
    }
}
