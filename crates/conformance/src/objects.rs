//! The suite's Kubernetes objects, created as CAPI core and a bootstrap
//! provider would: a `Cluster` → `MaasCluster`, and per machine a bootstrap
//! Secret, a `Machine` and the `MaasMachine` it owns. Everything lives in one
//! namespace whose name is unique to the run (it is part of every owner
//! marker the controller writes into MAAS).

use std::collections::BTreeMap;

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::report::Failure;

/// One machine of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachinePlan {
    /// Name of the Machine and MaasMachine.
    pub name: String,
    /// A control-plane machine.
    pub control_plane: bool,
    /// Deployed in memory.
    pub ephemeral: bool,
    /// The zone asked for (`spec.failureDomain`).
    pub zone: Option<String>,
}

/// Names of the run: namespace and cluster.
#[derive(Debug, Clone)]
pub struct Names {
    /// The namespace (`capmaas-conformance-<id>`).
    pub namespace: String,
    /// The cluster (`conf-<id>`: also the DNS record's name).
    pub cluster: String,
}

impl Names {
    /// Fresh names (a random id, so that runs never share owner markers).
    pub fn fresh() -> Names {
        use std::hash::{BuildHasher, Hasher};
        // std's per-process random hasher keys, the pid and the time: unique
        // enough for a run's names (no new dependency).
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let id = format!("{:08x}", h.finish() as u32);
        Names {
            namespace: format!("capmaas-conformance-{id}"),
            cluster: format!("conf-{id}"),
        }
    }

    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(client.clone(), &self.namespace)
    }
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| Failure::new(format!("building an object: {e}")))
}

/// The namespace.
pub async fn create_namespace(client: &Client, n: &Names) -> Result<(), Failure> {
    let ns: Namespace = typed(json!({"metadata": {"name": n.namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// `Cluster` (v1beta2) → `MaasCluster` (owned by it) in `dns_domain`.
pub async fn create_cluster(client: &Client, n: &Names, dns_domain: &str) -> Result<(), Failure> {
    let c: Cluster = typed(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": n.cluster},
        "spec": {"infrastructureRef": {
            "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": n.cluster}}
    }))?;
    let cluster = n
        .api::<Cluster>(client)
        .create(&PostParams::default(), &c)
        .await?;
    let mc: MaasCluster = typed(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "MaasCluster",
        "metadata": {
            "name": n.cluster,
            "labels": {"cluster.x-k8s.io/cluster-name": n.cluster},
            "ownerReferences": [{
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                "name": n.cluster, "uid": cluster.uid().unwrap_or_default(),
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"dnsDomain": dns_domain}
    }))?;
    n.api::<MaasCluster>(client)
        .create(&PostParams::default(), &mc)
        .await?;
    Ok(())
}

/// What CAPI core does once the MaasCluster is provisioned.
pub async fn set_infrastructure_provisioned(client: &Client, n: &Names) -> Result<(), Failure> {
    n.api::<Cluster>(client)
        .patch_status(
            &n.cluster,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
            ),
        )
        .await?;
    Ok(())
}

/// The bootstrap Secret, the `Machine` and its `MaasMachine` with `spec`
/// (`image`, constraints…). Returns the MaasMachine's uid.
pub async fn create_machine(
    client: &Client,
    n: &Names,
    m: &MachinePlan,
    spec: Value,
) -> Result<String, Failure> {
    let secret_name = format!("{}-bootstrap", m.name);
    let user_data = format!(
        "#cloud-config\n# capmaas conformance: {} of cluster {}\nruncmd:\n  - echo {} > /etc/capmaas-conformance\n",
        m.name, n.cluster, m.name
    );
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(secret_name.clone()),
            labels: Some(BTreeMap::from([(
                "cluster.x-k8s.io/cluster-name".to_owned(),
                n.cluster.clone(),
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
    n.api::<Secret>(client)
        .create(&PostParams::default(), &secret)
        .await?;
    let mut labels = json!({"cluster.x-k8s.io/cluster-name": n.cluster});
    if m.control_plane {
        labels["cluster.x-k8s.io/control-plane"] = json!("");
    }
    let machine: Machine = typed(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {"name": m.name, "labels": labels},
        "spec": {
            "clusterName": n.cluster,
            "bootstrap": {
                "configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": m.name},
                "dataSecretName": secret_name
            },
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": m.name}
        }
    }))?;
    let machine = n
        .api::<Machine>(client)
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
        "spec": spec
    }))?;
    let mm = n
        .api::<MaasMachine>(client)
        .create(&PostParams::default(), &mm)
        .await?;
    mm.uid()
        .ok_or_else(|| Failure::new(format!("MaasMachine {} has no uid", m.name)))
}

/// Deletes a machine as CAPI core does: the MaasMachine (its finalizer makes
/// the controller release the MAAS machine), the Machine and the Secret.
pub async fn delete_machine(client: &Client, n: &Names, name: &str) -> Result<(), Failure> {
    let dp = DeleteParams::default();
    ignore_not_found(n.api::<MaasMachine>(client).delete(name, &dp).await)?;
    ignore_not_found(n.api::<Machine>(client).delete(name, &dp).await)?;
    ignore_not_found(
        n.api::<Secret>(client)
            .delete(&format!("{name}-bootstrap"), &dp)
            .await,
    )?;
    Ok(())
}

/// Deletes the MaasCluster and the Cluster.
pub async fn delete_cluster(client: &Client, n: &Names) -> Result<(), Failure> {
    let dp = DeleteParams::default();
    ignore_not_found(n.api::<MaasCluster>(client).delete(&n.cluster, &dp).await)?;
    ignore_not_found(n.api::<Cluster>(client).delete(&n.cluster, &dp).await)?;
    Ok(())
}

fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<(), Failure> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The run's MaasMachines.
pub async fn maas_machines(client: &Client, n: &Names) -> Result<Vec<MaasMachine>, Failure> {
    Ok(n.api::<MaasMachine>(client)
        .list(&Default::default())
        .await?
        .items)
}

/// The MaasCluster, if it exists.
pub async fn maas_cluster(client: &Client, n: &Names) -> Result<Option<MaasCluster>, Failure> {
    Ok(n.api::<MaasCluster>(client).get_opt(&n.cluster).await?)
}

/// Provisioned and Ready=True.
pub fn provisioned(mm: &MaasMachine) -> bool {
    let Some(s) = &mm.status else { return false };
    s.initialization.as_ref().and_then(|i| i.provisioned) == Some(true)
        && s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The conditions that are not True, as `Type=Status (Reason): message`
/// lines: where the controller puts what MAAS answered.
pub fn unhappy_conditions(conditions: &[capi_types::Condition]) -> String {
    conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| format!("{}={} ({}): {}", c.type_, c.status, c.reason, c.message))
        .collect::<Vec<_>>()
        .join("; ")
}
