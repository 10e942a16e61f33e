//! One soak run, and the whole soak.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capmaas_demo::process::Supervised;
use kube_testenv::TestEnv;
use maas_sim::{MachineState, RequestRecord};

use crate::SoakError;
use crate::config::SoakConfig;
use crate::invariants::{Checker, Violation, held, marker};
use crate::objects::Objects;
use crate::rng::{Rng, run_seed};
use crate::variant::Variant;

/// How often MAAS is sampled and the schedule looked at.
const TICK: Duration = Duration::from_millis(100);

/// What one run did and found.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Run index.
    pub index: usize,
    /// Runs in the soak (for the line).
    pub of: usize,
    /// The run's own seed.
    pub seed: u64,
    /// Its fault variant.
    pub variant: Variant,
    /// kill -9 of the manager.
    pub kills: usize,
    /// Of those, while MaasMachines were being deleted.
    pub kills_deleting: usize,
    /// MAAS requests answered with an injected fault.
    pub faults: u64,
    /// MAAS requests seen.
    pub requests: u64,
    /// Waves of MaasMachines created, provisioned and deleted.
    pub waves: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Machine samples checked.
    pub samples: u64,
    /// The slowest wave from creation to every MaasMachine provisioned.
    pub slowest_provision: Duration,
    /// The slowest wave from deletion to every machine back in MAAS.
    pub slowest_delete: Duration,
    /// What broke.
    pub violations: Vec<Violation>,
    /// Where its logs were kept (an unclean run keeps them).
    pub kept: Option<PathBuf>,
}

impl RunReport {
    /// No invariant broke.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Double allocations and deploys.
    #[must_use]
    pub fn doubles(&self) -> usize {
        self.violations.iter().filter(|v| v.is_double()).count()
    }

    /// Leaked machines.
    #[must_use]
    pub fn leaks(&self) -> usize {
        self.violations.iter().filter(|v| v.is_leak()).count()
    }

    /// The run's line (and one indented line per violation).
    #[must_use]
    pub fn line(&self) -> String {
        let mut s = format!(
            "run {}/{} seed {} variant {}: {}, {} kills ({} while deleting), {} faults, {} waves, {} MAAS requests, {} samples, slowest wave provisioned in {:.1}s and released in {:.1}s, {:.1}s",
            self.index + 1,
            self.of,
            self.seed,
            self.variant.name(),
            if self.clean() {
                "clean".to_owned()
            } else {
                format!("NOT CLEAN ({} violations)", self.violations.len())
            },
            self.kills,
            self.kills_deleting,
            self.faults,
            self.waves,
            self.requests,
            self.samples,
            self.slowest_provision.as_secs_f64(),
            self.slowest_delete.as_secs_f64(),
            self.elapsed.as_secs_f64()
        );
        for v in self.violations.iter().take(20) {
            s.push_str(&format!("\n  {v}"));
        }
        if let Some(k) = &self.kept {
            s.push_str(&format!("\n  logs kept in {}", k.display()));
        }
        s
    }
}

/// Every run's report.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The reports, in run order.
    pub runs: Vec<RunReport>,
}

impl Summary {
    /// Every run was clean.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.runs.iter().all(RunReport::clean)
    }

    /// `soak: K/N runs clean, <kills> kills, <faults> faults, leaks L, doubles D`.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "soak: {}/{} runs clean, {} kills, {} faults, leaks {}, doubles {}",
            self.runs.iter().filter(|r| r.clean()).count(),
            self.runs.len(),
            self.runs.iter().map(|r| r.kills).sum::<usize>(),
            self.runs.iter().map(|r| r.faults).sum::<u64>(),
            self.runs.iter().map(RunReport::leaks).sum::<usize>(),
            self.runs.iter().map(RunReport::doubles).sum::<usize>(),
        )
    }
}

/// Runs the soak: one control plane for all runs, per run a namespace, a
/// maas-sim and the manager (killed and restarted). `line` gets each run's
/// line as it ends.
///
/// # Errors
/// When the soak cannot start (a binary missing, the control plane); a
/// run's own failures are violations in its report.
pub async fn soak(cfg: &SoakConfig, mut line: impl FnMut(&str)) -> Result<Summary, SoakError> {
    for name in ["maas-sim", "capmaas-manager"] {
        let path = cfg.bin_dir.join(name);
        if !path.is_file() {
            return Err(SoakError::MissingBinary { name, path });
        }
    }
    let env = TestEnv::start(kube_testenv::Options::default()).await?;
    let crds = capi_types::crds::all().map_err(|e| SoakError::Invalid(e.to_string()))?;
    env.install_crds(&crds).await?;
    env.install_capi_crds().await?;
    let mut summary = Summary::default();
    let indexes = cfg.run_indexes();
    for index in indexes {
        let report = run_one(cfg, &env, index).await;
        line(&report.line());
        if !report.clean() {
            line(&format!("  replay: {}", cfg.replay_command(index)));
        }
        summary.runs.push(report);
    }
    let _ = tokio::task::spawn_blocking(move || drop(env)).await;
    Ok(summary)
}

/// The phase of the current wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Create,
    WaitProvisioned,
    Delete,
    WaitGone,
    WaitReleased,
    End,
}

/// What a run holds while it runs.
struct Run<'a> {
    cfg: &'a SoakConfig,
    dir: PathBuf,
    http: reqwest::Client,
    control: String,
    endpoint: String,
    api_key: String,
    kubeconfig: String,
    ns: String,
    manager: Option<Supervised>,
    incarnation: usize,
    checker: Checker,
    machines: Vec<MachineState>,
}

async fn run_one(cfg: &SoakConfig, env: &TestEnv, index: usize) -> RunReport {
    let started = Instant::now();
    let seed = run_seed(cfg.seed, index);
    let variant = cfg.variant(index);
    let mut report = RunReport {
        index,
        of: cfg.runs.max(index + 1),
        seed,
        variant,
        kills: 0,
        kills_deleting: 0,
        faults: 0,
        requests: 0,
        waves: 0,
        elapsed: Duration::ZERO,
        samples: 0,
        slowest_provision: Duration::ZERO,
        slowest_delete: Duration::ZERO,
        violations: Vec::new(),
        kept: None,
    };
    let dir = match tempfile::Builder::new().prefix("capmaas-soak-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            report
                .violations
                .push(Violation::Other(format!("creating a temp dir: {e}")));
            return report;
        }
    };
    let mut sim = None;
    let mut run = None;
    let result = run_in(
        cfg,
        env,
        index,
        seed,
        variant,
        dir.path(),
        &mut sim,
        &mut run,
        &mut report,
    )
    .await;
    if let Err(e) = result {
        report
            .violations
            .push(Violation::Other(format!("run aborted: {e}")));
    }
    if let Some(r) = run.as_mut() {
        if let Some(m) = r.manager.as_mut() {
            match m.stop(Duration::from_secs(20)).await {
                Some(s) if s.success() => {}
                Some(s) => report.violations.push(Violation::Other(format!(
                    "capmaas-manager exited with {s} on SIGTERM"
                ))),
                None => report.violations.push(Violation::Other(
                    "capmaas-manager did not stop within 20s of SIGTERM".into(),
                )),
            }
            if let Some(v) = panic_in(m.log()) {
                report.violations.push(v);
            }
        }
        report.faults = r.checker.faults();
        report.requests = r.checker.requests();
        report.samples = r.checker.samples();
        report
            .violations
            .splice(0..0, r.checker.violations().iter().cloned());
    }
    if let Some(s) = sim.as_mut() {
        let _ = Supervised::stop(s, Duration::from_secs(15)).await;
    }
    report.elapsed = started.elapsed();
    if !report.clean() {
        report.kept = Some(dir.keep());
    }
    report
}

#[allow(clippy::too_many_arguments)]
async fn run_in<'a>(
    cfg: &'a SoakConfig,
    env: &TestEnv,
    index: usize,
    seed: u64,
    variant: Variant,
    dir: &Path,
    sim_slot: &mut Option<Supervised>,
    run_slot: &mut Option<Run<'a>>,
    report: &mut RunReport,
) -> Result<(), SoakError> {
    let mut rng = Rng::new(seed);
    let client = env.client()?;
    let ns = format!("soak-{index}-{}", seed % 100_000);

    // maas-sim, with room for twice the machines (a lost allocation holds one).
    let inventory = dir.join("inventory.json");
    std::fs::write(&inventory, capmaas_demo::inventory_json(cfg.machines * 2)).map_err(
        |source| SoakError::Io {
            what: "writing the maas-sim inventory".into(),
            source,
        },
    )?;
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--inventory",
        &inventory.to_string_lossy(),
        "--maas-version",
        "3.6",
        "--deploy-seconds",
        "1.5",
        "--release-seconds",
        "0.5",
        "--seed",
        &(seed % 1_000_000).to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (sim, stdout) = Supervised::spawn(
        "maas-sim",
        &cfg.bin_dir.join("maas-sim"),
        &args,
        &[],
        &dir.join("maas-sim.log"),
        true,
    )
    .map_err(SoakError::from)?;
    let sim = sim_slot.insert(sim);
    let (endpoint, api_key) = capmaas_demo::read_sim_contract(sim, stdout).await?;
    let control = format!("{}/_sim", endpoint.trim_end_matches("/MAAS"));
    let objects = Objects::create(client, &ns).await?;
    let run = run_slot.insert(Run {
        cfg,
        dir: dir.to_owned(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| SoakError::Invalid(e.to_string()))?,
        control,
        endpoint,
        api_key,
        kubeconfig: env.kubeconfig_path().to_string_lossy().into_owned(),
        ns: ns.clone(),
        manager: None,
        incarnation: 0,
        checker: Checker::new(),
        machines: Vec::new(),
    });
    run.start_manager()?;
    if let Some(m) = run.manager.as_mut() {
        capmaas_demo::wait_manager_ready(m, cfg.timeout).await?;
    }

    // The cluster, provisioned before the chaos starts.
    objects.create_cluster().await?;
    let t = Instant::now();
    while !objects.maas_cluster_provisioned().await? {
        run.sample().await?;
        if t.elapsed() > cfg.timeout {
            return Err(SoakError::Timeout(
                "the MaasCluster was not provisioned".into(),
            ));
        }
        tokio::time::sleep(TICK).await;
    }
    objects.set_infrastructure_provisioned().await?;

    // The chaos: waves of machines while the manager is killed.
    if let Some(f) = variant.standing() {
        run.post(
            "/faults",
            &serde_json::to_value(f).map_err(|e| SoakError::Invalid(e.to_string()))?,
        )
        .await?;
    }
    let mut chaos = cfg.kills > 0;
    let mut wave = 0usize;
    let mut final_wave = if chaos { None } else { Some(0) };
    let mut phase = Phase::Create;
    let mut phase_started = Instant::now();
    let mut delete_started = phase_started;
    let mut next_kill =
        Instant::now() + Duration::from_millis(rng.millis(cfg.kill_ms.0, cfg.kill_ms.1));
    let mut next_fault = Instant::now();
    let names = |wave: usize| -> Vec<String> {
        (0..cfg.machines).map(|i| format!("w{wave}-m{i}")).collect()
    };
    while phase != Phase::End {
        run.sample().await?;
        let now = Instant::now();
        run.check_manager_alive(report)?;
        // A third of the kills (at least one) happen while MaasMachines are
        // being deleted: until then, kills elsewhere wait.
        let deleting = matches!(phase, Phase::Delete | Phase::WaitGone);
        let reserved = cfg.kills.div_ceil(3);
        let may_kill = deleting || report.kills - report.kills_deleting < cfg.kills - reserved;
        if chaos && now >= next_kill && may_kill {
            if run.kill_and_restart().await? {
                report.kills += 1;
                if deleting {
                    report.kills_deleting += 1;
                }
            }
            next_kill =
                Instant::now() + Duration::from_millis(rng.millis(cfg.kill_ms.0, cfg.kill_ms.1));
            if report.kills >= cfg.kills {
                chaos = false;
                run.delete("/faults").await?;
                final_wave = Some(match phase {
                    Phase::Create | Phase::WaitProvisioned => wave,
                    _ => wave + 1,
                });
                // The last wave gets the full time, without chaos.
                phase_started = Instant::now();
            }
        }
        if chaos && now >= next_fault {
            // At most two scripted faults wait for their operation at a time.
            let pending: serde_json::Value = run.get("/faults").await?;
            let waiting = pending["scripted"].as_array().map_or(0, Vec::len);
            if waiting < 2
                && let Some(f) = variant.next_scripted(&mut rng)
            {
                run.post(
                    "/faults/scripted",
                    &serde_json::to_value(f).map_err(|e| SoakError::Invalid(e.to_string()))?,
                )
                .await?;
            }
            next_fault = Instant::now() + Duration::from_millis(rng.millis(300, 1500));
        }
        let timed_out = phase_started.elapsed() > cfg.timeout;
        match phase {
            Phase::Create => {
                for (i, name) in names(wave).iter().enumerate() {
                    objects
                        .create_machine(name, i == 0, cfg.machines >= 2 && i == 1)
                        .await?;
                }
                report.waves += 1;
                phase = Phase::WaitProvisioned;
                phase_started = Instant::now();
            }
            Phase::WaitProvisioned => {
                let mms = objects.maas_machines().await?;
                let done = mms.values().filter(|p| **p).count();
                if done == cfg.machines {
                    report.slowest_provision =
                        report.slowest_provision.max(phase_started.elapsed());
                    phase = Phase::Delete;
                } else if timed_out {
                    let missing: Vec<&String> =
                        mms.iter().filter(|(_, p)| !**p).map(|(n, _)| n).collect();
                    run.checker.report(Violation::Other(format!(
                        "wave {wave}: {done}/{} MaasMachines provisioned after {}s{}; not: {missing:?}",
                        cfg.machines,
                        cfg.timeout.as_secs(),
                        if chaos { " (during the chaos)" } else { " (without chaos)" },
                    )));
                    phase = Phase::Delete;
                }
            }
            Phase::Delete => {
                for name in names(wave) {
                    objects.delete_machine(&name).await?;
                }
                phase = Phase::WaitGone;
                phase_started = Instant::now();
                delete_started = phase_started;
            }
            Phase::WaitGone => {
                let mms = objects.maas_machines().await?;
                if mms.is_empty() {
                    phase = Phase::WaitReleased;
                } else if timed_out {
                    return Err(SoakError::Timeout(format!(
                        "finalizer stuck: {:?} not deleted {}s after their deletion",
                        mms.keys().collect::<Vec<_>>(),
                        cfg.timeout.as_secs()
                    )));
                }
            }
            Phase::WaitReleased => {
                let busy = run.ours_in_maas();
                if busy.is_empty() {
                    report.slowest_delete = report.slowest_delete.max(delete_started.elapsed());
                    if final_wave == Some(wave) {
                        phase = Phase::End;
                    } else {
                        wave += 1;
                        phase = Phase::Create;
                    }
                } else if timed_out {
                    // Reported as leaks by the final check.
                    phase = Phase::End;
                }
            }
            Phase::End => {}
        }
        tokio::time::sleep(TICK).await;
    }

    // The end: the cluster goes, nothing of ours stays in MAAS.
    objects.delete_cluster().await?;
    let t = Instant::now();
    while objects.maas_cluster_exists().await? {
        run.sample().await?;
        run.check_manager_alive(report)?;
        if t.elapsed() > cfg.timeout {
            run.checker.report(Violation::Other(format!(
                "finalizer stuck: MaasCluster {}/{} not deleted {}s after its deletion",
                objects.namespace(),
                crate::objects::CLUSTER,
                cfg.timeout.as_secs()
            )));
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let t = Instant::now();
    loop {
        run.sample().await?;
        if run.ours_in_maas().is_empty() || t.elapsed() > cfg.timeout {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let machines = run.machines.clone();
    run.checker.finish(&machines);
    Ok(())
}

impl Run<'_> {
    fn start_manager(&mut self) -> Result<(), SoakError> {
        let args: Vec<String> = [
            "--namespace",
            &self.ns,
            "--maas-endpoint",
            &self.endpoint,
            "--poll-interval",
            "1s",
            "--sync-period",
            "30s",
            "--allocation-settle-time",
            "10s",
            "--capacity-backoff",
            "10s",
            "--capacity-backoff-max",
            "20s",
            "--health-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        self.incarnation += 1;
        let log = self
            .dir
            .join(format!("capmaas-manager-{}.log", self.incarnation));
        let (m, _) = Supervised::spawn(
            "capmaas-manager",
            &self.cfg.bin_dir.join("capmaas-manager"),
            &args,
            &[
                ("KUBECONFIG", self.kubeconfig.as_str()),
                ("MAAS_API_KEY", self.api_key.as_str()),
            ],
            &log,
            false,
        )?;
        self.manager = Some(m);
        Ok(())
    }

    /// kill -9 of the manager binary, then a new one. `false`: it had not
    /// started yet (nothing killed, try again at the next tick).
    async fn kill_and_restart(&mut self) -> Result<bool, SoakError> {
        let Some(m) = self.manager.as_mut() else {
            self.start_manager()?;
            return Ok(false);
        };
        let Some(pid) = m.binary_pid() else {
            return Ok(false);
        };
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .map_err(|source| SoakError::Io {
                what: format!("kill -KILL {pid}"),
                source,
            })?;
        if !status.success() {
            return Ok(false);
        }
        let t = Instant::now();
        while m.exited().is_none() {
            if t.elapsed() > Duration::from_secs(10) {
                return Err(SoakError::Timeout(format!(
                    "capmaas-manager (pid {pid}) still running 10s after SIGKILL"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(v) = panic_in(m.log()) {
            self.checker.report(v);
        }
        let old = m.log().to_owned();
        self.start_manager()?;
        let _ = std::fs::remove_file(old);
        Ok(true)
    }

    /// A manager that exited by itself is a violation (then it is restarted).
    fn check_manager_alive(&mut self, _report: &mut RunReport) -> Result<(), SoakError> {
        if let Some(m) = self.manager.as_mut()
            && let Some(status) = m.exited()
        {
            self.checker.report(Violation::Other(format!(
                "capmaas-manager exited by itself ({status}); last lines of {}:\n{}",
                m.log().display(),
                m.log_tail(10)
            )));
            if let Some(v) = panic_in(m.log()) {
                self.checker.report(v);
            }
            self.start_manager()?;
        }
        Ok(())
    }

    /// Reads MAAS's machines and the new request-log records; checks them.
    async fn sample(&mut self) -> Result<(), SoakError> {
        let machines: Vec<MachineState> = self.get("/machines").await?;
        let records: Vec<RequestRecord> = self
            .get(&format!("/requests?since={}", self.checker.last_seq()))
            .await?;
        self.checker.observe_requests(&records);
        self.checker.observe_machines(&machines);
        self.machines = machines;
        Ok(())
    }

    /// Machines of the last sample still ours (marker, or held by a user).
    fn ours_in_maas(&self) -> BTreeMap<String, String> {
        self.machines
            .iter()
            .filter(|m| marker(m).is_some() || (m.owner.is_some() && held(m.status)))
            .map(|m| (m.system_id.clone(), m.status.name().to_owned()))
            .collect()
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, SoakError> {
        let url = format!("{}{path}", self.control);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| sim_error(&url, e))?;
        r.error_for_status()
            .map_err(|e| sim_error(&url, e))?
            .json()
            .await
            .map_err(|e| sim_error(&url, e))
    }

    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<(), SoakError> {
        let url = format!("{}{path}", self.control);
        self.http
            .post(&url)
            .json(body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| sim_error(&url, e))?;
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), SoakError> {
        let url = format!("{}{path}", self.control);
        self.http
            .delete(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| sim_error(&url, e))?;
        Ok(())
    }
}

fn sim_error(url: &str, e: reqwest::Error) -> SoakError {
    SoakError::Invalid(format!("maas-sim control {url}: {e}"))
}

/// A panic in a manager log.
fn panic_in(log: &Path) -> Option<Violation> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .find(|l| l.contains("panicked at"))
        .map(|l| Violation::Other(format!("panic in capmaas-manager ({}): {l}", log.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(violations: Vec<Violation>, kills: usize, faults: u64) -> RunReport {
        RunReport {
            index: 0,
            of: 2,
            seed: 5,
            variant: Variant::Dropped,
            kills,
            kills_deleting: 1,
            faults,
            requests: 10,
            waves: 2,
            elapsed: Duration::from_secs(3),
            samples: 4,
            slowest_provision: Duration::from_secs(1),
            slowest_delete: Duration::from_secs(2),
            violations,
            kept: None,
        }
    }

    #[test]
    fn summary_line_counts_runs_kills_faults_leaks_doubles() {
        let s = Summary {
            runs: vec![report(vec![], 40, 7), report(vec![], 41, 3)],
        };
        assert!(s.clean());
        assert_eq!(
            s.line(),
            "soak: 2/2 runs clean, 81 kills, 10 faults, leaks 0, doubles 0"
        );
        let s = Summary {
            runs: vec![
                report(vec![], 40, 0),
                report(
                    vec![
                        Violation::DoubleDeploy {
                            system_id: "a".into(),
                            first_seq: 1,
                            second_seq: 2,
                        },
                        Violation::Leak {
                            system_id: "b".into(),
                            status: maas_sim::NodeStatus::Deployed,
                            holder: "x".into(),
                        },
                    ],
                    6,
                    1,
                ),
            ],
        };
        assert!(!s.clean());
        assert_eq!(
            s.line(),
            "soak: 1/2 runs clean, 46 kills, 1 faults, leaks 1, doubles 1"
        );
        let line = s.runs[1].line();
        assert!(
            line.starts_with(
                "run 1/2 seed 5 variant drop: NOT CLEAN (2 violations), 6 kills (1 while deleting)"
            ),
            "{line}"
        );
        assert!(line.contains("\n  second deploy of a"), "{line}");
    }

    #[test]
    fn a_panic_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("m.log");
        std::fs::write(
            &log,
            "ok\nthread 'tokio-runtime-worker' panicked at src/x.rs:1:2:\nboom\n",
        )
        .unwrap();
        assert!(
            panic_in(&log)
                .unwrap()
                .to_string()
                .contains("panicked at src/x.rs")
        );
        std::fs::write(&log, "ok\n").unwrap();
        assert!(panic_in(&log).is_none());
    }
}
