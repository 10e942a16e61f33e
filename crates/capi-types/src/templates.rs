//! `MaasMachineTemplate` and `MaasClusterTemplate` (for MachineDeployments,
//! KubeadmControlPlane and ClusterClass).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::TemplateObjectMeta;
use crate::maascluster::MaasClusterSpec;
use crate::maasmachine::MaasMachineSpec;

/// The MaasMachine a template stamps out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MaasMachineTemplateResource {
    /// Labels and annotations for created MaasMachines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateObjectMeta>,
    /// Spec of created MaasMachines.
    pub spec: MaasMachineSpec,
}

/// A template for MaasMachines.
// kube's repeated `printcolumn(...)` keys trip this lint.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "MaasMachineTemplate",
    namespaced,
    status = "MaasMachineTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "mmt",
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("clusterctl.cluster.x-k8s.io", ""),
    doc = "MaasMachineTemplate is a template for MaasMachines.",
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.template.spec.image",
        description = "Image"
    ),
    printcolumn(
        name = "Min-CPU",
        type_ = "integer",
        json_path = ".spec.template.spec.minCPU",
        description = "Minimum CPU cores"
    ),
    printcolumn(
        name = "Min-Memory",
        type_ = "integer",
        json_path = ".spec.template.spec.minMemory",
        description = "Minimum memory (MiB)"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct MaasMachineTemplateSpec {
    /// The MaasMachine to create.
    pub template: MaasMachineTemplateResource,
}

/// Node architecture reported for autoscaling from zero.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeArchitecture {
    /// amd64
    Amd64,
    /// arm64
    Arm64,
    /// s390x
    S390x,
    /// ppc64le
    Ppc64le,
}

/// Node operating system reported for autoscaling from zero.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeOperatingSystem {
    /// linux
    Linux,
    /// windows
    Windows,
}

/// What nodes made from this template look like.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<NodeArchitecture>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<NodeOperatingSystem>,
}

/// Observed state of a MaasMachineTemplate (for the autoscaler's scale from zero).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaasMachineTemplateStatus {
    /// Minimum resources of a machine from this template (`cpu`, `memory`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Architecture and OS of nodes from this template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeInfo>,
}

impl MaasMachineTemplateStatus {
    /// Derives capacity and node info from the template's constraints:
    /// `cpu` = minCPU, `memory` = minMemory (MiB → `<n>Mi`), architecture from
    /// `spec.architecture` (amd64 when unset, as the autoscaler assumes), OS linux.
    #[must_use]
    pub fn from_spec(spec: &MaasMachineSpec) -> Self {
        let min_memory_mib = spec
            .min_memory
            .and_then(|m| u64::try_from(m).ok())
            .filter(|m| *m > 0);
        Self::from_spec_requesting(spec, min_memory_mib)
    }

    /// As [`Self::from_spec`], with `memory` = the minimum memory the
    /// allocation really asks MAAS for (`min_memory_mib`, e.g. raised by the
    /// controller's in-memory floor), so the autoscaler plans with it.
    #[must_use]
    pub fn from_spec_requesting(spec: &MaasMachineSpec, min_memory_mib: Option<u64>) -> Self {
        let mut capacity = BTreeMap::new();
        if let Some(cpu) = spec.min_cpu.filter(|c| *c > 0) {
            capacity.insert("cpu".to_owned(), Quantity(cpu.to_string()));
        }
        if let Some(mem) = min_memory_mib.filter(|m| *m > 0) {
            capacity.insert("memory".to_owned(), Quantity(format!("{mem}Mi")));
        }
        let arch = spec
            .architecture
            .as_deref()
            .map(|a| a.split('/').next().unwrap_or(a));
        let architecture = match arch {
            None | Some("amd64") => Some(NodeArchitecture::Amd64),
            Some("arm64") => Some(NodeArchitecture::Arm64),
            Some("s390x") => Some(NodeArchitecture::S390x),
            Some("ppc64el" | "ppc64le") => Some(NodeArchitecture::Ppc64le),
            Some(_) => None,
        };
        Self {
            capacity,
            node_info: Some(NodeInfo {
                architecture,
                operating_system: Some(NodeOperatingSystem::Linux),
            }),
        }
    }
}

/// The MaasCluster a template stamps out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MaasClusterTemplateResource {
    /// Labels and annotations for created MaasClusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateObjectMeta>,
    /// Spec of created MaasClusters.
    pub spec: MaasClusterSpec,
}

/// A template for MaasClusters (ClusterClass).
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "MaasClusterTemplate",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    shortname = "mct",
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("clusterctl.cluster.x-k8s.io", ""),
    doc = "MaasClusterTemplate is a template for MaasClusters (used by ClusterClass).",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct MaasClusterTemplateSpec {
    /// The MaasCluster to create.
    pub template: MaasClusterTemplateResource,
}
