//! VM hosts (pods): the discovery seam, the simulated LXD hosts behind it,
//! certificate generation, and create/update/refresh/compose/delete.

use crate::domain::constraints::{
    Filter, LabeledMap, StorageConstraint, parse_labeled_map, parse_storage,
};
use crate::domain::error::MaasError;
use crate::domain::params::Params;
use crate::domain::state::{DEFAULT_ZONE_ID, State};
use crate::model::*;
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

/// What MAAS hands its pod driver when it (re)discovers a VM host.
#[derive(Clone)]
pub struct DiscoveryRequest {
    /// The VM host's name.
    pub name: String,
    /// `lxd` or `virsh`.
    pub power_type: String,
    /// Normalised address (`https://host:8443` for LXD).
    pub power_address: String,
    /// LXD project.
    pub project: String,
    /// Trust password, if one was given.
    pub password: Option<String>,
    /// Client certificate (PEM).
    pub certificate: Option<String>,
    /// Client private key (PEM).
    pub key: Option<String>,
}

impl fmt::Debug for DiscoveryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryRequest")
            .field("name", &self.name)
            .field("power_type", &self.power_type)
            .field("power_address", &self.power_address)
            .field("project", &self.project)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("certificate", &self.certificate.as_ref().map(|_| "<pem>"))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One storage pool of a discovered host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiscoveredStoragePool {
    /// Pool id (LXD uses the name).
    pub id: String,
    /// Pool name.
    pub name: String,
    /// Driver (`dir`, `zfs`, `btrfs`, `lvm`, …).
    pub pool_type: String,
    /// Source path.
    pub path: String,
    /// Capacity in bytes.
    pub total_bytes: u64,
}

/// What discovery found on a host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiscoveredHost {
    /// Server version (LXD: `5.21.1`).
    pub version: String,
    /// Architectures (`amd64/generic`).
    pub architectures: Vec<String>,
    /// CPU cores.
    pub cores: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// CPU speed in MHz.
    pub cpu_speed: u64,
    /// Storage pools.
    pub storage_pools: Vec<DiscoveredStoragePool>,
}

impl Default for DiscoveredHost {
    fn default() -> Self {
        DiscoveredHost {
            version: "5.21.3".into(),
            architectures: vec!["amd64/generic".into()],
            cores: 16,
            memory_mib: 65536,
            cpu_speed: 2400,
            storage_pools: vec![DiscoveredStoragePool {
                id: "default".into(),
                name: "default".into(),
                pool_type: "zfs".into(),
                path: "/var/snap/lxd/common/lxd/storage-pools/default".into(),
                total_bytes: 500_000_000_000,
            }],
        }
    }
}

/// A discovery failure (MAAS answers `op=refresh` with 503 and this text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DiscoveryError {
    /// The message MAAS would show.
    pub message: String,
}

/// The seam between the simulator and a VM host's API. The default
/// [`SimulatedDiscovery`] answers from the inventory; a real implementation
/// may talk to an LXD daemon over HTTPS with the request's certificate.
#[async_trait]
pub trait VmHostDiscovery: Send + Sync + 'static {
    /// Discover resources, version and storage pools of a host.
    async fn discover(&self, request: &DiscoveryRequest) -> Result<DiscoveredHost, DiscoveryError>;
}

/// A simulated LXD host: what it has and whom it trusts.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SimulatedHost {
    /// Answers at all.
    #[serde(default = "yes")]
    pub reachable: bool,
    /// Trust password it accepts (`None`: password auth disabled).
    #[serde(default)]
    pub trust_password: Option<String>,
    /// Certificates (PEM) it trusts. When neither a password nor
    /// certificates are configured, the host trusts any client.
    #[serde(default)]
    pub trusted_certificates: Vec<String>,
    /// What discovery reports.
    #[serde(default)]
    pub resources: DiscoveredHost,
}

fn yes() -> bool {
    true
}

impl fmt::Debug for SimulatedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedHost")
            .field("reachable", &self.reachable)
            .field(
                "trust_password",
                &self.trust_password.as_ref().map(|_| "<redacted>"),
            )
            .field("trusted_certificates", &self.trusted_certificates.len())
            .field("resources", &self.resources)
            .finish()
    }
}

/// Default discovery: hosts configured by address (from the inventory or
/// the control API); unknown addresses get `default_host` unless strict.
#[derive(Debug, Default)]
pub struct SimulatedDiscovery {
    hosts: RwLock<HashMap<String, SimulatedHost>>,
    default_host: RwLock<Option<SimulatedHost>>,
}

impl SimulatedDiscovery {
    /// Unknown addresses are accepted with default resources.
    pub fn permissive() -> Self {
        SimulatedDiscovery {
            hosts: RwLock::new(HashMap::new()),
            default_host: RwLock::new(Some(SimulatedHost {
                reachable: true,
                ..SimulatedHost::default()
            })),
        }
    }

    /// Configure the host answering at `address` (any form MAAS accepts).
    pub fn set_host(&self, address: &str, host: SimulatedHost) {
        self.hosts
            .write()
            .insert(normalise_lxd_address(address), host);
    }

    /// What answers for unknown addresses (`None`: unreachable).
    pub fn set_default_host(&self, host: Option<SimulatedHost>) {
        *self.default_host.write() = host;
    }

    /// Trust a client certificate on the host at `address`
    /// (`lxc config trust add`).
    pub fn trust_certificate(&self, address: &str, pem: &str) {
        let key = normalise_lxd_address(address);
        let mut hosts = self.hosts.write();
        let default = self.default_host.read().clone().unwrap_or_default();
        let host = hosts.entry(key).or_insert(default);
        if !host
            .trusted_certificates
            .iter()
            .any(|c| c.trim() == pem.trim())
        {
            host.trusted_certificates.push(pem.to_string());
        }
    }
}

#[async_trait]
impl VmHostDiscovery for SimulatedDiscovery {
    async fn discover(&self, request: &DiscoveryRequest) -> Result<DiscoveredHost, DiscoveryError> {
        let key = normalise_lxd_address(&request.power_address);
        let host = self.hosts.read().get(&key).cloned();
        let Some(mut host) = host.or_else(|| self.default_host.read().clone()) else {
            return Err(DiscoveryError {
                message: format!("Failed to connect to the LXD REST API at {key}."),
            });
        };
        if !host.reachable {
            return Err(DiscoveryError {
                message: format!("Failed to connect to the LXD REST API at {key}."),
            });
        }
        let open = host.trust_password.is_none() && host.trusted_certificates.is_empty();
        let cert_trusted = request
            .certificate
            .as_deref()
            .map(|c| {
                host.trusted_certificates
                    .iter()
                    .any(|t| t.trim() == c.trim())
            })
            .unwrap_or(false);
        let password_ok = match (&host.trust_password, &request.password) {
            (Some(expected), Some(given)) => expected == given,
            _ => false,
        };
        if !(open || cert_trusted || password_ok) {
            return Err(DiscoveryError {
                message: "Failed to authenticate to the VM host.".into(),
            });
        }
        if password_ok {
            // The password adds MAAS's certificate to the trust store.
            if let Some(cert) = &request.certificate {
                host.trusted_certificates.push(cert.clone());
                self.hosts.write().insert(key, host.clone());
            }
        }
        Ok(host.resources)
    }
}

/// LXD addresses as MAAS normalises them: `https://` and `:8443` added.
pub fn normalise_lxd_address(address: &str) -> String {
    let a = address.trim().trim_end_matches('/');
    let rest = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .unwrap_or(a);
    let has_port = if let Some(stripped) = rest.strip_prefix('[') {
        stripped
            .split_once(']')
            .map(|(_, tail)| tail.starts_with(':'))
            .unwrap_or(false)
    } else {
        rest.matches(':').count() == 1
    };
    let host = if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{rest}]")
    } else {
        rest.to_string()
    };
    if has_port {
        format!("https://{host}")
    } else {
        format!("https://{host}:8443")
    }
}

/// A client certificate and key as MAAS makes for LXD VM hosts
/// (CN `<maas_name>@<vmhost>`, O `MAAS`). ECDSA P-384 (RSA needs aws-lc).
pub(crate) fn generate_certificate(
    maas_name: &str,
    vmhost_name: &str,
    maas_uuid: &str,
) -> Option<(String, String)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).ok()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).ok()?;
    let mut dn = rcgen::DistinguishedName::new();
    let cn: String = format!("{maas_name}@{vmhost_name}")
        .chars()
        .take(64)
        .collect();
    dn.push(rcgen::DnType::CommonName, cn);
    dn.push(rcgen::DnType::OrganizationName, "MAAS");
    dn.push(rcgen::DnType::OrganizationalUnitName, maas_uuid);
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    let cert = params.self_signed(&key).ok()?;
    Some((cert.pem(), key.serialize_pem()))
}

/// A validated VM host create/update, waiting for discovery.
#[derive(Debug, Clone)]
pub(crate) struct VmHostDraft {
    pub(crate) existing: Option<u64>,
    pub(crate) host: VmHost,
}

impl VmHostDraft {
    pub(crate) fn discovery_request(&self) -> DiscoveryRequest {
        DiscoveryRequest {
            name: self.host.name.clone(),
            power_type: self.host.power_type.clone(),
            power_address: self.host.power_address.clone(),
            project: self.host.project.clone(),
            password: self.host.password.clone(),
            certificate: self.host.certificate.clone(),
            key: self.host.key.clone(),
        }
    }
}

/// Capabilities MAAS reports for LXD/virsh hosts.
fn capabilities() -> Vec<String> {
    [
        "composable",
        "dynamic_local_storage",
        "over_commit",
        "storage_pools",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A compose request as `ComposeMachineForm` cleans it.
struct ComposeForm {
    cores: u64,
    memory: u64,
    cpu_speed: Option<i64>,
    arch: String,
    hostname: Option<String>,
    domain_id: Option<u64>,
    zone_id: Option<u64>,
    pool_id: Option<u64>,
    storage: Vec<StorageConstraint>,
    interfaces: Option<LabeledMap>,
    skip_commissioning: bool,
}

impl State {
    /// The machine owning `address` (IP part of a power address), if any.
    fn machine_with_ip(&self, address: &str) -> Option<u64> {
        let rest = address
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = if let Some(r) = rest.strip_prefix('[') {
            r.split(']').next().unwrap_or("")
        } else {
            rest.split(':').next().unwrap_or("")
        };
        let ip: IpAddr = host.parse().ok()?;
        let row = self.ip_index.get(&ip)?;
        let iid = self.ips.get(row)?.interface_id?;
        self.interfaces.get(&iid).map(|i| i.machine_id)
    }

    /// Validate `POST vm-hosts/` or `PUT vm-hosts/{id}/` (PodForm).
    pub(crate) fn prepare_vmhost(
        &mut self,
        data: &Params,
        existing: Option<u64>,
    ) -> Result<VmHostDraft, MaasError> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let base = existing.and_then(|id| self.vmhosts.get(&id)).cloned();
        let ptype = data
            .get("type")
            .map(str::to_string)
            .or_else(|| base.as_ref().map(|b| b.power_type.clone()));
        let ptype = match ptype.as_deref() {
            None | Some("") => {
                errors.insert("type".into(), vec!["This field is required.".into()]);
                String::new()
            }
            Some(t @ ("lxd" | "virsh")) => t.to_string(),
            Some(t) => {
                errors.insert(
                    "type".into(),
                    vec![format!(
                        "Select a valid choice. {t} is not one of the available choices."
                    )],
                );
                String::new()
            }
        };
        if let Some(b) = &base
            && !ptype.is_empty()
            && b.power_type != ptype
        {
            errors.insert(
                    "type".into(),
                    vec!["Cannot change the type of a pod. Delete and re-create the pod with a different type.".into()],
                );
        }
        let zone_id = match data.get("zone") {
            Some(z) if !z.is_empty() => match self.zone_by_name(z) {
                Some(zone) => zone.id,
                None => {
                    errors.insert(
                        "zone".into(),
                        vec!["Select a valid choice. That choice is not one of the available choices.".into()],
                    );
                    DEFAULT_ZONE_ID
                }
            },
            _ => base.as_ref().map(|b| b.zone_id).unwrap_or(DEFAULT_ZONE_ID),
        };
        let pool_id = match data.get("pool") {
            Some(p) if !p.is_empty() => match self.pool_by_name(p) {
                Some(pool) => pool.id,
                None => {
                    errors.insert(
                        "pool".into(),
                        vec!["Select a valid choice. That choice is not one of the available choices.".into()],
                    );
                    0
                }
            },
            _ => base.as_ref().map(|b| b.pool_id).unwrap_or(0),
        };
        let mut ratio = |key: &str, current: f64| -> f64 {
            match data.get(key) {
                None | Some("") => current,
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(r) if r < 0.0 => {
                        errors.insert(
                            key.into(),
                            vec!["Ensure this value is greater than or equal to 0.".into()],
                        );
                        current
                    }
                    Ok(r) if r > 10.0 => {
                        errors.insert(
                            key.into(),
                            vec!["Ensure this value is less than or equal to 10.".into()],
                        );
                        current
                    }
                    Ok(r) => r,
                    Err(_) => {
                        errors.insert(key.into(), vec!["Enter a number.".into()]);
                        current
                    }
                },
            }
        };
        let cpu_ratio = ratio(
            "cpu_over_commit_ratio",
            base.as_ref()
                .map(|b| b.cpu_over_commit_ratio)
                .unwrap_or(1.0),
        );
        let mem_ratio = ratio(
            "memory_over_commit_ratio",
            base.as_ref()
                .map(|b| b.memory_over_commit_ratio)
                .unwrap_or(1.0),
        );
        let macvlan = match data.get("default_macvlan_mode") {
            Some(m) if !m.is_empty() => {
                if ["bridge", "passthru", "private", "vepa"].contains(&m) {
                    Some(m.to_string())
                } else {
                    errors.insert(
                        "default_macvlan_mode".into(),
                        vec![format!(
                            "Select a valid choice. {m} is not one of the available choices."
                        )],
                    );
                    None
                }
            }
            _ => base.as_ref().and_then(|b| b.default_macvlan_mode.clone()),
        };
        let power_address = match data.get("power_address").filter(|a| !a.is_empty()) {
            Some(a) => Some(a.to_string()),
            None => base.as_ref().map(|b| b.power_address.clone()),
        };
        let Some(power_address) = power_address.filter(|a| !a.is_empty()) else {
            errors.insert(
                "power_address".into(),
                vec!["This field is required.".into()],
            );
            return Err(MaasError::form(errors));
        };
        if !errors.is_empty() {
            return Err(MaasError::form(errors));
        }
        let power_address = if ptype == "lxd" {
            normalise_lxd_address(&power_address)
        } else {
            power_address
        };
        let name = match data.get("name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match &base {
                Some(b) => b.name.clone(),
                None => self.fresh_hostname(),
            },
        };
        let project = data
            .get("project")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| base.as_ref().map(|b| b.project.clone()))
            .unwrap_or_else(|| "default".into());
        let password = data
            .get("password")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| base.as_ref().and_then(|b| b.password.clone()));
        let mut certificate = data
            .get("certificate")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| base.as_ref().and_then(|b| b.certificate.clone()));
        let mut key = data
            .get("key")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| base.as_ref().and_then(|b| b.key.clone()));
        if ptype == "lxd" && certificate.is_none() && key.is_none() {
            let uuid = crate::model::names::uuid(&mut self.rng);
            if let Some((c, k)) = generate_certificate(&self.maas_name, &name, &uuid) {
                certificate = Some(c);
                key = Some(k);
            }
        }
        // Same type and parameters as another VM host.
        if existing.is_none() {
            let dup = self.vmhosts.values().find(|v| {
                v.power_type == ptype && v.power_address == power_address && v.project == project
            });
            if let Some(d) = dup {
                return Err(MaasError::bad_request(format!(
                    "Pod {} with type and parameters already exist.",
                    d.name
                )));
            }
        }
        let mut tags: Vec<String> = match data.get("tags") {
            Some(t) => t
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => base.as_ref().map(|b| b.tags.clone()).unwrap_or_default(),
        };
        if !tags.iter().any(|t| t == "pod-console-logging") {
            tags.push("pod-console-logging".into());
        }
        let id = existing.unwrap_or(0);
        let host = VmHost {
            id,
            name,
            power_type: ptype.clone(),
            power_address: power_address.clone(),
            project,
            password,
            certificate,
            key,
            power_user: data
                .get("power_user")
                .map(str::to_string)
                .or_else(|| base.as_ref().and_then(|b| b.power_user.clone())),
            power_pass: data
                .get("power_pass")
                .map(str::to_string)
                .or_else(|| base.as_ref().and_then(|b| b.power_pass.clone())),
            zone_id,
            pool_id,
            tags,
            cpu_over_commit_ratio: cpu_ratio,
            memory_over_commit_ratio: mem_ratio,
            default_macvlan_mode: macvlan,
            default_storage_pool: data
                .get("default_storage_pool")
                .map(str::to_string)
                .or_else(|| base.as_ref().and_then(|b| b.default_storage_pool.clone())),
            architectures: base
                .as_ref()
                .map(|b| b.architectures.clone())
                .unwrap_or_default(),
            version: base.as_ref().map(|b| b.version.clone()).unwrap_or_default(),
            capabilities: capabilities(),
            cores: base.as_ref().map(|b| b.cores).unwrap_or(0),
            memory: base.as_ref().map(|b| b.memory).unwrap_or(0),
            cpu_speed: base.as_ref().map(|b| b.cpu_speed).unwrap_or(0),
            storage_pools: base
                .as_ref()
                .map(|b| b.storage_pools.clone())
                .unwrap_or_default(),
            host_machine: base
                .as_ref()
                .and_then(|b| b.host_machine)
                .or_else(|| self.machine_with_ip(&power_address)),
        };
        Ok(VmHostDraft { existing, host })
    }

    /// Save a draft (after discovery ran) and return its id.
    pub(crate) fn save_vmhost(
        &mut self,
        draft: VmHostDraft,
        discovered: Option<DiscoveredHost>,
    ) -> u64 {
        let mut host = draft.host;
        if let Some(d) = discovered {
            apply_discovery(&mut host, d);
        }
        let id = match draft.existing {
            Some(id) if self.vmhosts.contains_key(&id) => id,
            _ => self.next_vmhost_id(),
        };
        host.id = id;
        self.tags
            .entry("pod-console-logging".into())
            .or_insert_with(|| Tag {
                name: "pod-console-logging".into(),
                definition: String::new(),
                comment: String::new(),
                kernel_opts: Some("console=tty1 console=ttyS0".into()),
            });
        self.vmhosts.insert(id, host);
        id
    }

    /// Apply a refresh result.
    pub(crate) fn refresh_vmhost(&mut self, id: u64, discovered: DiscoveredHost) {
        if let Some(h) = self.vmhosts.get_mut(&id) {
            apply_discovery(h, discovered);
        }
    }

    /// Resources used by VMs on the host: (cores, memory MiB, storage bytes).
    pub(crate) fn vmhost_used(&self, id: u64) -> (u64, u64, u64) {
        self.machines
            .values()
            .filter(|m| m.pod_id == Some(id))
            .fold((0, 0, 0), |(c, mem, s), m| {
                (
                    c + u64::from(m.cpu_count),
                    mem + m.memory,
                    s + m.block_devices.iter().map(|b| b.size).sum::<u64>(),
                )
            })
    }

    /// Delete a VM host; its VMs go with it.
    pub(crate) fn delete_vmhost(&mut self, id: u64, _decompose: bool) {
        let vms: Vec<u64> = self
            .machines
            .values()
            .filter(|m| m.pod_id == Some(id))
            .map(|m| m.id)
            .collect();
        for vm in vms {
            self.remove_machine(vm);
        }
        self.vmhosts.remove(&id);
    }

    /// When a `register_vmhost`/`install_kvm` deployment finishes, MAAS
    /// registers the machine as a VM host.
    pub(crate) fn register_deployed_vmhost(&mut self, mid: u64, power_type: &str, both: bool) {
        let Some(m) = self.machines.get(&mid).cloned() else {
            return;
        };
        let boot_ip = self.machine_ips(&m).first().copied();
        let name = if both {
            format!("{}-{}", m.hostname, power_type)
        } else {
            m.hostname.clone()
        };
        let address = match boot_ip {
            Some(ip) if power_type == "lxd" => normalise_lxd_address(&ip.to_string()),
            Some(ip) => format!("qemu+ssh://virsh@{ip}/system"),
            None => String::new(),
        };
        let uuid = crate::model::names::uuid(&mut self.rng);
        let (certificate, key) = if power_type == "lxd" {
            match generate_certificate(&self.maas_name, &name, &uuid) {
                Some((c, k)) => (Some(c), Some(k)),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        let pools = vec![StoragePool {
            id: "default".into(),
            name: "default".into(),
            pool_type: "zfs".into(),
            path: "/var/snap/lxd/common/lxd/storage-pools/default".into(),
            total: m.block_devices.iter().map(|b| b.size).sum::<u64>() * 8 / 10,
        }];
        let host = VmHost {
            id: 0,
            name,
            power_type: power_type.into(),
            power_address: address,
            project: "maas".into(),
            password: None,
            certificate,
            key,
            power_user: None,
            power_pass: if power_type == "virsh" {
                Some(crate::model::names::key_part(&mut self.rng, 20))
            } else {
                None
            },
            zone_id: m.zone_id,
            pool_id: m.pool_id,
            tags: vec!["pod-console-logging".into()],
            cpu_over_commit_ratio: 1.0,
            memory_over_commit_ratio: 1.0,
            default_macvlan_mode: None,
            default_storage_pool: Some("default".into()),
            architectures: vec![m.architecture.clone()],
            version: if power_type == "lxd" {
                "5.21.3".into()
            } else {
                "8.0.0".into()
            },
            capabilities: capabilities(),
            cores: u64::from(m.cpu_count),
            memory: m.memory,
            cpu_speed: u64::from(m.cpu_speed),
            storage_pools: pools,
            host_machine: Some(mid),
        };
        self.save_vmhost(
            VmHostDraft {
                existing: None,
                host,
            },
            None,
        );
    }

    /// `op=compose` (ComposeMachineForm plus the over-commit check).
    pub(crate) fn compose(
        &mut self,
        user: &User,
        vmhost_id: u64,
        data: &Params,
        dynamic: bool,
    ) -> Result<u64, MaasError> {
        let host = self
            .vmhosts
            .get(&vmhost_id)
            .cloned()
            .ok_or_else(|| MaasError::no_match("Pod"))?;
        let ComposeForm {
            cores,
            memory,
            cpu_speed,
            arch,
            hostname,
            domain_id,
            zone_id,
            pool_id,
            storage,
            interfaces,
            skip_commissioning,
        } = self.compose_form(&host, data, dynamic)?;
        self.check_overcommit(&host, vmhost_id, cores, memory)?;
        // Network plan: (ifname, vlan, static ip).
        let plan = self.compose_network_plan(&host, interfaces.as_ref())?;
        // Create the machine.
        let mid = self.next_machine_id();
        let system_id = self.fresh_system_id();
        let hostname = match hostname {
            Some(h) => h,
            None => self.fresh_hostname(),
        };
        let vm_id = self.next_vm_id();
        let uuid = crate::model::names::uuid(&mut self.rng);
        let block_devices = self.compose_block_devices(&host, &storage);
        let tags = self.vm_tags(&host);
        let machine = Machine {
            id: mid,
            system_id: system_id.clone(),
            hostname,
            domain_id: domain_id.unwrap_or(crate::domain::state::DEFAULT_DOMAIN_ID),
            description: String::new(),
            hardware_uuid: uuid,
            owner: None,
            locked: false,
            workload_annotations: Default::default(),
            status: NodeStatus::New,
            previous_status: NodeStatus::New,
            error_description: String::new(),
            status_message: None,
            power_type: host.power_type.clone(),
            power_state: PowerState::Off,
            netboot: true,
            architecture: arch,
            cpu_count: cores as u32,
            cpu_speed: cpu_speed.unwrap_or(host.cpu_speed as i64) as u32,
            memory,
            block_devices,
            osystem: String::new(),
            distro_series: String::new(),
            hwe_kernel: None,
            ephemeral_deploy: false,
            enable_hw_sync: false,
            enable_kernel_crash_dump: false,
            install_kvm: false,
            register_vmhost: false,
            user_data: None,
            agent_name: String::new(),
            zone_id: zone_id.unwrap_or(DEFAULT_ZONE_ID),
            pool_id: pool_id.unwrap_or(host.pool_id),
            tags,
            interfaces: Vec::new(),
            pod_id: Some(vmhost_id),
            virtualmachine_id: Some(vm_id),
            dynamic,
            commissioned: skip_commissioning,
            timeline: Default::default(),
            bios_boot_method: "uefi".into(),
            system_vendor: "QEMU".into(),
            system_product: "Standard PC (Q35 + ICH9, 2009)".into(),
            cpu_model: "Intel Core Processor (Skylake)".into(),
            commissioning_result_id: None,
            installation_result_id: None,
        };
        self.insert_machine(machine);
        for (ifname, vlan, ip) in plan {
            self.add_vm_interface(mid, ifname, vlan, ip);
        }
        if skip_commissioning {
            self.set_status(mid, NodeStatus::Ready);
            self.emit(mid, ev::READY, "", None);
        } else {
            self.emit(mid, ev::NEW, "", None);
            self.start_commissioning(mid, Some(user.id));
        }
        Ok(mid)
    }

    /// `ComposeMachineForm`'s fields, every error collected.
    fn compose_form(
        &self,
        host: &VmHost,
        data: &Params,
        dynamic: bool,
    ) -> Result<ComposeForm, MaasError> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let int_field = |errors: &mut BTreeMap<String, Vec<String>>,
                         key: &str,
                         min: i64,
                         max: Option<i64>|
         -> Option<i64> {
            match data.get(key) {
                None | Some("") => None,
                Some(v) => match v.trim().parse::<i64>() {
                    Err(_) => {
                        errors.insert(key.into(), vec!["Enter a whole number.".into()]);
                        None
                    }
                    Ok(n) if n < min => {
                        errors.insert(
                            key.into(),
                            vec![format!(
                                "Ensure this value is greater than or equal to {min}."
                            )],
                        );
                        None
                    }
                    Ok(n) if max.map(|m| n > m).unwrap_or(false) => {
                        errors.insert(
                            key.into(),
                            vec![format!(
                                "Ensure this value is less than or equal to {}.",
                                max.unwrap_or(0)
                            )],
                        );
                        None
                    }
                    Ok(n) => Some(n),
                },
            }
        };
        let cores = int_field(&mut errors, "cores", 1, Some(host.cores as i64)).unwrap_or(1) as u64;
        let memory =
            int_field(&mut errors, "memory", 1024, Some(host.memory as i64)).unwrap_or(2048) as u64;
        let cpu_speed = int_field(&mut errors, "cpu_speed", 300, None);
        let arch = match data.get("architecture").filter(|a| !a.is_empty()) {
            Some(a) if host.architectures.iter().any(|x| x == a) => a.to_string(),
            Some(a) => {
                errors.insert(
                    "architecture".into(),
                    vec![format!(
                        "Select a valid choice. {a} is not one of the available choices."
                    )],
                );
                String::new()
            }
            None => host
                .architectures
                .first()
                .cloned()
                .unwrap_or_else(|| "amd64/generic".into()),
        };
        let hostname = match data.get("hostname").filter(|h| !h.is_empty()) {
            Some(h) => {
                if self.by_hostname.contains_key(h) {
                    errors.insert(
                        "hostname".into(),
                        vec![format!("Node with hostname \"{h}\" already exists")],
                    );
                } else if !valid_hostname(h) {
                    errors.insert(
                        "hostname".into(),
                        vec![format!(
                            "Invalid hostname: Label cannot start or end with hyphen: {h}."
                        )],
                    );
                }
                Some(h.to_string())
            }
            None => None,
        };
        let id_field = |errors: &mut BTreeMap<String, Vec<String>>,
                        key: &str,
                        exists: &dyn Fn(u64) -> bool|
         -> Option<u64> {
            match data.get(key).filter(|v| !v.is_empty()) {
                None => None,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(id) if exists(id) => Some(id),
                    _ => {
                        errors.insert(
                            key.into(),
                            vec!["Select a valid choice. That choice is not one of the available choices.".into()],
                        );
                        None
                    }
                },
            }
        };
        let domain_id = id_field(&mut errors, "domain", &|id| self.domains.contains_key(&id));
        let zone_id = id_field(&mut errors, "zone", &|id| self.zones.contains_key(&id));
        let pool_id = id_field(&mut errors, "pool", &|id| self.pools.contains_key(&id));
        let storage = match data.get("storage").filter(|s| !s.is_empty()) {
            Some(s) => match parse_storage(s) {
                Ok(c) => c,
                Err(e) => {
                    errors.insert("storage".into(), vec![e]);
                    Vec::new()
                }
            },
            None => parse_storage("root:8(local)").unwrap_or_default(),
        };
        let interfaces: Option<LabeledMap> =
            match data.get("interfaces").filter(|s| !s.trim().is_empty()) {
                Some(s) => match parse_labeled_map(s) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        errors.insert("interfaces".into(), vec![e]);
                        None
                    }
                },
                None => None,
            };
        let skip_commissioning = dynamic
            || data
                .get("skip_commissioning")
                .map(django_true)
                .unwrap_or(false);
        if !errors.is_empty() {
            return Err(MaasError::form(errors));
        }
        Ok(ComposeForm {
            cores,
            memory,
            cpu_speed,
            arch,
            hostname,
            domain_id,
            zone_id,
            pool_id,
            storage,
            interfaces,
            skip_commissioning,
        })
    }

    /// The VM host's over-commit ratios allow `cores` and `memory` more.
    fn check_overcommit(
        &self,
        host: &VmHost,
        vmhost_id: u64,
        cores: u64,
        memory: u64,
    ) -> Result<(), MaasError> {
        let (used_cores, used_mem, _) = self.vmhost_used(vmhost_id);
        let mut msg = String::new();
        if (host.cores as f64 * host.cpu_over_commit_ratio) - ((used_cores + cores) as f64) < 0.0 {
            msg.push_str(&format!(
                "CPU overcommit ratio is {} and there are {} available resources; {} requested.",
                crate::model::pyfmt::py_float(host.cpu_over_commit_ratio),
                host.cores as i64 - used_cores as i64,
                cores
            ));
        }
        if (host.memory as f64 * host.memory_over_commit_ratio) - ((used_mem + memory) as f64) < 0.0
        {
            msg.push_str(&format!(
                "Memory overcommit ratio is {} and there are {} available resources; {} requested.",
                crate::model::pyfmt::py_float(host.memory_over_commit_ratio),
                host.memory as i64 - used_mem as i64,
                memory
            ));
        }
        if !msg.is_empty() {
            return Err(MaasError::unavailable(format!(
                "Unable to compose KVM instance in '{}'. {msg}",
                host.name
            )));
        }
        Ok(())
    }

    /// The composed VM's disks, in the VM host's default storage pool.
    fn compose_block_devices(
        &mut self,
        host: &VmHost,
        storage: &[StorageConstraint],
    ) -> Vec<BlockDevice> {
        let mut block_devices = Vec::new();
        for (i, c) in storage.iter().enumerate() {
            let id = self.next_block_id();
            let pid = self.next_block_id();
            block_devices.push(BlockDevice {
                id,
                partition_id: pid,
                name: format!("sd{}", (b'a' + (i as u8 % 26)) as char),
                size: c.size.max(1_000_000_000),
                model: "QEMU HARDDISK".into(),
                serial: format!(
                    "lxd_{}",
                    if c.label.is_empty() {
                        format!("disk{i}")
                    } else {
                        c.label.clone()
                    }
                ),
                tags: c.tags.clone(),
                storage_pool: host
                    .default_storage_pool
                    .clone()
                    .or_else(|| host.storage_pools.first().map(|p| p.name.clone())),
            });
        }
        block_devices
    }

    /// A composed VM's tags (`virtual`, and the VM host's console logging),
    /// created when missing.
    fn vm_tags(&mut self, host: &VmHost) -> std::collections::BTreeSet<String> {
        let mut tags = std::collections::BTreeSet::new();
        tags.insert("virtual".to_string());
        if host.tags.iter().any(|t| t == "pod-console-logging") {
            tags.insert("pod-console-logging".to_string());
        }
        for t in &tags {
            self.tags.entry(t.clone()).or_insert_with(|| Tag {
                name: t.clone(),
                definition: String::new(),
                comment: String::new(),
                kernel_opts: if t == "pod-console-logging" {
                    Some("console=tty1 console=ttyS0".into())
                } else {
                    None
                },
            });
        }
        tags
    }

    /// One interface of a composed VM on `vlan`, STATIC when `ip` is given.
    fn add_vm_interface(&mut self, mid: u64, ifname: String, vlan: u64, ip: Option<IpAddr>) {
        let iid = self.next_interface_id();
        let mac = crate::model::names::mac(&mut self.rng);
        let subnet = match ip {
            Some(ip) => self.subnet_for_ip(ip),
            None => self
                .subnets
                .values()
                .find(|s| s.vlan_id == vlan)
                .map(|s| s.id),
        };
        let link = match ip {
            Some(ip) => self.create_ip(AllocType::Sticky, Some(ip), subnet, None, Some(iid)),
            None => self.create_ip(AllocType::Auto, None, subnet, None, Some(iid)),
        };
        self.interfaces.insert(
            iid,
            Interface {
                id: iid,
                machine_id: mid,
                name: ifname,
                iftype: "physical".into(),
                mac,
                vlan_id: Some(vlan),
                links: vec![link],
                tags: Vec::new(),
                link_speed: 0,
                interface_speed: 0,
                vendor: Some("Red Hat, Inc.".into()),
                product: Some("Virtio network device".into()),
            },
        );
        if let Some(m) = self.machines.get_mut(&mid) {
            m.interfaces.push(iid);
        }
    }

    /// Which VLAN (and optionally static IP) each VM interface gets.
    fn compose_network_plan(
        &self,
        host: &VmHost,
        interfaces: Option<&LabeledMap>,
    ) -> Result<Vec<(String, u64, Option<IpAddr>)>, MaasError> {
        let host_vlans: Vec<u64> = host
            .host_machine
            .and_then(|h| self.machines.get(&h))
            .map(|m| {
                m.interfaces
                    .iter()
                    .filter_map(|i| self.interfaces.get(i))
                    .filter_map(|i| i.vlan_id)
                    .collect()
            })
            .unwrap_or_default();
        let Some(map) = interfaces else {
            let vlan = host_vlans
                .first()
                .copied()
                .or_else(|| self.vlans.values().find(|v| v.dhcp_on).map(|v| v.id))
                .or_else(|| self.vlans.keys().next().copied())
                .ok_or_else(|| {
                    MaasError::bad_request("No host network to attach VM interfaces to")
                })?;
            return Ok(vec![("eth0".into(), vlan, None)]);
        };
        if host.host_machine.is_none() {
            return Err(MaasError::bad_request(
                "Pod must be on a known host if interfaces are specified.",
            ));
        }
        let mut plan = Vec::new();
        let mut bootable = false;
        for (n, (label, constraints)) in map.iter().enumerate() {
            let mut ip = None;
            let mut wanted_vlans: Option<Vec<u64>> = None;
            for (key, values) in constraints {
                match key.as_str() {
                    "ip" => {
                        for v in values {
                            let addr: IpAddr = v.parse().map_err(|_| {
                                MaasError::bad_request(format!("Invalid IP address: {v}"))
                            })?;
                            let subnet = self
                                .subnet_for_ip(addr)
                                .and_then(|s| self.subnets.get(&s))
                                .ok_or_else(|| {
                                    MaasError::bad_request(
                                        "This pod does not match the specified networks.",
                                    )
                                })?;
                            if self.ip_index.contains_key(&addr) {
                                return Err(MaasError::not_found(format!(
                                    "The IP address {addr} is already in use."
                                )));
                            }
                            ip = Some(addr);
                            wanted_vlans
                                .get_or_insert_with(Vec::new)
                                .push(subnet.vlan_id);
                        }
                    }
                    "subnet" => {
                        for v in values {
                            let ids = self.subnets_matching(v).unwrap_or_default();
                            let vl: Vec<u64> = ids
                                .iter()
                                .filter_map(|s| self.subnets.get(s))
                                .map(|s| s.vlan_id)
                                .collect();
                            wanted_vlans.get_or_insert_with(Vec::new).extend(vl);
                        }
                    }
                    "vlan" | "vid" | "fabric" | "space" => {
                        for v in values {
                            let spec = if key == "vlan" {
                                v.clone()
                            } else {
                                format!("{key}:{v}")
                            };
                            wanted_vlans
                                .get_or_insert_with(Vec::new)
                                .extend(crate::domain::constraints::vlans_matching(self, &spec));
                        }
                    }
                    _ => {}
                }
            }
            let candidates: Vec<u64> = match wanted_vlans {
                Some(w) => host_vlans
                    .iter()
                    .copied()
                    .filter(|v| w.contains(v))
                    .collect(),
                None => host_vlans.clone(),
            };
            let Some(vlan) = candidates.first().copied() else {
                return Err(MaasError::bad_request(
                    "This pod does not match the specified networks.",
                ));
            };
            if self.vlans.get(&vlan).map(|v| v.dhcp_on).unwrap_or(false) {
                bootable = true;
            }
            let ifname = if label.starts_with("eth") || label.starts_with("en") {
                label.clone()
            } else {
                format!("eth{n}")
            };
            plan.push((ifname, vlan, ip));
        }
        if !bootable {
            return Err(MaasError::bad_request(
                "MAAS DHCP must be enabled on at least one VLAN attached to the specified interfaces.",
            ));
        }
        Ok(plan)
    }

    /// Allocate-triggered composition: a dynamic VM on a matching VM host.
    pub(crate) fn compose_for_allocation(
        &mut self,
        user: &User,
        filter: &Filter,
        input: &[(String, Vec<String>)],
        zone: Option<&str>,
    ) -> Option<u64> {
        let get = |k: &str| {
            input
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let tags = get("tags");
        let not_tags = get("not_tags");
        let pods = get("pod");
        let pod_types = get("pod_type");
        let not_pods = get("not_pod");
        let not_pod_types = get("not_pod_type");
        let mut hosts: Vec<VmHost> = self
            .vmhosts
            .values()
            .filter(|h| {
                zone.map(|z| {
                    self.zones
                        .get(&h.zone_id)
                        .map(|x| x.name == z)
                        .unwrap_or(false)
                })
                .unwrap_or(true)
            })
            .filter(|h| {
                tags.as_ref()
                    .map(|t| t.iter().all(|x| h.tags.contains(x)))
                    .unwrap_or(true)
            })
            .filter(|h| {
                not_tags
                    .as_ref()
                    .map(|t| !t.iter().all(|x| h.tags.contains(x)))
                    .unwrap_or(true)
            })
            .filter(|h| pods.as_ref().map(|p| p.contains(&h.name)).unwrap_or(true))
            .filter(|h| {
                pod_types
                    .as_ref()
                    .map(|p| p.contains(&h.power_type))
                    .unwrap_or(true)
            })
            .filter(|h| {
                not_pods
                    .as_ref()
                    .map(|p| !p.contains(&h.name))
                    .unwrap_or(true)
            })
            .filter(|h| {
                not_pod_types
                    .as_ref()
                    .map(|p| !p.contains(&h.power_type))
                    .unwrap_or(true)
            })
            .cloned()
            .collect();
        hosts.sort_by_key(|h| h.id);
        let cores = get("cpu_count")
            .and_then(|v| {
                v.iter()
                    .filter_map(|x| x.trim().parse::<f64>().ok())
                    .reduce(f64::min)
            })
            .map(|c| c as i64);
        let memory = get("mem")
            .and_then(|v| {
                v.iter()
                    .filter_map(|x| x.trim().parse::<f64>().ok())
                    .reduce(f64::min)
            })
            .map(|m| m as i64);
        let _ = filter;
        let mut params = Params::new();
        if let Some(c) = cores.filter(|c| *c > 0) {
            params.push("cores", c.to_string());
        }
        if let Some(m) = memory.filter(|m| *m > 0) {
            params.push("memory", m.to_string());
        }
        if let Some(s) = get("storage").and_then(|v| v.last().cloned()) {
            params.push("storage", s);
        }
        // Hosts that cannot over-commit are tried first.
        for host in hosts {
            let arch_ok = get("arch")
                .map(|a| {
                    a.iter().any(|x| {
                        host.architectures
                            .iter()
                            .any(|h| h == x || h.split('/').next() == Some(x.as_str()))
                    })
                })
                .unwrap_or(true);
            if !arch_ok {
                continue;
            }
            if let Ok(mid) = self.compose(user, host.id, &params, true) {
                return Some(mid);
            }
        }
        None
    }
}

fn apply_discovery(host: &mut VmHost, d: DiscoveredHost) {
    host.version = d.version;
    host.architectures = d.architectures;
    host.cores = d.cores;
    host.memory = d.memory_mib;
    host.cpu_speed = d.cpu_speed;
    host.storage_pools = d
        .storage_pools
        .into_iter()
        .map(|p| StoragePool {
            id: p.id,
            name: p.name,
            pool_type: p.pool_type,
            path: p.path,
            total: p.total_bytes,
        })
        .collect();
    if host.default_storage_pool.is_none() {
        host.default_storage_pool = host.storage_pools.first().map(|p| p.name.clone());
    }
}

fn django_true(v: &str) -> bool {
    let l = v.trim().to_ascii_lowercase();
    !(l.is_empty() || l == "false" || l == "0")
}

fn valid_hostname(h: &str) -> bool {
    h.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_lxd_addresses() {
        assert_eq!(normalise_lxd_address("10.0.0.5"), "https://10.0.0.5:8443");
        assert_eq!(
            normalise_lxd_address("10.0.0.5:9443"),
            "https://10.0.0.5:9443"
        );
        assert_eq!(
            normalise_lxd_address("https://10.0.0.5:8443"),
            "https://10.0.0.5:8443"
        );
        assert_eq!(
            normalise_lxd_address("https://host.example"),
            "https://host.example:8443"
        );
        assert_eq!(normalise_lxd_address("fd00::1"), "https://[fd00::1]:8443");
    }

    #[test]
    fn certificate_has_maas_subject() {
        let (cert, key) = generate_certificate("maas", "host1", "uuid-1").unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
    }

    #[tokio::test]
    async fn simulated_discovery_trust_rules() {
        let d = SimulatedDiscovery::default();
        let req = DiscoveryRequest {
            name: "h".into(),
            power_type: "lxd".into(),
            power_address: "10.0.0.9".into(),
            project: "maas".into(),
            password: None,
            certificate: Some("CERT".into()),
            key: None,
        };
        assert!(
            d.discover(&req).await.is_err(),
            "unknown host without default is unreachable"
        );
        d.set_host(
            "10.0.0.9",
            SimulatedHost {
                reachable: true,
                trust_password: Some("pw".into()),
                ..SimulatedHost::default()
            },
        );
        let err = d.discover(&req).await.unwrap_err();
        assert_eq!(err.message, "Failed to authenticate to the VM host.");
        let mut with_pw = req.clone();
        with_pw.password = Some("pw".into());
        assert!(d.discover(&with_pw).await.is_ok());
        // The certificate is now trusted.
        assert!(d.discover(&req).await.is_ok());
    }
}
