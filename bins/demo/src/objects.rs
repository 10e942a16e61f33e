//! The Kubernetes objects of the demo cluster, created as CAPI core would:
//! a `Cluster` referring to a `MaasCluster`, and per machine a bootstrap
//! Secret, a `Machine` with `bootstrap.dataSecretName` and the `MaasMachine`
//! it owns.

use std::collections::BTreeMap;

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::DemoError;

/// The namespace of the demo.
pub const NAMESPACE: &str = "demo";
/// The cluster's name.
pub const CLUSTER: &str = "demo";
/// The OS image deployed.
pub const IMAGE: &str = "ubuntu/jammy";

/// One machine of the demo cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachinePlan {
    /// Name of the Machine, its MaasMachine and (with `-bootstrap`) its Secret.
    pub name: String,
    /// A control-plane machine.
    pub control_plane: bool,
    /// Deployed in memory (`spec.ephemeral`).
    pub ephemeral: bool,
}

/// `n` machines: one control plane, workers, and (when MAAS supports it)
/// one in-memory worker — a mixed cluster. With `n == 1` the control plane
/// itself runs in memory.
pub fn plan(n: usize, in_memory: bool) -> Vec<MachinePlan> {
    (0..n)
        .map(|i| MachinePlan {
            name: if i == 0 {
                format!("{CLUSTER}-control-plane-0")
            } else {
                format!("{CLUSTER}-worker-{}", i - 1)
            },
            control_plane: i == 0,
            ephemeral: in_memory && i == n.min(2) - 1,
        })
        .collect()
}

fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, DemoError> {
    serde_json::from_value(value).map_err(|e| DemoError::Invalid(e.to_string()))
}

fn api<K>(client: &Client) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    Api::namespaced(client.clone(), NAMESPACE)
}

/// Creates the demo namespace.
pub async fn create_namespace(client: &Client) -> Result<(), DemoError> {
    let ns: Namespace = typed(json!({"metadata": {"name": NAMESPACE}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// The `Cluster` (v1beta2) with its `infrastructureRef` → `MaasCluster`.
pub async fn create_cluster(client: &Client) -> Result<Cluster, DemoError> {
    let c: Cluster = typed(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": CLUSTER},
        "spec": {"infrastructureRef": {
            "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": CLUSTER}}
    }))?;
    Ok(api::<Cluster>(client)
        .create(&PostParams::default(), &c)
        .await?)
}

/// The `MaasCluster` owned by `cluster`: DNS domain `maas`, every zone.
pub async fn create_maas_cluster(client: &Client, cluster: &Cluster) -> Result<(), DemoError> {
    let mc: MaasCluster = typed(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "MaasCluster",
        "metadata": {
            "name": CLUSTER,
            "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER},
            "ownerReferences": [{
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                "name": CLUSTER, "uid": cluster.uid().unwrap_or_default(),
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"dnsDomain": "maas"}
    }))?;
    api::<MaasCluster>(client)
        .create(&PostParams::default(), &mc)
        .await?;
    Ok(())
}

/// What CAPI core does once the infrastructure cluster is provisioned.
pub async fn set_infrastructure_provisioned(client: &Client) -> Result<(), DemoError> {
    api::<Cluster>(client)
        .patch_status(
            CLUSTER,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
            ),
        )
        .await?;
    Ok(())
}

/// The bootstrap Secret (what a bootstrap provider writes), the `Machine`
/// and the `MaasMachine` it owns.
pub async fn create_machine(client: &Client, m: &MachinePlan) -> Result<(), DemoError> {
    let secret_name = format!("{}-bootstrap", m.name);
    let user_data = format!(
        "#cloud-config\n# capmaas demo: {} of cluster {CLUSTER}\nruncmd:\n  - echo {} > /etc/capmaas-demo\n",
        m.name, m.name
    );
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(secret_name.clone()),
            labels: Some(BTreeMap::from([(
                "cluster.x-k8s.io/cluster-name".to_owned(),
                CLUSTER.to_owned(),
            )])),
            ..Default::default()
        },
        type_: Some("cluster.x-k8s.io/secret".into()),
        data: Some(BTreeMap::from([
            (
                "value".to_owned(),
                k8s_openapi::ByteString(user_data.into_bytes()),
            ),
            (
                "format".to_owned(),
                k8s_openapi::ByteString(b"cloud-config".to_vec()),
            ),
        ])),
        ..Default::default()
    };
    api::<Secret>(client)
        .create(&PostParams::default(), &secret)
        .await?;
    let mut labels = json!({"cluster.x-k8s.io/cluster-name": CLUSTER});
    if m.control_plane {
        labels["cluster.x-k8s.io/control-plane"] = json!("");
    }
    let machine: Machine = typed(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {"name": m.name, "labels": labels},
        "spec": {
            "clusterName": CLUSTER,
            "bootstrap": {
                "configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": m.name},
                "dataSecretName": secret_name
            },
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": m.name}
        }
    }))?;
    let machine = api::<Machine>(client)
        .create(&PostParams::default(), &machine)
        .await?;
    let mm: MaasMachine = typed(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "MaasMachine",
        "metadata": {
            "name": m.name,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                "name": m.name, "uid": machine.uid().unwrap_or_default(),
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"image": IMAGE, "minCPU": 2, "minMemory": 4096, "ephemeral": m.ephemeral}
    }))?;
    api::<MaasMachine>(client)
        .create(&PostParams::default(), &mm)
        .await?;
    Ok(())
}

/// Deletes a machine as CAPI core does when a Machine is deleted: the
/// MaasMachine first (its finalizer makes the controller release the MAAS
/// machine), the Machine and its bootstrap Secret with it (there is no
/// garbage collector here, so they are deleted explicitly).
pub async fn delete_machine(client: &Client, name: &str) -> Result<(), DemoError> {
    let dp = DeleteParams::default();
    ignore_not_found(api::<MaasMachine>(client).delete(name, &dp).await)?;
    ignore_not_found(api::<Machine>(client).delete(name, &dp).await)?;
    ignore_not_found(
        api::<Secret>(client)
            .delete(&format!("{name}-bootstrap"), &dp)
            .await,
    )?;
    Ok(())
}

/// Deletes the MaasCluster (the controller removes its DNS record and
/// finalizer) and the Cluster.
pub async fn delete_cluster(client: &Client) -> Result<(), DemoError> {
    let dp = DeleteParams::default();
    ignore_not_found(api::<MaasCluster>(client).delete(CLUSTER, &dp).await)?;
    ignore_not_found(api::<Cluster>(client).delete(CLUSTER, &dp).await)?;
    Ok(())
}

fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<(), DemoError> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The MaasMachines of the demo.
pub async fn maas_machines(client: &Client) -> Result<Vec<MaasMachine>, DemoError> {
    Ok(api::<MaasMachine>(client)
        .list(&Default::default())
        .await?
        .items)
}

/// The MaasCluster, if it exists.
pub async fn maas_cluster(client: &Client) -> Result<Option<MaasCluster>, DemoError> {
    Ok(api::<MaasCluster>(client).get_opt(CLUSTER).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_a_mixed_cluster() {
        let p = plan(5, true);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0].name, "demo-control-plane-0");
        assert!(p[0].control_plane && !p[0].ephemeral);
        assert_eq!(p[1].name, "demo-worker-0");
        assert!(p[1].ephemeral && !p[1].control_plane);
        assert_eq!(p.iter().filter(|m| m.ephemeral).count(), 1);
        assert_eq!(p.iter().filter(|m| m.control_plane).count(), 1);
        let one = plan(1, true);
        assert!(one[0].control_plane && one[0].ephemeral);
        assert!(plan(5, false).iter().all(|m| !m.ephemeral));
    }
}
