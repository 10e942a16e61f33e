//! The machine model (`machines/{system_id}/`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::de;
use super::network::{Domain, Interface, ResourcePool, Zone};
use super::status::{MachineStatus, PowerState};

/// A reference to the VM host (pod) a machine is a VM of.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PodRef {
    /// VM host id.
    pub id: i64,
    /// VM host name.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// `/MAAS/api/2.0/pods/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A reference to another node (`parent`, VM host `host`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeRef {
    /// The node's system_id (`None` when the VM host is not a MAAS machine).
    pub system_id: Option<String>,
    /// Its resource URI, when given.
    pub resource_uri: Option<String>,
}

/// A block device (disk) of a machine.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockDevice {
    /// Numeric id.
    pub id: i64,
    /// Owning machine.
    #[serde(deserialize_with = "de::null_default")]
    pub system_id: String,
    /// Name, e.g. `sda`.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// `physical` or `virtual`.
    #[serde(rename = "type", deserialize_with = "de::null_default")]
    pub device_type: String,
    /// Device path.
    pub path: Option<String>,
    /// Stable id path.
    pub id_path: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Size in bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub size: i64,
    /// Block size in bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub block_size: i64,
    /// Available bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub available_size: i64,
    /// Used bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub used_size: i64,
    /// What uses it.
    #[serde(deserialize_with = "de::null_default")]
    pub used_for: String,
    /// Tags (e.g. `ssd`).
    #[serde(deserialize_with = "de::string_list")]
    pub tags: Vec<String>,
    /// Storage pool (VMs).
    #[serde(deserialize_with = "de::opt_string_or_number")]
    pub storage_pool: Option<String>,
    /// Partition table type.
    pub partition_table_type: Option<String>,
    /// Filesystem, if formatted whole.
    pub filesystem: Option<Value>,
    /// Partitions.
    #[serde(deserialize_with = "de::null_default")]
    pub partitions: Vec<Value>,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A NUMA node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NumaNode {
    /// Index.
    #[serde(deserialize_with = "de::null_default")]
    pub index: i64,
    /// CPU cores.
    #[serde(deserialize_with = "de::null_default")]
    pub cores: Vec<i64>,
    /// Memory in MiB.
    #[serde(deserialize_with = "de::null_default")]
    pub memory: i64,
    /// Hugepages.
    #[serde(deserialize_with = "de::null_default")]
    pub hugepages_set: Vec<Value>,
}

/// One default gateway.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Gateway {
    /// Gateway address.
    pub gateway_ip: Option<String>,
    /// The link it comes from.
    pub link_id: Option<i64>,
}

/// `default_gateways`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultGateways {
    /// IPv4 gateway.
    #[serde(deserialize_with = "de::null_default")]
    pub ipv4: Gateway,
    /// IPv6 gateway.
    #[serde(deserialize_with = "de::null_default")]
    pub ipv6: Gateway,
}

/// A MAAS machine.
///
/// Every field is optional or defaulted: MAAS 2.x and 3.x emit different field sets, and
/// anonymous callers see only a few fields. Unknown fields are ignored.
///
/// There is **no `agent_name` field**: MAAS stores the `agent_name` given to allocate/deploy
/// but does not include it in machine JSON (it is not in `DISPLAYED_MACHINE_FIELDS`).
/// Use [`crate::MachineFilter::agent_name`] to find machines by agent name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// The 6-character system id.
    #[serde(deserialize_with = "de::null_default")]
    pub system_id: String,
    /// Hostname (no domain).
    #[serde(deserialize_with = "de::null_default")]
    pub hostname: String,
    /// Fully qualified name.
    #[serde(deserialize_with = "de::null_default")]
    pub fqdn: String,
    /// Description.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
    /// Hardware UUID (3.x).
    pub hardware_uuid: Option<String>,
    /// DNS domain.
    pub domain: Option<Domain>,

    /// Status.
    pub status: MachineStatus,
    /// Status label, e.g. `Deployed`.
    #[serde(deserialize_with = "de::null_default")]
    pub status_name: String,
    /// Latest progress message, e.g. `Installing OS` (null when there are no events).
    pub status_message: Option<String>,
    /// Status action (usually empty).
    pub status_action: Option<String>,
    /// Error description (set by mark_broken and failures).
    #[serde(deserialize_with = "de::null_default")]
    pub error_description: String,

    /// Power driver: `lxd`, `virsh`, `ipmi`, `redfish`, `manual`, …
    #[serde(deserialize_with = "de::null_default")]
    pub power_type: String,
    /// Last known power state.
    pub power_state: PowerState,
    /// Whether the machine will PXE boot next.
    #[serde(deserialize_with = "de::null_default")]
    pub netboot: bool,

    /// Owner's username.
    pub owner: Option<String>,
    /// Deprecated alias of `workload_annotations` (MAAS 2.x).
    #[serde(deserialize_with = "de::string_map")]
    pub owner_data: BTreeMap<String, String>,
    /// Workload annotations (MAAS 2.9+).
    #[serde(deserialize_with = "de::string_map")]
    pub workload_annotations: BTreeMap<String, String>,
    /// Locked against changes.
    #[serde(deserialize_with = "de::null_default")]
    pub locked: bool,

    /// Architecture, e.g. `amd64/generic`.
    #[serde(deserialize_with = "de::null_default")]
    pub architecture: String,
    /// Boot method (`uefi`, `pxe`, …).
    pub bios_boot_method: Option<String>,
    /// CPU count.
    #[serde(deserialize_with = "de::null_default")]
    pub cpu_count: i64,
    /// CPU speed in MHz.
    #[serde(deserialize_with = "de::null_default")]
    pub cpu_speed: i64,
    /// Memory in MiB.
    #[serde(deserialize_with = "de::null_default")]
    pub memory: i64,
    /// Total storage in MB (10^6 bytes).
    #[serde(deserialize_with = "de::null_default")]
    pub storage: f64,
    /// Swap size in bytes.
    pub swap_size: Option<i64>,
    /// Hardware information (string values).
    #[serde(deserialize_with = "de::string_map")]
    pub hardware_info: BTreeMap<String, String>,
    /// NUMA nodes.
    #[serde(deserialize_with = "de::null_default")]
    pub numanode_set: Vec<NumaNode>,

    /// Operating system, e.g. `ubuntu`.
    #[serde(deserialize_with = "de::null_default")]
    pub osystem: String,
    /// Release name, e.g. `jammy`.
    #[serde(deserialize_with = "de::null_default")]
    pub distro_series: String,
    /// HWE kernel.
    pub hwe_kernel: Option<String>,
    /// Minimum HWE kernel.
    pub min_hwe_kernel: Option<String>,
    /// Deployed to memory (shown since 3.5; `None` on older MAAS).
    pub ephemeral_deploy: Option<bool>,
    /// Kernel crash dump enabled (3.6+).
    pub enable_kernel_crash_dump: Option<bool>,
    /// Hardware sync enabled (shown since 3.4).
    pub enable_hw_sync: Option<bool>,
    /// DPU (3.7+).
    pub is_dpu: Option<bool>,

    /// All addresses the machine has.
    #[serde(deserialize_with = "de::string_list")]
    pub ip_addresses: Vec<String>,
    /// Interfaces.
    #[serde(deserialize_with = "de::null_default")]
    pub interface_set: Vec<Interface>,
    /// The PXE boot interface.
    pub boot_interface: Option<Interface>,
    /// Default gateways.
    pub default_gateways: Option<DefaultGateways>,
    /// DNS TTL for the machine's addresses.
    pub address_ttl: Option<i64>,
    /// IPv4 disabled.
    #[serde(deserialize_with = "de::null_default")]
    pub disable_ipv4: bool,

    /// Zone.
    pub zone: Option<Zone>,
    /// Resource pool.
    pub pool: Option<ResourcePool>,
    /// Tags.
    #[serde(deserialize_with = "de::string_list")]
    pub tag_names: Vec<String>,

    /// Boot disk.
    pub boot_disk: Option<BlockDevice>,
    /// All block devices.
    #[serde(deserialize_with = "de::null_default")]
    pub blockdevice_set: Vec<BlockDevice>,
    /// Physical block devices.
    #[serde(deserialize_with = "de::null_default")]
    pub physicalblockdevice_set: Vec<BlockDevice>,
    /// Virtual block devices.
    #[serde(deserialize_with = "de::null_default")]
    pub virtualblockdevice_set: Vec<BlockDevice>,

    /// Node type (0 = machine).
    #[serde(deserialize_with = "de::null_default")]
    pub node_type: i64,
    /// Node type label.
    #[serde(deserialize_with = "de::null_default")]
    pub node_type_name: String,
    /// Parent node (for devices and DPUs).
    pub parent: Option<NodeRef>,
    /// VM host this machine is a VM of (absent on MAAS main, which dropped VM hosts).
    pub pod: Option<PodRef>,
    /// The VM record id on that VM host.
    pub virtualmachine_id: Option<i64>,

    /// Commissioning script status (-1 unknown … 2 passed, 3 failed).
    pub commissioning_status: Option<i64>,
    /// Commissioning status label.
    pub commissioning_status_name: Option<String>,
    /// Testing script status.
    pub testing_status: Option<i64>,
    /// Testing status label.
    pub testing_status_name: Option<String>,

    /// Last hardware sync (3.2+).
    pub last_sync: Option<String>,
    /// Hardware sync interval (3.2+).
    pub sync_interval: Option<i64>,
    /// Next hardware sync (3.2+).
    pub next_sync: Option<String>,

    /// Present in allocate answers only: which devices matched the `storage` and
    /// `interfaces` constraints (`{"storage": {...}, "interfaces": {label: [ids]}}`).
    pub constraints_by_type: Option<Value>,

    /// `/MAAS/api/2.0/machines/<system_id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

impl Machine {
    /// Workload annotations, falling back to the 2.x `owner_data` when the newer field is absent.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        if self.workload_annotations.is_empty() {
            &self.owner_data
        } else {
            &self.workload_annotations
        }
    }

    /// The interface ids allocate matched for an `interfaces` label.
    pub fn matched_interface_ids(&self, label: &str) -> Vec<i64> {
        self.constraints_by_type
            .as_ref()
            .and_then(|c| c.get("interfaces"))
            .and_then(|i| i.get(label))
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    }

    /// True if the machine is a VM on a MAAS VM host.
    pub fn is_vm(&self) -> bool {
        self.pod.is_some()
    }
}
