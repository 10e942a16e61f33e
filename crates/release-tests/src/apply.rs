//! Server-side apply of YAML streams, normally as a dry run: the apiserver
//! validates every object against its (CRD) schema, CEL rules and admission
//! without storing it.

use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, core::GroupVersionKind};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::yaml;

/// Field manager of these applies.
pub const FIELD_MANAGER: &str = "capmaas-release-tests";

/// How to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `dryRun=All`: validate only.
    DryRun,
    /// Store the objects.
    Persist,
}

fn resource(discovery: &Discovery, doc: &Value) -> Result<(ApiResource, ApiCapabilities)> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = yaml::kind(doc);
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    discovery.resolve_gvk(&gvk).ok_or_else(|| {
        Error::Invalid(format!(
            "{}: the apiserver serves no {api_version} {kind} (CRD not installed?)",
            yaml::describe(doc)
        ))
    })
}

/// Applies every document of `docs` (server-side apply, strict field
/// validation, forced ownership). Namespaced objects without a namespace go
/// to `default_namespace`. Returns `Kind/name` of each object, in order.
///
/// # Errors
/// [`Error::Kube`] naming the object the apiserver refused, or
/// [`Error::Invalid`] for unknown kinds.
pub async fn apply_all(
    client: &Client,
    docs: &[Value],
    default_namespace: &str,
    mode: Mode,
) -> Result<Vec<String>> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| Error::Kube {
            context: "API discovery".into(),
            source: Box::new(e),
        })?;
    let mut params = PatchParams::apply(FIELD_MANAGER)
        .force()
        .validation(ValidationDirective::Strict);
    if mode == Mode::DryRun {
        params = params.dry_run();
    }
    let mut applied = Vec::new();
    for doc in docs {
        let (ar, caps) = resource(&discovery, doc)?;
        let name = yaml::name(doc).to_owned();
        if name.is_empty() {
            return Err(Error::Invalid(format!(
                "{} has no metadata.name",
                yaml::kind(doc)
            )));
        }
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = yaml::namespace(doc).unwrap_or(default_namespace);
                Api::namespaced_with(client.clone(), ns, &ar)
            }
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        let what = yaml::describe(doc);
        api.patch(&name, &params, &Patch::Apply(doc))
            .await
            .map_err(|e| Error::Kube {
                context: format!("applying {what} ({mode:?})"),
                source: Box::new(e),
            })?;
        applied.push(format!("{}/{name}", yaml::kind(doc)));
    }
    Ok(applied)
}
