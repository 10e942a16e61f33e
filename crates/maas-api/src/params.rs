//! Parameter structs for the many-parameter operations.
//!
//! Each struct has public fields, `Default`, a few chained setters, and `to_form()` giving the
//! exact fields sent (useful in tests). Lists are sent as repeated keys except where MAAS wants
//! a single joined value (noted per field).

use std::fmt;

use base64::Engine as _;

use crate::error::Error;
use crate::form::Form;
use crate::form::{InterfaceSpec, StorageSpec, encode_interfaces, encode_storage};
use crate::models::MachineStatus;

/// A secret string (password, private key, license key). `Debug` shows `<redacted>`: the one
/// redacting type of capmaas, shared with `lxd-host`.
pub use capmaas_secret::Secret;

/// Cloud-init user data. Sent base64-encoded as a plain multipart field (MAAS decodes valid
/// base64 when it serves it). `Debug` shows only the size.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct UserData(Vec<u8>);

impl UserData {
    /// Wrap raw user data (e.g. a `#cloud-config` document).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        UserData(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The base64 text MAAS receives.
    pub fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserData(<redacted {} bytes>)", self.0.len())
    }
}

/// Filters for `GET machines/`. Empty lists and `None` are not sent. Unknown-to-MAAS values
/// (a tag, zone or pool that does not exist) give a 400 [`Error::Validation`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineFilter {
    /// `id` (system_id), repeated.
    pub id: Vec<String>,
    /// `not_id`, repeated.
    pub not_id: Vec<String>,
    /// `hostname`, repeated.
    pub hostname: Vec<String>,
    /// `mac_address`, repeated.
    pub mac_address: Vec<String>,
    /// `domain`, repeated.
    pub domain: Vec<String>,
    /// `agent_name` (the only way to find machines by agent name: it is not in machine JSON).
    pub agent_name: Option<String>,
    /// `zone`, repeated.
    pub zone: Vec<String>,
    /// `not_in_zone`, repeated.
    pub not_in_zone: Vec<String>,
    /// `pool`, repeated.
    pub pool: Vec<String>,
    /// `not_in_pool`, repeated.
    pub not_in_pool: Vec<String>,
    /// `tags` (all required), repeated.
    pub tags: Vec<String>,
    /// `not_tags`, repeated.
    pub not_tags: Vec<String>,
    /// `status`, repeated, sent as MAAS's lower-case names (`deployed`, `failed_deployment`).
    pub status: Vec<MachineStatus>,
    /// `arch`, repeated.
    pub arch: Vec<String>,
    /// `owner`, repeated.
    pub owner: Vec<String>,
    /// `pod`, repeated.
    pub pod: Vec<String>,
}

impl MachineFilter {
    /// An empty filter (all machines the user may view).
    pub fn new() -> Self {
        MachineFilter::default()
    }

    /// Filter by system ids.
    pub fn ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.id.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Filter by hostname.
    pub fn hostname(mut self, h: impl Into<String>) -> Self {
        self.hostname.push(h.into());
        self
    }

    /// Filter by agent name.
    pub fn agent_name(mut self, a: impl Into<String>) -> Self {
        self.agent_name = Some(a.into());
        self
    }

    /// Filter by tag (all given tags required).
    pub fn tag(mut self, t: impl Into<String>) -> Self {
        self.tags.push(t.into());
        self
    }

    /// Filter by zone.
    pub fn zone(mut self, z: impl Into<String>) -> Self {
        self.zone.push(z.into());
        self
    }

    /// Filter by pool.
    pub fn pool(mut self, p: impl Into<String>) -> Self {
        self.pool.push(p.into());
        self
    }

    /// Filter by status.
    pub fn status(mut self, s: MachineStatus) -> Self {
        self.status.push(s);
        self
    }

    /// The query fields.
    pub(crate) fn to_form(&self) -> Result<Form, Error> {
        let mut f = Form::new();
        f.list("id", &self.id)
            .list("not_id", &self.not_id)
            .list("hostname", &self.hostname)
            .list("mac_address", &self.mac_address)
            .list("domain", &self.domain)
            .opt("agent_name", self.agent_name.as_ref())
            .list("zone", &self.zone)
            .list("not_in_zone", &self.not_in_zone)
            .list("pool", &self.pool)
            .list("not_in_pool", &self.not_in_pool)
            .list("tags", &self.tags)
            .list("not_tags", &self.not_tags);
        for s in &self.status {
            let name = s.filter_name().ok_or_else(|| {
                Error::InvalidRequest(format!("status {s} has no MAAS filter name"))
            })?;
            f.text("status", name);
        }
        f.list("arch", &self.arch)
            .list("owner", &self.owner)
            .list("pod", &self.pod);
        Ok(f)
    }
}

/// Constraints and options for `POST machines/?op=allocate`. All constraints are ANDed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocateParams {
    /// `name`: hostname or FQDN.
    pub name: Option<String>,
    /// `system_id`: this exact machine (disables VM composition on no match).
    pub system_id: Option<String>,
    /// `arch`, repeated (`amd64` matches `amd64/*`).
    pub arch: Vec<String>,
    /// `cpu_count` (minimum).
    pub cpu_count: Option<u32>,
    /// `mem` in MiB (minimum).
    pub mem: Option<u64>,
    /// `cpu_speed` in MHz (minimum).
    pub cpu_speed: Option<u32>,
    /// `tags`, repeated: every tag is required.
    pub tags: Vec<String>,
    /// `not_tags`, repeated.
    pub not_tags: Vec<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `not_in_zone`, repeated.
    pub not_in_zone: Vec<String>,
    /// `pool`.
    pub pool: Option<String>,
    /// `not_in_pool`, repeated.
    pub not_in_pool: Vec<String>,
    /// `pod`: compose/allocate only from this VM host.
    pub pod: Option<String>,
    /// `not_pod`, repeated.
    pub not_pod: Vec<String>,
    /// `pod_type` (`lxd`, `virsh`).
    pub pod_type: Option<String>,
    /// `not_pod_type`, repeated.
    pub not_pod_type: Vec<String>,
    /// `subnets`, repeated (specifiers: `<id>`, `ip:`, `name:`, `space:`, `vlan:`, `vid:`, `fabric:`).
    pub subnets: Vec<String>,
    /// `not_subnets`, repeated.
    pub not_subnets: Vec<String>,
    /// `fabrics`, repeated.
    pub fabrics: Vec<String>,
    /// `not_fabrics`, repeated.
    pub not_fabrics: Vec<String>,
    /// `fabric_classes`, repeated.
    pub fabric_classes: Vec<String>,
    /// `not_fabric_classes`, repeated.
    pub not_fabric_classes: Vec<String>,
    /// `link_speed` (minimum, Mbit/s).
    pub link_speed: Option<u64>,
    /// `interfaces`: a labelled map, sent as one `label:k=v,…;label2:…` value.
    pub interfaces: Vec<InterfaceSpec>,
    /// `storage`: disks, sent as one `label:size(tags),…` value (sizes in GB).
    pub storage: Vec<StorageSpec>,
    /// `devices`: e.g. `vendor_id=8086,product_id=1572`.
    pub devices: Option<String>,
    /// `agent_name`: stored on the machine; use it to find your machines later.
    pub agent_name: Option<String>,
    /// `comment` (audit log).
    pub comment: Option<String>,
    /// `bridge_all`.
    pub bridge_all: Option<bool>,
    /// `bridge_type` (`standard`, `ovs`).
    pub bridge_type: Option<String>,
    /// `bridge_stp`.
    pub bridge_stp: Option<bool>,
    /// `bridge_fd`.
    pub bridge_fd: Option<u32>,
    /// `dry_run`: match without acquiring.
    pub dry_run: bool,
    /// `verbose`: add `verbose_storage`/`verbose_interfaces` to `constraints_by_type`.
    pub verbose: bool,
}

impl AllocateParams {
    /// No constraints (any Ready machine).
    pub fn new() -> Self {
        AllocateParams::default()
    }

    /// Minimum CPU count.
    pub fn cpu_count(mut self, n: u32) -> Self {
        self.cpu_count = Some(n);
        self
    }

    /// Minimum memory, MiB.
    pub fn mem(mut self, mib: u64) -> Self {
        self.mem = Some(mib);
        self
    }

    /// Require a tag.
    pub fn tag(mut self, t: impl Into<String>) -> Self {
        self.tags.push(t.into());
        self
    }

    /// Zone.
    pub fn zone(mut self, z: impl Into<String>) -> Self {
        self.zone = Some(z.into());
        self
    }

    /// Pool.
    pub fn pool(mut self, p: impl Into<String>) -> Self {
        self.pool = Some(p.into());
        self
    }

    /// Agent name.
    pub fn agent_name(mut self, a: impl Into<String>) -> Self {
        self.agent_name = Some(a.into());
        self
    }

    /// Comment.
    pub fn comment(mut self, c: impl Into<String>) -> Self {
        self.comment = Some(c.into());
        self
    }

    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("name", self.name.as_ref())
            .opt("system_id", self.system_id.as_ref())
            .list("arch", &self.arch)
            .opt("cpu_count", self.cpu_count)
            .opt("mem", self.mem)
            .opt("cpu_speed", self.cpu_speed)
            .list("tags", &self.tags)
            .list("not_tags", &self.not_tags)
            .opt("zone", self.zone.as_ref())
            .list("not_in_zone", &self.not_in_zone)
            .opt("pool", self.pool.as_ref())
            .list("not_in_pool", &self.not_in_pool)
            .opt("pod", self.pod.as_ref())
            .list("not_pod", &self.not_pod)
            .opt("pod_type", self.pod_type.as_ref())
            .list("not_pod_type", &self.not_pod_type)
            .list("subnets", &self.subnets)
            .list("not_subnets", &self.not_subnets)
            .list("fabrics", &self.fabrics)
            .list("not_fabrics", &self.not_fabrics)
            .list("fabric_classes", &self.fabric_classes)
            .list("not_fabric_classes", &self.not_fabric_classes)
            .opt("link_speed", self.link_speed);
        if !self.interfaces.is_empty() {
            f.text("interfaces", encode_interfaces(&self.interfaces));
        }
        if !self.storage.is_empty() {
            f.text("storage", encode_storage(&self.storage));
        }
        f.opt("devices", self.devices.as_ref())
            .opt("agent_name", self.agent_name.as_ref())
            .opt("comment", self.comment.as_ref())
            .opt_bool("bridge_all", self.bridge_all)
            .opt("bridge_type", self.bridge_type.as_ref())
            .opt_bool("bridge_stp", self.bridge_stp)
            .opt("bridge_fd", self.bridge_fd)
            .flag("dry_run", self.dry_run)
            .flag("verbose", self.verbose);
        f
    }
}

/// Parameters of `POST machines/{id}/?op=deploy`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployParams {
    /// `osystem`, e.g. `ubuntu`.
    pub osystem: Option<String>,
    /// `distro_series`: `jammy`, `ubuntu/jammy`, `22.04`.
    pub distro_series: Option<String>,
    /// `hwe_kernel`.
    pub hwe_kernel: Option<String>,
    /// `user_data` (base64, multipart).
    pub user_data: Option<UserData>,
    /// `license_key` (Windows/RHEL images).
    pub license_key: Option<Secret>,
    /// `ephemeral_deploy` (MAAS 2.6+): deploy to memory.
    pub ephemeral_deploy: Option<bool>,
    /// `install_kvm` (admin).
    pub install_kvm: Option<bool>,
    /// `register_vmhost` (admin, 3.0+): make it an LXD VM host.
    pub register_vmhost: Option<bool>,
    /// `enable_hw_sync` (3.2+).
    pub enable_hw_sync: Option<bool>,
    /// `enable_kernel_crash_dump` (3.6+).
    pub enable_kernel_crash_dump: Option<bool>,
    /// `agent_name` (used only when deploy allocates a Ready machine itself).
    pub agent_name: Option<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `bridge_all`.
    pub bridge_all: Option<bool>,
    /// `bridge_type`.
    pub bridge_type: Option<String>,
    /// `bridge_stp`.
    pub bridge_stp: Option<bool>,
    /// `bridge_fd`.
    pub bridge_fd: Option<u32>,
}

impl DeployParams {
    /// Defaults (MAAS's default OS and series).
    pub fn new() -> Self {
        DeployParams::default()
    }

    /// Series.
    pub fn distro_series(mut self, s: impl Into<String>) -> Self {
        self.distro_series = Some(s.into());
        self
    }

    /// User data.
    pub fn user_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.user_data = Some(UserData::new(data));
        self
    }

    /// Deploy to memory.
    pub fn ephemeral(mut self, on: bool) -> Self {
        self.ephemeral_deploy = Some(on);
        self
    }

    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("osystem", self.osystem.as_ref())
            .opt("distro_series", self.distro_series.as_ref())
            .opt("hwe_kernel", self.hwe_kernel.as_ref());
        if let Some(ud) = &self.user_data {
            f.payload("user_data", ud.encoded());
        }
        if let Some(lk) = &self.license_key {
            f.secret("license_key", lk.expose());
        }
        f.opt_bool("ephemeral_deploy", self.ephemeral_deploy)
            .opt_bool("install_kvm", self.install_kvm)
            .opt_bool("register_vmhost", self.register_vmhost)
            .opt_bool("enable_hw_sync", self.enable_hw_sync)
            .opt_bool("enable_kernel_crash_dump", self.enable_kernel_crash_dump)
            .opt("agent_name", self.agent_name.as_ref())
            .opt("comment", self.comment.as_ref())
            .opt_bool("bridge_all", self.bridge_all)
            .opt("bridge_type", self.bridge_type.as_ref())
            .opt_bool("bridge_stp", self.bridge_stp)
            .opt("bridge_fd", self.bridge_fd);
        f
    }
}

/// Parameters of `op=release` (single machine) and of the batch release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseParams {
    /// `comment`.
    pub comment: Option<String>,
    /// `erase`: wipe disks.
    pub erase: bool,
    /// `secure_erase`: use the drive's secure erase (with `erase`).
    pub secure_erase: bool,
    /// `quick_erase`: wipe the first and last MB (with `erase`).
    pub quick_erase: bool,
    /// `force`: also delete VM hosts on the machine.
    pub force: bool,
}

impl ReleaseParams {
    /// The body fields (flags are sent only when true).
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("comment", self.comment.as_ref())
            .flag("erase", self.erase)
            .flag("secure_erase", self.secure_erase)
            .flag("quick_erase", self.quick_erase)
            .flag("force", self.force);
        f
    }
}

/// `stop_mode` for power off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// Immediate power off (MAAS's default).
    #[default]
    Hard,
    /// Ask the OS to shut down.
    Soft,
}

/// Parameters of `op=power_off`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerOffParams {
    /// `stop_mode`.
    pub stop_mode: Option<StopMode>,
    /// `comment`.
    pub comment: Option<String>,
}

impl PowerOffParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt(
            "stop_mode",
            self.stop_mode.map(|m| match m {
                StopMode::Hard => "hard",
                StopMode::Soft => "soft",
            }),
        )
        .opt("comment", self.comment.as_ref());
        f
    }
}

/// Parameters of `POST vm-hosts/{id}/?op=compose` (admin).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComposeParams {
    /// `cores` (MAAS default 1).
    pub cores: Option<u32>,
    /// `pinned_cores`, repeated.
    pub pinned_cores: Vec<u32>,
    /// `memory` in MiB (MAAS minimum 1024, default 2048).
    pub memory: Option<u64>,
    /// `hugepages_backed`.
    pub hugepages_backed: Option<bool>,
    /// `cpu_speed` MHz.
    pub cpu_speed: Option<u32>,
    /// `architecture` (one of the host's).
    pub architecture: Option<String>,
    /// `storage`: `label:sizeGB(pool)`; the spec's tags name the storage pool.
    pub storage: Vec<StorageSpec>,
    /// `interfaces`: labelled map matched against the host's interfaces (`ip=` allocates).
    pub interfaces: Vec<InterfaceSpec>,
    /// `hostname` (unique).
    pub hostname: Option<String>,
    /// `domain`: numeric id.
    pub domain: Option<i64>,
    /// `zone`: numeric id.
    pub zone: Option<i64>,
    /// `pool`: numeric id.
    pub pool: Option<i64>,
    /// `skip_commissioning`.
    pub skip_commissioning: Option<bool>,
}

impl ComposeParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("cores", self.cores)
            .list("pinned_cores", &self.pinned_cores)
            .opt("memory", self.memory)
            .opt_bool("hugepages_backed", self.hugepages_backed)
            .opt("cpu_speed", self.cpu_speed)
            .opt("architecture", self.architecture.as_ref());
        if !self.storage.is_empty() {
            f.text("storage", encode_storage(&self.storage));
        }
        if !self.interfaces.is_empty() {
            f.text("interfaces", encode_interfaces(&self.interfaces));
        }
        f.opt("hostname", self.hostname.as_ref())
            .opt("domain", self.domain)
            .opt("zone", self.zone)
            .opt("pool", self.pool)
            .opt_bool("skip_commissioning", self.skip_commissioning);
        f
    }
}

/// VM host driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VmHostType {
    /// LXD (`type=lxd`).
    #[default]
    Lxd,
    /// libvirt (`type=virsh`).
    Virsh,
}

impl VmHostType {
    /// MAAS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            VmHostType::Lxd => "lxd",
            VmHostType::Virsh => "virsh",
        }
    }
}

/// Parameters of `POST vm-hosts/` (admin). Without `certificate`/`key`, MAAS generates a
/// client certificate for LXD; trust it on the host, then `refresh`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmHostCreateParams {
    /// `type`.
    pub host_type: VmHostType,
    /// `power_address`: `10.0.0.5`, `10.0.0.5:8443`, `https://10.0.0.5:8443`, `qemu+ssh://…`.
    pub power_address: String,
    /// `password` (LXD trust password; secret).
    pub password: Option<Secret>,
    /// `certificate` (PEM).
    pub certificate: Option<String>,
    /// `key` (PEM private key; secret).
    pub key: Option<Secret>,
    /// `project` (LXD; default `default`, created if missing).
    pub project: Option<String>,
    /// `power_user` (virsh).
    pub power_user: Option<String>,
    /// `power_pass` (virsh; secret).
    pub power_pass: Option<Secret>,
    /// `name`.
    pub name: Option<String>,
    /// `zone` (name).
    pub zone: Option<String>,
    /// `pool` (name).
    pub pool: Option<String>,
    /// `tags`: sent as **one comma-separated** value.
    pub tags: Vec<String>,
    /// `cpu_over_commit_ratio` (0–10).
    pub cpu_over_commit_ratio: Option<f64>,
    /// `memory_over_commit_ratio` (0–10).
    pub memory_over_commit_ratio: Option<f64>,
    /// `default_storage_pool`.
    pub default_storage_pool: Option<String>,
    /// `default_macvlan_mode` (`bridge|passthru|private|vepa`).
    pub default_macvlan_mode: Option<String>,
}

impl VmHostCreateParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.text("type", self.host_type.as_str())
            .text("power_address", &self.power_address);
        push_vmhost_common(
            &mut f,
            &VmHostCommon {
                password: self.password.as_ref(),
                certificate: self.certificate.as_ref(),
                key: self.key.as_ref(),
                project: self.project.as_ref(),
                power_user: self.power_user.as_ref(),
                power_pass: self.power_pass.as_ref(),
                name: self.name.as_ref(),
                zone: self.zone.as_ref(),
                pool: self.pool.as_ref(),
                tags: if self.tags.is_empty() {
                    None
                } else {
                    Some(&self.tags)
                },
                cpu_over_commit_ratio: self.cpu_over_commit_ratio,
                memory_over_commit_ratio: self.memory_over_commit_ratio,
                default_storage_pool: self.default_storage_pool.as_ref(),
                default_macvlan_mode: self.default_macvlan_mode.as_ref(),
            },
        );
        f
    }
}

/// Parameters of `PUT vm-hosts/{id}/` (`type` cannot change). `None` leaves a value unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmHostUpdateParams {
    /// `power_address`.
    pub power_address: Option<String>,
    /// `password` (secret).
    pub password: Option<Secret>,
    /// `certificate`.
    pub certificate: Option<String>,
    /// `key` (secret).
    pub key: Option<Secret>,
    /// `project`.
    pub project: Option<String>,
    /// `power_user`.
    pub power_user: Option<String>,
    /// `power_pass` (secret).
    pub power_pass: Option<Secret>,
    /// `name`.
    pub name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `pool`.
    pub pool: Option<String>,
    /// `tags` (one comma-separated value; `Some(vec![])` clears them).
    pub tags: Option<Vec<String>>,
    /// `cpu_over_commit_ratio`.
    pub cpu_over_commit_ratio: Option<f64>,
    /// `memory_over_commit_ratio`.
    pub memory_over_commit_ratio: Option<f64>,
    /// `default_storage_pool`.
    pub default_storage_pool: Option<String>,
    /// `default_macvlan_mode`.
    pub default_macvlan_mode: Option<String>,
}

impl VmHostUpdateParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("power_address", self.power_address.as_ref());
        push_vmhost_common(
            &mut f,
            &VmHostCommon {
                password: self.password.as_ref(),
                certificate: self.certificate.as_ref(),
                key: self.key.as_ref(),
                project: self.project.as_ref(),
                power_user: self.power_user.as_ref(),
                power_pass: self.power_pass.as_ref(),
                name: self.name.as_ref(),
                zone: self.zone.as_ref(),
                pool: self.pool.as_ref(),
                tags: self.tags.as_ref(),
                cpu_over_commit_ratio: self.cpu_over_commit_ratio,
                memory_over_commit_ratio: self.memory_over_commit_ratio,
                default_storage_pool: self.default_storage_pool.as_ref(),
                default_macvlan_mode: self.default_macvlan_mode.as_ref(),
            },
        );
        f
    }
}

struct VmHostCommon<'a> {
    password: Option<&'a Secret>,
    certificate: Option<&'a String>,
    key: Option<&'a Secret>,
    project: Option<&'a String>,
    power_user: Option<&'a String>,
    power_pass: Option<&'a Secret>,
    name: Option<&'a String>,
    zone: Option<&'a String>,
    pool: Option<&'a String>,
    tags: Option<&'a Vec<String>>,
    cpu_over_commit_ratio: Option<f64>,
    memory_over_commit_ratio: Option<f64>,
    default_storage_pool: Option<&'a String>,
    default_macvlan_mode: Option<&'a String>,
}

fn push_vmhost_common(f: &mut Form, c: &VmHostCommon<'_>) {
    if let Some(p) = c.password {
        f.secret("password", p.expose());
    }
    f.opt("certificate", c.certificate);
    if let Some(k) = c.key {
        f.secret("key", k.expose());
    }
    f.opt("project", c.project).opt("power_user", c.power_user);
    if let Some(p) = c.power_pass {
        f.secret("power_pass", p.expose());
    }
    f.opt("name", c.name)
        .opt("zone", c.zone)
        .opt("pool", c.pool);
    if let Some(tags) = c.tags {
        f.text("tags", tags.join(","));
    }
    f.opt("cpu_over_commit_ratio", c.cpu_over_commit_ratio)
        .opt("memory_over_commit_ratio", c.memory_over_commit_ratio)
        .opt("default_storage_pool", c.default_storage_pool)
        .opt("default_macvlan_mode", c.default_macvlan_mode);
}

/// Link mode for `link_subnet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// `AUTO`: an address is picked at deploy time.
    #[default]
    Auto,
    /// `DHCP`.
    Dhcp,
    /// `STATIC`: a fixed address (given or picked now); survives release.
    Static,
    /// `LINK_UP`: no address.
    LinkUp,
}

impl LinkMode {
    /// MAAS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Auto => "AUTO",
            LinkMode::Dhcp => "DHCP",
            LinkMode::Static => "STATIC",
            LinkMode::LinkUp => "LINK_UP",
        }
    }
}

/// Parameters of `POST nodes/{system_id}/interfaces/{id}/?op=link_subnet`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSubnetParams {
    /// `mode`.
    pub mode: LinkMode,
    /// `subnet`: id or specifier (`cidr:10.0.0.0/24`).
    pub subnet: Option<String>,
    /// `ip_address` (STATIC only; picked if absent).
    pub ip_address: Option<String>,
    /// `default_gateway`.
    pub default_gateway: bool,
    /// `force`: allow a subnet outside the interface's VLAN.
    pub force: bool,
}

impl LinkSubnetParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.text("mode", self.mode.as_str())
            .opt("subnet", self.subnet.as_ref())
            .opt("ip_address", self.ip_address.as_ref())
            .flag("default_gateway", self.default_gateway)
            .flag("force", self.force);
        f
    }
}

/// Parameters of `POST dnsresources/` and `PUT dnsresources/{id}/` (admin).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResourceParams {
    /// `fqdn` (split at the first dot), or use `name` + `domain`.
    pub fqdn: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `domain` (name or id).
    pub domain: Option<String>,
    /// `address_ttl`.
    pub address_ttl: Option<u32>,
    /// `ip_addresses`: sent as **one space-separated** value (MAAS keeps only the last of
    /// repeated keys). `Some(vec![])` sends an empty value.
    pub ip_addresses: Option<Vec<String>>,
}

impl DnsResourceParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("fqdn", self.fqdn.as_ref())
            .opt("name", self.name.as_ref())
            .opt("domain", self.domain.as_ref())
            .opt("address_ttl", self.address_ttl);
        if let Some(ips) = &self.ip_addresses {
            f.text("ip_addresses", ips.join(" "));
        }
        f
    }
}

/// Filters of `GET dnsresources/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResourceFilter {
    /// `fqdn`.
    pub fqdn: Option<String>,
    /// `domain`.
    pub domain: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `rrtype`.
    pub rrtype: Option<String>,
    /// `all`: include synthetic node records.
    pub all: bool,
}

impl DnsResourceFilter {
    /// The query fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("fqdn", self.fqdn.as_ref())
            .opt("domain", self.domain.as_ref())
            .opt("name", self.name.as_ref())
            .opt("rrtype", self.rrtype.as_ref())
            .flag("all", self.all);
        f
    }
}

/// Parameters of `POST dnsresourcerecords/` and `PUT dnsresourcerecords/{id}/` (admin).
/// A create names the record by `name` + `domain`, or by `fqdn` (MAAS splits it with a
/// regex that misreads some names; prefer `name` + `domain`), and needs `rrtype` and
/// `rrdata`; MAAS creates the DNS resource when the name has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResourceRecordParams {
    /// `fqdn` (ignored when `name` or `domain` is given).
    pub fqdn: Option<String>,
    /// `name`: the label within the domain.
    pub name: Option<String>,
    /// `domain` (name or id).
    pub domain: Option<String>,
    /// `rrtype`: `TXT`, `CNAME`, `MX`, `NS`, `SRV`, `SSHFP`.
    pub rrtype: Option<String>,
    /// `rrdata`.
    pub rrdata: Option<String>,
    /// `ttl`.
    pub ttl: Option<u32>,
}

impl DnsResourceRecordParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("fqdn", self.fqdn.as_ref())
            .opt("name", self.name.as_ref())
            .opt("domain", self.domain.as_ref())
            .opt("rrtype", self.rrtype.as_ref())
            .opt("rrdata", self.rrdata.as_ref())
            .opt("ttl", self.ttl);
        f
    }
}

/// Filters of `GET dnsresourcerecords/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResourceRecordFilter {
    /// `fqdn`.
    pub fqdn: Option<String>,
    /// `domain`.
    pub domain: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `rrtype` (exact: MAAS stores types in upper case).
    pub rrtype: Option<String>,
}

impl DnsResourceRecordFilter {
    /// The query fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.opt("fqdn", self.fqdn.as_ref())
            .opt("domain", self.domain.as_ref())
            .opt("name", self.name.as_ref())
            .opt("rrtype", self.rrtype.as_ref());
        f
    }
}

/// Parameters of `POST ipaddresses/?op=reserve`: give `subnet` or `ip` (or both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReserveIpParams {
    /// `subnet`: CIDR or specifier.
    pub subnet: Option<String>,
    /// `ip`: a specific address.
    pub ip: Option<String>,
    /// `hostname`: also create a DNS resource.
    pub hostname: Option<String>,
    /// `mac`: tie to a MAC (needed inside dynamic ranges).
    pub mac: Option<String>,
}

impl ReserveIpParams {
    /// The body fields; an error if neither `subnet` nor `ip` is set.
    pub(crate) fn to_form(&self) -> Result<Form, Error> {
        if self.subnet.is_none() && self.ip.is_none() {
            return Err(Error::InvalidRequest(
                "reserve needs a subnet or an ip".into(),
            ));
        }
        let mut f = Form::new();
        f.opt("subnet", self.subnet.as_ref())
            .opt("ip", self.ip.as_ref())
            .opt("hostname", self.hostname.as_ref())
            .opt("mac", self.mac.as_ref());
        Ok(f)
    }
}

/// Event level filter (that level and above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLevel {
    /// AUDIT
    Audit,
    /// DEBUG
    Debug,
    /// INFO (MAAS's default)
    Info,
    /// WARNING
    Warning,
    /// ERROR
    Error,
    /// CRITICAL
    Critical,
}

impl EventLevel {
    /// MAAS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Audit => "AUDIT",
            EventLevel::Debug => "DEBUG",
            EventLevel::Info => "INFO",
            EventLevel::Warning => "WARNING",
            EventLevel::Error => "ERROR",
            EventLevel::Critical => "CRITICAL",
        }
    }
}

/// Parameters of `GET events/?op=query`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// `hostname`, repeated.
    pub hostname: Vec<String>,
    /// `mac_address`, repeated.
    pub mac_address: Vec<String>,
    /// `id` (system_id), repeated.
    pub id: Vec<String>,
    /// `zone`, repeated.
    pub zone: Vec<String>,
    /// `agent_name`.
    pub agent_name: Option<String>,
    /// `owner`.
    pub owner: Option<String>,
    /// `level`.
    pub level: Option<EventLevel>,
    /// `limit` (MAAS default 100, maximum 1000).
    pub limit: Option<u32>,
    /// `before`: events older than this id.
    pub before: Option<i64>,
    /// `after`: events newer than this id.
    pub after: Option<i64>,
}

impl EventQuery {
    /// Events of one machine.
    pub fn for_machine(system_id: impl Into<String>) -> Self {
        EventQuery {
            id: vec![system_id.into()],
            ..EventQuery::default()
        }
    }

    /// The query fields; rejects what MAAS would reject (`before` with `after`, limit > 1000).
    pub(crate) fn to_form(&self) -> Result<Form, Error> {
        if self.before.is_some() && self.after.is_some() {
            return Err(Error::InvalidRequest(
                "events query takes `before` or `after`, not both".into(),
            ));
        }
        if self.limit.is_some_and(|l| l > 1000) {
            return Err(Error::InvalidRequest(
                "events query limit is at most 1000".into(),
            ));
        }
        let mut f = Form::new();
        f.list("hostname", &self.hostname)
            .list("mac_address", &self.mac_address)
            .list("id", &self.id)
            .list("zone", &self.zone)
            .opt("agent_name", self.agent_name.as_ref())
            .opt("owner", self.owner.as_ref())
            .opt("level", self.level.map(EventLevel::as_str))
            .opt("limit", self.limit)
            .opt("before", self.before)
            .opt("after", self.after);
        Ok(f)
    }
}

/// Parameters of `POST tags/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagCreateParams {
    /// `name`.
    pub name: String,
    /// `comment`.
    pub comment: Option<String>,
    /// `definition` (XPath; empty for a manual tag).
    pub definition: Option<String>,
    /// `kernel_opts`.
    pub kernel_opts: Option<String>,
}

impl TagCreateParams {
    /// The body fields.
    pub(crate) fn to_form(&self) -> Form {
        let mut f = Form::new();
        f.text("name", &self.name)
            .opt("comment", self.comment.as_ref())
            .opt("definition", self.definition.as_ref())
            .opt("kernel_opts", self.kernel_opts.as_ref());
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_sends_every_tag() {
        let p = AllocateParams::new()
            .tag("gpu")
            .tag("rack-a")
            .tag("ssd")
            .cpu_count(4)
            .mem(8192)
            .agent_name("capmaas:ns/cluster")
            .zone("z1");
        let f = p.to_form();
        assert_eq!(f.values("tags"), vec!["gpu", "rack-a", "ssd"]);
        assert_eq!(f.values("cpu_count"), vec!["4"]);
        assert_eq!(f.values("mem"), vec!["8192"]);
        assert!(f.values("dry_run").is_empty());
    }

    #[test]
    fn allocate_special_encodings() {
        let p = AllocateParams {
            storage: vec![StorageSpec::new(40.0).label("root")],
            interfaces: vec![InterfaceSpec::new("eth0").with("space", "prod")],
            not_pod_type: vec!["virsh".into()],
            dry_run: true,
            ..AllocateParams::default()
        };
        let f = p.to_form();
        assert_eq!(f.values("storage"), vec!["root:40"]);
        assert_eq!(f.values("interfaces"), vec!["eth0:space=prod"]);
        assert_eq!(f.values("not_pod_type"), vec!["virsh"]);
        assert_eq!(f.values("dry_run"), vec!["true"]);
    }

    #[test]
    fn deploy_params_debug_redacts_user_data_and_license() {
        let p = DeployParams {
            license_key: Some(Secret::new("LIC-SECRET-123")),
            ..DeployParams::new()
                .distro_series("jammy")
                .user_data(b"#cloud-config\npassword: hunter2\n".to_vec())
        };
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("LIC-SECRET"), "{dbg}");
        assert!(dbg.contains("jammy"));
        let f = p.to_form();
        assert_eq!(f.encoding(), crate::form::Encoding::Multipart);
        let ud = f.values("user_data");
        assert_eq!(ud.len(), 1);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ud[0])
            .unwrap();
        assert_eq!(decoded, b"#cloud-config\npassword: hunter2\n");
        assert!(!format!("{f:?}").contains("hunter2"));
    }

    #[test]
    fn dns_ip_addresses_are_space_separated_and_vmhost_tags_comma_separated() {
        let d = DnsResourceParams {
            fqdn: Some("api.cluster.maas".into()),
            ip_addresses: Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]),
            ..Default::default()
        };
        assert_eq!(
            d.to_form().values("ip_addresses"),
            vec!["10.0.0.1 10.0.0.2"]
        );
        let cleared = DnsResourceParams {
            ip_addresses: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(cleared.to_form().values("ip_addresses"), vec![""]);

        let v = VmHostCreateParams {
            power_address: "10.0.0.5".into(),
            tags: vec!["a".into(), "b".into()],
            password: Some(Secret::new("trustme")),
            ..Default::default()
        };
        let f = v.to_form();
        assert_eq!(f.values("tags"), vec!["a,b"]);
        assert_eq!(f.values("type"), vec!["lxd"]);
        assert!(!format!("{v:?}").contains("trustme"));
        assert!(!format!("{f:?}").contains("trustme"));
    }

    #[test]
    fn filters_and_queries() {
        let f = MachineFilter::new()
            .ids(["abc123", "def456"])
            .status(MachineStatus::FailedDeployment)
            .tag("t1")
            .tag("t2")
            .to_form()
            .unwrap();
        assert_eq!(f.values("id"), vec!["abc123", "def456"]);
        assert_eq!(f.values("status"), vec!["failed_deployment"]);
        assert_eq!(f.values("tags"), vec!["t1", "t2"]);
        let bad = MachineFilter::new().status(MachineStatus::Unknown(99));
        assert!(bad.to_form().is_err());

        let q = EventQuery {
            before: Some(1),
            after: Some(2),
            ..Default::default()
        };
        assert!(q.to_form().is_err());
        let q = EventQuery {
            limit: Some(1001),
            ..Default::default()
        };
        assert!(q.to_form().is_err());
        let q = EventQuery {
            level: Some(EventLevel::Warning),
            ..EventQuery::for_machine("abc123")
        };
        let f = q.to_form().unwrap();
        assert_eq!(f.values("level"), vec!["WARNING"]);
        assert_eq!(f.values("id"), vec!["abc123"]);
        assert!(ReserveIpParams::default().to_form().is_err());
    }

    #[test]
    fn release_and_power_and_link() {
        let r = ReleaseParams {
            erase: true,
            quick_erase: true,
            comment: Some("bye".into()),
            ..Default::default()
        };
        assert_eq!(
            r.to_form().to_urlencoded(),
            "comment=bye&erase=true&quick_erase=true"
        );
        let p = PowerOffParams {
            stop_mode: Some(StopMode::Soft),
            comment: None,
        };
        assert_eq!(p.to_form().to_urlencoded(), "stop_mode=soft");
        let l = LinkSubnetParams {
            mode: LinkMode::Static,
            subnet: Some("3".into()),
            ip_address: Some("10.0.0.9".into()),
            ..Default::default()
        };
        assert_eq!(
            l.to_form().to_urlencoded(),
            "mode=STATIC&subnet=3&ip_address=10.0.0.9"
        );
    }
}
