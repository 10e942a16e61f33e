//! A MAAS smoke test (the library behind `maas-test`):
//!
//! 1. **connect**: `version/`; **auth**: `users/?op=whoami`.
//! 2. **Machine lifecycle** (unless skipped): allocate with constraints →
//!    deploy (optionally in memory, `ephemeral_deploy`) → wait for Deployed
//!    with progress → release → wait for Ready.
//! 3. **VM host** (when asked): choose an LXD VM host by zone and pool (and
//!    optionally name or address) that has room → compose a VM (optionally
//!    with a static IP on `eth0`) → wait until it is Ready (commissioned) →
//!    delete it and check that it is gone.
//!
//! Whatever it allocates or composes is released or deleted again, also
//! when a later step fails or the run is interrupted, unless `keep` is set.
//! Every step is reported (ok, failed, skipped) with its duration and
//! details; [`SmokeReport::ok`] is true only when no step failed.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use maas_api::{
    AllocateParams, ComposeParams, DeployParams, Error as MaasError, InterfaceSpec, MaasClient,
    Machine, MachineStatus, ReleaseParams, StorageSpec, VmHost,
};
use serde::Serialize;

use crate::cli::{Interrupt, Progress, mib_as_gib};

/// The VM host part of the smoke test.
#[derive(Debug, Clone, PartialEq)]
pub struct VmHostTest {
    /// Only VM hosts in this zone (name).
    pub zone: Option<String>,
    /// Only VM hosts in this resource pool (name).
    pub pool: Option<String>,
    /// Only the VM host with this name or id.
    pub vm_host: Option<String>,
    /// Only the VM host at this address (its `power_address`; admin).
    pub node_ip: Option<IpAddr>,
    /// VM cores.
    pub cores: u32,
    /// VM memory, MiB.
    pub memory_mib: u64,
    /// VM root disk, GB.
    pub disk_gb: u32,
    /// Give `eth0` this address (`interfaces=eth0:ip=<ip>`).
    pub static_ip: Option<IpAddr>,
    /// Hostname; `maas-test-<random>` when `None`.
    pub hostname: Option<String>,
}

impl Default for VmHostTest {
    fn default() -> Self {
        VmHostTest {
            zone: None,
            pool: None,
            vm_host: None,
            node_ip: None,
            cores: 1,
            memory_mib: 2048,
            disk_gb: 8,
            static_ip: None,
            hostname: None,
        }
    }
}

/// What to test.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeOptions {
    /// Run the machine lifecycle.
    pub lifecycle: bool,
    /// Allocation constraints: minimum cores.
    pub cpu_count: Option<u32>,
    /// Minimum memory, MiB.
    pub mem_mib: Option<u64>,
    /// Required tags.
    pub tags: Vec<String>,
    /// Zone name.
    pub zone: Option<String>,
    /// Resource pool name.
    pub pool: Option<String>,
    /// Series to deploy (MAAS's default when `None`).
    pub distro_series: Option<String>,
    /// Deploy to memory (`ephemeral_deploy`).
    pub ephemeral: bool,
    /// `agent_name` of the allocation (find leftovers with it).
    pub agent_name: String,
    /// The VM host test, if wanted.
    pub vm_host_test: Option<VmHostTest>,
    /// Leave the deployed machine and the composed VM in place.
    pub keep: bool,
    /// How long a deployment may take.
    pub deploy_timeout: Duration,
    /// How long a release may take.
    pub release_timeout: Duration,
    /// How long commissioning a composed VM may take.
    pub commission_timeout: Duration,
    /// Status poll period.
    pub poll_interval: Duration,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        SmokeOptions {
            lifecycle: true,
            cpu_count: None,
            mem_mib: None,
            tags: Vec::new(),
            zone: None,
            pool: None,
            distro_series: None,
            ephemeral: false,
            agent_name: "maas-test".into(),
            vm_host_test: None,
            keep: false,
            deploy_timeout: Duration::from_secs(40 * 60),
            release_timeout: Duration::from_secs(15 * 60),
            commission_timeout: Duration::from_secs(30 * 60),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// A step's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Passed.
    Ok,
    /// Failed.
    Failed,
    /// Not run (an earlier step failed, not asked for, or `keep`).
    Skipped,
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        })
    }
}

/// One step of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// `connect`, `auth`, `allocate`, `deploy`, `release`, `vm-host`,
    /// `compose`, `commission`, `delete`, `cleanup`.
    pub name: String,
    /// Result.
    pub status: StepStatus,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// What happened (MAAS's message on failure).
    pub detail: String,
}

/// The machine the lifecycle used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineSummary {
    /// System id.
    pub system_id: String,
    /// Hostname.
    pub hostname: String,
    /// Last status seen.
    pub status: String,
    /// Cores.
    pub cpu_count: i64,
    /// Memory, MiB.
    pub memory_mib: i64,
    /// Zone.
    pub zone: String,
    /// Pool.
    pub pool: String,
    /// Deployed to memory, as MAAS reports it (MAAS ≥ 3.5 shows it).
    pub ephemeral_deploy: Option<bool>,
    /// OS series while deployed.
    pub distro_series: String,
    /// Addresses while deployed.
    pub ip_addresses: Vec<String>,
}

/// The composed VM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VmSummary {
    /// System id.
    pub system_id: String,
    /// Hostname.
    pub hostname: String,
    /// VM host name.
    pub vm_host: String,
    /// VM host id.
    pub vm_host_id: i64,
    /// Last status seen.
    pub status: String,
    /// Cores.
    pub cpu_count: i64,
    /// Memory, MiB.
    pub memory_mib: i64,
    /// The requested static IP.
    pub static_ip: Option<String>,
    /// Addresses MAAS reported while it existed.
    pub ip_addresses: Vec<String>,
    /// Deleted at the end.
    pub deleted: bool,
}

/// The outcome of [`run`]; serialises as the `--output json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmokeReport {
    /// True when no step failed.
    pub ok: bool,
    /// MAAS API URL.
    pub maas_endpoint: String,
    /// MAAS version.
    pub maas_version: Option<String>,
    /// The API key's user.
    pub user: Option<String>,
    /// Ran against an in-process simulator.
    pub embedded: bool,
    /// Steps in order.
    pub steps: Vec<StepReport>,
    /// The lifecycle's machine.
    pub machine: Option<MachineSummary>,
    /// The composed VM.
    pub vm: Option<VmSummary>,
    /// What was left in place (`--keep`, or a failed cleanup).
    pub left_behind: Vec<String>,
}

impl SmokeReport {
    /// Steps that failed.
    pub fn failures(&self) -> impl Iterator<Item = &StepReport> {
        self.steps.iter().filter(|s| s.status == StepStatus::Failed)
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "maas-test: MAAS {} at {}{}{}",
            self.maas_version.as_deref().unwrap_or("?"),
            self.maas_endpoint,
            self.user
                .as_ref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            if self.embedded {
                " (embedded maas-sim)"
            } else {
                ""
            }
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "  {:<9} {:<11} {:>7.1}s  {}",
                format!("[{}]", s.status),
                s.name,
                s.duration_ms as f64 / 1000.0,
                s.detail
            );
        }
        for l in &self.left_behind {
            let _ = writeln!(out, "left in place: {l}");
        }
        let count = |st: StepStatus| self.steps.iter().filter(|s| s.status == st).count();
        let (ok, failed, skipped) = (
            count(StepStatus::Ok),
            count(StepStatus::Failed),
            count(StepStatus::Skipped),
        );
        if self.ok {
            let _ = writeln!(
                out,
                "Result: ok ({ok} passed, {failed} failed, {skipped} skipped)"
            );
        } else {
            let _ = writeln!(
                out,
                "Result: FAILED ({ok} passed, {failed} failed, {skipped} skipped)"
            );
            for f in self.failures() {
                let _ = writeln!(out, "  {}: {}", f.name, f.detail);
            }
        }
        out
    }
}

struct Run<'a> {
    maas: &'a MaasClient,
    opts: &'a SmokeOptions,
    progress: &'a Progress,
    interrupt: &'a Interrupt,
    report: SmokeReport,
}

/// Why a wait ended without the wanted status.
enum WaitError {
    Failed(Machine),
    Timeout(Option<Machine>),
    Interrupted,
    Gone,
    Maas(MaasError),
}

impl WaitError {
    fn describe(&self, wanted: &str, timeout: Duration) -> String {
        match self {
            WaitError::Failed(m) => format!(
                "{} ({}) is {}{}",
                m.system_id,
                m.hostname,
                m.status.label(),
                status_message(m)
            ),
            WaitError::Timeout(m) => format!(
                "not {wanted} after {}s{}",
                timeout.as_secs(),
                m.as_ref()
                    .map(|m| format!(" (still {}{})", m.status.label(), status_message(m)))
                    .unwrap_or_default()
            ),
            WaitError::Interrupted => "interrupted".into(),
            WaitError::Gone => "the machine vanished from MAAS".into(),
            WaitError::Maas(e) => e.to_string(),
        }
    }
}

fn status_message(m: &Machine) -> String {
    m.status_message
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

/// `1 core`, `4 cores`.
fn cores(n: impl Into<i64>) -> String {
    let n = n.into();
    if n == 1 {
        "1 core".into()
    } else {
        format!("{n} cores")
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..6)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Run<'_> {
    fn step(&mut self, name: &str, status: StepStatus, started: Instant, detail: String) {
        let line = format!("{name}: {status}: {detail}");
        match status {
            StepStatus::Failed => tracing::info!(failed = true, "{line}"),
            _ => tracing::info!("{line}"),
        }
        self.progress.say(&line);
        self.report.steps.push(StepReport {
            name: name.into(),
            status,
            duration_ms: ms(started.elapsed()),
            detail,
        });
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.step(name, StepStatus::Skipped, Instant::now(), why.into());
    }

    /// Polls a machine until `done` holds; `failed` statuses end the wait.
    async fn wait(
        &self,
        system_id: &str,
        wanted: &str,
        done: impl Fn(&Machine) -> bool,
        timeout: Duration,
    ) -> Result<Machine, WaitError> {
        let started = Instant::now();
        let mut last: Option<(MachineStatus, Option<String>)> = None;
        let mut last_line = Instant::now();
        let mut seen: Option<Machine> = None;
        loop {
            match self.maas.read_machine(system_id).await {
                Ok(m) => {
                    if done(&m) {
                        return Ok(m);
                    }
                    if m.status.is_failed() {
                        return Err(WaitError::Failed(m));
                    }
                    let now = (m.status, m.status_message.clone());
                    if last.as_ref() != Some(&now) || last_line.elapsed() >= Duration::from_secs(15)
                    {
                        self.progress.say(format!(
                            "  {system_id} ({}): {}{}, waiting for {wanted} ({}s)",
                            m.hostname,
                            m.status.label(),
                            status_message(&m),
                            started.elapsed().as_secs()
                        ));
                        last = Some(now);
                        last_line = Instant::now();
                    }
                    seen = Some(m);
                }
                Err(e) if e.is_not_found() => return Err(WaitError::Gone),
                Err(e) if e.class() == maas_api::ErrorClass::Transient => {
                    self.progress.say(format!("  {system_id}: {e}; retrying"));
                }
                Err(e) => return Err(WaitError::Maas(e)),
            }
            if started.elapsed() >= timeout {
                return Err(WaitError::Timeout(seen));
            }
            let nap = self
                .opts
                .poll_interval
                .min(timeout.saturating_sub(started.elapsed()));
            if !self.interrupt.sleep(nap).await {
                return Err(WaitError::Interrupted);
            }
        }
    }
}

/// Runs the smoke test. Never panics; the report says what passed and what
/// failed.
pub async fn run(
    maas: &MaasClient,
    opts: &SmokeOptions,
    progress: &Progress,
    interrupt: &Interrupt,
    embedded: bool,
) -> SmokeReport {
    let mut r = Run {
        maas,
        opts,
        progress,
        interrupt,
        report: SmokeReport {
            ok: false,
            maas_endpoint: maas.base_url().to_string(),
            maas_version: None,
            user: None,
            embedded,
            steps: Vec::new(),
            machine: None,
            vm: None,
            left_behind: Vec::new(),
        },
    };
    let connected = connect(&mut r).await;
    if connected {
        if opts.lifecycle {
            lifecycle(&mut r).await;
        } else {
            r.skip("allocate", "machine lifecycle not asked for");
        }
        match &opts.vm_host_test {
            Some(t) => vm_host(&mut r, t).await,
            None => r.skip("vm-host", "VM host test not asked for (--test-vm-host)"),
        }
    }
    let ok = r.report.failures().next().is_none();
    r.report.ok = ok;
    r.report
}

async fn connect(r: &mut Run<'_>) -> bool {
    let t = Instant::now();
    match r.maas.version().await {
        Ok(v) => {
            let detail = format!("MAAS {} ({} capabilities)", v.version, v.capabilities.len());
            r.report.maas_version = Some(v.version);
            r.step("connect", StepStatus::Ok, t, detail);
        }
        Err(e) => {
            r.step(
                "connect",
                StepStatus::Failed,
                t,
                format!("cannot read MAAS's version: {e}"),
            );
            r.skip("auth", "MAAS not reachable");
            return false;
        }
    }
    let t = Instant::now();
    match r.maas.whoami().await {
        Ok(u) => {
            let detail = format!(
                "logged in as {}{}",
                u.username,
                if u.is_superuser {
                    " (administrator)"
                } else {
                    " (not an administrator)"
                }
            );
            r.report.user = Some(u.username);
            r.step("auth", StepStatus::Ok, t, detail);
            true
        }
        Err(e) => {
            let hint = match e {
                MaasError::Unauthorized { .. } => {
                    " (check --maas-api-key / MAAS_API_KEY: consumer:token:secret)"
                }
                _ => "",
            };
            r.step("auth", StepStatus::Failed, t, format!("{e}{hint}"));
            false
        }
    }
}

fn machine_summary(m: &Machine) -> MachineSummary {
    MachineSummary {
        system_id: m.system_id.clone(),
        hostname: m.hostname.clone(),
        status: m.status.label().into(),
        cpu_count: m.cpu_count,
        memory_mib: m.memory,
        zone: m.zone.as_ref().map(|z| z.name.clone()).unwrap_or_default(),
        pool: m.pool.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        ephemeral_deploy: m.ephemeral_deploy,
        distro_series: m.distro_series.clone(),
        ip_addresses: m.ip_addresses.clone(),
    }
}

async fn lifecycle(r: &mut Run<'_>) {
    let opts = r.opts;
    let mut params = AllocateParams::new()
        .agent_name(opts.agent_name.clone())
        .comment("maas-test smoke test");
    params.cpu_count = opts.cpu_count;
    params.mem = opts.mem_mib;
    params.tags = opts.tags.clone();
    params.zone = opts.zone.clone();
    params.pool = opts.pool.clone();
    let t = Instant::now();
    let machine = match r.maas.allocate(&params).await {
        Ok(m) => m,
        Err(e) => {
            let hint = match e {
                MaasError::NoMachineAvailable { .. } => {
                    " (no Ready machine matches: relax --cpu-count/--mem/--tag/--zone/--resource-pool)"
                }
                _ => "",
            };
            r.step("allocate", StepStatus::Failed, t, format!("{e}{hint}"));
            r.skip("deploy", "nothing allocated");
            r.skip("release", "nothing allocated");
            return;
        }
    };
    let sid = machine.system_id.clone();
    r.report.machine = Some(machine_summary(&machine));
    r.step(
        "allocate",
        StepStatus::Ok,
        t,
        format!(
            "{sid} ({}): {}, {}, zone {}, pool {}",
            machine.hostname,
            cores(machine.cpu_count),
            mib_as_gib(machine.memory),
            machine
                .zone
                .as_ref()
                .map(|z| z.name.as_str())
                .unwrap_or("?"),
            machine
                .pool
                .as_ref()
                .map(|p| p.name.as_str())
                .unwrap_or("?")
        ),
    );

    let t = Instant::now();
    let mut deploy = DeployParams::new();
    deploy.distro_series = opts.distro_series.clone();
    if opts.ephemeral {
        deploy.ephemeral_deploy = Some(true);
    }
    deploy.comment = Some("maas-test smoke test".into());
    let deployed = match r.maas.deploy(&sid, &deploy).await {
        Err(e) => Err(format!("deploy of {sid} refused: {e}")),
        Ok(_) => {
            r.progress.say(format!(
                "deploying {sid}{}",
                if opts.ephemeral { " to memory" } else { "" }
            ));
            r.wait(
                &sid,
                "Deployed",
                |m| m.status == MachineStatus::Deployed,
                opts.deploy_timeout,
            )
            .await
            .map_err(|e| e.describe("Deployed", opts.deploy_timeout))
        }
    };
    let deployed_ok = match deployed {
        Ok(m) => {
            let ephemeral_note = match (opts.ephemeral, m.ephemeral_deploy) {
                (true, Some(true)) => ", in memory (ephemeral_deploy: true)",
                (true, None) => ", in memory (this MAAS does not show ephemeral_deploy)",
                _ => "",
            };
            let bad_ephemeral = opts.ephemeral && m.ephemeral_deploy == Some(false);
            r.report.machine = Some(machine_summary(&m));
            let detail = format!(
                "{sid} Deployed in {:.1}s: {}/{}{ephemeral_note}{}",
                t.elapsed().as_secs_f64(),
                if m.osystem.is_empty() {
                    "?"
                } else {
                    &m.osystem
                },
                m.distro_series,
                if m.ip_addresses.is_empty() {
                    String::new()
                } else {
                    format!(", {}", m.ip_addresses.join(" "))
                }
            );
            if bad_ephemeral {
                r.step(
                    "deploy",
                    StepStatus::Failed,
                    t,
                    format!("{detail}: asked for an ephemeral deployment, MAAS reports ephemeral_deploy: false"),
                );
                false
            } else {
                r.step("deploy", StepStatus::Ok, t, detail);
                true
            }
        }
        Err(detail) => {
            r.step("deploy", StepStatus::Failed, t, detail);
            false
        }
    };

    if opts.keep {
        if deployed_ok {
            r.report.left_behind.push(format!(
                "machine {sid} stays Deployed (--keep); release it with `maas <profile> machine release {sid}`"
            ));
            r.skip("release", "--keep");
            return;
        }
        r.report.left_behind.push(format!(
            "machine {sid} stays allocated (--keep); release it with `maas <profile> machine release {sid}`"
        ));
        r.skip("release", "--keep");
        return;
    }
    // Release also after a failed deploy: leave nothing allocated.
    let name = if deployed_ok { "release" } else { "cleanup" };
    release(r, &sid, name).await;
}

async fn release(r: &mut Run<'_>, sid: &str, name: &str) {
    let opts = r.opts;
    let t = Instant::now();
    let params = ReleaseParams {
        comment: Some("maas-test smoke test".into()),
        ..ReleaseParams::default()
    };
    if let Err(e) = r.maas.release(sid, &params).await {
        r.report
            .left_behind
            .push(format!("machine {sid}: release failed; release it by hand"));
        r.step(
            name,
            StepStatus::Failed,
            t,
            format!("release of {sid} refused: {e}"),
        );
        return;
    }
    // The release itself must finish even after Ctrl-C: wait without the interrupt.
    let no_interrupt = Interrupt::new();
    let waiter = Run {
        maas: r.maas,
        opts: r.opts,
        progress: r.progress,
        interrupt: &no_interrupt,
        report: SmokeReport {
            ok: false,
            maas_endpoint: String::new(),
            maas_version: None,
            user: None,
            embedded: false,
            steps: Vec::new(),
            machine: None,
            vm: None,
            left_behind: Vec::new(),
        },
    };
    let done = waiter
        .wait(
            sid,
            "Ready",
            |m| matches!(m.status, MachineStatus::Ready | MachineStatus::New),
            opts.release_timeout,
        )
        .await;
    match done {
        Ok(m) => {
            if let Some(s) = r.report.machine.as_mut() {
                s.status = m.status.label().into();
            }
            r.step(
                name,
                StepStatus::Ok,
                t,
                format!(
                    "{sid} {} in {:.1}s",
                    m.status.label(),
                    t.elapsed().as_secs_f64()
                ),
            );
        }
        Err(WaitError::Gone) => {
            r.step(
                name,
                StepStatus::Ok,
                t,
                format!("{sid} released and removed (a dynamic VM)"),
            );
        }
        Err(e) => {
            r.report
                .left_behind
                .push(format!("machine {sid}: release did not finish"));
            r.step(
                name,
                StepStatus::Failed,
                t,
                format!(
                    "release of {sid}: {}",
                    e.describe("Ready", opts.release_timeout)
                ),
            );
        }
    }
}

/// The chosen VM host and why.
fn choose_host<'h>(hosts: &'h [VmHost], t: &VmHostTest) -> Result<&'h VmHost, String> {
    let candidates: Vec<&VmHost> = hosts
        .iter()
        .filter(|h| {
            t.vm_host
                .as_ref()
                .is_none_or(|n| &h.name == n || h.id.to_string() == *n)
        })
        .filter(|h| {
            t.zone
                .as_ref()
                .is_none_or(|z| h.zone.as_ref().is_some_and(|hz| &hz.name == z))
        })
        .filter(|h| {
            t.pool
                .as_ref()
                .is_none_or(|p| h.pool.as_ref().is_some_and(|hp| &hp.name == p))
        })
        .collect();
    let describe = |h: &VmHost| {
        format!(
            "{} (id {}, zone {}, pool {}, {} and {} available)",
            h.name,
            h.id,
            h.zone.as_ref().map(|z| z.name.as_str()).unwrap_or("?"),
            h.pool.as_ref().map(|p| p.name.as_str()).unwrap_or("?"),
            cores(h.available.cores),
            mib_as_gib(h.available.memory)
        )
    };
    if candidates.is_empty() {
        let known: Vec<String> = hosts.iter().map(describe).collect();
        return Err(format!(
            "no VM host matches{}{}{}; MAAS has {}",
            t.vm_host
                .as_ref()
                .map(|n| format!(" name {n}"))
                .unwrap_or_default(),
            t.zone
                .as_ref()
                .map(|z| format!(" zone {z}"))
                .unwrap_or_default(),
            t.pool
                .as_ref()
                .map(|p| format!(" pool {p}"))
                .unwrap_or_default(),
            if known.is_empty() {
                "no VM hosts (register one with vmhost-test)".into()
            } else {
                known.join("; ")
            }
        ));
    }
    let fits = |h: &&&VmHost| {
        h.is_composable()
            && h.available.cores >= i64::from(t.cores)
            && h.available.memory >= i64::try_from(t.memory_mib).unwrap_or(i64::MAX)
            && h.available.local_storage >= i64::from(t.disk_gb) * 1_000_000_000
    };
    candidates
        .iter()
        .filter(fits)
        .max_by_key(|h| (h.available.memory, h.available.cores, -h.id))
        .copied()
        .ok_or_else(|| {
            format!(
                "no matching VM host can hold a VM of {}, {} and {} GB: {}",
                cores(t.cores),
                mib_as_gib(i64::try_from(t.memory_mib).unwrap_or(i64::MAX)),
                t.disk_gb,
                candidates
                    .iter()
                    .map(|h| describe(h))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
}

async fn vm_host(r: &mut Run<'_>, t: &VmHostTest) {
    let opts = r.opts;
    let started = Instant::now();
    let hosts = match r.maas.list_vm_hosts().await {
        Ok(h) => h,
        Err(e) => {
            let hint = match e {
                MaasError::Gone { .. } => {
                    " (this MAAS removed VM hosts; they exist up to MAAS 3.7)"
                }
                _ => "",
            };
            r.step("vm-host", StepStatus::Failed, started, format!("{e}{hint}"));
            r.skip("compose", "no VM host");
            return;
        }
    };
    let hosts = match t.node_ip {
        None => hosts,
        Some(ip) => {
            let mut at_ip = Vec::new();
            let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
            for h in hosts {
                match r.maas.vm_host_parameters(h.id).await {
                    Ok(p) => {
                        let address = p.power_address.unwrap_or_default();
                        if address_host(&address) == Some(ip) {
                            at_ip.push(h);
                        }
                    }
                    Err(e) => {
                        r.step(
                            "vm-host",
                            StepStatus::Failed,
                            started,
                            format!("cannot read the address of VM host {}: {e}", h.name),
                        );
                        r.skip("compose", "no VM host");
                        return;
                    }
                }
            }
            if at_ip.is_empty() {
                r.step(
                    "vm-host",
                    StepStatus::Failed,
                    started,
                    format!(
                        "no VM host has the address {ip}; MAAS has {}",
                        if names.is_empty() {
                            "no VM hosts (register one with vmhost-test)".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                );
                r.skip("compose", "no VM host");
                return;
            }
            at_ip
        }
    };
    let host = match choose_host(&hosts, t) {
        Ok(h) => h.clone(),
        Err(why) => {
            r.step("vm-host", StepStatus::Failed, started, why);
            r.skip("compose", "no VM host");
            return;
        }
    };
    r.step(
        "vm-host",
        StepStatus::Ok,
        started,
        format!(
            "{} (id {}, LXD {}, zone {}, pool {}): {}/{} cores and {} free",
            host.name,
            host.id,
            host.version.as_deref().unwrap_or("?"),
            host.zone.as_ref().map(|z| z.name.as_str()).unwrap_or("?"),
            host.pool.as_ref().map(|p| p.name.as_str()).unwrap_or("?"),
            host.available.cores,
            host.total.cores,
            mib_as_gib(host.available.memory)
        ),
    );

    let hostname = t
        .hostname
        .clone()
        .unwrap_or_else(|| format!("maas-test-{}", random_suffix()));
    let mut params = ComposeParams {
        cores: Some(t.cores),
        memory: Some(t.memory_mib),
        storage: vec![StorageSpec::new(f64::from(t.disk_gb)).label("root")],
        hostname: Some(hostname.clone()),
        zone: host.zone.as_ref().map(|z| z.id),
        pool: host.pool.as_ref().map(|p| p.id),
        ..ComposeParams::default()
    };
    if let Some(ip) = t.static_ip {
        params.interfaces = vec![InterfaceSpec::new("eth0").with("ip", ip.to_string())];
    }
    let started = Instant::now();
    let composed = match r.maas.compose(host.id, &params).await {
        Ok(c) => c,
        Err(e) => {
            r.step(
                "compose",
                StepStatus::Failed,
                started,
                format!("compose {hostname} on {}: {e}", host.name),
            );
            r.skip("commission", "nothing composed");
            return;
        }
    };
    let sid = composed.system_id.clone();
    r.report.vm = Some(VmSummary {
        system_id: sid.clone(),
        hostname: hostname.clone(),
        vm_host: host.name.clone(),
        vm_host_id: host.id,
        status: "New".into(),
        cpu_count: i64::from(t.cores),
        memory_mib: i64::try_from(t.memory_mib).unwrap_or(i64::MAX),
        static_ip: t.static_ip.map(|i| i.to_string()),
        ip_addresses: Vec::new(),
        deleted: false,
    });
    r.step(
        "compose",
        StepStatus::Ok,
        started,
        format!(
            "{hostname} ({sid}) on {}: {}, {}, {} GB{}",
            host.name,
            cores(t.cores),
            mib_as_gib(i64::try_from(t.memory_mib).unwrap_or(i64::MAX)),
            t.disk_gb,
            t.static_ip
                .map(|i| format!(", eth0 {i}"))
                .unwrap_or_default()
        ),
    );

    let started = Instant::now();
    r.progress
        .say(format!("commissioning {sid}: waiting for Ready"));
    match r
        .wait(
            &sid,
            "Ready",
            |m| m.status == MachineStatus::Ready,
            opts.commission_timeout,
        )
        .await
    {
        Ok(m) => {
            if let Some(vm) = r.report.vm.as_mut() {
                vm.status = m.status.label().into();
                vm.ip_addresses = m.ip_addresses.clone();
                vm.cpu_count = m.cpu_count;
                vm.memory_mib = m.memory;
            }
            let ip_ok = t
                .static_ip
                .is_none_or(|ip| m.ip_addresses.iter().any(|a| a == &ip.to_string()));
            let detail = format!(
                "{sid} Ready in {:.1}s{}",
                started.elapsed().as_secs_f64(),
                if m.ip_addresses.is_empty() {
                    String::new()
                } else {
                    format!(", addresses {}", m.ip_addresses.join(" "))
                }
            );
            if ip_ok {
                r.step("commission", StepStatus::Ok, started, detail);
            } else {
                r.step(
                    "commission",
                    StepStatus::Failed,
                    started,
                    format!(
                        "{detail}: the static IP {} is not among its addresses",
                        t.static_ip.map(|i| i.to_string()).unwrap_or_default()
                    ),
                );
            }
        }
        Err(e) => {
            r.step(
                "commission",
                StepStatus::Failed,
                started,
                e.describe("Ready", opts.commission_timeout),
            );
        }
    }

    if opts.keep {
        r.report.left_behind.push(format!(
            "VM {hostname} ({sid}) on {} (--keep); delete it with `maas <profile> machine delete {sid}`",
            host.name
        ));
        r.skip("delete", "--keep");
        return;
    }
    let started = Instant::now();
    match r.maas.delete_machine(&sid, false).await {
        Ok(()) => match r.maas.read_machine(&sid).await {
            Err(e) if e.is_not_found() => {
                if let Some(vm) = r.report.vm.as_mut() {
                    vm.deleted = true;
                }
                r.step(
                    "delete",
                    StepStatus::Ok,
                    started,
                    format!("{sid} deleted (decomposed on {})", host.name),
                );
            }
            Ok(m) => {
                r.report
                    .left_behind
                    .push(format!("VM {sid}: still listed after delete"));
                r.step(
                    "delete",
                    StepStatus::Failed,
                    started,
                    format!("{sid} is still listed after DELETE ({})", m.status.label()),
                );
            }
            Err(e) => {
                r.step(
                    "delete",
                    StepStatus::Failed,
                    started,
                    format!("cannot check that {sid} is gone: {e}"),
                );
            }
        },
        Err(e) => {
            r.report
                .left_behind
                .push(format!("VM {sid}: delete failed; delete it by hand"));
            r.step(
                "delete",
                StepStatus::Failed,
                started,
                format!("delete of {sid} refused: {e}"),
            );
        }
    }
}

/// The host part of a VM host address (`https://10.0.0.5:8443` → 10.0.0.5).
fn address_host(address: &str) -> Option<IpAddr> {
    let url = lxd_host::https_base_url(address).ok()?;
    match url.host()? {
        url::Host::Domain(d) => d.parse().ok(),
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maas_api::{ResourcePool, VmHostResources, Zone};

    fn host(id: i64, name: &str, zone: &str, pool: &str, cores: i64, mem: i64) -> VmHost {
        let res = VmHostResources {
            cores,
            memory: mem,
            local_storage: 500_000_000_000,
        };
        VmHost {
            id,
            name: name.into(),
            host_type: "lxd".into(),
            capabilities: vec!["composable".into()],
            zone: Some(Zone {
                name: zone.into(),
                ..Zone::default()
            }),
            pool: Some(ResourcePool {
                name: pool.into(),
                ..ResourcePool::default()
            }),
            total: res,
            available: res,
            ..VmHost::default()
        }
    }

    #[test]
    fn vm_hosts_are_chosen_by_zone_pool_and_room() {
        let hosts = vec![
            host(1, "a", "z1", "p1", 16, 8192),
            host(2, "b", "z1", "p1", 16, 65536),
            host(3, "c", "z2", "p1", 64, 262144),
            host(4, "d", "z1", "p2", 1, 1024),
        ];
        let t = VmHostTest {
            zone: Some("z1".into()),
            pool: Some("p1".into()),
            ..VmHostTest::default()
        };
        assert_eq!(choose_host(&hosts, &t).unwrap().name, "b");
        let by_name = VmHostTest {
            vm_host: Some("4".into()),
            ..VmHostTest::default()
        };
        let err = choose_host(&hosts, &by_name).unwrap_err();
        assert!(err.contains("can hold a VM of 1 core,"), "{err}");
        let none = VmHostTest {
            zone: Some("nowhere".into()),
            ..VmHostTest::default()
        };
        let err = choose_host(&hosts, &none).unwrap_err();
        assert!(err.starts_with("no VM host matches zone nowhere"), "{err}");
        assert!(
            choose_host(&[], &VmHostTest::default())
                .unwrap_err()
                .contains("register one with vmhost-test")
        );
    }

    #[test]
    fn addresses_yield_their_host() {
        assert_eq!(
            address_host("https://10.0.0.5:8443"),
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(address_host("10.0.0.6"), Some("10.0.0.6".parse().unwrap()));
        assert_eq!(
            address_host("https://[fd00::1]:8443"),
            Some("fd00::1".parse().unwrap())
        );
        assert_eq!(address_host("qemu+ssh://virsh@10.0.0.7/system"), None);
    }
}
