//! The idempotent host plan: desired state ([`HostSpec`]) diffed against what
//! the server has, shown as create/update/unchanged steps with the fields
//! that differ, then applied step by step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::api::CertificateAdd;
use crate::client::LxdClient;
use crate::error::{ErrorClass, LxdError};
use crate::features::Features;
use crate::fingerprint::{Fingerprint, Secret};
use crate::spec::{AddressSetting, HostSpec, SpecError, TrustSpec};
use crate::token::TrustToken;
use crate::types::{Device, Devices, Network, NetworkCreate, Profile, Server, StoragePoolCreate};

/// Description given to projects this crate creates.
pub const PROJECT_DESCRIPTION: &str = "MAAS VM host project (lxd-host)";
/// Description given to profiles this crate creates.
pub const PROFILE_DESCRIPTION: &str = "MAAS VM profile: root disk and eth0 (lxd-host)";

/// Why a plan could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The spec is unusable (exit code 2 in `lxd-test`).
    #[error("{0}")]
    InvalidSpec(#[from] SpecError),
    /// An existing pool has another driver.
    #[error(
        "storage pool {pool:?} already exists with driver {existing}, not {requested}; use --storage-backend {existing} or another --storage-pool name"
    )]
    DriverMismatch {
        /// Pool name.
        pool: String,
        /// Its driver.
        existing: String,
        /// The requested driver.
        requested: String,
    },
    /// The host cannot create pools of this driver.
    #[error(
        "storage backend {driver} is not available on this host (LXD supports: {available}); install its tools or choose another --storage-backend"
    )]
    DriverUnavailable {
        /// The requested driver.
        driver: String,
        /// Drivers the host supports.
        available: String,
    },
    /// The bridge name is a host interface that is not a bridge.
    #[error(
        "{name:?} is a host interface of type {kind}, not a bridge; bridged NICs need a Linux bridge (create one, or pass a new name for LXD to create)"
    )]
    NotABridge {
        /// Interface name.
        name: String,
        /// What LXD reports it as.
        kind: String,
    },
    /// The bridge name is an LXD-managed network of another type.
    #[error("{name:?} is an LXD-managed {kind} network, not a bridge")]
    ManagedNotBridge {
        /// Network name.
        name: String,
        /// Its type.
        kind: String,
    },
    /// The socket client is not trusted (should not happen over the socket).
    #[error(
        "LXD does not trust this client (auth: {0:?}); run as root or as a member of the lxd group"
    )]
    NotTrusted(String),
    /// Talking to LXD failed.
    #[error(transparent)]
    Lxd(#[from] LxdError),
}

impl PlanError {
    /// Whether retrying can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            PlanError::Lxd(source) => source.class(),
            _ => ErrorClass::Permanent,
        }
    }

    /// True for errors in the caller's input (bad flags).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, PlanError::InvalidSpec(_))
    }
}

/// What kind of item a step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Server configuration (`core.https_address`).
    ServerConfig,
    /// A storage pool.
    StoragePool,
    /// A network (managed bridge or host interface).
    Network,
    /// A project.
    Project,
    /// A profile.
    Profile,
    /// Trust: a certificate, a token or a trust password.
    Trust,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::ServerConfig => "server config",
            ItemKind::StoragePool => "storage pool",
            ItemKind::Network => "network",
            ItemKind::Project => "project",
            ItemKind::Profile => "profile",
            ItemKind::Trust => "trust",
        })
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The item is missing and gets created.
    Create,
    /// The item exists but some fields differ.
    Update,
    /// Nothing to do.
    Unchanged,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One field that differs: `current` (None = unset/missing) → `desired`
/// (None = removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Field path, e.g. `core.https_address` or `devices.eth0.parent`.
    pub field: String,
    /// Current value.
    pub current: Option<String>,
    /// Desired value.
    pub desired: Option<String>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(s) => s.clone(),
            None => "(unset)".to_owned(),
        };
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            show(&self.current),
            show(&self.desired)
        )
    }
}

/// The operation a step performs when applied (private: the plan is data).
#[derive(Clone)]
enum StepOp {
    Nothing,
    PatchServer(BTreeMap<String, String>),
    CreatePool(StoragePoolCreate),
    CreateNetwork(NetworkCreate),
    PatchNetwork(BTreeMap<String, String>),
    CreateProject,
    CreateProfile(Profile),
    UpdateProfile(Devices),
    AddCertificate(CertificateAdd),
    RestrictCertificate(Fingerprint, Vec<String>),
    IssueToken,
    ReuseToken(TrustToken),
    SetTrustPassword(Secret),
}

/// One item of the plan.
#[derive(Clone, Serialize)]
pub struct Step {
    /// Kind of item.
    pub kind: ItemKind,
    /// Its name (`core.https_address` for the server step).
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Fields that differ (all desired fields for a create).
    pub changes: Vec<FieldChange>,
    /// Remarks (e.g. "host bridge used as it is").
    pub notes: Vec<String>,
    #[serde(skip)]
    op: StepOp,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("action", &self.action)
            .field("changes", &self.changes)
            .field("notes", &self.notes)
            .finish()
    }
}

impl Step {
    fn new(kind: ItemKind, name: &str, action: Action, op: StepOp) -> Self {
        Step {
            kind,
            name: name.to_owned(),
            action,
            changes: Vec::new(),
            notes: Vec::new(),
            op,
        }
    }

    fn change(mut self, field: &str, current: Option<&str>, desired: Option<&str>) -> Self {
        self.changes.push(FieldChange {
            field: field.to_owned(),
            current: current.map(str::to_owned),
            desired: desired.map(str::to_owned),
        });
        self
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// `storage pool "maas"`, `server config core.https_address`.
    pub fn label(&self) -> String {
        match self.kind {
            ItemKind::ServerConfig => format!("{} {}", self.kind, self.name),
            _ => format!("{} {:?}", self.kind, self.name),
        }
    }
}

/// What the plan saw of the server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSummary {
    /// Socket path or URL.
    pub endpoint: String,
    /// `environment.server_version`.
    pub version: String,
    /// `environment.driver`.
    pub driver: String,
    /// Storage drivers the host supports.
    pub storage_drivers: Vec<String>,
    /// SHA-256 fingerprint of the server certificate.
    pub certificate_fingerprint: String,
    /// Whether `environment.driver` lists `qemu`.
    pub vm_capable: bool,
    /// Number of API extensions.
    pub api_extensions: usize,
}

/// The diff between the spec and the server, in apply order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The server.
    pub server: ServerSummary,
    /// Steps, in the order they are applied.
    pub steps: Vec<Step>,
    /// Accepted-but-ignored input and other remarks.
    pub notices: Vec<String>,
    #[serde(skip)]
    features: Features,
}

impl Plan {
    /// True when at least one step creates or updates something.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::Unchanged)
    }

    /// The steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::Unchanged)
    }

    /// The step for an item, if planned.
    pub fn step(&self, kind: ItemKind) -> Option<&Step> {
        self.steps.iter().find(|s| s.kind == kind)
    }

    /// Features the server reported.
    pub fn features(&self) -> &Features {
        &self.features
    }
}

/// How the host's bridge is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BridgeMode {
    /// An existing host bridge: NIC `nictype: bridged, parent: <name>`.
    Host,
    /// An LXD-managed bridge: NIC `network: <name>`.
    Managed,
}

/// The root disk device of the profile.
pub fn desired_root_device(pool: &str) -> Device {
    BTreeMap::from([
        ("type".to_owned(), "disk".to_owned()),
        ("path".to_owned(), "/".to_owned()),
        ("pool".to_owned(), pool.to_owned()),
    ])
}

/// The `eth0` device: bridged to a host bridge, or on a managed network.
pub fn desired_nic_device(bridge: &str, host_bridge: bool) -> Device {
    let mut d = BTreeMap::from([
        ("type".to_owned(), "nic".to_owned()),
        ("name".to_owned(), "eth0".to_owned()),
    ]);
    if host_bridge {
        d.insert("nictype".into(), "bridged".into());
        d.insert("parent".into(), bridge.to_owned());
    } else {
        d.insert("network".into(), bridge.to_owned());
    }
    d
}

fn device_changes(name: &str, current: Option<&Device>, desired: &Device) -> Vec<FieldChange> {
    let empty = Device::new();
    let cur = current.unwrap_or(&empty);
    let keys: BTreeSet<&String> = cur.keys().chain(desired.keys()).collect();
    keys.into_iter()
        .filter(|k| cur.get(*k) != desired.get(*k))
        .map(|k| FieldChange {
            field: format!("devices.{name}.{k}"),
            current: cur.get(k).cloned(),
            desired: desired.get(k).cloned(),
        })
        .collect()
}

/// Reads the server and computes the plan. Read-only.
pub async fn plan(client: &LxdClient, spec: &HostSpec) -> Result<Plan, PlanError> {
    let notices = spec.validate()?;
    let server = client.server().await?;
    if !server.is_trusted() {
        return Err(PlanError::NotTrusted(server.auth.clone()));
    }
    let features = Features::detect(&server);
    let env = server.environment.clone().unwrap_or_default();
    let summary = ServerSummary {
        endpoint: client.endpoint().to_owned(),
        version: env.server_version.clone(),
        driver: env.driver.clone(),
        storage_drivers: env
            .storage_supported_drivers
            .iter()
            .map(|d| d.name.clone())
            .collect(),
        certificate_fingerprint: env.certificate_fingerprint.clone(),
        vm_capable: env.supports_vms(),
        api_extensions: server.api_extensions.len(),
    };
    let mut steps = Vec::new();
    steps.push(plan_server(&server, spec));
    steps.push(plan_pool(client, &server, spec).await?);
    let (net_step, mode) = plan_network(client, spec).await?;
    steps.push(net_step);
    let project_exists =
        spec.project == "default" || client.project(&spec.project).await?.is_some();
    steps.push(if project_exists {
        Step::new(
            ItemKind::Project,
            &spec.project,
            Action::Unchanged,
            StepOp::Nothing,
        )
    } else {
        Step::new(
            ItemKind::Project,
            &spec.project,
            Action::Create,
            StepOp::CreateProject,
        )
        .change("description", None, Some(PROJECT_DESCRIPTION))
    });
    steps.push(plan_profile(client, spec, mode, project_exists).await?);
    if let Some(trust) = &spec.trust {
        steps.push(plan_trust(client, &server, &features, spec, trust).await?);
    }
    Ok(Plan {
        server: summary,
        steps,
        notices,
        features,
    })
}

fn plan_server(server: &Server, spec: &HostSpec) -> Step {
    let key = "core.https_address";
    let Some(desired) = &spec.https_address else {
        return Step::new(
            ItemKind::ServerConfig,
            key,
            Action::Unchanged,
            StepOp::Nothing,
        )
        .note("not managed (no HTTPS address requested)");
    };
    let current = server.config_value(key).filter(|v| !v.is_empty());
    if current.as_deref() == Some(desired.as_str()) {
        return Step::new(
            ItemKind::ServerConfig,
            key,
            Action::Unchanged,
            StepOp::Nothing,
        );
    }
    let action = if current.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    Step::new(
        ItemKind::ServerConfig,
        key,
        action,
        StepOp::PatchServer(BTreeMap::from([(key.to_owned(), desired.clone())])),
    )
    .change(key, current.as_deref(), Some(desired))
}

async fn plan_pool(
    client: &LxdClient,
    server: &Server,
    spec: &HostSpec,
) -> Result<Step, PlanError> {
    let s = &spec.storage;
    let driver = s.driver.as_str();
    match client.storage_pool(&s.pool).await? {
        Some(pool) => {
            if pool.driver != driver {
                return Err(PlanError::DriverMismatch {
                    pool: s.pool.clone(),
                    existing: pool.driver,
                    requested: driver.to_owned(),
                });
            }
            let mut step = Step::new(
                ItemKind::StoragePool,
                &s.pool,
                Action::Unchanged,
                StepOp::Nothing,
            );
            if s.driver.takes_size()
                && let Some(size) = s.size_gib
            {
                let want = format!("{size}GiB");
                if let Some(have) = pool.config.get("size")
                    && have != &want
                {
                    step = step.note(format!(
                        "existing pool has size {have}, requested {want}: pools are not resized"
                    ));
                }
            }
            if let Some(src) = &s.source
                && pool.config.get("source") != Some(src)
            {
                step = step.note(format!(
                    "existing pool has source {:?}, requested {src:?}: pools are not moved",
                    pool.config.get("source").map(String::as_str).unwrap_or("")
                ));
            }
            Ok(step)
        }
        None => {
            let env = server.environment.as_ref();
            if let Some(env) = env
                && !env.storage_supported_drivers.is_empty()
                && !env.supports_storage_driver(driver)
            {
                return Err(PlanError::DriverUnavailable {
                    driver: driver.to_owned(),
                    available: env
                        .storage_supported_drivers
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let mut config = BTreeMap::new();
            if s.driver.takes_size()
                && let Some(size) = s.size_gib
            {
                config.insert("size".to_owned(), format!("{size}GiB"));
            }
            if let Some(src) = &s.source {
                config.insert("source".to_owned(), src.clone());
            }
            let mut step = Step::new(
                ItemKind::StoragePool,
                &s.pool,
                Action::Create,
                StepOp::CreatePool(StoragePoolCreate {
                    name: s.pool.clone(),
                    driver: driver.to_owned(),
                    description: "MAAS VM storage (lxd-host)".into(),
                    config: config.clone(),
                }),
            )
            .change("driver", None, Some(driver));
            for (k, v) in &config {
                step = step.change(k, None, Some(v));
            }
            Ok(step)
        }
    }
}

fn managed_bridge_config(spec: &HostSpec) -> BTreeMap<String, String> {
    let b = &spec.bridge;
    let mut config = BTreeMap::new();
    config.insert(
        "ipv4.address".to_owned(),
        b.ipv4
            .as_ref()
            .unwrap_or(&AddressSetting::Auto)
            .as_config()
            .to_owned(),
    );
    if let Some(nat) = b.ipv4_nat {
        config.insert("ipv4.nat".to_owned(), nat.to_string());
    }
    config.insert(
        "ipv6.address".to_owned(),
        b.ipv6
            .as_ref()
            .unwrap_or(&AddressSetting::None)
            .as_config()
            .to_owned(),
    );
    config
}

async fn plan_network(
    client: &LxdClient,
    spec: &HostSpec,
) -> Result<(Step, BridgeMode), PlanError> {
    let b = &spec.bridge;
    match client.network(&b.name).await? {
        None => {
            let config = managed_bridge_config(spec);
            let mut step = Step::new(
                ItemKind::Network,
                &b.name,
                Action::Create,
                StepOp::CreateNetwork(NetworkCreate {
                    name: b.name.clone(),
                    kind: "bridge".into(),
                    description: "MAAS VM bridge (lxd-host)".into(),
                    config: config.clone(),
                }),
            )
            .change("type", None, Some("bridge"))
            .note("no host interface of this name: LXD will manage the bridge");
            for (k, v) in &config {
                step = step.change(k, None, Some(v));
            }
            Ok((step, BridgeMode::Managed))
        }
        Some(net) if !net.managed => {
            if net.kind != "bridge" {
                return Err(PlanError::NotABridge {
                    name: b.name.clone(),
                    kind: net.kind,
                });
            }
            let mut step = Step::new(
                ItemKind::Network,
                &b.name,
                Action::Unchanged,
                StepOp::Nothing,
            )
            .note("host bridge (not managed by LXD): used as the NIC parent as it is");
            if b.ipv4.is_some() || b.ipv4_nat.is_some() || b.ipv6.is_some() {
                step = step.note(
                    "bridge address settings apply only to bridges LXD manages and were ignored",
                );
            }
            Ok((step, BridgeMode::Host))
        }
        Some(net) => {
            if net.kind != "bridge" {
                return Err(PlanError::ManagedNotBridge {
                    name: b.name.clone(),
                    kind: net.kind,
                });
            }
            Ok((plan_managed_bridge(spec, &net), BridgeMode::Managed))
        }
    }
}

fn plan_managed_bridge(spec: &HostSpec, net: &Network) -> Step {
    let b = &spec.bridge;
    let mut patch = BTreeMap::new();
    let mut changes = Vec::new();
    let mut want = |key: &str, ok: bool, desired: String| {
        if !ok {
            changes.push(FieldChange {
                field: key.to_owned(),
                current: net.config.get(key).cloned(),
                desired: Some(desired.clone()),
            });
            patch.insert(key.to_owned(), desired);
        }
    };
    if let Some(v4) = &b.ipv4 {
        let cur = net.config.get("ipv4.address").map(String::as_str);
        want(
            "ipv4.address",
            v4.satisfied_by(cur),
            v4.as_config().to_owned(),
        );
    }
    if let Some(nat) = b.ipv4_nat {
        let cur = net
            .config
            .get("ipv4.nat")
            .map(String::as_str)
            .unwrap_or("false");
        want("ipv4.nat", cur == nat.to_string(), nat.to_string());
    }
    if let Some(v6) = &b.ipv6 {
        let cur = net.config.get("ipv6.address").map(String::as_str);
        want(
            "ipv6.address",
            v6.satisfied_by(cur),
            v6.as_config().to_owned(),
        );
    }
    let mut step = if patch.is_empty() {
        Step::new(
            ItemKind::Network,
            &b.name,
            Action::Unchanged,
            StepOp::Nothing,
        )
    } else {
        Step::new(
            ItemKind::Network,
            &b.name,
            Action::Update,
            StepOp::PatchNetwork(patch),
        )
    };
    step.changes = changes;
    step.note("bridge managed by LXD")
}

async fn plan_profile(
    client: &LxdClient,
    spec: &HostSpec,
    mode: BridgeMode,
    project_exists: bool,
) -> Result<Step, PlanError> {
    let root = desired_root_device(&spec.storage.pool);
    let nic = desired_nic_device(&spec.bridge.name, mode == BridgeMode::Host);
    let label = format!("{}/{}", spec.project, spec.profile);
    let existing = if project_exists {
        client.profile(&spec.project, &spec.profile).await?
    } else {
        None
    };
    match existing {
        None => {
            let devices = Devices::from([("root".to_owned(), root), ("eth0".to_owned(), nic)]);
            let mut step = Step::new(
                ItemKind::Profile,
                &label,
                Action::Create,
                StepOp::CreateProfile(Profile {
                    name: spec.profile.clone(),
                    description: PROFILE_DESCRIPTION.into(),
                    config: BTreeMap::new(),
                    devices: devices.clone(),
                    used_by: Vec::new(),
                }),
            );
            for (name, dev) in &devices {
                step.changes.extend(device_changes(name, None, dev));
            }
            Ok(step)
        }
        Some((profile, _etag)) => {
            let mut changes = device_changes("root", profile.devices.get("root"), &root);
            changes.extend(device_changes("eth0", profile.devices.get("eth0"), &nic));
            let mut step = if changes.is_empty() {
                Step::new(
                    ItemKind::Profile,
                    &label,
                    Action::Unchanged,
                    StepOp::Nothing,
                )
            } else {
                Step::new(
                    ItemKind::Profile,
                    &label,
                    Action::Update,
                    StepOp::UpdateProfile(Devices::from([
                        ("root".to_owned(), root),
                        ("eth0".to_owned(), nic),
                    ])),
                )
            };
            step.changes = changes;
            let others: Vec<&String> = profile
                .devices
                .keys()
                .filter(|k| *k != "root" && *k != "eth0")
                .collect();
            if !others.is_empty() {
                step = step.note(format!(
                    "other devices kept as they are: {}",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok(step)
        }
    }
}

async fn plan_trust(
    client: &LxdClient,
    server: &Server,
    features: &Features,
    spec: &HostSpec,
    trust: &TrustSpec,
) -> Result<Step, PlanError> {
    let project = spec.project.clone();
    match trust {
        TrustSpec::ClientCertificate { name, pem } => {
            let add = CertificateAdd::from_pem(name, pem)
                .map_err(|e| SpecError(format!("--trust-cert: {e}")))?
                .restricted_to(&[&project]);
            let fp = add.fingerprint();
            let label = format!("certificate {}", short_fp(&fp));
            match client.certificate(&fp).await? {
                None => Ok(Step::new(
                    ItemKind::Trust,
                    &label,
                    Action::Create,
                    StepOp::AddCertificate(add),
                )
                .change("name", None, Some(name))
                .change("restricted", None, Some("true"))
                .change("projects", None, Some(&project))),
                Some(cert) => {
                    if cert.restricted && cert.projects.contains(&project) {
                        return Ok(Step::new(
                            ItemKind::Trust,
                            &label,
                            Action::Unchanged,
                            StepOp::Nothing,
                        )
                        .note(format!(
                            "trusted as {:?}, restricted to {}",
                            cert.name,
                            cert.projects.join(",")
                        )));
                    }
                    let mut projects = if cert.restricted {
                        cert.projects.clone()
                    } else {
                        Vec::new()
                    };
                    projects.push(project.clone());
                    let mut step = Step::new(
                        ItemKind::Trust,
                        &label,
                        Action::Update,
                        StepOp::RestrictCertificate(fp, projects.clone()),
                    )
                    .change(
                        "restricted",
                        Some(&cert.restricted.to_string()),
                        Some("true"),
                    )
                    .change(
                        "projects",
                        Some(&cert.projects.join(",")),
                        Some(&projects.join(",")),
                    );
                    if !cert.restricted {
                        step = step.note(
                            "the certificate had full access; it is now limited to the project",
                        );
                    }
                    Ok(step)
                }
            }
        }
        TrustSpec::IssueToken { name } => {
            let label = format!("token {name}");
            let pending = client.pending_trust_tokens().await?.into_iter().find(|op| {
                op.metadata
                    .get("request")
                    .and_then(|r| r.get("name"))
                    .and_then(|n| n.as_str())
                    == Some(name.as_str())
            });
            if let Some(op) = pending {
                let token = TrustToken::from_operation(&op)?;
                return Ok(Step::new(
                    ItemKind::Trust,
                    &label,
                    Action::Unchanged,
                    StepOp::ReuseToken(token),
                )
                .note("a token for this client is already pending; it is shown again"));
            }
            if let Some(cert) = client
                .certificates()
                .await?
                .into_iter()
                .find(|c| &c.name == name)
            {
                return Ok(Step::new(
                    ItemKind::Trust,
                    &label,
                    Action::Unchanged,
                    StepOp::Nothing,
                )
                .note(format!(
                    "a client named {name:?} is already trusted (certificate {}); no token issued",
                    cert.fingerprint.get(..12).unwrap_or(&cert.fingerprint)
                )));
            }
            if !features.certificate_token {
                return Err(LxdError::Unsupported(
                    "this LXD has no trust tokens (API extension certificate_token)".into(),
                )
                .into());
            }
            Ok(
                Step::new(ItemKind::Trust, &label, Action::Create, StepOp::IssueToken)
                    .change("client_name", None, Some(name))
                    .change("projects", None, Some(&project)),
            )
        }
        TrustSpec::TrustPassword(secret) => {
            let label = "core.trust_password";
            if features.trust_password_supported() == Some(false) {
                return Err(LxdError::Unsupported(format!(
                    "LXD {} has no trust passwords (removed in LXD 6.1); use --issue-token or --trust-cert instead",
                    features
                        .version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "6.1+".into())
                ))
                .into());
            }
            if server.config_value(label).is_some() {
                Ok(
                    Step::new(ItemKind::Trust, label, Action::Unchanged, StepOp::Nothing).note(
                        "a trust password is already set; LXD does not reveal it, so it is left as it is",
                    ),
                )
            } else {
                Ok(Step::new(
                    ItemKind::Trust,
                    label,
                    Action::Create,
                    StepOp::SetTrustPassword(secret.clone()),
                )
                .change(label, None, Some("<redacted>"))
                .note("trust passwords work up to LXD 6.0; prefer tokens"))
            }
        }
    }
}

fn short_fp(fp: &Fingerprint) -> String {
    fp.to_hex()[..12].to_owned()
}

/// The token a plan issued or found pending. `Debug` hides the secret;
/// [`IssuedToken::encoded`] is what the user hands to MAAS.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Client name.
    pub name: String,
    /// The token.
    pub token: TrustToken,
    /// False when newly issued, true when an already pending one was found.
    pub reused: bool,
}

impl IssuedToken {
    /// The base64 token.
    pub fn encoded(&self) -> String {
        self.token.encode()
    }
}

/// The result of one applied step.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedStep {
    /// Kind of item.
    pub kind: ItemKind,
    /// Name.
    pub name: String,
    /// What was done.
    pub action: Action,
}

/// A step that failed while applying.
#[derive(Debug, Serialize)]
pub struct StepFailure {
    /// Kind of item.
    pub kind: ItemKind,
    /// Name.
    pub name: String,
    /// The error, one line.
    pub error: String,
    /// Transient or permanent.
    pub class: ErrorClass,
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Applied {
    /// Steps that changed something, in order.
    pub applied: Vec<AppliedStep>,
    /// The token issued or found pending, if the spec asked for one.
    pub token: Option<IssuedToken>,
    /// The step that failed; later steps were not attempted.
    pub failure: Option<StepFailure>,
}

const ATTEMPTS: u32 = 3;

/// Applies the plan's steps in order. Each step re-reads what it modifies
/// where that matters (profiles: GET → modify → PUT with `If-Match`; a 412
/// is retried). Transient errors are retried up to three times; the first
/// step that still fails stops the run and is reported in
/// [`Applied::failure`].
pub async fn apply(client: &LxdClient, spec: &HostSpec, plan: &Plan) -> Applied {
    let mut out = Applied {
        applied: Vec::new(),
        token: None,
        failure: None,
    };
    for step in &plan.steps {
        if let StepOp::ReuseToken(token) = &step.op {
            out.token = Some(IssuedToken {
                name: token.client_name.clone(),
                token: token.clone(),
                reused: true,
            });
        }
        if step.action == Action::Unchanged {
            continue;
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let r = apply_step(client, spec, step).await;
            match r {
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::info!(item = %step.label(), attempt, error = %e, "transient LXD error, retrying");
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(token) => {
                tracing::info!(item = %step.label(), action = %step.action, "applied");
                if let Some(token) = token {
                    out.token = Some(IssuedToken {
                        name: token.client_name.clone(),
                        token,
                        reused: false,
                    });
                }
                out.applied.push(AppliedStep {
                    kind: step.kind,
                    name: step.name.clone(),
                    action: step.action,
                });
            }
            Err(e) => {
                tracing::warn!(item = %step.label(), error = %e, "step failed");
                out.failure = Some(StepFailure {
                    kind: step.kind,
                    name: step.name.clone(),
                    class: e.class(),
                    error: e.to_string(),
                });
                break;
            }
        }
    }
    out
}

async fn apply_step(
    client: &LxdClient,
    spec: &HostSpec,
    step: &Step,
) -> Result<Option<TrustToken>, LxdError> {
    let tolerate_exists = |r: Result<(), LxdError>| match r {
        Err(e) if e.is_already_exists() => Ok(()),
        other => other,
    };
    match &step.op {
        StepOp::Nothing | StepOp::ReuseToken(_) => {}
        StepOp::PatchServer(config) => client.patch_server_config(config).await?,
        StepOp::CreatePool(pool) => {
            // A retry after a lost answer finds the pool: verify its driver.
            match client.create_storage_pool(pool).await {
                Err(e) if e.is_already_exists() => {
                    let existing = client.storage_pool(&pool.name).await?;
                    if existing.as_ref().map(|p| p.driver.as_str()) != Some(pool.driver.as_str()) {
                        return Err(e);
                    }
                }
                other => other?,
            }
        }
        StepOp::CreateNetwork(net) => tolerate_exists(client.create_network(net).await)?,
        StepOp::PatchNetwork(config) => {
            client
                .patch_network_config(&spec.bridge.name, config)
                .await?
        }
        StepOp::CreateProject => tolerate_exists(
            client
                .create_project(&spec.project, PROJECT_DESCRIPTION, &BTreeMap::new())
                .await,
        )?,
        StepOp::CreateProfile(profile) => {
            tolerate_exists(client.create_profile(&spec.project, profile).await)?
        }
        StepOp::UpdateProfile(devices) => {
            let (mut current, etag) = client
                .profile(&spec.project, &spec.profile)
                .await?
                .ok_or_else(|| LxdError::Api {
                    method: "GET".into(),
                    path: format!("/1.0/profiles/{}?project={}", spec.profile, spec.project),
                    status: 404,
                    message: "the profile disappeared while applying the plan".into(),
                })?;
            for (name, dev) in devices {
                current.devices.insert(name.clone(), dev.clone());
            }
            client
                .put_profile(&spec.project, &current, etag.as_deref())
                .await?
        }
        StepOp::AddCertificate(cert) => tolerate_exists(client.add_certificate(cert).await)?,
        StepOp::RestrictCertificate(fp, projects) => {
            client.restrict_certificate(fp, true, projects).await?
        }
        StepOp::IssueToken => {
            let name = match &spec.trust {
                Some(TrustSpec::IssueToken { name }) => name.clone(),
                _ => step.name.trim_start_matches("token ").to_owned(),
            };
            let (token, _op) = client
                .issue_trust_token(&name, std::slice::from_ref(&spec.project))
                .await?;
            return Ok(Some(token));
        }
        StepOp::SetTrustPassword(secret) => {
            let config =
                BTreeMap::from([("core.trust_password".to_owned(), secret.expose().to_owned())]);
            client.patch_server_config(&config).await?
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_diffs_list_each_field() {
        let cur = Device::from([
            ("type".to_owned(), "disk".to_owned()),
            ("path".to_owned(), "/".to_owned()),
            ("pool".to_owned(), "old".to_owned()),
            ("size".to_owned(), "10GiB".to_owned()),
        ]);
        let changes = device_changes("root", Some(&cur), &desired_root_device("new"));
        let fields: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            fields,
            vec![
                "devices.root.pool: old -> new",
                "devices.root.size: 10GiB -> (unset)"
            ]
        );
        assert!(
            device_changes(
                "root",
                Some(&desired_root_device("p")),
                &desired_root_device("p")
            )
            .is_empty()
        );
        assert_eq!(
            device_changes("eth0", None, &desired_nic_device("br0", true)).len(),
            4
        );
    }

    #[test]
    fn nic_shapes() {
        let host = desired_nic_device("br0", true);
        assert_eq!(host.get("nictype").map(String::as_str), Some("bridged"));
        assert_eq!(host.get("parent").map(String::as_str), Some("br0"));
        assert!(!host.contains_key("network"));
        let managed = desired_nic_device("lxdbr1", false);
        assert_eq!(managed.get("network").map(String::as_str), Some("lxdbr1"));
        assert!(!managed.contains_key("parent"));
    }

    #[test]
    fn managed_bridge_defaults() {
        let spec = HostSpec::new("p", crate::spec::StorageDriver::Dir, "lxdbr9");
        let c = managed_bridge_config(&spec);
        assert_eq!(c.get("ipv4.address").map(String::as_str), Some("auto"));
        assert_eq!(c.get("ipv6.address").map(String::as_str), Some("none"));
        assert!(!c.contains_key("ipv4.nat"));
    }

    #[test]
    fn managed_bridge_drift() {
        let mut spec = HostSpec::new("p", crate::spec::StorageDriver::Dir, "lxdbr9");
        spec.bridge.ipv4 = Some(AddressSetting::Cidr("10.9.0.1/24".into()));
        spec.bridge.ipv4_nat = Some(false);
        let net = Network {
            name: "lxdbr9".into(),
            kind: "bridge".into(),
            managed: true,
            config: BTreeMap::from([
                ("ipv4.address".to_owned(), "10.9.0.1/24".to_owned()),
                ("ipv4.nat".to_owned(), "true".to_owned()),
            ]),
            ..Default::default()
        };
        let step = plan_managed_bridge(&spec, &net);
        assert_eq!(step.action, Action::Update);
        assert_eq!(
            step.changes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            vec!["ipv4.nat: true -> false"]
        );
        // ipv4/ipv6 left unspecified are not enforced on an existing bridge.
        spec.bridge.ipv4 = None;
        spec.bridge.ipv4_nat = None;
        assert_eq!(plan_managed_bridge(&spec, &net).action, Action::Unchanged);
    }

    #[test]
    fn plan_error_classes() {
        let e = PlanError::InvalidSpec(SpecError("x".into()));
        assert!(e.is_invalid_input());
        let e = PlanError::Lxd(LxdError::Api {
            method: "PUT".into(),
            path: "/1.0/profiles/maas".into(),
            status: 412,
            message: "ETag doesn't match".into(),
        });
        assert_eq!(e.class(), ErrorClass::Transient);
        assert!(!e.is_invalid_input());
    }
}
