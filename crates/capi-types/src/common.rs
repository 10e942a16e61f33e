//! Small types shared by our kinds.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// CAPI `MachineAddressType`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum MachineAddressType {
    /// A hostname.
    Hostname,
    /// A public IP.
    #[serde(rename = "ExternalIP")]
    ExternalIp,
    /// An IP inside the cluster network.
    #[serde(rename = "InternalIP")]
    InternalIp,
    /// A public DNS name.
    #[serde(rename = "ExternalDNS")]
    ExternalDns,
    /// An internal DNS name.
    #[serde(rename = "InternalDNS")]
    InternalDns,
}

/// CAPI `MachineAddress`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MachineAddress {
    /// Address type.
    #[serde(rename = "type")]
    pub type_: MachineAddressType,
    /// The address.
    #[schemars(length(min = 1, max = 256))]
    pub address: String,
}

/// CAPI `APIEndpoint`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ApiEndpoint {
    /// Host name or IP of the Kubernetes API server.
    #[schemars(length(min = 1, max = 512))]
    pub host: String,
    /// Port of the Kubernetes API server.
    pub port: i32,
}

/// The metadata a template gives the objects created from it
/// (CAPI `clusterv1.ObjectMeta`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TemplateObjectMeta {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `status.initialization` (CAPI v1beta2 contract).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Initialization {
    /// True once the infrastructure is fully provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<bool>,
}

/// A reference to a Secret in the object's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretReference {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}
