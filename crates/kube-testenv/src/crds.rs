//! Loading CRD manifests and installing them until they are Established.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::error::{Error, Result};

/// Field manager used for server-side apply of CRDs.
pub const FIELD_MANAGER: &str = "kube-testenv";

/// Reads every CRD from `path`: a YAML file (several documents allowed) or a
/// directory, whose `*.yaml`, `*.yml` and `*.json` files are read in name
/// order (not recursively). Any document that is not a
/// `CustomResourceDefinition` is an error.
pub fn load_crds(path: &Path) -> Result<Vec<CustomResourceDefinition>> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(format!("listing {}", path.display()), e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        crds.extend(parse_crds(&text).map_err(|message| Error::CrdManifest {
            path: file.clone(),
            message,
        })?);
    }
    if crds.is_empty() {
        return Err(Error::CrdManifest {
            path: path.to_owned(),
            message: "no CustomResourceDefinition found".to_owned(),
        });
    }
    Ok(crds)
}

/// Parses a YAML stream of CRDs. Empty documents are skipped.
pub fn parse_crds(text: &str) -> std::result::Result<Vec<CustomResourceDefinition>, String> {
    // CRD schemas nest deeply; lift the default depth budget.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 128;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| e.to_string())?;
    docs.into_iter()
        .filter(|d| !d.is_null())
        .enumerate()
        .map(|(i, doc)| {
            let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            if kind != "CustomResourceDefinition" {
                return Err(format!(
                    "document {i} has kind {kind:?}, expected CustomResourceDefinition"
                ));
            }
            serde_json::from_value(doc).map_err(|e| format!("document {i}: {e}"))
        })
        .collect()
}

/// Server-side applies `crds` (idempotent) and waits until all are
/// Established. Returns their names.
pub(crate) async fn apply_and_wait(
    client: kube::Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::with_capacity(crds.len());
    for crd in crds {
        let mut crd = crd.clone();
        crd.metadata.resource_version = None;
        crd.metadata.managed_fields = None;
        crd.metadata.uid = None;
        crd.metadata.creation_timestamp = None;
        crd.status = None;
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::CrdManifest {
                path: PathBuf::new(),
                message: "CRD without metadata.name".to_owned(),
            })?;
        api.patch(&name, &params, &Patch::Apply(&crd)).await?;
        tracing::debug!(crd = %name, "applied CRD");
        names.push(name);
    }
    wait_established(&api, &names, timeout).await?;
    Ok(names)
}

/// Polls until every named CRD has condition `Established=True`.
pub(crate) async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    names: &[String],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<String> = names.to_vec();
    loop {
        let mut still = Vec::new();
        for name in pending {
            let crd = api.get(&name).await?;
            if !is_established(&crd) {
                still.push(name);
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::CrdNotEstablished {
                names: still,
                timeout,
            });
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the CRD's `Established` condition is `True`.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CRDS: &str = r#"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.test
  labels:
    cluster.x-k8s.io/v1beta2: v1alpha1
spec:
  group: example.test
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.test
spec:
  group: example.test
  names: {kind: Gadget, plural: gadgets}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object}
"#;

    #[test]
    fn parses_multi_document_yaml() {
        let crds = parse_crds(TWO_CRDS).unwrap();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["widgets.example.test", "gadgets.example.test"]);
        let labels = crds[0].metadata.labels.as_ref().unwrap();
        assert_eq!(labels["cluster.x-k8s.io/v1beta2"], "v1alpha1");
        assert_eq!(crds[1].spec.scope, "Cluster");
    }

    #[test]
    fn rejects_other_kinds() {
        let err = parse_crds("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap_err();
        assert!(err.contains("ConfigMap"), "{err}");
    }

    #[test]
    fn parses_deeply_nested_schemas() {
        // 35 nested object properties (YAML depth ~80): deeper than
        // serde-saphyr's default depth budget of 64, deeper than any CAPI CRD (31).
        let mut schema = String::from("{type: string}");
        for i in 0..35 {
            schema = format!("{{type: object, properties: {{f{i}: {schema}}}}}");
        }
        let yaml = format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {{name: deeps.example.test}}\n\
             spec:\n  group: example.test\n  names: {{kind: Deep, plural: deeps}}\n  scope: Namespaced\n\
             \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {schema}\n"
        );
        let crds = parse_crds(&yaml).unwrap();
        assert_eq!(crds.len(), 1);
    }

    #[test]
    fn loads_a_directory_in_name_order_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let docs: Vec<&str> = TWO_CRDS
            .split("\n---\n")
            .filter(|d| !d.trim().is_empty())
            .collect();
        std::fs::write(dir.path().join("b.yaml"), docs[0]).unwrap();
        std::fs::write(dir.path().join("a.yml"), docs[1]).unwrap();
        std::fs::write(dir.path().join("README.md"), "not yaml: [").unwrap();
        let names: Vec<_> = load_crds(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect();
        assert_eq!(names, ["gadgets.example.test", "widgets.example.test"]);
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_crds(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no CustomResourceDefinition"), "{err}");
    }

    #[test]
    fn established_needs_a_true_condition() {
        let mut crd = parse_crds(TWO_CRDS).unwrap().remove(0);
        assert!(!is_established(&crd));
        crd.status = Some(
            serde_json::from_value(serde_json::json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True"},
                    {"type": "Established", "status": "False"}
                ]
            }))
            .unwrap(),
        );
        assert!(!is_established(&crd));
        crd.status = Some(
            serde_json::from_value(serde_json::json!({
                "conditions": [{"type": "Established", "status": "True"}]
            }))
            .unwrap(),
        );
        assert!(is_established(&crd));
    }
}
