//! The simulator's starting inventory: a YAML/JSON file describing zones,
//! pools, tags, subnets, machines and VM hosts, and the deterministic
//! generator behind `--machines N`.

use crate::domain::state::{
    ADMIN_ID, DEFAULT_DOMAIN_ID, DEFAULT_POOL_ID, DEFAULT_ZONE_ID, State, USER_ID,
};
use crate::domain::vmhost::{DiscoveredHost, DiscoveredStoragePool, SimulatedHost};
use crate::model::names;
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

/// A whole inventory. Every list is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The architectures MAAS has boot images for (`arch/subarch`); they are
    /// the only ones `arch` constraints accept. Default: `amd64/generic`
    /// and `arm64/generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_architectures: Option<Vec<String>>,
    /// Zones besides `default`.
    #[serde(default)]
    pub zones: Vec<NamedSpec>,
    /// Resource pools besides `default`.
    #[serde(default)]
    pub pools: Vec<NamedSpec>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagSpec>,
    /// DNS domains besides `maas`.
    #[serde(default)]
    pub domains: Vec<DomainSpec>,
    /// Subnets (fabrics and VLANs are created as needed). Without any, the
    /// simulator uses `10.0.0.0/16` on `fabric-0`, untagged, DHCP on.
    #[serde(default)]
    pub subnets: Vec<SubnetSpec>,
    /// Machines.
    #[serde(default)]
    pub machines: Vec<MachineSpec>,
    /// VM hosts (and the simulated LXD hosts behind them).
    #[serde(default)]
    pub vm_hosts: Vec<VmHostSpec>,
}

/// A zone or pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedSpec {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A tag.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    /// Name.
    pub name: String,
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// Kernel options.
    #[serde(default)]
    pub kernel_opts: Option<String>,
}

/// A DNS domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    /// Name.
    pub name: String,
    /// TTL.
    #[serde(default)]
    pub ttl: Option<i64>,
    /// Authoritative (default true).
    #[serde(default = "yes")]
    pub authoritative: bool,
}

/// An address range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// First address.
    pub start: IpAddr,
    /// Last address.
    pub end: IpAddr,
}

/// A subnet on a fabric/VLAN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    /// CIDR.
    pub cidr: ipnet::IpNet,
    /// Name (defaults to the CIDR).
    #[serde(default)]
    pub name: Option<String>,
    /// Fabric name (created when missing; default the first fabric).
    #[serde(default)]
    pub fabric: Option<String>,
    /// VLAN id (0: untagged).
    #[serde(default)]
    pub vid: u32,
    /// Space name.
    #[serde(default)]
    pub space: Option<String>,
    /// MAAS DHCP on the VLAN (default true).
    #[serde(default = "yes")]
    pub dhcp_on: bool,
    /// Gateway.
    #[serde(default)]
    pub gateway_ip: Option<IpAddr>,
    /// DNS servers.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Dynamic (DHCP) ranges.
    #[serde(default)]
    pub dynamic_ranges: Vec<RangeSpec>,
    /// Reserved ranges.
    #[serde(default)]
    pub reserved_ranges: Vec<RangeSpec>,
    /// Managed by MAAS (default true).
    #[serde(default = "yes")]
    pub managed: bool,
}

/// A disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Size in GB (10^9 bytes).
    pub size_gb: u64,
    /// Tags (`ssd`, `rotary`, …).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A network interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    /// Name (`eth0`).
    pub name: String,
    /// MAC (random when missing).
    #[serde(default)]
    pub mac: Option<String>,
    /// Subnet CIDR or name (default: the first subnet).
    #[serde(default)]
    pub subnet: Option<String>,
    /// `auto` (default), `static`, `dhcp` or `link_up`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Address for `static` links (picked when missing).
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Link speed in Mbit/s.
    #[serde(default)]
    pub link_speed: Option<u64>,
}

/// A machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// Hostname (petname when missing).
    #[serde(default)]
    pub hostname: Option<String>,
    /// System id (random when missing).
    #[serde(default)]
    pub system_id: Option<String>,
    /// `amd64/generic` by default.
    #[serde(default)]
    pub architecture: Option<String>,
    /// CPU cores (default 4).
    #[serde(default)]
    pub cpu_count: Option<u32>,
    /// CPU speed in MHz.
    #[serde(default)]
    pub cpu_speed: Option<u32>,
    /// Memory in MiB (default 8192).
    #[serde(default)]
    pub memory: Option<u64>,
    /// Disks (default one 100 GB disk).
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    /// Tags (created when missing).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Zone name.
    #[serde(default)]
    pub zone: Option<String>,
    /// Pool name.
    #[serde(default)]
    pub pool: Option<String>,
    /// Domain name.
    #[serde(default)]
    pub domain: Option<String>,
    /// Power type (default `ipmi`).
    #[serde(default)]
    pub power_type: Option<String>,
    /// Status (default `ready`): `new`, `ready`, `allocated`, `deployed`,
    /// `broken`, `failed_deployment`, …
    #[serde(default)]
    pub status: Option<NodeStatus>,
    /// Owner for owned statuses (`admin` or `user`; default `admin`).
    #[serde(default)]
    pub owner: Option<String>,
    /// Interfaces (default one `eth0`, AUTO on the first subnet).
    #[serde(default)]
    pub interfaces: Vec<InterfaceSpec>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Name of the VM host this machine is a VM of.
    #[serde(default)]
    pub vm_host: Option<String>,
}

/// A storage pool of a VM host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoragePoolSpec {
    /// Name.
    pub name: String,
    /// Driver (default `zfs`).
    #[serde(default)]
    pub pool_type: Option<String>,
    /// Path.
    #[serde(default)]
    pub path: Option<String>,
    /// Size in GB.
    pub size_gb: u64,
}

/// A VM host, and the simulated host that discovery will find.
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct VmHostSpec {
    /// Name.
    pub name: String,
    /// `lxd` (default) or `virsh`.
    #[serde(default)]
    pub power_type: Option<String>,
    /// Address (normalised to `https://host:8443` for LXD).
    pub power_address: String,
    /// LXD project (default `default`).
    #[serde(default)]
    pub project: Option<String>,
    /// Zone name.
    #[serde(default)]
    pub zone: Option<String>,
    /// Pool name.
    #[serde(default)]
    pub pool: Option<String>,
    /// Tags (`pod-console-logging` is always added).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Hostname of the machine running the host.
    #[serde(default)]
    pub host: Option<String>,
    /// Cores (default 16).
    #[serde(default)]
    pub cores: Option<u64>,
    /// Memory in MiB (default 65536).
    #[serde(default)]
    pub memory: Option<u64>,
    /// Architectures (default `amd64/generic`).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Server version (default `5.21.3`).
    #[serde(default)]
    pub version: Option<String>,
    /// Storage pools (default one 500 GB `default` pool).
    #[serde(default)]
    pub storage_pools: Vec<StoragePoolSpec>,
    /// CPU over-commit ratio (default 1).
    #[serde(default)]
    pub cpu_over_commit_ratio: Option<f64>,
    /// Memory over-commit ratio (default 1).
    #[serde(default)]
    pub memory_over_commit_ratio: Option<f64>,
    /// Trust password the simulated LXD accepts.
    #[serde(default)]
    pub trust_password: Option<String>,
    /// Register it in MAAS at start (default true); false only simulates
    /// the LXD daemon so that a test can register it through the API.
    #[serde(default = "yes")]
    pub registered: bool,
}

fn yes() -> bool {
    true
}

impl std::fmt::Debug for VmHostSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmHostSpec")
            .field("name", &self.name)
            .field("power_type", &self.power_type)
            .field("power_address", &self.power_address)
            .field("project", &self.project)
            .field("host", &self.host)
            .field(
                "trust_password",
                &self.trust_password.as_ref().map(|_| "<redacted>"),
            )
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

/// Why an inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read inventory {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// YAML/JSON did not parse.
    #[error("invalid inventory: {0}")]
    Parse(String),
    /// A reference does not resolve (unknown zone, subnet, …).
    #[error("invalid inventory: {0}")]
    Invalid(String),
}

impl Inventory {
    /// Parse YAML (JSON is valid YAML too, but see [`Inventory::from_json`]).
    pub fn from_yaml(text: &str) -> Result<Inventory, InventoryError> {
        serde_saphyr::from_str(text).map_err(|e| InventoryError::Parse(e.to_string()))
    }

    /// Parse JSON.
    pub fn from_json(text: &str) -> Result<Inventory, InventoryError> {
        serde_json::from_str(text).map_err(|e| InventoryError::Parse(e.to_string()))
    }

    /// Load a file: `.json` as JSON, anything else as YAML.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().map(|e| e == "json").unwrap_or(false) {
            Inventory::from_json(&text)
        } else {
            Inventory::from_yaml(&text)
        }
    }
}

/// Built-in extras for generated inventories.
const GEN_ZONES: &[&str] = &["zone-a", "zone-b", "zone-c"];
const GEN_POOLS: &[&str] = &["gpu", "storage"];
const GEN_TAGS: &[&str] = &["gpu", "ssd", "nvme", "virtual", "highmem", "vmhost-capable"];

/// Where a spec puts its machine.
struct Placement {
    zone_id: u64,
    pool_id: u64,
    domain_id: u64,
    pod_id: Option<u64>,
}

/// The hardware a machine reports: a QEMU VM for `lxd`/`virsh` power,
/// else a rack server.
struct Hardware {
    system_vendor: &'static str,
    system_product: &'static str,
    cpu_model: &'static str,
    nic_vendor: &'static str,
    nic_product: &'static str,
    link_speed: u64,
}

impl Hardware {
    fn for_power_type(power_type: &str) -> Hardware {
        if matches!(power_type, "lxd" | "virsh") {
            Hardware {
                system_vendor: "QEMU",
                system_product: "Standard PC (Q35 + ICH9, 2009)",
                cpu_model: "Intel Core Processor (Skylake)",
                nic_vendor: "Red Hat, Inc.",
                nic_product: "Virtio network device",
                link_speed: 0,
            }
        } else {
            Hardware {
                system_vendor: "Dell Inc.",
                system_product: "PowerEdge R650",
                cpu_model: "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz",
                nic_vendor: "Intel Corporation",
                nic_product: "Ethernet Controller X710",
                link_speed: 10000,
            }
        }
    }
}

impl State {
    /// Default networking: `fabric-0`, untagged, DHCP, `10.0.0.0/16`.
    pub(crate) fn ensure_default_network(&mut self) {
        if !self.subnets.is_empty() {
            return;
        }
        let spec = SubnetSpec {
            cidr: "10.0.0.0/16"
                .parse()
                .unwrap_or_else(|_| ipnet::IpNet::V4(ipnet::Ipv4Net::default())),
            name: None,
            fabric: None,
            vid: 0,
            space: None,
            dhcp_on: true,
            gateway_ip: "10.0.0.1".parse().ok(),
            dns_servers: Vec::new(),
            dynamic_ranges: vec![RangeSpec {
                start: IpAddr::V4([10, 0, 255, 1].into()),
                end: IpAddr::V4([10, 0, 255, 254].into()),
            }],
            reserved_ranges: vec![RangeSpec {
                start: IpAddr::V4([10, 0, 0, 1].into()),
                end: IpAddr::V4([10, 0, 0, 20].into()),
            }],
            managed: true,
        };
        self.add_subnet(&spec);
    }

    fn add_subnet(&mut self, spec: &SubnetSpec) -> u64 {
        let vlan = self.ensure_vlan(
            spec.fabric.as_deref(),
            spec.vid,
            spec.dhcp_on,
            spec.space.clone(),
        );
        let id = self.next_subnet_id();
        let mut ranges = Vec::new();
        for r in &spec.dynamic_ranges {
            ranges.push(IpRange {
                start: r.start,
                end: r.end,
                kind: RangeKind::Dynamic,
            });
        }
        for r in &spec.reserved_ranges {
            ranges.push(IpRange {
                start: r.start,
                end: r.end,
                kind: RangeKind::Reserved,
            });
        }
        self.subnets.insert(
            id,
            Subnet {
                id,
                name: spec.name.clone().unwrap_or_else(|| spec.cidr.to_string()),
                description: String::new(),
                cidr: spec.cidr,
                vlan_id: vlan,
                gateway_ip: spec.gateway_ip,
                dns_servers: spec.dns_servers.clone(),
                managed: spec.managed,
                ranges,
                next_hint: 0,
            },
        );
        id
    }

    fn ensure_tag(&mut self, name: &str) {
        self.tags.entry(name.to_string()).or_insert_with(|| Tag {
            name: name.to_string(),
            definition: String::new(),
            comment: String::new(),
            kernel_opts: None,
        });
    }

    /// Load an inventory (objects are added to the built-in defaults).
    pub(crate) fn apply_inventory(
        &mut self,
        inv: &Inventory,
        discovery: &crate::domain::vmhost::SimulatedDiscovery,
    ) -> Result<(), InventoryError> {
        if let Some(arches) = &inv.boot_architectures {
            self.usable_architectures = arches.iter().cloned().collect();
        }
        for z in &inv.zones {
            if self.zone_by_name(&z.name).is_none() {
                self.add_zone(&z.name, &z.description);
            }
        }
        for p in &inv.pools {
            if self.pool_by_name(&p.name).is_none() {
                self.add_pool(&p.name, &p.description);
            }
        }
        for t in &inv.tags {
            self.tags.insert(
                t.name.clone(),
                Tag {
                    name: t.name.clone(),
                    definition: String::new(),
                    comment: t.comment.clone(),
                    kernel_opts: t.kernel_opts.clone(),
                },
            );
        }
        for d in &inv.domains {
            if self.domain_by_name(&d.name).is_none() {
                self.add_domain(&d.name, d.ttl, d.authoritative);
            }
        }
        for s in &inv.subnets {
            self.add_subnet(s);
        }
        self.ensure_default_network();
        // Hosts first (machines may name their VM host), without host links.
        let mut host_links = Vec::new();
        for h in &inv.vm_hosts {
            let resources = DiscoveredHost {
                version: h.version.clone().unwrap_or_else(|| "5.21.3".into()),
                architectures: if h.architectures.is_empty() {
                    vec!["amd64/generic".into()]
                } else {
                    h.architectures.clone()
                },
                cores: h.cores.unwrap_or(16),
                memory_mib: h.memory.unwrap_or(65536),
                cpu_speed: 2400,
                storage_pools: if h.storage_pools.is_empty() {
                    DiscoveredHost::default().storage_pools
                } else {
                    h.storage_pools
                        .iter()
                        .map(|p| DiscoveredStoragePool {
                            id: p.name.clone(),
                            name: p.name.clone(),
                            pool_type: p.pool_type.clone().unwrap_or_else(|| "zfs".into()),
                            path: p.path.clone().unwrap_or_else(|| {
                                format!("/var/snap/lxd/common/lxd/storage-pools/{}", p.name)
                            }),
                            total_bytes: p.size_gb * 1_000_000_000,
                        })
                        .collect()
                },
            };
            discovery.set_host(
                &h.power_address,
                SimulatedHost {
                    reachable: true,
                    trust_password: h.trust_password.clone(),
                    trusted_certificates: Vec::new(),
                    resources: resources.clone(),
                },
            );
            if !h.registered {
                continue;
            }
            let mut params = crate::domain::params::Params::new();
            params.push("type", h.power_type.clone().unwrap_or_else(|| "lxd".into()));
            params.push("power_address", h.power_address.clone());
            params.push("name", h.name.clone());
            if let Some(p) = &h.project {
                params.push("project", p.clone());
            }
            if let Some(z) = &h.zone {
                params.push("zone", z.clone());
            }
            if let Some(p) = &h.pool {
                params.push("pool", p.clone());
            }
            if !h.tags.is_empty() {
                params.push("tags", h.tags.join(","));
            }
            if let Some(r) = h.cpu_over_commit_ratio {
                params.push("cpu_over_commit_ratio", r.to_string());
            }
            if let Some(r) = h.memory_over_commit_ratio {
                params.push("memory_over_commit_ratio", r.to_string());
            }
            if let Some(pw) = &h.trust_password {
                params.push("password", pw.clone());
            }
            let draft = self.prepare_vmhost(&params, None).map_err(|e| {
                InventoryError::Invalid(format!("VM host {}: {}", h.name, e.text()))
            })?;
            let id = self.save_vmhost(draft, Some(resources));
            if let Some(host) = &h.host {
                host_links.push((id, host.clone()));
            }
        }
        for spec in &inv.machines {
            self.add_machine_from_spec(spec)?;
        }
        for (id, hostname) in host_links {
            let mid = self.by_hostname.get(&hostname).copied().ok_or_else(|| {
                InventoryError::Invalid(format!("VM host host '{hostname}' is not a machine"))
            })?;
            if let Some(h) = self.vmhosts.get_mut(&id) {
                h.host_machine = Some(mid);
            }
        }
        Ok(())
    }

    /// Add one machine described by `spec`.
    pub(crate) fn add_machine_from_spec(
        &mut self,
        spec: &MachineSpec,
    ) -> Result<String, InventoryError> {
        let Placement {
            zone_id,
            pool_id,
            domain_id,
            pod_id,
        } = self.spec_placement(spec)?;
        let (system_id, hostname) = self.spec_identity(spec)?;
        for t in &spec.tags {
            self.ensure_tag(t);
        }
        let status = spec.status.unwrap_or(NodeStatus::Ready);
        let owner = self.spec_owner(spec, status)?;
        let mid = self.next_machine_id();
        let block_devices = self.spec_block_devices(spec);
        let power_type = spec.power_type.clone().unwrap_or_else(|| "ipmi".into());
        let hw = Hardware::for_power_type(&power_type);
        let uuid = names::uuid(&mut self.rng);
        let architecture = spec
            .architecture
            .clone()
            .unwrap_or_else(|| "amd64/generic".into());
        let power_state = match status {
            NodeStatus::Deployed | NodeStatus::Deploying | NodeStatus::FailedDeployment => {
                PowerState::On
            }
            _ if power_type == "manual" => PowerState::Unknown,
            _ => PowerState::Off,
        };
        let machine = Machine {
            id: mid,
            system_id: system_id.clone(),
            hostname,
            domain_id,
            description: spec.description.clone().unwrap_or_default(),
            hardware_uuid: uuid,
            owner,
            locked: false,
            workload_annotations: Default::default(),
            status,
            previous_status: status,
            error_description: String::new(),
            status_message: None,
            power_type: power_type.clone(),
            power_state,
            netboot: status != NodeStatus::Deployed,
            architecture,
            cpu_count: spec.cpu_count.unwrap_or(4),
            cpu_speed: spec.cpu_speed.unwrap_or(2400),
            memory: spec.memory.unwrap_or(8192),
            block_devices,
            osystem: if status == NodeStatus::Deployed {
                "ubuntu".into()
            } else {
                String::new()
            },
            distro_series: if status == NodeStatus::Deployed {
                "jammy".into()
            } else {
                String::new()
            },
            hwe_kernel: if status == NodeStatus::Deployed {
                Some("ga-22.04".into())
            } else {
                None
            },
            ephemeral_deploy: false,
            enable_hw_sync: false,
            enable_kernel_crash_dump: false,
            install_kvm: false,
            register_vmhost: false,
            user_data: None,
            agent_name: String::new(),
            zone_id,
            pool_id,
            tags: spec.tags.iter().cloned().collect::<BTreeSet<_>>(),
            interfaces: Vec::new(),
            pod_id,
            virtualmachine_id: None,
            dynamic: false,
            commissioned: status != NodeStatus::New,
            timeline: Default::default(),
            bios_boot_method: "uefi".into(),
            system_vendor: hw.system_vendor.into(),
            system_product: hw.system_product.into(),
            cpu_model: hw.cpu_model.into(),
            commissioning_result_id: None,
            installation_result_id: None,
        };
        let commissioned = machine.commissioned;
        self.insert_machine(machine);
        if commissioned {
            let rid = self.next_result_id();
            if let Some(m) = self.machines.get_mut(&mid) {
                m.commissioning_result_id = Some(rid);
            }
        }
        if pod_id.is_some() {
            let vm = self.next_vm_id();
            if let Some(m) = self.machines.get_mut(&mid) {
                m.virtualmachine_id = Some(vm);
            }
        }
        let ifaces = if spec.interfaces.is_empty() {
            vec![InterfaceSpec {
                name: "eth0".into(),
                mac: None,
                subnet: None,
                mode: None,
                ip: None,
                link_speed: None,
            }]
        } else {
            spec.interfaces.clone()
        };
        for ispec in &ifaces {
            self.add_spec_interface(mid, ispec, &hw)?;
        }
        self.enter_spec_status(mid, status)?;
        Ok(system_id)
    }

    /// The zone, pool, domain and VM host a spec names (each must exist).
    fn spec_placement(&self, spec: &MachineSpec) -> Result<Placement, InventoryError> {
        let zone_id = match &spec.zone {
            Some(z) => self
                .zone_by_name(z)
                .map(|z| z.id)
                .ok_or_else(|| InventoryError::Invalid(format!("unknown zone '{z}'")))?,
            None => DEFAULT_ZONE_ID,
        };
        let pool_id = match &spec.pool {
            Some(p) => self
                .pool_by_name(p)
                .map(|p| p.id)
                .ok_or_else(|| InventoryError::Invalid(format!("unknown pool '{p}'")))?,
            None => DEFAULT_POOL_ID,
        };
        let domain_id = match &spec.domain {
            Some(d) => self
                .domain_by_name(d)
                .map(|d| d.id)
                .ok_or_else(|| InventoryError::Invalid(format!("unknown domain '{d}'")))?,
            None => DEFAULT_DOMAIN_ID,
        };
        let pod_id = match &spec.vm_host {
            Some(name) => Some(
                self.vmhosts
                    .values()
                    .find(|h| &h.name == name)
                    .map(|h| h.id)
                    .ok_or_else(|| InventoryError::Invalid(format!("unknown VM host '{name}'")))?,
            ),
            None => None,
        };
        Ok(Placement {
            zone_id,
            pool_id,
            domain_id,
            pod_id,
        })
    }

    /// The spec's system id and hostname, or fresh ones; both unique.
    fn spec_identity(&mut self, spec: &MachineSpec) -> Result<(String, String), InventoryError> {
        let system_id = match &spec.system_id {
            Some(s) if self.by_system_id.contains_key(s) => {
                return Err(InventoryError::Invalid(format!(
                    "duplicate system_id '{s}'"
                )));
            }
            Some(s) => s.clone(),
            None => self.fresh_system_id(),
        };
        let hostname = match &spec.hostname {
            Some(h) if self.by_hostname.contains_key(h) => {
                return Err(InventoryError::Invalid(format!("duplicate hostname '{h}'")));
            }
            Some(h) => h.clone(),
            None => self.fresh_hostname(),
        };
        Ok((system_id, hostname))
    }

    /// The owner of a machine in an owned status (`admin` unless named).
    fn spec_owner(
        &self,
        spec: &MachineSpec,
        status: NodeStatus,
    ) -> Result<Option<u64>, InventoryError> {
        Ok(
            if matches!(
                status,
                NodeStatus::Allocated
                    | NodeStatus::Deployed
                    | NodeStatus::Deploying
                    | NodeStatus::FailedDeployment
                    | NodeStatus::Releasing
                    | NodeStatus::DiskErasing
            ) {
                match spec.owner.as_deref() {
                    Some(name) => Some(self.user_by_name(name).map(|u| u.id).ok_or_else(|| {
                        InventoryError::Invalid(format!("unknown owner '{name}'"))
                    })?),
                    None => Some(ADMIN_ID),
                }
            } else {
                None
            },
        )
    }

    /// The spec's disks (one 100 GB disk by default) as block devices.
    fn spec_block_devices(&mut self, spec: &MachineSpec) -> Vec<BlockDevice> {
        let disks = if spec.disks.is_empty() {
            vec![DiskSpec {
                size_gb: 100,
                tags: Vec::new(),
            }]
        } else {
            spec.disks.clone()
        };
        let mut block_devices = Vec::new();
        for (i, d) in disks.iter().enumerate() {
            let id = self.next_block_id();
            let pid = self.next_block_id();
            let serial = names::key_part(&mut self.rng, 12);
            block_devices.push(BlockDevice {
                id,
                partition_id: pid,
                name: format!("sd{}", (b'a' + (i as u8 % 26)) as char),
                size: d.size_gb * 1_000_000_000,
                model: if d.tags.iter().any(|t| t == "ssd" || t == "nvme") {
                    "Samsung SSD 870".into()
                } else {
                    "ST4000NM0035".into()
                },
                serial,
                tags: d.tags.clone(),
                storage_pool: None,
            });
        }
        block_devices
    }

    /// One interface of a spec, linked to its subnet in its mode.
    fn add_spec_interface(
        &mut self,
        mid: u64,
        ispec: &InterfaceSpec,
        hw: &Hardware,
    ) -> Result<(), InventoryError> {
        let subnet_id = match &ispec.subnet {
            Some(s) => self
                .subnets_matching(s)
                .ok()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| InventoryError::Invalid(format!("unknown subnet '{s}'")))?,
            None => self
                .subnets
                .keys()
                .next()
                .copied()
                .ok_or_else(|| InventoryError::Invalid("no subnet".into()))?,
        };
        let vlan_id = self.subnets.get(&subnet_id).map(|s| s.vlan_id);
        let iid = self.next_interface_id();
        let mac = ispec
            .mac
            .clone()
            .unwrap_or_else(|| names::mac(&mut self.rng));
        let mode = ispec.mode.clone().unwrap_or_else(|| "auto".into());
        let link = match mode.as_str() {
            "static" => {
                let ip = match ispec.ip {
                    Some(ip) => {
                        if self.ip_index.contains_key(&ip) {
                            return Err(InventoryError::Invalid(format!(
                                "address {ip} used twice"
                            )));
                        }
                        ip
                    }
                    None => self
                        .pick_free_ip(subnet_id)
                        .ok_or_else(|| InventoryError::Invalid("subnet exhausted".into()))?,
                };
                self.create_ip(
                    AllocType::Sticky,
                    Some(ip),
                    Some(subnet_id),
                    None,
                    Some(iid),
                )
            }
            "dhcp" => self.create_ip(AllocType::Dhcp, None, Some(subnet_id), None, Some(iid)),
            "link_up" => self.create_ip(AllocType::Sticky, None, Some(subnet_id), None, Some(iid)),
            "auto" => self.create_ip(AllocType::Auto, None, Some(subnet_id), None, Some(iid)),
            other => {
                return Err(InventoryError::Invalid(format!(
                    "unknown link mode '{other}'"
                )));
            }
        };
        let speed = ispec.link_speed.unwrap_or(hw.link_speed);
        self.interfaces.insert(
            iid,
            Interface {
                id: iid,
                machine_id: mid,
                name: ispec.name.clone(),
                iftype: "physical".into(),
                mac,
                vlan_id,
                links: vec![link],
                tags: Vec::new(),
                link_speed: speed,
                interface_speed: speed,
                vendor: Some(hw.nic_vendor.into()),
                product: Some(hw.nic_product.into()),
            },
        );
        if let Some(m) = self.machines.get_mut(&mid) {
            m.interfaces.push(iid);
        }
        Ok(())
    }

    /// What a machine entering the spec's status has: addresses when
    /// deployed, the status's event, a deployment resumed when deploying.
    fn enter_spec_status(&mut self, mid: u64, status: NodeStatus) -> Result<(), InventoryError> {
        if matches!(
            status,
            NodeStatus::Deployed | NodeStatus::Deploying | NodeStatus::FailedDeployment
        ) {
            self.claim_auto_ips(mid)
                .map_err(|_| InventoryError::Invalid("subnet exhausted".into()))?;
        }
        let event = match status {
            NodeStatus::New => Some(ev::NEW),
            NodeStatus::Ready => Some(ev::READY),
            NodeStatus::Deployed => Some(ev::DEPLOYED),
            NodeStatus::Deploying => Some(ev::DEPLOYING),
            _ => None,
        };
        if let Some(e) = event {
            self.emit(mid, e, "", None);
        }
        if status == NodeStatus::Deploying {
            // Resume a deployment already in progress.
            if let Some(m) = self.machines.get_mut(&mid) {
                m.osystem = "ubuntu".into();
                m.distro_series = "jammy".into();
            }
            let steps = vec![Step {
                at_ms: self.now_ms + self.timings.deploy.as_millis() as u64,
                action: Action::CompleteDeploy,
            }];
            self.schedule(mid, steps);
        }
        Ok(())
    }

    /// `--machines N`: varied machines, deterministic from the seed.
    pub(crate) fn generate_machines(
        &mut self,
        count: usize,
    ) -> Result<Vec<String>, InventoryError> {
        for z in GEN_ZONES {
            if self.zone_by_name(z).is_none() {
                self.add_zone(z, "");
            }
        }
        for p in GEN_POOLS {
            if self.pool_by_name(p).is_none() {
                self.add_pool(p, "");
            }
        }
        for t in GEN_TAGS {
            self.ensure_tag(t);
        }
        self.ensure_default_network();
        let zones: Vec<String> = self.zones.values().map(|z| z.name.clone()).collect();
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let rng = &mut self.rng;
            let cpu = *rng
                .pick(&[2u32, 4, 4, 8, 8, 12, 16, 16, 24, 32, 48, 64])
                .unwrap_or(&4);
            let mem_gib = *rng
                .pick(&[4u64, 8, 16, 16, 32, 32, 64, 96, 128, 256, 384, 512])
                .unwrap_or(&16);
            let arch = if rng.chance(15, 100) {
                "arm64/generic"
            } else {
                "amd64/generic"
            };
            let power_roll = rng.range(0, 100);
            let power_type = match power_roll {
                0..40 => "ipmi",
                40..70 => "redfish",
                70..85 => "lxd",
                85..95 => "virsh",
                _ => "manual",
            };
            let virtual_ = matches!(power_type, "lxd" | "virsh");
            let ndisks = rng.range(1, 4) as usize;
            let ssd = rng.chance(1, 2);
            let nvme = rng.chance(1, 5);
            let mut disks = Vec::new();
            for i in 0..ndisks {
                let size = *rng
                    .pick(&[120u64, 240, 480, 960, 1920, 4000])
                    .unwrap_or(&480);
                let mut tags = Vec::new();
                if i == 0 && ssd {
                    tags.push("ssd".to_string());
                } else if i > 0 {
                    tags.push("rotary".to_string());
                }
                disks.push(DiskSpec {
                    size_gb: size,
                    tags,
                });
            }
            let mut tags = Vec::new();
            if ssd {
                tags.push("ssd".to_string());
            }
            if nvme {
                tags.push("nvme".to_string());
            }
            if !virtual_ && rng.chance(1, 10) {
                tags.push("gpu".to_string());
            }
            if mem_gib >= 256 {
                tags.push("highmem".to_string());
            }
            if virtual_ {
                tags.push("virtual".to_string());
            }
            if !virtual_ && cpu >= 16 && mem_gib >= 64 {
                tags.push("vmhost-capable".to_string());
            }
            let zone = rng.pick(&zones).cloned();
            let pool = if tags.iter().any(|t| t == "gpu") {
                Some("gpu".to_string())
            } else if rng.chance(1, 10) {
                Some("storage".to_string())
            } else {
                None
            };
            let status_roll = rng.range(0, 100);
            let (status, owner) = match status_roll {
                0..4 => (NodeStatus::New, None),
                4..7 => (NodeStatus::Broken, None),
                7..10 => (NodeStatus::Deployed, Some("admin".to_string())),
                10..12 => (NodeStatus::Allocated, Some("user".to_string())),
                _ => (NodeStatus::Ready, None),
            };
            let spec = MachineSpec {
                architecture: Some(arch.into()),
                cpu_count: Some(cpu),
                cpu_speed: Some(*rng.pick(&[2000u32, 2400, 2800, 3200]).unwrap_or(&2400)),
                memory: Some(mem_gib * 1024),
                disks,
                tags,
                zone,
                pool,
                power_type: Some(power_type.into()),
                status: Some(status),
                owner,
                ..MachineSpec::default()
            };
            ids.push(self.add_machine_from_spec(&spec)?);
        }
        let _ = USER_ID;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_and_rejects_unknown_fields() {
        let inv = Inventory::from_yaml(
            "zones:\n  - name: z1\nmachines:\n  - hostname: m1\n    cpu_count: 8\n    status: deployed\n",
        )
        .unwrap();
        assert_eq!(inv.zones[0].name, "z1");
        assert_eq!(inv.machines[0].status, Some(NodeStatus::Deployed));
        assert!(Inventory::from_yaml("bogus: 1\n").is_err());
        let with_secret = Inventory::from_yaml(
            "vm_hosts:\n  - {name: h, power_address: 10.0.0.1, trust_password: hunter2}\n",
        )
        .unwrap();
        assert!(!format!("{with_secret:?}").contains("hunter2"));
        let json = serde_json::to_string(&inv).unwrap();
        assert_eq!(Inventory::from_json(&json).unwrap(), inv);
    }
}
