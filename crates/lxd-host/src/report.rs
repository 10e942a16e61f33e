//! Readiness checks after applying, the run report and its text rendering.

use std::fmt::Write as _;

use serde::Serialize;

use crate::client::LxdClient;
use crate::features::{Features, LxdVersion, MAAS_MIN_VERSION};
use crate::fingerprint::Fingerprint;
use crate::plan::{
    self, Action, Applied, AppliedStep, IssuedToken, Plan, PlanError, StepFailure,
    desired_nic_device, desired_root_device,
};
use crate::spec::{HostSpec, TrustSpec, parse_listen_address};
use crate::tls::ServerTrust;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Fine.
    Pass,
    /// Works for the tool's purpose but MAAS may have trouble (e.g. no VMs).
    Warn,
    /// The host is not ready.
    Fail,
}

/// One readiness check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Result.
    pub status: CheckStatus,
    /// Details, one line.
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, status: CheckStatus, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// The token as shown in reports. The secret is serialized only into the
/// report the user asked for (`--issue-token`), never logged.
#[derive(Debug, Clone, Serialize)]
pub struct TokenReport {
    /// Client name.
    pub client_name: String,
    /// The base64 token to hand to MAAS.
    pub token: String,
    /// Server fingerprint inside the token.
    pub server_fingerprint: String,
    /// Addresses inside the token.
    pub addresses: Vec<String>,
    /// True when a pending token was found and shown again.
    pub reused: bool,
}

impl From<&IssuedToken> for TokenReport {
    fn from(t: &IssuedToken) -> Self {
        TokenReport {
            client_name: t.name.clone(),
            token: t.encoded(),
            server_fingerprint: t.token.fingerprint.clone(),
            addresses: t.token.addresses.clone(),
            reused: t.reused,
        }
    }
}

/// Everything a run did: the plan, what was applied, the token, the checks.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The plan.
    pub plan: Plan,
    /// True when nothing was applied on purpose.
    pub dry_run: bool,
    /// Steps applied.
    pub applied: Vec<AppliedStep>,
    /// The failed step, if any.
    pub failure: Option<StepFailure>,
    /// The trust token, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenReport>,
    /// Readiness checks (empty for dry runs and failed runs).
    pub checks: Vec<Check>,
    /// Whether the host is ready for MAAS (no failure, no failed check).
    pub ready: bool,
}

/// Plans, applies (unless `dry_run`) and checks the host.
pub async fn run(client: &LxdClient, spec: &HostSpec, dry_run: bool) -> Result<Report, PlanError> {
    let plan = plan::plan(client, spec).await?;
    if dry_run {
        // A dry run shows no secrets, not even a pending token.
        return Ok(Report {
            ready: false,
            plan,
            dry_run: true,
            applied: Vec::new(),
            failure: None,
            token: None,
            checks: Vec::new(),
        });
    }
    let Applied {
        applied,
        token,
        failure,
    } = plan::apply(client, spec, &plan).await;
    let checks = if failure.is_none() {
        verify(client, spec, plan.features()).await
    } else {
        Vec::new()
    };
    let ready = failure.is_none() && checks.iter().all(|c| c.status != CheckStatus::Fail);
    Ok(Report {
        plan,
        dry_run: false,
        applied,
        failure,
        token: token.as_ref().map(TokenReport::from),
        checks,
        ready,
    })
}

/// Reads the server back and checks what MAAS needs.
pub async fn verify(client: &LxdClient, spec: &HostSpec, features: &Features) -> Vec<Check> {
    let mut checks = Vec::new();
    let server = match client.server().await {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::new("LXD server", CheckStatus::Fail, e.to_string()));
            return checks;
        }
    };
    let env = server.environment.clone().unwrap_or_default();

    checks.push(version_check(features.version, &env.server_version));

    let missing = features.missing_for_maas();
    checks.push(if missing.is_empty() {
        Check::new(
            "API extensions for MAAS",
            CheckStatus::Pass,
            "projects, virtual-machines, custom_block_volumes",
        )
    } else {
        Check::new(
            "API extensions for MAAS",
            CheckStatus::Fail,
            format!("missing: {}", missing.join(", ")),
        )
    });

    let pool = &spec.storage.pool;
    checks.push(match client.storage_pool(pool).await {
        Ok(Some(p)) if p.driver == spec.storage.driver.as_str() => Check::new(
            format!("storage pool {pool:?}"),
            CheckStatus::Pass,
            format!("exists, driver {}", p.driver),
        ),
        Ok(Some(p)) => Check::new(
            format!("storage pool {pool:?}"),
            CheckStatus::Fail,
            format!("driver is {}, not {}", p.driver, spec.storage.driver),
        ),
        Ok(None) => Check::new(
            format!("storage pool {pool:?}"),
            CheckStatus::Fail,
            "does not exist",
        ),
        Err(e) => Check::new(
            format!("storage pool {pool:?}"),
            CheckStatus::Fail,
            e.to_string(),
        ),
    });

    let bridge = &spec.bridge.name;
    let host_bridge = match client.network(bridge).await {
        Ok(Some(n)) if n.kind == "bridge" => {
            checks.push(Check::new(
                format!("NIC parent {bridge:?}"),
                CheckStatus::Pass,
                if n.managed {
                    "bridge managed by LXD".to_owned()
                } else {
                    "host bridge".to_owned()
                },
            ));
            Some(!n.managed)
        }
        Ok(Some(n)) => {
            checks.push(Check::new(
                format!("NIC parent {bridge:?}"),
                CheckStatus::Fail,
                format!("is a {} interface, not a bridge", n.kind),
            ));
            None
        }
        Ok(None) => {
            checks.push(Check::new(
                format!("NIC parent {bridge:?}"),
                CheckStatus::Fail,
                "does not exist",
            ));
            None
        }
        Err(e) => {
            checks.push(Check::new(
                format!("NIC parent {bridge:?}"),
                CheckStatus::Fail,
                e.to_string(),
            ));
            None
        }
    };

    let label = format!("profile {}/{}", spec.project, spec.profile);
    checks.push(match client.profile(&spec.project, &spec.profile).await {
        Ok(Some((p, _))) => {
            let root_ok = p.devices.get("root") == Some(&desired_root_device(pool));
            let nic_ok = host_bridge.is_some_and(|host| {
                p.devices.get("eth0") == Some(&desired_nic_device(bridge, host))
            });
            if root_ok && nic_ok {
                Check::new(
                    label,
                    CheckStatus::Pass,
                    format!("root disk on {pool:?}, eth0 on {bridge:?}"),
                )
            } else {
                Check::new(
                    label,
                    CheckStatus::Fail,
                    format!(
                        "root disk {}, eth0 {}",
                        if root_ok { "ok" } else { "wrong" },
                        if nic_ok { "ok" } else { "wrong" }
                    ),
                )
            }
        }
        Ok(None) => Check::new(label, CheckStatus::Fail, "does not exist"),
        Err(e) => Check::new(label, CheckStatus::Fail, e.to_string()),
    });

    if spec.https_address.is_some() || server.config_value("core.https_address").is_some() {
        checks.push(https_check(&server, &env.certificate_fingerprint).await);
    }

    if let Some(trust) = &spec.trust {
        checks.push(trust_check(client, &server, spec, trust).await);
    }

    checks.push(if env.supports_vms() {
        Check::new(
            "VM support",
            CheckStatus::Pass,
            format!("driver {:?}", env.driver),
        )
    } else {
        Check::new(
            "VM support",
            CheckStatus::Warn,
            format!(
                "this host cannot run VMs (driver {:?} lacks qemu): MAAS can register it but not compose VMs",
                env.driver
            ),
        )
    });
    checks
}

fn version_check(version: Option<LxdVersion>, raw: &str) -> Check {
    let name = "LXD version";
    match version {
        None => Check::new(
            name,
            CheckStatus::Warn,
            format!("unreadable server_version {raw:?}"),
        ),
        Some(v) if v.major == 5 && v.minor == 20 => Check::new(
            name,
            CheckStatus::Warn,
            format!(
                "{raw}: LXD 5.20 has known bugs with project-restricted certificates; use 5.21 or later"
            ),
        ),
        Some(v) if v < MAAS_MIN_VERSION => Check::new(
            name,
            CheckStatus::Warn,
            format!(
                "{raw}: MAAS 3.7 documents LXD 5.21 as the oldest version that works correctly"
            ),
        ),
        Some(_) => Check::new(name, CheckStatus::Pass, raw.to_owned()),
    }
}

async fn https_check(server: &crate::types::Server, fingerprint: &str) -> Check {
    let name = "HTTPS listener";
    let Some(addr) = server.config_value("core.https_address") else {
        return Check::new(name, CheckStatus::Fail, "core.https_address is not set");
    };
    let listen = match parse_listen_address(&addr) {
        Ok(l) => l,
        Err(e) => return Check::new(name, CheckStatus::Fail, e.to_string()),
    };
    let fp: Fingerprint = match fingerprint.parse() {
        Ok(fp) => fp,
        Err(e) => return Check::new(name, CheckStatus::Fail, e.to_string()),
    };
    let endpoint = listen.local_endpoint();
    let client = match LxdClient::https(&endpoint, ServerTrust::Pinned(fp), None) {
        Ok(c) => c,
        Err(e) => return Check::new(name, CheckStatus::Fail, e.to_string()),
    };
    match client.server().await {
        Ok(_) => Check::new(
            name,
            CheckStatus::Pass,
            format!("{addr} answers at https://{endpoint} with certificate {fp}"),
        ),
        Err(e) => Check::new(name, CheckStatus::Fail, e.to_string()),
    }
}

async fn trust_check(
    client: &LxdClient,
    server: &crate::types::Server,
    spec: &HostSpec,
    trust: &TrustSpec,
) -> Check {
    match trust {
        TrustSpec::ClientCertificate { pem, .. } => {
            let name = "trusted client certificate";
            let fp = match Fingerprint::of_pem(pem) {
                Ok(fp) => fp,
                Err(e) => return Check::new(name, CheckStatus::Fail, e.to_string()),
            };
            match client.certificate(&fp).await {
                Ok(Some(c)) if c.restricted && c.projects.contains(&spec.project) => Check::new(
                    name,
                    CheckStatus::Pass,
                    format!("{fp} restricted to {}", c.projects.join(",")),
                ),
                Ok(Some(_)) => Check::new(
                    name,
                    CheckStatus::Fail,
                    format!("{fp} is not restricted to project {:?}", spec.project),
                ),
                Ok(None) => Check::new(name, CheckStatus::Fail, format!("{fp} is not trusted")),
                Err(e) => Check::new(name, CheckStatus::Fail, e.to_string()),
            }
        }
        TrustSpec::IssueToken { name: client_name } => {
            let name = "trust token";
            let pending = client.pending_trust_tokens().await.map(|ops| {
                ops.iter().any(|op| {
                    op.metadata
                        .get("request")
                        .and_then(|r| r.get("name"))
                        .and_then(|n| n.as_str())
                        == Some(client_name.as_str())
                })
            });
            match pending {
                Ok(true) => Check::new(
                    name,
                    CheckStatus::Pass,
                    format!("pending for {client_name:?}"),
                ),
                Ok(false) => match client.certificates().await {
                    Ok(certs) if certs.iter().any(|c| &c.name == client_name) => Check::new(
                        name,
                        CheckStatus::Pass,
                        format!("client {client_name:?} is trusted"),
                    ),
                    Ok(_) => Check::new(
                        name,
                        CheckStatus::Fail,
                        format!("no pending token and no trusted client {client_name:?}"),
                    ),
                    Err(e) => Check::new(name, CheckStatus::Fail, e.to_string()),
                },
                Err(e) => Check::new(name, CheckStatus::Fail, e.to_string()),
            }
        }
        TrustSpec::TrustPassword(_) => {
            let name = "trust password";
            if server.config_value("core.trust_password").is_some() {
                Check::new(name, CheckStatus::Pass, "set")
            } else {
                Check::new(name, CheckStatus::Fail, "core.trust_password is not set")
            }
        }
    }
}

impl Report {
    /// Number of warnings among the checks.
    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .count()
    }

    /// The human-readable report `lxd-test` prints.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let s = &self.plan.server;
        let _ = writeln!(
            out,
            "LXD {} at {} (driver {}, storage drivers: {})",
            s.version,
            s.endpoint,
            s.driver,
            s.storage_drivers.join(", ")
        );
        let _ = writeln!(out, "\nPlan:");
        for step in &self.plan.steps {
            let _ = writeln!(out, "  {:<9}  {}", step.action.to_string(), step.label());
            for c in &step.changes {
                let _ = writeln!(out, "             {c}");
            }
            for n in &step.notes {
                let _ = writeln!(out, "             note: {n}");
            }
        }
        if !self.plan.notices.is_empty() {
            let _ = writeln!(out, "\nNotices:");
            for n in &self.plan.notices {
                let _ = writeln!(out, "  - {n}");
            }
        }
        let _ = writeln!(out);
        let planned = self.plan.changes().count();
        if self.dry_run {
            if planned == 0 {
                let _ = writeln!(
                    out,
                    "Dry run: no changes needed; the host already matches the requested configuration."
                );
            } else {
                let _ = writeln!(
                    out,
                    "Dry run: nothing was changed; {planned} change(s) would be made."
                );
            }
            return out;
        }
        if self.applied.is_empty() && self.failure.is_none() {
            let _ = writeln!(
                out,
                "No changes: the host already matches the requested configuration."
            );
        } else if !self.applied.is_empty() {
            let _ = writeln!(out, "Changed ({}):", self.applied.len());
            for a in &self.applied {
                let verb = match a.action {
                    Action::Create => "created",
                    Action::Update => "updated",
                    Action::Unchanged => "unchanged",
                };
                let _ = writeln!(out, "  {verb:<8} {} {:?}", a.kind, a.name);
            }
        }
        if let Some(f) = &self.failure {
            let _ = writeln!(
                out,
                "FAILED at {} {:?} ({:?} error): {}",
                f.kind, f.name, f.class, f.error
            );
            let remaining = self
                .plan
                .changes()
                .skip(self.applied.len() + 1)
                .map(|st| st.label())
                .collect::<Vec<_>>();
            if !remaining.is_empty() {
                let _ = writeln!(out, "Not attempted: {}", remaining.join(", "));
            }
        }
        if let Some(t) = &self.token {
            let _ = writeln!(
                out,
                "\nTrust token for {:?} ({}single use; give it to MAAS as the VM host password):",
                t.client_name,
                if t.reused {
                    "pending, shown again; "
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "{}", t.token);
        }
        if !self.checks.is_empty() {
            let _ = writeln!(out, "\nChecks:");
            for c in &self.checks {
                let tag = match c.status {
                    CheckStatus::Pass => "[ok]  ",
                    CheckStatus::Warn => "[warn]",
                    CheckStatus::Fail => "[FAIL]",
                };
                let _ = writeln!(out, "  {tag} {}: {}", c.name, c.detail);
            }
        }
        let _ = writeln!(out);
        if self.ready {
            let w = self.warnings();
            if w == 0 {
                let _ = writeln!(out, "Result: the host is ready for MAAS.");
            } else {
                let _ = writeln!(
                    out,
                    "Result: the host is ready for MAAS ({w} warning{}).",
                    if w == 1 { "" } else { "s" }
                );
            }
        } else {
            let _ = writeln!(out, "Result: the host is NOT ready for MAAS.");
        }
        out
    }
}
