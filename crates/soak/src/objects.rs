//! The soak's Kubernetes objects, created as CAPI core and a bootstrap
//! provider would (like `capmaas-demo`'s, in a namespace per run).

use std::collections::BTreeMap;

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::SoakError;

/// The cluster's name in every run's namespace.
pub const CLUSTER: &str = "soak";

fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, SoakError> {
    serde_json::from_value(value).map_err(|e| SoakError::Invalid(e.to_string()))
}

/// One run's objects, in namespace `ns`.
#[derive(Clone)]
pub struct Objects {
    client: Client,
    ns: String,
}

fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<(), SoakError> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Objects {
    /// Creates namespace `ns`.
    ///
    /// # Errors
    /// The API's.
    pub async fn create(client: Client, ns: &str) -> Result<Objects, SoakError> {
        let n: Namespace = typed(json!({"metadata": {"name": ns}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &n)
            .await?;
        Ok(Objects {
            client,
            ns: ns.to_owned(),
        })
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The `Cluster` and the `MaasCluster` it refers to (and owns).
    ///
    /// # Errors
    /// The API's.
    pub async fn create_cluster(&self) -> Result<(), SoakError> {
        let c: Cluster = typed(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": CLUSTER},
            "spec": {"infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": CLUSTER}}
        }))?;
        let c = self
            .api::<Cluster>()
            .create(&PostParams::default(), &c)
            .await?;
        let mc: MaasCluster = typed(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "MaasCluster",
            "metadata": {
                "name": CLUSTER,
                "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER},
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                    "name": CLUSTER, "uid": c.uid().unwrap_or_default(),
                    "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {"dnsDomain": "maas"}
        }))?;
        self.api::<MaasCluster>()
            .create(&PostParams::default(), &mc)
            .await?;
        Ok(())
    }

    /// Whether the MaasCluster says it is provisioned.
    ///
    /// # Errors
    /// The API's.
    pub async fn maas_cluster_provisioned(&self) -> Result<bool, SoakError> {
        Ok(self
            .api::<MaasCluster>()
            .get_opt(CLUSTER)
            .await?
            .and_then(|mc| mc.status)
            .and_then(|s| s.initialization)
            .and_then(|i| i.provisioned)
            == Some(true))
    }

    /// What CAPI core does once the MaasCluster is provisioned.
    ///
    /// # Errors
    /// The API's.
    pub async fn set_infrastructure_provisioned(&self) -> Result<(), SoakError> {
        self.api::<Cluster>()
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

    /// A bootstrap Secret, a `Machine` and the `MaasMachine` it owns.
    ///
    /// # Errors
    /// The API's.
    pub async fn create_machine(
        &self,
        name: &str,
        control_plane: bool,
        ephemeral: bool,
    ) -> Result<(), SoakError> {
        let secret_name = format!("{name}-bootstrap");
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
                    k8s_openapi::ByteString(format!("#cloud-config\n# soak {name}\n").into_bytes()),
                ),
                (
                    "format".to_owned(),
                    k8s_openapi::ByteString(b"cloud-config".to_vec()),
                ),
            ])),
            ..Default::default()
        };
        self.api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await?;
        let mut labels = json!({"cluster.x-k8s.io/cluster-name": CLUSTER});
        if control_plane {
            labels["cluster.x-k8s.io/control-plane"] = json!("");
        }
        let machine: Machine = typed(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Machine",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "clusterName": CLUSTER,
                "bootstrap": {
                    "configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": name},
                    "dataSecretName": secret_name
                },
                "infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": name}
            }
        }))?;
        let machine = self
            .api::<Machine>()
            .create(&PostParams::default(), &machine)
            .await?;
        let mm: MaasMachine = typed(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "MaasMachine",
            "metadata": {
                "name": name,
                "labels": labels,
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                    "name": name, "uid": machine.uid().unwrap_or_default(),
                    "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {"image": "ubuntu/jammy", "minCPU": 2, "minMemory": 4096, "ephemeral": ephemeral}
        }))?;
        self.api::<MaasMachine>()
            .create(&PostParams::default(), &mm)
            .await?;
        Ok(())
    }

    /// Deletes a machine as CAPI core does (the MaasMachine, whose
    /// finalizer makes the controller release it; the Machine and Secret
    /// explicitly: no garbage collector runs).
    ///
    /// # Errors
    /// The API's.
    pub async fn delete_machine(&self, name: &str) -> Result<(), SoakError> {
        let dp = DeleteParams::default();
        ignore_not_found(self.api::<MaasMachine>().delete(name, &dp).await)?;
        ignore_not_found(self.api::<Machine>().delete(name, &dp).await)?;
        ignore_not_found(
            self.api::<Secret>()
                .delete(&format!("{name}-bootstrap"), &dp)
                .await,
        )?;
        Ok(())
    }

    /// Deletes the MaasCluster and the Cluster.
    ///
    /// # Errors
    /// The API's.
    pub async fn delete_cluster(&self) -> Result<(), SoakError> {
        let dp = DeleteParams::default();
        ignore_not_found(self.api::<MaasCluster>().delete(CLUSTER, &dp).await)?;
        ignore_not_found(self.api::<Cluster>().delete(CLUSTER, &dp).await)?;
        Ok(())
    }

    /// Whether the MaasCluster still exists.
    ///
    /// # Errors
    /// The API's.
    pub async fn maas_cluster_exists(&self) -> Result<bool, SoakError> {
        Ok(self.api::<MaasCluster>().get_opt(CLUSTER).await?.is_some())
    }

    /// The MaasMachines: name → provisioned.
    ///
    /// # Errors
    /// The API's.
    pub async fn maas_machines(&self) -> Result<BTreeMap<String, bool>, SoakError> {
        Ok(self
            .api::<MaasMachine>()
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .map(|mm| {
                let provisioned = mm
                    .status
                    .as_ref()
                    .and_then(|s| s.initialization.as_ref())
                    .and_then(|i| i.provisioned)
                    == Some(true);
                (mm.name_any(), provisioned)
            })
            .collect())
    }
}
