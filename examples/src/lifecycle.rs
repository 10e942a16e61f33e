//! The MAAS machine lifecycle, end to end, with [`maas_api`]: allocate two
//! machines, deploy them (the second in memory when MAAS supports it), wait
//! with progress, release them and wait until they are Ready again.
//!
//! The flow works on anything that implements [`MaasApi`], so the same code
//! runs against a real MAAS, the `maas-sim` binary or an in-process simulator
//! (see `examples/lifecycle.rs` and `docs/demo.md`).
//!
//! Every machine it allocates is released again, also when a step fails or
//! the run is cancelled.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use maas_api::{
    AllocateParams, DeployParams, MaasApi, Machine, MachineFilter, MachineStatus, ReleaseParams,
};
use tokio_util::sync::CancellationToken;

/// MAAS 3.5 introduced the in-memory deploy (`ephemeral_deploy`) for machines.
pub const EPHEMERAL_MIN_VERSION: (u32, u32) = (3, 5);
/// The memory asked for the in-memory machine (its root file system lives in RAM).
pub const EPHEMERAL_MIN_MEMORY_MIB: u64 = 16384;

/// What to do.
#[derive(Clone)]
pub struct Options {
    /// `distro_series` to deploy.
    pub distro_series: String,
    /// The `agent_name` the machines are allocated with (find them with
    /// `GET machines/?agent_name=…` if the run is killed).
    pub agent_name: String,
    /// Cloud-init user data given to both deploys.
    pub user_data: Vec<u8>,
    /// Period of the status poll.
    pub poll_interval: Duration,
    /// How long a deploy or a release may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("distro_series", &self.distro_series)
            .field("agent_name", &self.agent_name)
            .field(
                "user_data",
                &format_args!("<{} bytes>", self.user_data.len()),
            )
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            distro_series: "jammy".into(),
            agent_name: "maas-examples/lifecycle".into(),
            user_data: b"#cloud-config\n# deployed by the maas-examples lifecycle example\n"
                .to_vec(),
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(60 * 60),
        }
    }
}

/// Why the flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A MAAS call failed.
    #[error("{step}: {source} (class: {class})", class = source.class())]
    Maas {
        /// What was being done.
        step: String,
        /// MAAS's error (never contains the API key).
        #[source]
        source: maas_api::Error,
    },
    /// MAAS put a machine in a failed state.
    #[error("{system_id} ({hostname}) is {status}: {message}")]
    MachineFailed {
        /// The machine.
        system_id: String,
        /// Its hostname.
        hostname: String,
        /// Its MAAS status.
        status: MachineStatus,
        /// MAAS's status message.
        message: String,
    },
    /// A wait took longer than [`Options::timeout`].
    #[error("timed out after {}s waiting for {what}", .after.as_secs())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// A machine disappeared from MAAS.
    #[error("machine {0} vanished from MAAS")]
    Vanished(String),
    /// The run was cancelled (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl LifecycleError {
    fn maas(step: impl Into<String>, source: maas_api::Error) -> Self {
        LifecycleError::Maas {
            step: step.into(),
            source,
        }
    }
}

/// One machine of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineReport {
    /// MAAS system id.
    pub system_id: String,
    /// Hostname.
    pub hostname: String,
    /// Deployed in memory (as MAAS reported it once Deployed).
    pub in_memory: bool,
    /// Its IP addresses once Deployed.
    pub ip_addresses: Vec<String>,
    /// Distinct `(status, status_message)` pairs seen while deploying, in order.
    pub deploy_progress: Vec<String>,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The MAAS version string.
    pub maas_version: String,
    /// The machines, in allocation order.
    pub machines: Vec<MachineReport>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Summary {
    /// The last line printed: `lifecycle: 2 machines allocated, deployed (1 in memory) and released in 4.2s`.
    pub fn line(&self) -> String {
        format!(
            "lifecycle: {} machines allocated, deployed ({} in memory) and released in {:.1}s",
            self.machines.len(),
            self.machines.iter().filter(|m| m.in_memory).count(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Where progress lines go.
pub trait Progress: Send {
    /// One line, without the newline.
    fn line(&mut self, line: &str);
}

impl<F: FnMut(&str) + Send> Progress for F {
    fn line(&mut self, line: &str) {
        self(line)
    }
}

/// MAAS's status message when it says more than the status itself.
fn detail(m: &Machine) -> Option<&str> {
    m.status_message
        .as_deref()
        .filter(|s| !s.is_empty() && *s != m.status.to_string())
}

struct Run<'a> {
    maas: &'a dyn MaasApi,
    opts: &'a Options,
    out: &'a mut dyn Progress,
    cancel: CancellationToken,
    started: Instant,
    /// Allocated and not yet seen released: what cleanup gives back.
    held: Vec<String>,
}

impl Run<'_> {
    fn say(&mut self, text: String) {
        self.out.line(&format!("lifecycle: {text}"));
    }

    fn progress(&mut self, m: &Machine) {
        let mut line = format!(
            "[{:>6.1}s] {} ({}): {}",
            self.started.elapsed().as_secs_f64(),
            m.system_id,
            m.hostname,
            m.status
        );
        if let Some(msg) = detail(m) {
            let _ = write!(line, " - {msg}");
        }
        self.out.line(&line);
    }

    async fn sleep(&self) -> Result<(), LifecycleError> {
        tokio::select! {
            () = tokio::time::sleep(self.opts.poll_interval) => Ok(()),
            () = self.cancel.cancelled() => Err(LifecycleError::Interrupted),
        }
    }

    /// Polls `ids` until each is in `target`; prints a line whenever a
    /// machine's status or status message changes. Returns the final
    /// machines and, per machine, the distinct progress it went through.
    async fn wait_for(
        &mut self,
        ids: &[String],
        target: MachineStatus,
        what: &str,
    ) -> Result<(Vec<Machine>, BTreeMap<String, Vec<String>>), LifecycleError> {
        let deadline = Instant::now() + self.opts.timeout;
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        loop {
            let filter = MachineFilter::new().ids(ids.iter().cloned());
            let machines = self
                .maas
                .list_machines(&filter)
                .await
                .map_err(|e| LifecycleError::maas(format!("reading {what}"), e))?;
            for id in ids {
                let Some(m) = machines.iter().find(|m| &m.system_id == id) else {
                    return Err(LifecycleError::Vanished(id.clone()));
                };
                let state = match detail(m) {
                    Some(msg) => format!("{} - {msg}", m.status),
                    None => m.status.to_string(),
                };
                let history = seen.entry(id.clone()).or_default();
                if history.last() != Some(&state) {
                    history.push(state);
                    self.progress(m);
                }
                if m.status.is_failed() {
                    return Err(LifecycleError::MachineFailed {
                        system_id: m.system_id.clone(),
                        hostname: m.hostname.clone(),
                        status: m.status,
                        message: m.status_message.clone().unwrap_or_default(),
                    });
                }
            }
            if ids.iter().all(|id| {
                machines
                    .iter()
                    .any(|m| &m.system_id == id && m.status == target)
            }) {
                let ordered = ids
                    .iter()
                    .filter_map(|id| machines.iter().find(|m| &m.system_id == id).cloned())
                    .collect();
                return Ok((ordered, seen));
            }
            if Instant::now() >= deadline {
                return Err(LifecycleError::Timeout {
                    what: what.to_owned(),
                    after: self.opts.timeout,
                });
            }
            self.sleep().await?;
        }
    }

    async fn flow(&mut self) -> Result<Summary, LifecycleError> {
        let maas = self.maas;
        let opts = self.opts;
        let user = maas
            .whoami()
            .await
            .map_err(|e| LifecycleError::maas("who am I", e))?;
        let version = maas
            .version()
            .await
            .map_err(|e| LifecycleError::maas("reading the MAAS version", e))?;
        let (major, minor) = EPHEMERAL_MIN_VERSION;
        let in_memory = version.parsed().is_some_and(|v| v.at_least(major, minor));
        self.say(format!(
            "MAAS {} as {}; in-memory deploy {}",
            version.version,
            user.username,
            if in_memory {
                "supported"
            } else {
                "needs MAAS 3.5 (both machines go to disk)"
            }
        ));

        // 1. Allocate: one machine for a disk deploy, one big enough to run in memory.
        let wanted = [
            ("disk", false, None),
            (
                "in-memory",
                in_memory,
                in_memory.then_some(EPHEMERAL_MIN_MEMORY_MIB),
            ),
        ];
        let mut plan = Vec::new();
        for (label, ephemeral, mem) in wanted {
            let mut params = AllocateParams::new()
                .agent_name(opts.agent_name.clone())
                .comment(format!("maas-examples lifecycle ({label})"));
            if let Some(mib) = mem {
                params = params.mem(mib);
            }
            let m = tokio::select! {
                r = maas.allocate(&params) => r.map_err(|e| LifecycleError::maas(format!("allocating the {label} machine"), e))?,
                () = self.cancel.cancelled() => return Err(LifecycleError::Interrupted),
            };
            self.held.push(m.system_id.clone());
            self.say(format!(
                "allocated {} ({}, {} CPUs, {} MiB, zone {}) for the {label} deploy",
                m.system_id,
                m.hostname,
                m.cpu_count,
                m.memory,
                m.zone.as_ref().map_or("-", |z| z.name.as_str())
            ));
            plan.push((m, ephemeral));
        }

        // 2. Deploy both.
        for (m, ephemeral) in &plan {
            let params = DeployParams::new()
                .distro_series(opts.distro_series.clone())
                .user_data(opts.user_data.clone())
                .ephemeral(*ephemeral);
            maas.deploy(&m.system_id, &params)
                .await
                .map_err(|e| LifecycleError::maas(format!("deploying {}", m.system_id), e))?;
            self.say(format!(
                "deploying {} to {} ({})",
                opts.distro_series,
                m.system_id,
                if *ephemeral { "in memory" } else { "on disk" }
            ));
        }
        let ids: Vec<String> = plan.iter().map(|(m, _)| m.system_id.clone()).collect();
        let (deployed, history) = self
            .wait_for(&ids, MachineStatus::Deployed, "the deployments")
            .await?;
        let mut reports = Vec::new();
        for (m, (_, asked_ephemeral)) in deployed.iter().zip(&plan) {
            let in_memory = m.ephemeral_deploy.unwrap_or(*asked_ephemeral);
            self.say(format!(
                "{} ({}) deployed {}, IPs {}",
                m.system_id,
                m.hostname,
                if in_memory { "in memory" } else { "on disk" },
                if m.ip_addresses.is_empty() {
                    "-".to_owned()
                } else {
                    m.ip_addresses.join(", ")
                }
            ));
            reports.push(MachineReport {
                system_id: m.system_id.clone(),
                hostname: m.hostname.clone(),
                in_memory,
                ip_addresses: m.ip_addresses.clone(),
                deploy_progress: history.get(&m.system_id).cloned().unwrap_or_default(),
            });
        }

        // 3. Release both and wait for Ready.
        self.release_held().await?;
        self.wait_for(&ids, MachineStatus::Ready, "the releases")
            .await?;
        self.held.clear();
        Ok(Summary {
            maas_version: version.version,
            machines: reports,
            elapsed: self.started.elapsed(),
        })
    }

    async fn release_held(&mut self) -> Result<(), LifecycleError> {
        for id in self.held.clone() {
            self.maas
                .release(
                    &id,
                    &ReleaseParams {
                        comment: Some("maas-examples lifecycle".into()),
                        ..ReleaseParams::default()
                    },
                )
                .await
                .map_err(|e| LifecycleError::maas(format!("releasing {id}"), e))?;
            self.say(format!("releasing {id}"));
        }
        Ok(())
    }

    /// After a failure: give back whatever is still held, best effort.
    async fn cleanup(&mut self) {
        for id in std::mem::take(&mut self.held) {
            match self.maas.release(&id, &ReleaseParams::default()).await {
                Ok(m) => self.say(format!("cleanup: released {id} ({})", m.status)),
                Err(e) => self.say(format!("cleanup: could not release {id}: {e}")),
            }
        }
    }
}

/// Runs the lifecycle against `maas`, printing progress to `out`.
///
/// Cancelling `cancel` stops the waits; whatever was allocated is released
/// before [`LifecycleError::Interrupted`] is returned. On any error the
/// allocated machines are released (best effort) too.
pub async fn run(
    maas: &dyn MaasApi,
    opts: &Options,
    out: &mut dyn Progress,
    cancel: CancellationToken,
) -> Result<Summary, LifecycleError> {
    let mut run = Run {
        maas,
        opts,
        out,
        cancel,
        started: Instant::now(),
        held: Vec::new(),
    };
    match run.flow().await {
        Ok(summary) => Ok(summary),
        Err(e) => {
            run.cleanup().await;
            Err(e)
        }
    }
}
