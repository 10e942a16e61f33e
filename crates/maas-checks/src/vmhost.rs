//! Registers a node's LXD as a MAAS VM host, idempotently, and proves that
//! MAAS can use it (the library behind `vmhost-test`).
//!
//! 1. Reads MAAS's version and the caller (`version/`, `users/?op=whoami`).
//! 2. Lists VM hosts and looks for this one: by name, else by the MAAS
//!    machine that owns the node's IP (`host.system_id`), else by the
//!    `power_address` of each LXD VM host (`op=parameters`, admin). The list
//!    has no `power_address`, so it cannot be matched from the list alone.
//! 3. Creates it (`type=lxd`, `power_address=https://<ip>:<port>`, name,
//!    zone, pool, project and the credentials) or corrects what drifted
//!    (name, zone, pool, project, certificate/key, password) with one `PUT`.
//! 4. Refreshes it (`op=refresh`): MAAS connects to LXD and rediscovers it.
//!    That is the proof that MAAS reaches LXD and LXD trusts MAAS.
//!
//! Failures are classified for the user: 401 (bad key), 403 (not an admin's
//! key), 410 (MAAS ≥ 3.8 removed VM hosts), 503 from the refresh (MAAS
//! cannot reach LXD, or LXD does not trust MAAS's certificate; the
//! certificate to trust is then part of the report).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use lxd_host::{ClientIdentity, Fingerprint, TrustToken};
use maas_api::{
    Error as MaasError, MaasClient, MachineFilter, Secret, VmHost, VmHostCreateParams,
    VmHostParameters, VmHostType, VmHostUpdateParams,
};
use serde::Serialize;

use crate::cli::{BadInput, Progress, gib, mib_as_gib};

/// How MAAS authenticates to LXD.
#[derive(Clone)]
pub enum LxdCredentials {
    /// A client certificate and key (PEM) that LXD trusts, e.g. one added
    /// with `lxd-test --trust-cert` or `lxc config trust add`.
    Certificate {
        /// Certificate, PEM.
        cert_pem: String,
        /// Private key, PEM (secret).
        key_pem: Secret,
    },
    /// Generate a key pair when the VM host is created; the report carries
    /// the certificate to trust on the LXD side.
    Generate,
    /// A trust password (`core.trust_password`; LXD < 6.1 only).
    Password(Secret),
    /// A trust token (`lxd-test --issue-token`, `lxc config trust add`);
    /// single use. MAAS receives it as its `password` parameter.
    Token(Secret),
}

impl fmt::Debug for LxdCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LxdCredentials::Certificate { cert_pem, .. } => f
                .debug_struct("Certificate")
                .field(
                    "fingerprint",
                    &Fingerprint::of_pem(cert_pem)
                        .map(|fp| fp.to_hex())
                        .unwrap_or_default(),
                )
                .field("key_pem", &"<redacted>")
                .finish(),
            LxdCredentials::Generate => f.write_str("Generate"),
            LxdCredentials::Password(_) => f.write_str("Password(<redacted>)"),
            LxdCredentials::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl LxdCredentials {
    /// A certificate and key read from PEM text; checked now.
    pub fn certificate(cert_pem: &str, key_pem: &str) -> Result<Self, BadInput> {
        ClientIdentity::from_pem(cert_pem, key_pem)
            .map_err(|e| BadInput(format!("--cert/--key: {e}")))?;
        Ok(LxdCredentials::Certificate {
            cert_pem: cert_pem.to_owned(),
            key_pem: Secret::new(key_pem),
        })
    }

    /// A trust token; checked to be LXD's base64 token JSON.
    pub fn token(token: &str) -> Result<Self, BadInput> {
        let t = token.trim();
        TrustToken::decode(t).map_err(|_| {
            BadInput("--token is not an LXD trust token (base64 of the token JSON that `lxc config trust add` or `lxd-test --issue-token` prints)".into())
        })?;
        Ok(LxdCredentials::Token(Secret::new(t)))
    }

    /// A trust password.
    pub fn password(password: &str) -> Result<Self, BadInput> {
        if password.is_empty() {
            return Err(BadInput("--password is empty".into()));
        }
        Ok(LxdCredentials::Password(Secret::new(password)))
    }

    fn password_value(&self) -> Option<&str> {
        match self {
            LxdCredentials::Password(p) | LxdCredentials::Token(p) => Some(p.expose()),
            _ => None,
        }
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// The node's IP, where LXD listens.
    pub node_ip: IpAddr,
    /// LXD's HTTPS port (`core.https_address`).
    pub lxd_port: u16,
    /// VM host name in MAAS.
    pub name: String,
    /// LXD project MAAS uses (created by MAAS when missing).
    pub project: String,
    /// MAAS zone name.
    pub zone: String,
    /// MAAS resource pool name.
    pub pool: String,
    /// How MAAS authenticates to LXD.
    pub credentials: LxdCredentials,
}

impl RegisterOptions {
    /// Options with the defaults: port 8443, name `lxd-host-<ip>`, project
    /// `maas`, zone and pool `default`, a generated certificate.
    pub fn new(node_ip: IpAddr) -> Self {
        RegisterOptions {
            node_ip,
            lxd_port: 8443,
            name: Self::default_name(node_ip),
            project: "maas".into(),
            zone: "default".into(),
            pool: "default".into(),
            credentials: LxdCredentials::Generate,
        }
    }

    /// `lxd-host-<ip>` with dots and colons as dashes (`lxd-host-10-0-0-5`).
    pub fn default_name(ip: IpAddr) -> String {
        let text: String = ip
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("lxd-host-{text}")
    }

    /// `https://<ip>:<port>` (IPv6 in brackets).
    pub fn power_address(&self) -> String {
        match self.node_ip {
            IpAddr::V4(ip) => format!("https://{ip}:{}", self.lxd_port),
            IpAddr::V6(ip) => format!("https://[{ip}]:{}", self.lxd_port),
        }
    }

    /// Checks names and the port.
    pub fn validate(&self) -> Result<(), BadInput> {
        if self.lxd_port == 0 {
            return Err(BadInput("--lxd-port must be between 1 and 65535".into()));
        }
        for (flag, value) in [
            ("--name", &self.name),
            ("--project", &self.project),
            ("--zone", &self.zone),
            ("--resource-pool", &self.pool),
        ] {
            if value.trim().is_empty() {
                return Err(BadInput(format!("{flag} is empty")));
            }
            if value.chars().any(|c| c.is_control() || c == ',') {
                return Err(BadInput(format!(
                    "{flag} {value:?} contains a comma or a control character"
                )));
            }
        }
        Ok(())
    }
}

/// What happened to the VM host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Registered now.
    Created,
    /// Existed; drifted settings were corrected.
    Updated,
    /// Existed with the requested settings.
    Unchanged,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One corrected setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// `name`, `zone`, `pool`, `project`, `certificate`, `password`.
    pub field: String,
    /// Old value (`(hidden)` for secrets).
    pub from: String,
    /// New value (`(hidden)` for secrets).
    pub to: String,
}

/// Cores, memory (MiB) and local storage (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Cores.
    pub cores: i64,
    /// Memory, MiB.
    pub memory_mib: i64,
    /// Local storage, bytes.
    pub local_storage_bytes: i64,
}

/// A storage pool MAAS discovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSummary {
    /// Name.
    pub name: String,
    /// Driver (`dir`, `zfs`, …).
    #[serde(rename = "type")]
    pub pool_type: String,
    /// Bytes.
    pub total_bytes: i64,
    /// Bytes.
    pub used_bytes: i64,
    /// Bytes.
    pub available_bytes: i64,
    /// MAAS's default pool for new VMs.
    pub default: bool,
}

/// The VM host as MAAS reports it after the refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VmHostSummary {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `https://<ip>:<port>`.
    pub power_address: String,
    /// LXD project.
    pub project: String,
    /// LXD server version.
    pub version: String,
    /// Architectures.
    pub architectures: Vec<String>,
    /// Zone name.
    pub zone: String,
    /// Resource pool name.
    pub pool: String,
    /// The MAAS machine running LXD, when MAAS knows it.
    pub host_system_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Total.
    pub total: Resources,
    /// Used by VMs.
    pub used: Resources,
    /// Available.
    pub available: Resources,
    /// Storage pools.
    pub storage_pools: Vec<PoolSummary>,
}

/// A certificate the LXD host must trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateToTrust {
    /// PEM (public).
    pub pem: String,
    /// SHA-256 of the DER, as `lxc config trust list` shows it.
    pub fingerprint: String,
}

/// Why the registration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// MAAS did not answer.
    MaasUnreachable,
    /// 401: the API key is wrong.
    Unauthorized,
    /// 403: the key is not an administrator's.
    NotAdmin,
    /// 410: this MAAS removed VM hosts (3.8+).
    VmHostsRemoved,
    /// 503 from discovery: MAAS cannot connect to LXD.
    LxdUnreachable,
    /// 503 from discovery: LXD does not trust MAAS's certificate (or refused
    /// the password/token).
    LxdUntrusted,
    /// 503 from discovery for another reason (no storage pool, old LXD…).
    DiscoveryFailed,
    /// 400: MAAS rejected a value (unknown zone or pool…).
    Rejected,
    /// Anything else MAAS answered.
    Maas,
}

/// A failure with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Class.
    pub kind: FailureKind,
    /// HTTP status, when MAAS answered.
    pub status: Option<u16>,
    /// What failed, with MAAS's message.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// The outcome of [`register`]; serialises as the `--output json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisterReport {
    /// True when the VM host is registered and MAAS discovered it.
    pub ok: bool,
    /// MAAS API URL.
    pub maas_endpoint: String,
    /// MAAS version.
    pub maas_version: Option<String>,
    /// The API key's user.
    pub user: Option<String>,
    /// Whether that user is an administrator.
    pub user_is_admin: Option<bool>,
    /// The VM host's name.
    pub name: String,
    /// `https://<ip>:<port>`.
    pub power_address: String,
    /// How an existing VM host was found (`name`, `host system_id`, `power_address`).
    pub matched_by: Option<String>,
    /// Created, updated or unchanged (`None` when it failed before).
    pub action: Option<Action>,
    /// Corrected settings.
    pub changes: Vec<FieldChange>,
    /// MAAS's id of the VM host, once known.
    pub vm_host_id: Option<i64>,
    /// The VM host after the refresh.
    pub vm_host: Option<VmHostSummary>,
    /// The certificate LXD must trust (when it does not yet).
    pub certificate_to_trust: Option<CertificateToTrust>,
    /// The failure, if any.
    pub error: Option<Failure>,
}

impl RegisterReport {
    fn new(maas: &MaasClient, opts: &RegisterOptions) -> Self {
        RegisterReport {
            ok: false,
            maas_endpoint: maas.base_url().to_string(),
            maas_version: None,
            user: None,
            user_is_admin: None,
            name: opts.name.clone(),
            power_address: opts.power_address(),
            matched_by: None,
            action: None,
            changes: Vec::new(),
            vm_host_id: None,
            vm_host: None,
            certificate_to_trust: None,
            error: None,
        }
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "MAAS {} at {}{}",
            self.maas_version.as_deref().unwrap_or("?"),
            self.maas_endpoint,
            match (&self.user, self.user_is_admin) {
                (Some(u), Some(true)) => format!(" (user {u}, administrator)"),
                (Some(u), _) => format!(" (user {u}, not an administrator)"),
                _ => String::new(),
            }
        );
        if let Some(action) = self.action {
            let id = self
                .vm_host_id
                .map(|i| format!(" (id {i})"))
                .unwrap_or_default();
            let how = match (&self.matched_by, action) {
                (Some(m), _) => format!(", found by {m}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "VM host {:?}{id} at {}: {action}{how}",
                self.name, self.power_address
            );
            for c in &self.changes {
                let _ = writeln!(out, "  {}: {} -> {}", c.field, c.from, c.to);
            }
        }
        if let Some(h) = &self.vm_host {
            let _ = writeln!(
                out,
                "Discovered: LXD {} ({}), project {}, zone {}, pool {}{}",
                if h.version.is_empty() {
                    "?"
                } else {
                    &h.version
                },
                if h.architectures.is_empty() {
                    "no architectures".to_owned()
                } else {
                    h.architectures.join(", ")
                },
                h.project,
                h.zone,
                h.pool,
                h.host_system_id
                    .as_ref()
                    .map(|s| format!(", host machine {s}"))
                    .unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "  cores         {:>10} total {:>10} used {:>10} available",
                h.total.cores, h.used.cores, h.available.cores
            );
            let _ = writeln!(
                out,
                "  memory        {:>10} total {:>10} used {:>10} available",
                mib_as_gib(h.total.memory_mib),
                mib_as_gib(h.used.memory_mib),
                mib_as_gib(h.available.memory_mib)
            );
            let _ = writeln!(
                out,
                "  local storage {:>10} total {:>10} used {:>10} available",
                gib(h.total.local_storage_bytes),
                gib(h.used.local_storage_bytes),
                gib(h.available.local_storage_bytes)
            );
            for p in &h.storage_pools {
                let _ = writeln!(
                    out,
                    "  pool {:<8} {:>10} total {:>10} used {:>10} available  ({}{})",
                    p.name,
                    gib(p.total_bytes),
                    gib(p.used_bytes),
                    gib(p.available_bytes),
                    p.pool_type,
                    if p.default { ", default" } else { "" }
                );
            }
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "error: {}", e.message);
            if !e.hint.is_empty() {
                let _ = writeln!(out, "hint: {}", e.hint);
            }
        }
        if let Some(c) = &self.certificate_to_trust {
            let _ = writeln!(
                out,
                "\nCertificate to trust on the LXD host (fingerprint {}):\n{}",
                c.fingerprint,
                c.pem.trim_end()
            );
        }
        if self.ok {
            let _ = writeln!(
                out,
                "\nResult: the VM host is registered and MAAS can use it."
            );
        } else {
            let _ = writeln!(out, "\nResult: FAILED");
        }
        out
    }
}

/// The LXD address in one canonical form, for comparisons.
fn canonical_address(address: &str) -> Option<String> {
    lxd_host::https_base_url(address)
        .ok()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
}

fn hidden() -> String {
    "(hidden)".into()
}

fn fingerprint_text(pem: &str) -> String {
    Fingerprint::of_pem(pem)
        .map(|f| f.to_hex())
        .unwrap_or_else(|_| "(unreadable certificate)".into())
}

struct Ctx<'a> {
    opts: &'a RegisterOptions,
    user: String,
    version: String,
    endpoint: String,
}

impl Ctx<'_> {
    /// Classifies a MAAS error during `step`.
    fn failure(&self, step: &str, e: &MaasError) -> Failure {
        let status = e.status();
        let address = self.opts.power_address();
        match e {
            MaasError::Unauthorized { .. } => Failure {
                kind: FailureKind::Unauthorized,
                status,
                message: format!("MAAS rejected the API key (401) when trying to {step}: {}", e.message()),
                hint: "check --maas-api-key / MAAS_API_KEY (consumer:token:secret, e.g. from `maas apikey --username <admin>`)".into(),
            },
            MaasError::Forbidden { .. } => Failure {
                kind: FailureKind::NotAdmin,
                status,
                message: format!(
                    "MAAS refused to {step} (403 Forbidden): the API key belongs to {:?}, who is not a MAAS administrator",
                    self.user
                ),
                hint: "registering, updating and refreshing VM hosts needs an administrator's API key (`maas apikey --username <admin>`)".into(),
            },
            MaasError::Gone { .. } => Failure {
                kind: FailureKind::VmHostsRemoved,
                status,
                message: format!(
                    "MAAS {} has removed VM hosts (410 Gone) when trying to {step}: {}",
                    self.version,
                    e.message()
                ),
                hint: "LXD VM hosts exist up to MAAS 3.7; MAAS 3.8 and later cannot register them. Use a MAAS ≤ 3.7 region, or bare-metal machines".into(),
            },
            MaasError::Transport { .. } => Failure {
                kind: FailureKind::MaasUnreachable,
                status,
                message: format!("cannot reach MAAS at {} to {step}: {e}", self.endpoint),
                hint: "check --maas-endpoint / MAAS_ENDPOINT (e.g. http://maas.example:5240/MAAS) and that this machine can reach it".into(),
            },
            MaasError::Validation { .. } | MaasError::BadRequest { .. } => Failure {
                kind: FailureKind::Rejected,
                status,
                message: format!("MAAS rejected the request to {step}: {}", e.message()),
                hint: "check that the zone, resource pool and name exist or are valid (`maas <profile> zones read`, `maas <profile> resource-pools read`)".into(),
            },
            _ if status == Some(503) => self.discovery_failure(&e.message(), &address),
            _ => Failure {
                kind: FailureKind::Maas,
                status,
                message: format!("MAAS failed to {step}: {e}"),
                hint: String::new(),
            },
        }
    }

    fn discovery_failure(&self, message: &str, address: &str) -> Failure {
        let lower = message.to_ascii_lowercase();
        let project = &self.opts.project;
        if lower.contains("not trusted")
            || lower.contains("authenticat")
            || lower.contains("password")
            || lower.contains("certificate")
        {
            let hint = match self.opts.credentials {
                LxdCredentials::Password(_) | LxdCredentials::Token(_) => format!(
                    "LXD refused the password/token. Tokens are single use: issue a new one on the LXD host (`lxd-test --issue-token maas --project {project}` or `lxc config trust add --name maas`) and pass it with --token; trust passwords do not exist on LXD ≥ 6.1"
                ),
                _ => format!(
                    "trust the certificate below on the LXD host, restricted to project {project}: save it to a file and run `lxd-test --trust-cert FILE --project {project}` (or `lxc project create {project}; lxc config trust add FILE --restricted --projects {project}`); then run vmhost-test again"
                ),
            };
            Failure {
                kind: FailureKind::LxdUntrusted,
                status: Some(503),
                message: format!("LXD at {address} does not trust MAAS (503 from MAAS): {message}"),
                hint,
            }
        } else if lower.contains("connect")
            || lower.contains("unreachable")
            || lower.contains("timed out")
            || lower.contains("refused")
        {
            Failure {
                kind: FailureKind::LxdUnreachable,
                status: Some(503),
                message: format!("MAAS cannot reach LXD at {address} (503): {message}"),
                hint: format!(
                    "check that LXD listens there (core.https_address, e.g. `lxd-test --https-address [::]:{}`), and that the MAAS region and rack controllers can route to it; the VM host stays registered and the next run refreshes it",
                    self.opts.lxd_port
                ),
            }
        } else {
            Failure {
                kind: FailureKind::DiscoveryFailed,
                status: Some(503),
                message: format!("MAAS could not discover LXD at {address} (503): {message}"),
                hint: "make the LXD host ready for MAAS (`lxd-test` creates the storage pool, project and profile MAAS needs); the VM host stays registered and the next run refreshes it".into(),
            }
        }
    }
}

/// Registers (or corrects) the VM host and refreshes it. Never panics; the
/// report says what happened and, on failure, why and what to do.
pub async fn register(
    maas: &MaasClient,
    opts: &RegisterOptions,
    progress: &Progress,
) -> RegisterReport {
    let mut report = RegisterReport::new(maas, opts);
    match run(maas, opts, progress, &mut report).await {
        Ok(()) => report.ok = true,
        Err(f) => report.error = Some(f),
    }
    report
}

/// An existing VM host, how it was found, and its parameters when read.
struct Found {
    host: VmHost,
    matched_by: &'static str,
    params: Option<VmHostParameters>,
}

async fn run(
    maas: &MaasClient,
    opts: &RegisterOptions,
    progress: &Progress,
    report: &mut RegisterReport,
) -> Result<(), Failure> {
    let mut ctx = Ctx {
        opts,
        user: "?".into(),
        version: "?".into(),
        endpoint: report.maas_endpoint.clone(),
    };
    progress.say(format!("connecting to MAAS at {}", ctx.endpoint));
    let version = maas
        .version()
        .await
        .map_err(|e| ctx.failure("read its version", &e))?;
    ctx.version = version.version.clone();
    report.maas_version = Some(version.version);
    let me = maas
        .whoami()
        .await
        .map_err(|e| ctx.failure("identify the API key's user", &e))?;
    ctx.user = me.username.clone();
    report.user = Some(me.username);
    report.user_is_admin = Some(me.is_superuser);

    progress.say("listing VM hosts");
    let hosts = maas
        .list_vm_hosts()
        .await
        .map_err(|e| ctx.failure("list VM hosts", &e))?;
    let found = find_existing(maas, &hosts, opts, &ctx, progress).await?;
    let mut generated: Option<CertificateToTrust> = None;
    let (id, params) = match found {
        None => {
            let (host, cert) = create(maas, opts, &ctx, progress).await?;
            generated = cert;
            report.action = Some(Action::Created);
            (host.id, None)
        }
        Some(found) => {
            report.matched_by = Some(found.matched_by.to_owned());
            let id = found.host.id;
            report.vm_host_id = Some(id);
            let params = match found.params {
                Some(p) => p,
                None => maas
                    .vm_host_parameters(id)
                    .await
                    .map_err(|e| ctx.failure("read the VM host's parameters", &e))?,
            };
            let (update, changes) = drift(&found.host, &params, opts);
            if changes.is_empty() {
                progress.say(format!("VM host {:?} (id {id}) needs no change", opts.name));
                report.action = Some(Action::Unchanged);
            } else {
                progress.say(format!(
                    "correcting {} on VM host {:?} (id {id})",
                    changes
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    found.host.name
                ));
                maas.update_vm_host(id, &update)
                    .await
                    .map_err(|e| ctx.failure("update the VM host", &e))?;
                report.action = Some(Action::Updated);
                report.changes = changes;
            }
            (id, Some(params))
        }
    };
    report.vm_host_id = Some(id);

    progress.say(format!(
        "refreshing VM host {id}: MAAS connects to LXD at {}",
        opts.power_address()
    ));
    match maas.refresh_vm_host(id).await {
        Ok(host) => {
            // Created with, or corrected to, the requested project.
            report.vm_host = Some(summary(&host, opts, opts.project.clone()));
            Ok(())
        }
        Err(e) => {
            let failure = ctx.failure("refresh the VM host", &e);
            if failure.kind == FailureKind::LxdUntrusted
                && matches!(
                    opts.credentials,
                    LxdCredentials::Generate | LxdCredentials::Certificate { .. }
                )
            {
                report.certificate_to_trust = match generated {
                    Some(c) => Some(c),
                    None => certificate_of(maas, id, params).await,
                };
            }
            Err(failure)
        }
    }
}

async fn certificate_of(
    maas: &MaasClient,
    id: i64,
    params: Option<VmHostParameters>,
) -> Option<CertificateToTrust> {
    let params = match params {
        Some(p) => p,
        None => maas.vm_host_parameters(id).await.ok()?,
    };
    let pem = params.certificate.filter(|c| !c.trim().is_empty())?;
    Some(CertificateToTrust {
        fingerprint: fingerprint_text(&pem),
        pem,
    })
}

async fn find_existing(
    maas: &MaasClient,
    hosts: &[VmHost],
    opts: &RegisterOptions,
    ctx: &Ctx<'_>,
    progress: &Progress,
) -> Result<Option<Found>, Failure> {
    if let Some(h) = hosts.iter().find(|h| h.name == opts.name) {
        return Ok(Some(Found {
            host: h.clone(),
            matched_by: "name",
            params: None,
        }));
    }
    if hosts.is_empty() {
        return Ok(None);
    }
    // The MAAS machine that owns the node's IP, and a VM host on it.
    let ip = opts.node_ip.to_string();
    let machines = maas
        .list_machines(&MachineFilter::new())
        .await
        .map_err(|e| ctx.failure("list machines", &e))?;
    let owner = machines
        .iter()
        .find(|m| m.ip_addresses.iter().any(|a| a == &ip));
    let on_owner = owner.and_then(|m| {
        hosts.iter().find(|h| {
            h.host.as_ref().and_then(|r| r.system_id.as_deref()) == Some(m.system_id.as_str())
        })
    });
    if let (Some(m), Some(h)) = (owner, on_owner) {
        progress.say(format!(
            "found VM host {:?} on machine {} ({ip})",
            h.name, m.system_id
        ));
        return Ok(Some(Found {
            host: h.clone(),
            matched_by: "host system_id",
            params: None,
        }));
    }
    // Any LXD VM host at the same address (admin only).
    let wanted = canonical_address(&opts.power_address());
    for h in hosts.iter().filter(|h| h.host_type == "lxd") {
        match maas.vm_host_parameters(h.id).await {
            Ok(p) => {
                let at = p.power_address.as_deref().and_then(canonical_address);
                if at.is_some() && at == wanted {
                    progress.say(format!(
                        "found VM host {:?} (id {}) at the same address",
                        h.name, h.id
                    ));
                    return Ok(Some(Found {
                        host: h.clone(),
                        matched_by: "power_address",
                        params: Some(p),
                    }));
                }
            }
            // Not an admin: the create below fails with a clear 403.
            Err(MaasError::Forbidden { .. }) => return Ok(None),
            Err(e) => return Err(ctx.failure("read VM host parameters", &e)),
        }
    }
    Ok(None)
}

async fn create(
    maas: &MaasClient,
    opts: &RegisterOptions,
    ctx: &Ctx<'_>,
    progress: &Progress,
) -> Result<(VmHost, Option<CertificateToTrust>), Failure> {
    let mut params = VmHostCreateParams {
        host_type: VmHostType::Lxd,
        power_address: opts.power_address(),
        name: Some(opts.name.clone()),
        zone: Some(opts.zone.clone()),
        pool: Some(opts.pool.clone()),
        project: Some(opts.project.clone()),
        ..VmHostCreateParams::default()
    };
    let mut generated = None;
    match &opts.credentials {
        LxdCredentials::Certificate { cert_pem, key_pem } => {
            params.certificate = Some(cert_pem.clone());
            params.key = Some(key_pem.clone());
        }
        LxdCredentials::Generate => {
            let id =
                ClientIdentity::generate(&format!("vmhost-test@{}", opts.name)).map_err(|e| {
                    Failure {
                        kind: FailureKind::Maas,
                        status: None,
                        message: format!("cannot generate a client certificate: {e}"),
                        hint: String::new(),
                    }
                })?;
            params.certificate = Some(id.cert_pem().to_owned());
            params.key = Some(Secret::new(id.key_pem().expose()));
            generated = Some(CertificateToTrust {
                pem: id.cert_pem().to_owned(),
                fingerprint: id.fingerprint().to_hex(),
            });
        }
        LxdCredentials::Password(p) | LxdCredentials::Token(p) => {
            params.password = Some(p.clone());
        }
    }
    progress.say(format!(
        "registering VM host {:?} at {} (zone {}, pool {}, project {})",
        opts.name,
        opts.power_address(),
        opts.zone,
        opts.pool,
        opts.project
    ));
    let host = maas
        .create_vm_host(&params)
        .await
        .map_err(|e| ctx.failure("register the VM host", &e))?;
    Ok((host, generated))
}

/// The update that brings `host` to `opts`, and the changes it makes.
fn drift(
    host: &VmHost,
    params: &VmHostParameters,
    opts: &RegisterOptions,
) -> (VmHostUpdateParams, Vec<FieldChange>) {
    let mut update = VmHostUpdateParams::default();
    let mut changes = Vec::new();
    let mut change = |field: &str, from: String, to: String| {
        changes.push(FieldChange {
            field: field.into(),
            from,
            to,
        });
    };
    if host.name != opts.name {
        change("name", host.name.clone(), opts.name.clone());
        update.name = Some(opts.name.clone());
    }
    let zone = host
        .zone
        .as_ref()
        .map(|z| z.name.clone())
        .unwrap_or_default();
    if zone != opts.zone {
        change("zone", zone, opts.zone.clone());
        update.zone = Some(opts.zone.clone());
    }
    let pool = host
        .pool
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    if pool != opts.pool {
        change("pool", pool, opts.pool.clone());
        update.pool = Some(opts.pool.clone());
    }
    let project = params
        .project
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into());
    if project != opts.project {
        change("project", project, opts.project.clone());
        update.project = Some(opts.project.clone());
    }
    if let Some(a) = params.power_address.as_deref()
        && canonical_address(a) != canonical_address(&opts.power_address())
    {
        change("power_address", a.to_owned(), opts.power_address());
        update.power_address = Some(opts.power_address());
    }
    match &opts.credentials {
        LxdCredentials::Certificate { cert_pem, key_pem } => {
            let same_cert = params.certificate.as_deref().map(str::trim) == Some(cert_pem.trim());
            let same_key = params.key.as_deref().map(str::trim) == Some(key_pem.expose().trim());
            if !(same_cert && same_key) {
                let from = params
                    .certificate
                    .as_deref()
                    .map(fingerprint_text)
                    .unwrap_or_else(|| "(none)".into());
                change("certificate", from, fingerprint_text(cert_pem));
                update.certificate = Some(cert_pem.clone());
                update.key = Some(key_pem.clone());
            }
        }
        LxdCredentials::Password(_) | LxdCredentials::Token(_) => {
            let given = opts.credentials.password_value();
            if params.password.as_deref() != given {
                change("password", hidden(), hidden());
                update.password = given.map(Secret::new);
            }
        }
        LxdCredentials::Generate => {}
    }
    (update, changes)
}

fn resources(r: &maas_api::VmHostResources) -> Resources {
    Resources {
        cores: r.cores,
        memory_mib: r.memory,
        local_storage_bytes: r.local_storage,
    }
}

fn summary(h: &VmHost, opts: &RegisterOptions, project: String) -> VmHostSummary {
    VmHostSummary {
        id: h.id,
        name: h.name.clone(),
        power_address: opts.power_address(),
        project,
        version: h.version.clone().unwrap_or_default(),
        architectures: h.architectures.clone(),
        zone: h.zone.as_ref().map(|z| z.name.clone()).unwrap_or_default(),
        pool: h.pool.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        host_system_id: h.host.as_ref().and_then(|r| r.system_id.clone()),
        tags: h.tags.clone(),
        total: resources(&h.total),
        used: resources(&h.used),
        available: resources(&h.available),
        storage_pools: h
            .storage_pools
            .iter()
            .map(|p| PoolSummary {
                name: p.name.clone(),
                pool_type: p.pool_type.clone(),
                total_bytes: p.total,
                used_bytes: p.used,
                available_bytes: p.available,
                default: p.default,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maas_api::{ResourcePool, Zone};

    #[test]
    fn names_and_addresses() {
        let v4: IpAddr = "10.0.0.5".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(RegisterOptions::default_name(v4), "lxd-host-10-0-0-5");
        assert_eq!(RegisterOptions::default_name(v6), "lxd-host-fd00--1");
        let mut o = RegisterOptions::new(v6);
        o.lxd_port = 9443;
        assert_eq!(o.power_address(), "https://[fd00::1]:9443");
        assert_eq!(
            canonical_address("10.0.0.5"),
            canonical_address("https://10.0.0.5:8443/")
        );
        assert_ne!(
            canonical_address("10.0.0.5:9443"),
            canonical_address("10.0.0.5")
        );
        o.zone = "a,b".into();
        assert!(o.validate().is_err());
        o.zone = "default".into();
        o.lxd_port = 0;
        assert!(o.validate().is_err());
    }

    #[test]
    fn credentials_are_checked_and_redacted() {
        assert!(LxdCredentials::token("not-a-token").is_err());
        assert!(LxdCredentials::password("").is_err());
        let p = LxdCredentials::password("hunter2-secret").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let id = ClientIdentity::generate("t").unwrap();
        let c = LxdCredentials::certificate(id.cert_pem(), id.key_pem().expose()).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains(&id.fingerprint().to_hex()), "{dbg}");
        assert!(!dbg.contains("PRIVATE KEY"));
        assert!(LxdCredentials::certificate(id.cert_pem(), "nope").is_err());
    }

    fn host(zone: &str, pool: &str) -> VmHost {
        VmHost {
            id: 4,
            name: "lxd-host-10-0-0-5".into(),
            host_type: "lxd".into(),
            zone: Some(Zone {
                name: zone.into(),
                ..Zone::default()
            }),
            pool: Some(ResourcePool {
                name: pool.into(),
                ..ResourcePool::default()
            }),
            ..VmHost::default()
        }
    }

    #[test]
    fn drift_lists_only_what_differs_and_hides_secrets() {
        let mut opts = RegisterOptions::new("10.0.0.5".parse().unwrap());
        opts.credentials = LxdCredentials::password("pw-1").unwrap();
        let params = VmHostParameters {
            power_address: Some("https://10.0.0.5:8443".into()),
            project: Some("maas".into()),
            password: Some("pw-1".into()),
            ..VmHostParameters::default()
        };
        let (_, changes) = drift(&host("default", "default"), &params, &opts);
        assert!(changes.is_empty(), "{changes:?}");

        let (update, changes) = drift(&host("zone-b", "default"), &params, &opts);
        assert_eq!(
            changes,
            vec![FieldChange {
                field: "zone".into(),
                from: "zone-b".into(),
                to: "default".into()
            }]
        );
        assert_eq!(update.zone.as_deref(), Some("default"));
        assert_eq!(update.pool, None);

        opts.credentials = LxdCredentials::password("pw-2").unwrap();
        opts.project = "other".into();
        let (update, changes) = drift(&host("default", "gpu"), &params, &opts);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["pool", "project", "password"]);
        assert!(!format!("{changes:?}").contains("pw-"));
        assert_eq!(update.password.as_ref().map(|s| s.expose()), Some("pw-2"));
    }
}
