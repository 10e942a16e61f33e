//! Small Kubernetes helpers: owners, finalizers, annotations, Secrets.

use std::collections::BTreeMap;

use capi_types::constants::{
    CAPI_GROUP, CREDENTIALS_API_KEY_KEY, CREDENTIALS_CA_BUNDLE_KEY, CREDENTIALS_ENDPOINT_KEY,
    MANAGED_BY_ANNOTATION, PAUSED_ANNOTATION,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::MaasCredentials;
use crate::error::Error;

/// The owner reference of `kind` in the CAPI core group.
#[must_use]
pub fn capi_owner<'a>(meta: &'a ObjectMeta, kind: &str) -> Option<&'a OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|o| {
        o.kind == kind
            && o.api_version
                .split('/')
                .next()
                .is_some_and(|g| g == CAPI_GROUP)
    })
}

/// Carries `cluster.x-k8s.io/managed-by` (CAPI checks it as an annotation).
#[must_use]
pub fn externally_managed(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MANAGED_BY_ANNOTATION))
}

/// Carries `cluster.x-k8s.io/paused`.
#[must_use]
pub fn paused_annotation(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PAUSED_ANNOTATION))
}

/// Has finalizer `f`.
#[must_use]
pub fn has_finalizer(meta: &ObjectMeta, f: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|l| l.iter().any(|x| x == f))
}

fn resource_version(meta: &ObjectMeta) -> Result<String, Error> {
    meta.resource_version
        .clone()
        .ok_or_else(|| Error::Invalid("object without resourceVersion".into()))
}

/// Merge-patches `patch` into `obj`, guarded by its resourceVersion (a
/// stale view fails with 409 instead of overwriting).
pub async fn patch_guarded<K>(
    api: &Api<K>,
    obj: &K,
    mut patch: serde_json::Value,
    what: &str,
) -> Result<K, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let rv = resource_version(obj.meta())?;
    if let Some(map) = patch.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("resourceVersion".into(), json!(rv));
        }
    }
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| Error::kube(what, e))
}

/// Adds finalizer `f` (guarded by resourceVersion).
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K, f: &str) -> Result<K, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let mut list = obj.meta().finalizers.clone().unwrap_or_default();
    list.push(f.to_owned());
    patch_guarded(
        api,
        obj,
        json!({"metadata": {"finalizers": list}}),
        "add finalizer",
    )
    .await
}

/// Removes finalizer `f` (guarded by resourceVersion).
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K, f: &str) -> Result<K, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let list: Vec<String> = obj
        .meta()
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|x| x != f)
        .collect();
    patch_guarded(
        api,
        obj,
        json!({"metadata": {"finalizers": list}}),
        "remove finalizer",
    )
    .await
}

fn secret_text(data: &BTreeMap<String, k8s_openapi::ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Reads MAAS credentials from a Secret (`endpoint`, `apiKey`, optional `caBundle`).
pub async fn credentials_from_secret(
    secrets: &Api<Secret>,
    name: &str,
) -> Result<MaasCredentials, Error> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("read credentials Secret {name}"), e))?
        .ok_or_else(|| Error::Credentials(format!("credentials Secret {name} not found")))?;
    let data = secret.data.unwrap_or_default();
    let endpoint = secret_text(&data, CREDENTIALS_ENDPOINT_KEY).ok_or_else(|| {
        Error::Credentials(format!(
            "credentials Secret {name} has no `{CREDENTIALS_ENDPOINT_KEY}` key"
        ))
    })?;
    let api_key = secret_text(&data, CREDENTIALS_API_KEY_KEY).ok_or_else(|| {
        Error::Credentials(format!(
            "credentials Secret {name} has no `{CREDENTIALS_API_KEY_KEY}` key"
        ))
    })?;
    let mut creds = MaasCredentials::new(endpoint, api_key);
    if let Some(ca) = data
        .get(CREDENTIALS_CA_BUNDLE_KEY)
        .filter(|b| !b.0.is_empty())
    {
        creds = creds.with_ca_bundle(ca.0.clone());
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_capi_owners_only() {
        let meta = ObjectMeta {
            owner_references: Some(vec![
                OwnerReference {
                    api_version: "example.com/v1".into(),
                    kind: "Machine".into(),
                    name: "other".into(),
                    uid: "1".into(),
                    ..Default::default()
                },
                OwnerReference {
                    api_version: "cluster.x-k8s.io/v1beta2".into(),
                    kind: "Machine".into(),
                    name: "m0".into(),
                    uid: "2".into(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        assert_eq!(
            capi_owner(&meta, "Machine").map(|o| o.name.as_str()),
            Some("m0")
        );
        assert!(capi_owner(&meta, "Cluster").is_none());
    }

    #[test]
    fn annotations_and_finalizers() {
        let meta = ObjectMeta {
            annotations: Some(BTreeMap::from([
                (PAUSED_ANNOTATION.to_owned(), String::new()),
                (MANAGED_BY_ANNOTATION.to_owned(), "someone".to_owned()),
            ])),
            finalizers: Some(vec!["a".into()]),
            ..Default::default()
        };
        assert!(paused_annotation(&meta));
        assert!(externally_managed(&meta));
        assert!(has_finalizer(&meta, "a"));
        assert!(!has_finalizer(&meta, "b"));
        assert!(!paused_annotation(&ObjectMeta::default()));
    }
}
