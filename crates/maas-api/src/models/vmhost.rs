//! VM hosts (`vm-hosts/`; `pods/` is the deprecated alias).

use serde::{Deserialize, Serialize};
use std::fmt;

use super::de;
use super::machine::NodeRef;
use super::network::{ResourcePool, Zone};

/// Cores, memory and local storage of a VM host.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VmHostResources {
    /// CPU cores.
    #[serde(deserialize_with = "de::null_default")]
    pub cores: i64,
    /// Memory in MiB.
    #[serde(deserialize_with = "de::null_default")]
    pub memory: i64,
    /// Local storage in bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub local_storage: i64,
}

/// A storage pool of a VM host.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VmHostStoragePool {
    /// Pool id (a UUID string for virsh; kept as text).
    #[serde(deserialize_with = "de::string_or_number")]
    pub id: String,
    /// Pool name.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Pool driver type (`dir`, `zfs`, …).
    #[serde(rename = "type", deserialize_with = "de::null_default")]
    pub pool_type: String,
    /// Path.
    pub path: Option<String>,
    /// Total bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub total: i64,
    /// Used bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub used: i64,
    /// Available bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub available: i64,
    /// Default pool for new VMs.
    #[serde(deserialize_with = "de::null_default")]
    pub default: bool,
}

/// A VM host (LXD or virsh).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VmHost {
    /// Numeric id.
    pub id: i64,
    /// Name.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// `lxd` or `virsh`.
    #[serde(rename = "type", deserialize_with = "de::null_default")]
    pub host_type: String,
    /// Tags (always includes `pod-console-logging` on 3.x).
    #[serde(deserialize_with = "de::string_list")]
    pub tags: Vec<String>,
    /// Architectures it can run.
    #[serde(deserialize_with = "de::string_list")]
    pub architectures: Vec<String>,
    /// Hypervisor version (LXD server version, e.g. `5.21`).
    pub version: Option<String>,
    /// Capabilities, e.g. `composable`, `over_commit`.
    #[serde(deserialize_with = "de::string_list")]
    pub capabilities: Vec<String>,
    /// Total resources.
    #[serde(deserialize_with = "de::null_default")]
    pub total: VmHostResources,
    /// Used resources.
    #[serde(deserialize_with = "de::null_default")]
    pub used: VmHostResources,
    /// Available resources.
    #[serde(deserialize_with = "de::null_default")]
    pub available: VmHostResources,
    /// CPU over-commit ratio.
    pub cpu_over_commit_ratio: Option<f64>,
    /// Memory over-commit ratio.
    pub memory_over_commit_ratio: Option<f64>,
    /// Default macvlan mode (may be null or empty).
    pub default_macvlan_mode: Option<String>,
    /// Storage pools.
    #[serde(deserialize_with = "de::null_default")]
    pub storage_pools: Vec<VmHostStoragePool>,
    /// Zone.
    pub zone: Option<Zone>,
    /// Resource pool.
    pub pool: Option<ResourcePool>,
    /// The MAAS machine hosting it (`system_id` null when not a MAAS machine).
    pub host: Option<NodeRef>,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

impl VmHost {
    /// True if MAAS can compose VMs on it.
    pub fn is_composable(&self) -> bool {
        self.capabilities.iter().any(|c| c == "composable")
    }
}

/// The answer of `GET vm-hosts/{id}/?op=parameters` (admin). Holds secrets: `Debug` redacts
/// `password`, `power_pass` and `key`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VmHostParameters {
    /// Address, e.g. `https://10.0.0.5:8443` or `qemu+ssh://…`.
    pub power_address: Option<String>,
    /// LXD project.
    pub project: Option<String>,
    /// LXD trust password (secret).
    pub password: Option<String>,
    /// Client certificate PEM (public).
    pub certificate: Option<String>,
    /// Client private key PEM (secret).
    pub key: Option<String>,
    /// virsh user.
    pub power_user: Option<String>,
    /// virsh password (secret).
    pub power_pass: Option<String>,
}

fn redacted(v: &Option<String>) -> &'static str {
    if v.is_some() { "<redacted>" } else { "None" }
}

impl fmt::Debug for VmHostParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmHostParameters")
            .field("power_address", &self.power_address)
            .field("project", &self.project)
            .field("password", &redacted(&self.password))
            .field("certificate", &self.certificate.as_ref().map(|c| c.len()))
            .field("key", &redacted(&self.key))
            .field("power_user", &self.power_user)
            .field("power_pass", &redacted(&self.power_pass))
            .finish()
    }
}

/// The answer of `op=compose`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ComposedMachine {
    /// The new machine's system_id.
    #[serde(deserialize_with = "de::null_default")]
    pub system_id: String,
    /// Its resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}
