//! The simulator's data model: MAAS's enums and the records the state keeps.

pub(crate) mod clock;
pub(crate) mod keys;
pub(crate) mod names;
pub(crate) mod pyfmt;
pub(crate) mod version;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::IpAddr;

/// MAAS node status (`status` is the integer, `status_name` the label).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    New,
    Commissioning,
    FailedCommissioning,
    Missing,
    Ready,
    Reserved,
    Deployed,
    Retired,
    Broken,
    Deploying,
    Allocated,
    FailedDeployment,
    Releasing,
    FailedReleasing,
    DiskErasing,
    FailedDiskErasing,
    RescueMode,
    EnteringRescueMode,
    FailedEnteringRescueMode,
    ExitingRescueMode,
    FailedExitingRescueMode,
    Testing,
    FailedTesting,
}

impl NodeStatus {
    /// Every status, by code.
    pub const ALL: [NodeStatus; 23] = [
        NodeStatus::New,
        NodeStatus::Commissioning,
        NodeStatus::FailedCommissioning,
        NodeStatus::Missing,
        NodeStatus::Ready,
        NodeStatus::Reserved,
        NodeStatus::Deployed,
        NodeStatus::Retired,
        NodeStatus::Broken,
        NodeStatus::Deploying,
        NodeStatus::Allocated,
        NodeStatus::FailedDeployment,
        NodeStatus::Releasing,
        NodeStatus::FailedReleasing,
        NodeStatus::DiskErasing,
        NodeStatus::FailedDiskErasing,
        NodeStatus::RescueMode,
        NodeStatus::EnteringRescueMode,
        NodeStatus::FailedEnteringRescueMode,
        NodeStatus::ExitingRescueMode,
        NodeStatus::FailedExitingRescueMode,
        NodeStatus::Testing,
        NodeStatus::FailedTesting,
    ];

    /// The integer MAAS reports in `status`.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The label MAAS reports in `status_name`.
    pub fn name(self) -> &'static str {
        match self {
            NodeStatus::New => "New",
            NodeStatus::Commissioning => "Commissioning",
            NodeStatus::FailedCommissioning => "Failed commissioning",
            NodeStatus::Missing => "Missing",
            NodeStatus::Ready => "Ready",
            NodeStatus::Reserved => "Reserved",
            NodeStatus::Deployed => "Deployed",
            NodeStatus::Retired => "Retired",
            NodeStatus::Broken => "Broken",
            NodeStatus::Deploying => "Deploying",
            NodeStatus::Allocated => "Allocated",
            NodeStatus::FailedDeployment => "Failed deployment",
            NodeStatus::Releasing => "Releasing",
            NodeStatus::FailedReleasing => "Releasing failed",
            NodeStatus::DiskErasing => "Disk erasing",
            NodeStatus::FailedDiskErasing => "Failed disk erasing",
            NodeStatus::RescueMode => "Rescue mode",
            NodeStatus::EnteringRescueMode => "Entering rescue mode",
            NodeStatus::FailedEnteringRescueMode => "Failed to enter rescue mode",
            NodeStatus::ExitingRescueMode => "Exiting rescue mode",
            NodeStatus::FailedExitingRescueMode => "Failed to exit rescue mode",
            NodeStatus::Testing => "Testing",
            NodeStatus::FailedTesting => "Failed testing",
        }
    }

    /// The lower-case enum name used by the `status` filter (`failed_deployment`).
    pub fn short(self) -> &'static str {
        match self {
            NodeStatus::New => "new",
            NodeStatus::Commissioning => "commissioning",
            NodeStatus::FailedCommissioning => "failed_commissioning",
            NodeStatus::Missing => "missing",
            NodeStatus::Ready => "ready",
            NodeStatus::Reserved => "reserved",
            NodeStatus::Deployed => "deployed",
            NodeStatus::Retired => "retired",
            NodeStatus::Broken => "broken",
            NodeStatus::Deploying => "deploying",
            NodeStatus::Allocated => "allocated",
            NodeStatus::FailedDeployment => "failed_deployment",
            NodeStatus::Releasing => "releasing",
            NodeStatus::FailedReleasing => "failed_releasing",
            NodeStatus::DiskErasing => "disk_erasing",
            NodeStatus::FailedDiskErasing => "failed_disk_erasing",
            NodeStatus::RescueMode => "rescue_mode",
            NodeStatus::EnteringRescueMode => "entering_rescue_mode",
            NodeStatus::FailedEnteringRescueMode => "failed_entering_rescue_mode",
            NodeStatus::ExitingRescueMode => "exiting_rescue_mode",
            NodeStatus::FailedExitingRescueMode => "failed_exiting_rescue_mode",
            NodeStatus::Testing => "testing",
            NodeStatus::FailedTesting => "failed_testing",
        }
    }

    /// Parse the lower-case enum name.
    pub fn from_short(s: &str) -> Option<NodeStatus> {
        NodeStatus::ALL.into_iter().find(|st| st.short() == s)
    }

    /// MAAS's simplified status (`simple_status` filter), lower-case.
    pub fn simple(self) -> &'static str {
        match self {
            NodeStatus::Allocated => "allocated",
            NodeStatus::Broken => "broken",
            NodeStatus::Commissioning => "commissioning",
            NodeStatus::Deployed => "deployed",
            NodeStatus::Deploying => "deploying",
            NodeStatus::FailedCommissioning
            | NodeStatus::FailedDeployment
            | NodeStatus::FailedDiskErasing
            | NodeStatus::FailedEnteringRescueMode
            | NodeStatus::FailedExitingRescueMode
            | NodeStatus::FailedReleasing
            | NodeStatus::FailedTesting => "failed",
            NodeStatus::New => "new",
            NodeStatus::Ready => "ready",
            NodeStatus::DiskErasing | NodeStatus::Releasing => "releasing",
            NodeStatus::EnteringRescueMode
            | NodeStatus::ExitingRescueMode
            | NodeStatus::RescueMode => "rescue_mode",
            NodeStatus::Testing => "testing",
            NodeStatus::Missing | NodeStatus::Reserved | NodeStatus::Retired => "other",
        }
    }

    /// Statuses `op=release` acts on.
    pub(crate) fn releasable(self) -> bool {
        matches!(
            self,
            NodeStatus::Allocated
                | NodeStatus::Reserved
                | NodeStatus::Broken
                | NodeStatus::Deploying
                | NodeStatus::Deployed
                | NodeStatus::FailedDeployment
                | NodeStatus::FailedDiskErasing
                | NodeStatus::FailedReleasing
        )
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The simplified status names accepted by `simple_status`.
pub(crate) const SIMPLE_STATUSES: &[&str] = &[
    "allocated",
    "broken",
    "commissioning",
    "deployed",
    "deploying",
    "failed",
    "new",
    "other",
    "ready",
    "releasing",
    "rescue_mode",
    "testing",
];

/// `power_state` values.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
    Unknown,
    Error,
}

impl PowerState {
    /// The string MAAS reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<PowerState> {
        match s {
            "on" => Some(PowerState::On),
            "off" => Some(PowerState::Off),
            "unknown" => Some(PowerState::Unknown),
            "error" => Some(PowerState::Error),
            _ => None,
        }
    }
}

/// Event levels (Python logging levels; AUDIT is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Level {
    Audit = 0,
    Debug = 10,
    Info = 20,
    Warning = 30,
    Error = 40,
    Critical = 50,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Audit => "AUDIT",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Level> {
        match s {
            "AUDIT" => Some(Level::Audit),
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARNING" => Some(Level::Warning),
            "ERROR" => Some(Level::Error),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// An event type: its description (the `type` in events JSON) and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventType {
    pub(crate) desc: &'static str,
    pub(crate) level: Level,
}

/// The event types the simulator emits (descriptions and levels as MAAS).
pub(crate) mod ev {
    use super::{EventType, Level};
    const fn t(desc: &'static str, level: Level) -> EventType {
        EventType { desc, level }
    }
    pub(crate) const POWERED_ON: EventType = t("Node powered on", Level::Debug);
    pub(crate) const POWERED_OFF: EventType = t("Node powered off", Level::Debug);
    pub(crate) const REQ_ACQUIRE: EventType = t("User acquiring node", Level::Debug);
    pub(crate) const REQ_START_DEPLOYMENT: EventType = t("User starting deployment", Level::Debug);
    pub(crate) const REQ_START: EventType = t("User powering up node", Level::Debug);
    pub(crate) const REQ_STOP: EventType = t("User powering down node", Level::Debug);
    pub(crate) const REQ_RELEASE: EventType = t("User releasing node", Level::Debug);
    pub(crate) const REQ_ERASE: EventType = t("User erasing disk", Level::Debug);
    pub(crate) const REQ_MARK_BROKEN: EventType = t("User marking node broken", Level::Debug);
    pub(crate) const REQ_MARK_FIXED: EventType = t("User marking node fixed", Level::Debug);
    pub(crate) const REQ_LOCK: EventType = t("User locking node", Level::Debug);
    pub(crate) const REQ_UNLOCK: EventType = t("User unlocking node", Level::Debug);
    pub(crate) const REQ_ABORT_DEPLOYMENT: EventType = t("User aborting deployment", Level::Debug);
    pub(crate) const REQ_ABORT_COMMISSIONING: EventType =
        t("User aborting node commissioning", Level::Debug);
    pub(crate) const REQ_ABORT_ERASE: EventType = t("User aborting disk erase", Level::Debug);
    pub(crate) const REQ_START_COMMISSIONING: EventType =
        t("User starting node commissioning", Level::Debug);
    pub(crate) const MARK_FAILED_SYSTEM: EventType = t("Marking node failed", Level::Error);
    pub(crate) const DISKS_ERASED: EventType = t("Disks erased", Level::Info);
    pub(crate) const CONFIGURING_STORAGE: EventType = t("Configuring storage", Level::Info);
    pub(crate) const INSTALLING_OS: EventType = t("Installing OS", Level::Info);
    pub(crate) const CONFIGURING_OS: EventType = t("Configuring OS", Level::Info);
    pub(crate) const REBOOTING: EventType = t("Rebooting", Level::Info);
    pub(crate) const PXE_BOOT: EventType = t("Performing PXE boot", Level::Info);
    pub(crate) const LOADING_EPHEMERAL: EventType = t("Loading ephemeral", Level::Info);
    pub(crate) const NEW: EventType = t("New", Level::Info);
    pub(crate) const COMMISSIONING: EventType = t("Commissioning", Level::Info);
    pub(crate) const GATHERING_INFO: EventType = t("Gathering information", Level::Info);
    pub(crate) const READY: EventType = t("Ready", Level::Info);
    pub(crate) const DEPLOYING: EventType = t("Deploying", Level::Info);
    pub(crate) const DEPLOYED: EventType = t("Deployed", Level::Info);
    pub(crate) const RELEASING: EventType = t("Releasing", Level::Info);
    pub(crate) const RELEASED: EventType = t("Released", Level::Info);
    pub(crate) const ABORTED_DEPLOYMENT: EventType = t("Aborted deployment", Level::Info);
    pub(crate) const ABORTED_COMMISSIONING: EventType = t("Aborted commissioning", Level::Info);
    pub(crate) const ABORTED_DISK_ERASING: EventType = t("Aborted disk erasing", Level::Info);
}

/// One event in the log.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: u64,
    pub(crate) machine_id: u64,
    pub(crate) system_id: String,
    pub(crate) hostname: String,
    pub(crate) username: String,
    pub(crate) etype: EventType,
    pub(crate) description: String,
    pub(crate) created_unix_ms: u64,
}

/// A user of the simulated MAAS.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) is_superuser: bool,
}

/// An OAuth token (one per API key).
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) consumer_key: String,
    pub(crate) token_key: String,
    pub(crate) secret: String,
    pub(crate) user_id: u64,
    /// The token's name (`op=create_authorisation_token name=…`).
    #[allow(dead_code)]
    pub(crate) name: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("consumer_key", &self.consumer_key)
            .field("token_key", &self.token_key)
            .field("secret", &"<redacted>")
            .field("user_id", &self.user_id)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) description: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) description: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) definition: String,
    pub(crate) comment: String,
    pub(crate) kernel_opts: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Domain {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) ttl: Option<i64>,
    pub(crate) authoritative: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Fabric {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) class_type: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Vlan {
    pub(crate) id: u64,
    pub(crate) vid: u32,
    pub(crate) name: String,
    pub(crate) fabric_id: u64,
    pub(crate) mtu: u32,
    pub(crate) dhcp_on: bool,
    pub(crate) space: Option<String>,
    pub(crate) primary_rack: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeKind {
    Dynamic,
    Reserved,
}

#[derive(Debug, Clone)]
pub(crate) struct IpRange {
    pub(crate) start: IpAddr,
    pub(crate) end: IpAddr,
    pub(crate) kind: RangeKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Subnet {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) cidr: ipnet::IpNet,
    pub(crate) vlan_id: u64,
    pub(crate) gateway_ip: Option<IpAddr>,
    pub(crate) dns_servers: Vec<String>,
    pub(crate) managed: bool,
    pub(crate) ranges: Vec<IpRange>,
    /// Allocation cursor (offset into the subnet) to keep allocation O(1).
    pub(crate) next_hint: u64,
}

/// StaticIPAddress `alloc_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocType {
    Auto = 0,
    Sticky = 1,
    UserReserved = 4,
    Dhcp = 5,
}

impl AllocType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AllocType::Auto => "Automatic",
            AllocType::Sticky => "Sticky",
            AllocType::UserReserved => "User reserved",
            AllocType::Dhcp => "DHCP",
        }
    }
}

/// A StaticIPAddress row: an interface link or a reserved address.
#[derive(Debug, Clone)]
pub(crate) struct StaticIp {
    pub(crate) id: u64,
    pub(crate) alloc_type: AllocType,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) subnet_id: Option<u64>,
    pub(crate) user_id: Option<u64>,
    pub(crate) created_unix_ms: u64,
    pub(crate) interface_id: Option<u64>,
}

impl StaticIp {
    /// The link `mode` MAAS shows for this address.
    pub(crate) fn mode(&self) -> &'static str {
        match self.alloc_type {
            AllocType::Auto => "auto",
            AllocType::Sticky => {
                if self.ip.is_some() {
                    "static"
                } else {
                    "link_up"
                }
            }
            AllocType::UserReserved => "static",
            AllocType::Dhcp => "dhcp",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Interface {
    pub(crate) id: u64,
    pub(crate) machine_id: u64,
    pub(crate) name: String,
    pub(crate) iftype: String,
    pub(crate) mac: String,
    pub(crate) vlan_id: Option<u64>,
    pub(crate) links: Vec<u64>,
    pub(crate) tags: Vec<String>,
    pub(crate) link_speed: u64,
    pub(crate) interface_speed: u64,
    pub(crate) vendor: Option<String>,
    pub(crate) product: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct BlockDevice {
    pub(crate) id: u64,
    pub(crate) partition_id: u64,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) model: String,
    pub(crate) serial: String,
    pub(crate) tags: Vec<String>,
    pub(crate) storage_pool: Option<String>,
}

/// A scheduled change in a machine's timeline.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) at_ms: u64,
    pub(crate) action: Action,
}

/// What a timeline step does when its time comes.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Event(EventType, String),
    Power(PowerState),
    Netboot(bool),
    AgentName(String),
    CompleteDeploy,
    FailDeploy(String),
    FinishErase,
    CompleteRelease,
    CompleteCommission,
    /// Delete the machine (released dynamic VMs).
    Remove,
}

#[derive(Clone)]
pub(crate) struct Machine {
    pub(crate) id: u64,
    pub(crate) system_id: String,
    pub(crate) hostname: String,
    pub(crate) domain_id: u64,
    pub(crate) description: String,
    pub(crate) hardware_uuid: String,
    pub(crate) owner: Option<u64>,
    pub(crate) locked: bool,
    pub(crate) workload_annotations: BTreeMap<String, String>,
    pub(crate) status: NodeStatus,
    pub(crate) previous_status: NodeStatus,
    pub(crate) error_description: String,
    pub(crate) status_message: Option<String>,
    pub(crate) power_type: String,
    pub(crate) power_state: PowerState,
    pub(crate) netboot: bool,
    pub(crate) architecture: String,
    pub(crate) cpu_count: u32,
    pub(crate) cpu_speed: u32,
    pub(crate) memory: u64,
    pub(crate) block_devices: Vec<BlockDevice>,
    pub(crate) osystem: String,
    pub(crate) distro_series: String,
    pub(crate) hwe_kernel: Option<String>,
    pub(crate) ephemeral_deploy: bool,
    pub(crate) enable_hw_sync: bool,
    pub(crate) enable_kernel_crash_dump: bool,
    pub(crate) install_kvm: bool,
    pub(crate) register_vmhost: bool,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) agent_name: String,
    pub(crate) zone_id: u64,
    pub(crate) pool_id: u64,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) interfaces: Vec<u64>,
    pub(crate) pod_id: Option<u64>,
    pub(crate) virtualmachine_id: Option<u64>,
    pub(crate) dynamic: bool,
    pub(crate) commissioned: bool,
    pub(crate) timeline: VecDeque<Step>,
    pub(crate) bios_boot_method: String,
    pub(crate) system_vendor: String,
    pub(crate) system_product: String,
    pub(crate) cpu_model: String,
    pub(crate) commissioning_result_id: Option<u64>,
    pub(crate) installation_result_id: Option<u64>,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("system_id", &self.system_id)
            .field("hostname", &self.hostname)
            .field("status", &self.status)
            .field("owner", &self.owner)
            .field("power_state", &self.power_state)
            .field("user_data", &self.user_data.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// MAAS's allocation cost, scaled by 1024 to stay integral:
    /// `cpu_count + memory/1024`.
    pub(crate) fn cost_key(&self) -> u64 {
        u64::from(self.cpu_count) * 1024 + self.memory
    }

    /// Storage in MB (sum of physical disks / 10^6), as MAAS reports it.
    pub(crate) fn storage_mb(&self) -> f64 {
        self.block_devices
            .iter()
            .map(|b| b.size as f64)
            .sum::<f64>()
            / 1_000_000.0
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoragePool {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) pool_type: String,
    pub(crate) path: String,
    pub(crate) total: u64,
}

#[derive(Clone)]
pub(crate) struct VmHost {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) power_type: String,
    pub(crate) power_address: String,
    pub(crate) project: String,
    pub(crate) password: Option<String>,
    pub(crate) certificate: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) power_user: Option<String>,
    pub(crate) power_pass: Option<String>,
    pub(crate) zone_id: u64,
    pub(crate) pool_id: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) cpu_over_commit_ratio: f64,
    pub(crate) memory_over_commit_ratio: f64,
    pub(crate) default_macvlan_mode: Option<String>,
    pub(crate) default_storage_pool: Option<String>,
    pub(crate) architectures: Vec<String>,
    pub(crate) version: String,
    pub(crate) capabilities: Vec<String>,
    pub(crate) cores: u64,
    pub(crate) memory: u64,
    pub(crate) cpu_speed: u64,
    pub(crate) storage_pools: Vec<StoragePool>,
    pub(crate) host_machine: Option<u64>,
}

impl fmt::Debug for VmHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmHost")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("power_type", &self.power_type)
            .field("power_address", &self.power_address)
            .field("project", &self.project)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field(
                "power_pass",
                &self.power_pass.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl VmHost {
    pub(crate) fn local_storage(&self) -> u64 {
        self.storage_pools.iter().map(|p| p.total).sum()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DnsResource {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) domain_id: u64,
    pub(crate) address_ttl: Option<i64>,
    pub(crate) ip_ids: Vec<u64>,
}

/// A DNS resource record (MAAS's `DNSData`): one non-address record
/// (CNAME, MX, NS, SRV, SSHFP, TXT) of a DNS resource.
#[derive(Debug, Clone)]
pub(crate) struct DnsData {
    pub(crate) id: u64,
    pub(crate) dnsresource_id: u64,
    pub(crate) ttl: Option<i64>,
    pub(crate) rrtype: String,
    pub(crate) rrdata: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_maas_enum() {
        for (i, st) in NodeStatus::ALL.iter().enumerate() {
            assert_eq!(st.code() as usize, i);
            assert_eq!(NodeStatus::from_short(st.short()), Some(*st));
        }
        assert_eq!(NodeStatus::FailedReleasing.name(), "Releasing failed");
        assert_eq!(NodeStatus::DiskErasing.simple(), "releasing");
    }
}
