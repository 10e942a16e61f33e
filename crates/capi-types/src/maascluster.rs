//! `MaasCluster`: the MAAS side of one CAPI Cluster.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{ApiEndpoint, Condition, Initialization, SecretReference};

/// The desired MAAS cluster infrastructure.
// kube's repeated `printcolumn(...)` keys trip this lint.
#[allow(clippy::duplicated_attributes)]
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "MaasCluster",
    namespaced,
    status = "MaasClusterStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "mc",
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("clusterctl.cluster.x-k8s.io", ""),
    doc = "MaasCluster is the MAAS infrastructure of one Cluster API Cluster.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",
        description = "Cluster this MaasCluster belongs to"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.controlPlaneEndpoint.host",
        description = "Control plane endpoint"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Ready condition"
    ),
    printcolumn(
        name = "DNS-Domain",
        type_ = "string",
        json_path = ".spec.dnsDomain",
        priority = "1",
        description = "MAAS DNS domain"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MaasClusterSpec {
    /// MAAS DNS domain for the control-plane endpoint name (e.g. `maas`).
    #[schemars(length(min = 1, max = 253))]
    pub dns_domain: String,

    /// The Kubernetes API endpoint. Set by the controller when empty; cannot
    /// change once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,

    /// MAAS zones to spread machines over; all zones are discovered when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub failure_domains: Vec<String>,

    /// A Secret in this namespace with keys `endpoint`, `apiKey` and optional
    /// `caBundle`. Default: the controller's own MAAS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<SecretReference>,
}

/// A failure domain (CAPI v1beta2 list form).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomain {
    /// The MAAS zone name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Whether control-plane machines may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `status.network`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// The DNS name of the control-plane endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
}

/// Observed state of a MaasCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaasClusterStatus {
    /// CAPI v1beta2 contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// CAPI v1beta1 contract: same meaning as `initialization.provisioned`.
    #[serde(default)]
    pub ready: bool,
    /// Failure domains (MAAS zones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub failure_domains: Vec<FailureDomain>,
    /// Network state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatus>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
