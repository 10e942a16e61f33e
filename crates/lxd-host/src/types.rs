//! Serde types of the LXD REST objects this crate uses. Unknown fields are
//! ignored; missing or `null` fields take their defaults, so the same types
//! read LXD 5.0, 5.21 and 6.x answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// A device of a profile or instance: `type` plus its settings.
pub type Device = BTreeMap<String, String>;

/// Devices by name.
pub type Devices = BTreeMap<String, Device>;

/// LXD sends `null` for empty lists and maps; read that as the default.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /1.0`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Server {
    /// API extensions the server supports (also shown to untrusted callers).
    #[serde(default, deserialize_with = "null_default")]
    pub api_extensions: Vec<String>,
    /// `stable` on releases.
    #[serde(default)]
    pub api_status: String,
    /// `1.0`.
    #[serde(default)]
    pub api_version: String,
    /// `trusted` or `untrusted`.
    #[serde(default)]
    pub auth: String,
    /// Whether the server is public (image server).
    #[serde(default)]
    pub public: bool,
    /// Authentication methods (`tls`, `candid`, `oidc`).
    #[serde(default, deserialize_with = "null_default")]
    pub auth_methods: Vec<String>,
    /// Server configuration; `null` for untrusted and project-restricted
    /// callers. Values are strings except `core.trust_password`, which reads
    /// as `true` when set.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Only present for trusted callers.
    #[serde(default)]
    pub environment: Option<ServerEnvironment>,
}

impl Server {
    /// True when the caller is trusted.
    pub fn is_trusted(&self) -> bool {
        self.auth == "trusted"
    }

    /// A server config value as a string (`core.trust_password` reads as `"true"`).
    pub fn config_value(&self, key: &str) -> Option<String> {
        match self.config.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Whether the server has the named API extension.
    pub fn has_extension(&self, name: &str) -> bool {
        self.api_extensions.iter().any(|e| e == name)
    }
}

/// `environment` of `GET /1.0`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerEnvironment {
    /// Addresses the HTTPS listener is reachable on.
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: Vec<String>,
    /// The server certificate, PEM.
    #[serde(default)]
    pub certificate: String,
    /// SHA-256 of the server certificate's DER, hex.
    #[serde(default)]
    pub certificate_fingerprint: String,
    /// Instance drivers: `lxc`, or `lxc | qemu` when VMs work.
    #[serde(default)]
    pub driver: String,
    /// Versions of the drivers, same order.
    #[serde(default)]
    pub driver_version: String,
    /// Kernel architecture.
    #[serde(default)]
    pub kernel_architecture: String,
    /// Kernel version.
    #[serde(default)]
    pub kernel_version: String,
    /// LXD version, e.g. `5.0.2`, `5.21.3`, `6.1`.
    #[serde(default)]
    pub server_version: String,
    /// Whether the server is a cluster member.
    #[serde(default)]
    pub server_clustered: bool,
    /// Server (host) name.
    #[serde(default)]
    pub server_name: String,
    /// Storage drivers in use, ` | ` separated; empty without pools.
    #[serde(default)]
    pub storage: String,
    /// Their versions.
    #[serde(default)]
    pub storage_version: String,
    /// Storage drivers this host can use.
    #[serde(default, deserialize_with = "null_default")]
    pub storage_supported_drivers: Vec<StorageDriverInfo>,
    /// The project of the request.
    #[serde(default)]
    pub project: String,
}

impl ServerEnvironment {
    /// Whether the host can run virtual machines (`driver` lists `qemu`).
    pub fn supports_vms(&self) -> bool {
        self.driver.split('|').any(|d| d.trim() == "qemu")
    }

    /// Whether the host can create pools with this storage driver.
    pub fn supports_storage_driver(&self, name: &str) -> bool {
        self.storage_supported_drivers
            .iter()
            .any(|d| d.name == name)
    }
}

/// One entry of `storage_supported_drivers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StorageDriverInfo {
    /// Driver name (`dir`, `zfs`, `btrfs`, `lvm`, `ceph`, ...).
    #[serde(default, alias = "Name")]
    pub name: String,
    /// Driver version.
    #[serde(default, alias = "Version")]
    pub version: String,
    /// Whether the driver is remote (ceph).
    #[serde(default, alias = "Remote")]
    pub remote: bool,
}

/// `GET /1.0/storage-pools/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoragePool {
    /// Pool name.
    pub name: String,
    /// Driver.
    #[serde(default)]
    pub driver: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Pool configuration (`size`, `source`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// `Created`, `Pending`, ...
    #[serde(default)]
    pub status: String,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

/// `POST /1.0/storage-pools`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoragePoolCreate {
    /// Pool name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Description.
    pub description: String,
    /// Configuration.
    pub config: BTreeMap<String, String>,
}

/// `GET /1.0/networks/{name}`: LXD-managed networks and host interfaces.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Network {
    /// Name.
    pub name: String,
    /// `bridge`, `physical`, `macvlan`, `loopback`, `unknown`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// False for host interfaces LXD only reports.
    #[serde(default)]
    pub managed: bool,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (managed networks only).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// `Created`, ...
    #[serde(default)]
    pub status: String,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

/// `POST /1.0/networks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkCreate {
    /// Name.
    pub name: String,
    /// Network type, `bridge` here.
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    pub description: String,
    /// Configuration.
    pub config: BTreeMap<String, String>,
}

/// `GET /1.0/projects/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Project {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (`features.*`, `limits.*`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

/// `GET /1.0/profiles/{name}`; also the body of `POST` and `PUT`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// Devices.
    #[serde(default, deserialize_with = "null_default")]
    pub devices: Devices,
    /// URLs of what uses it (read-only).
    #[serde(default, deserialize_with = "null_default", skip_serializing)]
    pub used_by: Vec<String>,
}

/// `GET /1.0/certificates/{fingerprint}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `client`, `server`, `metrics`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Fingerprint, hex.
    #[serde(default)]
    pub fingerprint: String,
    /// The certificate, PEM.
    #[serde(default)]
    pub certificate: String,
    /// Whether limited to `projects`.
    #[serde(default)]
    pub restricted: bool,
    /// Projects the certificate may use when restricted.
    #[serde(default, deserialize_with = "null_default")]
    pub projects: Vec<String>,
}

/// `GET /1.0/operations/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Operation {
    /// UUID.
    #[serde(default)]
    pub id: String,
    /// `task`, `websocket` or `token`.
    #[serde(default)]
    pub class: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `Running`, `Success`, `Failure`, `Cancelled`, ...
    #[serde(default)]
    pub status: String,
    /// 103 running, 200 success, 400 failure, 401 cancelled, ...
    #[serde(default)]
    pub status_code: u16,
    /// Class-specific metadata (for tokens: addresses, fingerprint, request, secret).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Affected resources.
    #[serde(default)]
    pub resources: serde_json::Value,
    /// Whether it can be cancelled.
    #[serde(default)]
    pub may_cancel: bool,
    /// Error text when it failed.
    #[serde(default)]
    pub err: String,
}

impl Operation {
    /// LXD status code for a running operation.
    pub const RUNNING: u16 = 103;
    /// LXD status code for success.
    pub const SUCCESS: u16 = 200;

    /// True while the operation has not reached a final state.
    pub fn is_running(&self) -> bool {
        // 100 created, 101 started, 102 stopped, 103 running, 105 pending,
        // 106 starting, 107 stopping, 108 aborting, 109 freezing, ...
        self.status_code < 200
    }

    /// True when it finished successfully.
    pub fn is_success(&self) -> bool {
        self.status_code == Self::SUCCESS
    }
}

/// `GET /1.0/operations?recursion=1`: operations grouped by status.
pub(crate) type OperationsByStatus = BTreeMap<String, Vec<Operation>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_read_as_empty() {
        let net: Network = serde_json::from_str(
            r#"{"config":{},"description":"","name":"brexp","type":"bridge","used_by":null,"managed":false,"status":"","locations":null}"#,
        )
        .unwrap();
        assert_eq!(net.kind, "bridge");
        assert!(!net.managed);
        assert!(net.used_by.is_empty());

        let server: Server = serde_json::from_str(
            r#"{"api_extensions":["projects"],"auth":"untrusted","config":null,"public":false}"#,
        )
        .unwrap();
        assert!(!server.is_trusted());
        assert!(server.config.is_empty());
        assert!(server.environment.is_none());
        assert!(server.has_extension("projects"));
    }

    #[test]
    fn trust_password_reads_as_true() {
        let server: Server = serde_json::from_str(
            r#"{"auth":"trusted","config":{"core.trust_password":true,"core.https_address":"[::]:8443"}}"#,
        )
        .unwrap();
        assert_eq!(
            server.config_value("core.trust_password").as_deref(),
            Some("true")
        );
        assert_eq!(
            server.config_value("core.https_address").as_deref(),
            Some("[::]:8443")
        );
        assert_eq!(server.config_value("nope"), None);
    }

    #[test]
    fn vm_support_comes_from_driver() {
        let mut env = ServerEnvironment {
            driver: "lxc".into(),
            ..Default::default()
        };
        assert!(!env.supports_vms());
        env.driver = "lxc | qemu".into();
        assert!(env.supports_vms());
        env.driver = "qemu".into();
        assert!(env.supports_vms());
        env.driver = "qemu-ish".into();
        assert!(!env.supports_vms());
    }

    #[test]
    fn profile_put_body_omits_used_by() {
        let p = Profile {
            name: "maas".into(),
            used_by: vec!["/1.0/instances/x".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("used_by").is_none());
        assert_eq!(v["name"], "maas");
    }

    #[test]
    fn operation_states() {
        let op = Operation {
            status_code: 103,
            ..Default::default()
        };
        assert!(op.is_running());
        let op = Operation {
            status_code: 400,
            ..Default::default()
        };
        assert!(!op.is_running());
        assert!(!op.is_success());
    }
}
