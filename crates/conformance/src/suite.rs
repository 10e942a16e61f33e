//! The suite, start to finish: checks in order, then cleanup in every case.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capi_types::MaasMachine;
use kube::{Client, ResourceExt};
use kube_testenv::TestEnv;
use maas_api::{
    ClientConfig, DnsResourceFilter, MaasClient, Machine, MachineFilter, MachineStatus,
    ReleaseParams,
};
use machine_lifecycle::{ANNOTATION_OWNER, OwnerMarker};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::manager::Manager;
use crate::objects::{self, MachinePlan, Names};
use crate::report::{CheckResult, Failure, Report};

/// Least memory (MiB) of a machine for an in-memory deploy: the manager's
/// default `--ephemeral-min-memory-mib`.
pub const IN_MEMORY_MIB: i64 = 16_384;

/// The checks, in order (the report marks the ones an early failure
/// prevented as not run).
pub const PLAN: &[&str] = &[
    CHECK_MAAS,
    CHECK_CANDIDATES,
    CHECK_CONTROL_PLANE,
    CHECK_MANAGER,
    CHECK_KILL,
    CHECK_CLUSTER,
    CHECK_CP,
    CHECK_WORKER,
    CHECK_IN_MEMORY,
    CHECK_NO_LEAK,
    CHECK_DNS,
    CHECK_DELETE,
    CHECK_CLUSTER_DELETE,
    CHECK_SIGTERM,
    CHECK_CLEANUP,
];
const CHECK_MAAS: &str = "MAAS API answers (version, whoami)";
const CHECK_CANDIDATES: &str = "enough Ready machines in scope";
const CHECK_CONTROL_PLANE: &str = "etcd + kube-apiserver, CRDs installed";
const CHECK_MANAGER: &str = "capmaas-manager starts (/readyz)";
const CHECK_KILL: &str = "kill -9 of capmaas-manager mid-provisioning, restart";
const CHECK_CLUSTER: &str = "MaasCluster provisioned";
const CHECK_CP: &str = "control-plane machine provisioned (disk; zone, pool, tag)";
const CHECK_WORKER: &str = "worker provisioned (disk)";
const CHECK_IN_MEMORY: &str = "worker provisioned in memory (ephemeral)";
const CHECK_NO_LEAK: &str = "one MAAS machine per MaasMachine, all in scope";
const CHECK_DNS: &str = "control-plane DNS record in MAAS";
const CHECK_DELETE: &str = "machines deleted: each back to Ready in MAAS";
const CHECK_CLUSTER_DELETE: &str = "cluster deleted: DNS record removed";
const CHECK_SIGTERM: &str = "capmaas-manager exits 0 on SIGTERM";
const CHECK_CLEANUP: &str = "cleanup: nothing of the run left in MAAS";

/// What was started, stopped in [`Stack::shutdown`].
#[derive(Default)]
struct Stack {
    dir: Option<tempfile::TempDir>,
    env: Option<TestEnv>,
    manager: Option<Manager>,
    manager_runs: u32,
}

/// What the run learned, kept when it stops early.
#[derive(Default)]
struct Learned {
    /// MaasMachine name → the owner marker it writes into MAAS.
    markers: BTreeMap<String, String>,
    /// Every system id seen in scope before the run.
    in_scope: BTreeSet<String>,
    /// The DNS record's name, once the cluster exists.
    fqdn: Option<String>,
    /// The run got to the end of its checks.
    completed: bool,
    /// The Cluster's infrastructure is marked provisioned.
    infra_marked: bool,
}

/// Runs the suite against `cfg`'s MAAS, writing the report to `out`.
/// Cancelling `cancel` (Ctrl-C) stops the checks; cleanup always runs.
pub async fn run<W: Write + Send>(
    cfg: &Config,
    out: W,
    cancel: CancellationToken,
) -> Vec<CheckResult> {
    let mut report = Report::new(out);
    let names = Names::fresh();
    report.say(format!(
        "capmaas conformance against {} ({}), namespace {}, cluster {}",
        cfg.endpoint,
        cfg.scope(),
        names.namespace,
        names.cluster
    ));
    let mut stack = Stack::default();
    let mut learned = Learned::default();
    let maas = ClientConfig::new(&cfg.endpoint, cfg.api_key.expose())
        .map(|c| c.with_user_agent(format!("capmaas-conformance/{}", env!("CARGO_PKG_VERSION"))))
        .and_then(MaasClient::new);
    match maas {
        Ok(maas) => {
            let mut s = Suite {
                cfg,
                names: &names,
                maas: &maas,
                report: &mut report,
                stack: &mut stack,
                learned: &mut learned,
                cancel: &cancel,
            };
            if s.checks().await.is_err() {
                s.report.not_run(&PLAN[..PLAN.len() - 2]);
            }
            s.sigterm().await;
            s.cleanup().await;
        }
        Err(e) => report.record(CheckResult {
            name: CHECK_MAAS.into(),
            verdict: crate::report::Verdict::Fail,
            duration: Duration::ZERO,
            detail: format!("MAAS client: {e}"),
            maas_text: None,
        }),
    }
    stack.shutdown().await;
    report.not_run(PLAN);
    report.finish()
}

impl Stack {
    async fn shutdown(&mut self) {
        if let Some(m) = &mut self.manager {
            let _ = m.stop(Duration::from_secs(20)).await;
        }
        self.manager = None;
        if let Some(env) = self.env.take() {
            let _ = tokio::task::spawn_blocking(move || drop(env)).await;
        }
        if let Some(dir) = self.dir.take() {
            // Keep the logs of a failed run? They are named in the report;
            // the temp dir goes with the run.
            drop(dir);
        }
    }
}

/// A stop of the checks (the failing check is already in the report).
struct Stop;

struct Suite<'a, W: Write> {
    cfg: &'a Config,
    names: &'a Names,
    maas: &'a MaasClient,
    report: &'a mut Report<W>,
    stack: &'a mut Stack,
    learned: &'a mut Learned,
    cancel: &'a CancellationToken,
}

/// What the first checks found out.
struct Target {
    in_memory: bool,
    dns_domain: String,
    plan: Vec<MachinePlan>,
}

impl<W: Write> Suite<'_, W> {
    /// Runs `f` as the check `name`: times it, records it, stops on
    /// failure (or Ctrl-C).
    async fn check<T>(
        &mut self,
        name: &str,
        f: impl Future<Output = Result<(T, String), Failure>>,
    ) -> Result<T, Stop> {
        let started = Instant::now();
        let r = tokio::select! {
            r = f => r,
            () = self.cancel.cancelled() => Err(Failure::new("interrupted (Ctrl-C)")),
        };
        match r {
            Ok((v, detail)) => {
                self.report.outcome(name, started, &Ok(detail));
                Ok(v)
            }
            Err(e) => {
                self.report.outcome(name, started, &Err(e));
                Err(Stop)
            }
        }
    }

    fn scope_filter(&self) -> MachineFilter {
        let mut f = MachineFilter::new();
        if let Some(p) = &self.cfg.pool {
            f.pool.push(p.clone());
        }
        if let Some(t) = &self.cfg.tag {
            f.tags.push(t.clone());
        }
        f
    }

    fn dir(&self) -> PathBuf {
        self.stack
            .dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_else(std::env::temp_dir)
    }

    async fn checks(&mut self) -> Result<(), Stop> {
        let maas = self.maas;
        let cfg = self.cfg;

        // 1. MAAS itself.
        let (in_memory, dns_domain) = self
            .check(CHECK_MAAS, async {
                let v = maas.version().await?;
                let user = maas.whoami().await?;
                let parsed = v.parsed();
                let in_memory = parsed.as_ref().is_some_and(|p| p.at_least(3, 5));
                let domain = match &cfg.dns_domain {
                    Some(d) => d.clone(),
                    None => maas
                        .list_domains()
                        .await?
                        .into_iter()
                        .find(|d| d.is_default)
                        .map(|d| d.name)
                        .ok_or_else(|| {
                            Failure::new("MAAS has no default domain: set CONFORMANCE_DNS_DOMAIN")
                        })?,
                };
                let detail = format!(
                    "MAAS {}{}, user {}{}, DNS domain {domain}",
                    v.version,
                    if v.subversion.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", v.subversion)
                    },
                    user.username,
                    if user.is_superuser { " (admin)" } else { "" },
                );
                Ok(((in_memory, domain), detail))
            })
            .await?;

        // 2. The machines the suite may use.
        let filter = self.scope_filter();
        let scope = cfg.scope();
        let target = self
            .check(CHECK_CANDIDATES, async {
                let all = maas.list_machines(&filter).await?;
                let mut ready: Vec<&Machine> = all
                    .iter()
                    .filter(|m| m.status == MachineStatus::Ready)
                    .collect();
                ready.sort_by(|a, b| a.hostname.cmp(&b.hostname));
                let need = if in_memory { 3 } else { 2 };
                let big = ready.iter().filter(|m| m.memory >= IN_MEMORY_MIB).count();
                if ready.len() < need || (in_memory && big == 0) {
                    return Err(Failure::new(format!(
                        "{} Ready machines in {scope} ({big} with ≥ {} GiB); the suite needs {need}{}",
                        ready.len(),
                        IN_MEMORY_MIB / 1024,
                        if in_memory {
                            format!(", one of them with ≥ {} GiB for the in-memory deploy", IN_MEMORY_MIB / 1024)
                        } else {
                            String::new()
                        }
                    )));
                }
                // The control plane asks for the zone of the smallest machine
                // (the in-memory worker needs a big one).
                let zone = ready
                    .iter()
                    .filter(|m| m.memory < IN_MEMORY_MIB || big > 1)
                    .filter_map(|m| m.zone.as_ref().map(|z| z.name.clone()))
                    .next()
                    .ok_or_else(|| Failure::new("no Ready machine in scope has a zone"))?;
                let zones: BTreeSet<_> = ready.iter().filter_map(|m| m.zone.as_ref()).map(|z| z.name.clone()).collect();
                let detail = format!(
                    "{} machines in {scope}, {} Ready ({big} with ≥ {} GiB) in zones {}; control plane asks for zone {zone}",
                    all.len(),
                    ready.len(),
                    IN_MEMORY_MIB / 1024,
                    zones.into_iter().collect::<Vec<_>>().join(", ")
                );
                let in_scope = all.iter().map(|m| m.system_id.clone()).collect::<BTreeSet<_>>();
                Ok(((zone, in_scope), detail))
            })
            .await
            .map(|(zone, in_scope)| {
                self.learned.in_scope = in_scope;
                let c = &self.names.cluster;
                let mut plan = vec![
                    MachinePlan {
                        name: format!("{c}-control-plane-0"),
                        control_plane: true,
                        ephemeral: false,
                        zone: Some(zone.clone()),
                    },
                    MachinePlan {
                        name: format!("{c}-worker-0"),
                        control_plane: false,
                        ephemeral: false,
                        zone: None,
                    },
                ];
                if in_memory {
                    plan.push(MachinePlan {
                        name: format!("{c}-worker-mem-0"),
                        control_plane: false,
                        ephemeral: true,
                        zone: None,
                    });
                }
                Target {
                    in_memory,
                    dns_domain,
                    plan,
                }
            })?;

        // 3. The Kubernetes side.
        let dir = tempfile::Builder::new()
            .prefix("capmaas-conformance-")
            .tempdir()
            .map_err(|e| {
                self.report.outcome(
                    CHECK_CONTROL_PLANE,
                    Instant::now(),
                    &Err(Failure::new(format!("temp dir: {e}"))),
                );
                Stop
            })?;
        self.stack.dir = Some(dir);
        let env = self
            .check(CHECK_CONTROL_PLANE, async {
                let env = TestEnv::start(kube_testenv::Options::default()).await?;
                let crds = capi_types::crds::all().map_err(|e| Failure::new(e.to_string()))?;
                env.install_crds(&crds).await?;
                env.install_capi_crds().await?;
                let detail = format!(
                    "kube-apiserver {} at {}",
                    env.server_version().git_version,
                    env.apiserver_url()
                );
                Ok((env, detail))
            })
            .await?;
        let client = env.client().map_err(|e| {
            self.report
                .outcome(CHECK_MANAGER, Instant::now(), &Err(e.into()));
            Stop
        })?;
        let kubeconfig = env.kubeconfig_path().to_owned();
        self.stack.env = Some(env);
        objects::create_namespace(&client, self.names)
            .await
            .map_err(|e| {
                self.report.outcome(CHECK_MANAGER, Instant::now(), &Err(e));
                Stop
            })?;

        // 4. The manager.
        let started = Instant::now();
        let r = self.start_manager(&kubeconfig).await;
        self.report.outcome(CHECK_MANAGER, started, &r);
        r.map_err(|_| Stop)?;

        // 5. The cluster, as CAPI core and a bootstrap provider create it.
        // One machine at a time until MAAS allocated it: the control plane
        // first (as kubeadm does; its zone is then still free), the
        // in-memory worker next (it needs a big machine), the disk worker
        // last.
        let names = self.names;
        let started = Instant::now();
        self.learned.fqdn = Some(format!("{}.{}", names.cluster, target.dns_domain));
        let mut order: Vec<&MachinePlan> = target.plan.iter().collect();
        order.sort_by_key(|m| (!m.control_plane, !m.ephemeral));
        let created = async {
            objects::create_cluster(&client, names, &target.dns_domain).await?;
            for (i, m) in order.iter().enumerate() {
                let uid = objects::create_machine(&client, names, m, self.spec(m)).await?;
                let marker = OwnerMarker::new(&names.namespace, &m.name, &uid)
                    .map_err(|e| Failure::new(format!("owner marker: {e}")))?
                    .render();
                self.learned.markers.insert(m.name.clone(), marker);
                if i + 1 < order.len() {
                    let name = m.name.clone();
                    self.wait(
                        &client,
                        &format!("{name} allocated in MAAS"),
                        async |c: &Client| {
                            Ok(objects::maas_machines(c, names)
                                .await?
                                .iter()
                                .any(|mm| mm.name_any() == name && mm.spec.system_id.is_some())
                                .then_some(()))
                        },
                        async |c: &Client| explain_machines(c, names).await,
                    )
                    .await?;
                }
            }
            Ok::<_, Failure>(())
        }
        .await;
        if let Err(e) = created {
            self.report.outcome(CHECK_KILL, started, &Err(e));
            return Err(Stop);
        }

        // 6. kill -9 while a machine is allocated but not yet provisioned.
        self.check_kill(&client, &kubeconfig).await?;

        // 7. Provisioning.
        self.check_cluster_provisioned(&client).await?;
        let mut ips = BTreeMap::new();
        for m in target.plan.clone() {
            let name = match (m.control_plane, m.ephemeral) {
                (true, _) => CHECK_CP,
                (false, false) => CHECK_WORKER,
                (false, true) => CHECK_IN_MEMORY,
            };
            let ip = self.check_provisioned(&client, name, &m).await?;
            ips.insert(m.name.clone(), ip);
        }
        if !target.in_memory {
            self.report.skip(
                CHECK_IN_MEMORY,
                "this MAAS is older than 3.5: no in-memory deploys",
            );
        }
        self.check_no_leak(&client).await?;
        let cp_ip = ips
            .get(&target.plan[0].name)
            .cloned()
            .flatten()
            .unwrap_or_default();
        self.check_dns(&client, &cp_ip).await?;

        // 8. Deletion.
        self.check_delete(&client, &target.plan).await?;
        self.check_cluster_delete(&client).await?;
        self.learned.completed = true;
        Ok(())
    }

    /// The MaasMachine spec of `m`: scope (pool, tag), zone, image.
    fn spec(&self, m: &MachinePlan) -> serde_json::Value {
        let mut spec = json!({"image": self.cfg.image, "ephemeral": m.ephemeral});
        if let Some(p) = &self.cfg.pool {
            spec["resourcePool"] = json!(p);
        }
        if let Some(t) = &self.cfg.tag {
            spec["tags"] = json!([t]);
        }
        if let Some(z) = &m.zone {
            spec["failureDomain"] = json!(z);
        }
        spec
    }

    async fn start_manager(&mut self, kubeconfig: &Path) -> Result<String, Failure> {
        let bin = self.cfg.bin_dir.join("capmaas-manager");
        let args: Vec<String> = [
            "--namespace",
            &self.names.namespace,
            "--maas-endpoint",
            &self.cfg.endpoint,
            "--poll-interval",
            &self.cfg.poll_interval,
            "--sync-period",
            "1m",
            "--allocation-settle-time",
            "10s",
            "--capacity-backoff",
            "10s",
            "--capacity-backoff-max",
            "30s",
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
        self.stack.manager_runs += 1;
        let log = self
            .dir()
            .join(format!("capmaas-manager-{}.log", self.stack.manager_runs));
        let kubeconfig = kubeconfig.to_string_lossy().into_owned();
        let mut m = Manager::spawn(
            &bin,
            &args,
            &[
                ("KUBECONFIG", kubeconfig.as_str()),
                ("MAAS_API_KEY", self.cfg.api_key.expose()),
            ],
            &log,
        )
        .await?;
        let pid = m.pid();
        let r = m.wait_ready(Duration::from_secs(120)).await;
        self.stack.manager = Some(m);
        let (health, metrics) = r?;
        Ok(format!(
            "pid {pid}, /readyz on {health}, /metrics on {metrics}"
        ))
    }

    /// Marks the Cluster's infrastructure provisioned once the MaasCluster
    /// is (what CAPI core does); fails if the manager died.
    async fn tick(&mut self, client: &Client) -> Result<(), Failure> {
        if let Some(m) = &mut self.stack.manager {
            m.check_running()?;
        }
        if self.learned.infra_marked {
            return Ok(());
        }
        if let Some(mc) = objects::maas_cluster(client, self.names).await?
            && mc
                .status
                .as_ref()
                .and_then(|s| s.initialization.as_ref())
                .and_then(|i| i.provisioned)
                == Some(true)
        {
            objects::set_infrastructure_provisioned(client, self.names).await?;
            self.learned.infra_marked = true;
        }
        Ok(())
    }

    /// Polls until `probe` gives a value, ticking; on timeout the error
    /// carries what `explain` says about the last state.
    async fn wait<T>(
        &mut self,
        client: &Client,
        what: &str,
        mut probe: impl AsyncFnMut(&Client) -> Result<Option<T>, Failure>,
        explain: impl AsyncFnOnce(&Client) -> Failure,
    ) -> Result<T, Failure> {
        let deadline = Instant::now() + self.cfg.timeout;
        loop {
            // Checks that wait outside `check` (most of them) stop at a
            // Ctrl-C here.
            if self.cancel.is_cancelled() {
                return Err(Failure::new(format!("{what}: interrupted (Ctrl-C)")));
            }
            self.tick(client).await?;
            if let Some(v) = probe(client).await? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let mut f = explain(client).await;
                f.message = format!(
                    "{what}: not after {}s (CONFORMANCE_TIMEOUT); {}",
                    self.cfg.timeout.as_secs(),
                    f.message
                );
                return Err(f);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn check_kill(&mut self, client: &Client, kubeconfig: &Path) -> Result<(), Stop> {
        let started = Instant::now();
        let r = async {
            let names = self.names;
            let (name, system_id, state) = self
                .wait(
                    client,
                    "a MaasMachine with a MAAS machine, not yet provisioned",
                    async |c: &Client| {
                        let mms = objects::maas_machines(c, names).await?;
                        Ok(mms.iter().find_map(|mm| {
                            let id = mm.spec.system_id.clone()?;
                            (!objects::provisioned(mm)).then(|| {
                                let status = mm.status.as_ref();
                                let state = status
                                    .and_then(|s| s.machine_state.clone())
                                    .or_else(|| {
                                        status?
                                            .conditions
                                            .iter()
                                            .find(|c| c.type_ == "MachineDeployed")
                                            .map(|c| c.reason.clone())
                                    })
                                    .unwrap_or_else(|| "allocated".into());
                                (mm.name_any(), id, state)
                            })
                        }))
                    },
                    async |c: &Client| explain_machines(c, names).await,
                )
                .await?;
            let Some(m) = self.stack.manager.as_mut() else {
                return Err(Failure::new("no manager running"));
            };
            let pid = m.pid();
            let status = m.kill9().await?;
            let t = Instant::now();
            let restarted = self.start_manager(kubeconfig).await?;
            Ok(format!(
                "killed pid {pid} ({status}) while {name} was {state} ({system_id}); \
                 restarted in {:.1}s: {restarted}",
                t.elapsed().as_secs_f64()
            ))
        }
        .await;
        self.finish(CHECK_KILL, started, r)
    }

    fn finish(
        &mut self,
        name: &str,
        started: Instant,
        r: Result<String, Failure>,
    ) -> Result<(), Stop> {
        let failed = r.is_err();
        self.report.outcome(name, started, &r);
        if failed { Err(Stop) } else { Ok(()) }
    }

    async fn check_cluster_provisioned(&mut self, client: &Client) -> Result<(), Stop> {
        let started = Instant::now();
        let names = self.names;
        let r = self
            .wait(
                client,
                "MaasCluster provisioned",
                async |c: &Client| {
                    Ok(objects::maas_cluster(c, names).await?.and_then(|mc| {
                        let s = mc.status?;
                        (s.initialization.and_then(|i| i.provisioned) == Some(true)).then(|| {
                            let endpoint = mc
                                .spec
                                .control_plane_endpoint
                                .map(|e| format!("{}:{}", e.host, e.port))
                                .unwrap_or_default();
                            format!("control-plane endpoint {endpoint}")
                        })
                    }))
                },
                async |c: &Client| match objects::maas_cluster(c, names).await {
                    Ok(Some(mc)) => conditions_failure(
                        mc.status
                            .map(|s| s.conditions)
                            .unwrap_or_default()
                            .as_slice(),
                    ),
                    Ok(None) => Failure::new("the MaasCluster is gone"),
                    Err(e) => e,
                },
            )
            .await;
        self.finish(CHECK_CLUSTER, started, r)
    }

    /// Waits until `m` is provisioned and checks it against MAAS; returns
    /// its IP.
    async fn check_provisioned(
        &mut self,
        client: &Client,
        check: &str,
        m: &MachinePlan,
    ) -> Result<Option<String>, Stop> {
        let started = Instant::now();
        let names = self.names;
        let name = m.name.clone();
        let r = async {
            let mm = self
                .wait(
                    client,
                    &format!("{name} provisioned"),
                    async |c: &Client| {
                        Ok(objects::maas_machines(c, names)
                            .await?
                            .into_iter()
                            .find(|mm| mm.name_any() == name && objects::provisioned(mm)))
                    },
                    async |c: &Client| explain_machines(c, names).await,
                )
                .await?;
            self.verify_deployed(&mm, m).await
        }
        .await;
        let failed = r.is_err();
        let (detail, ip) = match r {
            Ok((d, ip)) => (Ok(d), ip),
            Err(e) => (Err(e), None),
        };
        self.report.outcome(check, started, &detail);
        if failed { Err(Stop) } else { Ok(ip) }
    }

    /// The MAAS side of a provisioned MaasMachine.
    async fn verify_deployed(
        &self,
        mm: &MaasMachine,
        m: &MachinePlan,
    ) -> Result<(String, Option<String>), Failure> {
        let id = mm
            .spec
            .system_id
            .clone()
            .ok_or_else(|| Failure::new("provisioned without spec.systemID"))?;
        let machine = self.maas.read_machine(&id).await?;
        let zone = machine
            .zone
            .as_ref()
            .map(|z| z.name.clone())
            .unwrap_or_default();
        let pool = machine
            .pool
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let mut wrong = Vec::new();
        if machine.status != MachineStatus::Deployed {
            wrong.push(format!("MAAS status {}", machine.status_name));
        }
        let provider_id = format!("maas:///{zone}/{id}");
        if mm.spec.provider_id.as_deref() != Some(provider_id.as_str()) {
            wrong.push(format!(
                "providerID {:?}, expected {provider_id}",
                mm.spec.provider_id
            ));
        }
        if let Some(p) = &self.cfg.pool
            && &pool != p
        {
            wrong.push(format!("pool {pool}, asked for {p}"));
        }
        if let Some(t) = &self.cfg.tag
            && !machine.tag_names.contains(t)
        {
            wrong.push(format!("tags {:?} lack {t}", machine.tag_names));
        }
        if let Some(z) = &m.zone
            && &zone != z
        {
            wrong.push(format!("zone {zone}, asked for {z}"));
        }
        let marker = self.learned.markers.get(&m.name);
        if machine.workload_annotations.get(ANNOTATION_OWNER) != marker {
            wrong.push(format!(
                "workload annotation {ANNOTATION_OWNER}={:?}, expected {marker:?}",
                machine.workload_annotations.get(ANNOTATION_OWNER)
            ));
        }
        let in_memory = mm.status.as_ref().and_then(|s| s.deployed_in_memory);
        if m.ephemeral && (machine.ephemeral_deploy != Some(true) || in_memory != Some(true)) {
            wrong.push(format!(
                "not in memory: MAAS ephemeral_deploy {:?}, status.deployedInMemory {in_memory:?}",
                machine.ephemeral_deploy
            ));
        }
        let ip = mm
            .status
            .as_ref()
            .and_then(|s| {
                s.addresses
                    .iter()
                    .find(|a| a.address.parse::<std::net::Ipv4Addr>().is_ok())
            })
            .map(|a| a.address.clone());
        if !wrong.is_empty() {
            return Err(Failure::new(format!(
                "{} ({id}): {}",
                m.name,
                wrong.join("; ")
            )));
        }
        Ok((
            format!(
                "{} on {} ({id}, zone {zone}, pool {pool}, {} MiB, {}, IP {})",
                m.name,
                machine.hostname,
                machine.memory,
                if m.ephemeral { "in memory" } else { "disk" },
                ip.as_deref().unwrap_or("none")
            ),
            ip,
        ))
    }

    /// The machines in MAAS that carry one of the run's markers (agent name
    /// or owner annotation), among every machine MAAS lists.
    async fn ours(&self) -> Result<Vec<Machine>, Failure> {
        let mut found: BTreeMap<String, Machine> = BTreeMap::new();
        for marker in self.learned.markers.values() {
            let mut f = MachineFilter::new();
            f.agent_name = Some(marker.clone());
            for m in self.maas.list_machines(&f).await? {
                found.insert(m.system_id.clone(), m);
            }
        }
        let prefix = format!("capmaas/{}/", self.names.namespace);
        for m in self.maas.list_machines(&self.scope_filter()).await? {
            if m.workload_annotations
                .get(ANNOTATION_OWNER)
                .is_some_and(|o| o.starts_with(&prefix))
            {
                found.insert(m.system_id.clone(), m);
            }
        }
        Ok(found.into_values().collect())
    }

    async fn check_no_leak(&mut self, client: &Client) -> Result<(), Stop> {
        let started = Instant::now();
        let r = async {
            let mms = objects::maas_machines(client, self.names).await?;
            let pinned: BTreeSet<String> = mms
                .iter()
                .filter_map(|mm| mm.spec.system_id.clone())
                .collect();
            let ours: BTreeSet<String> = self
                .ours()
                .await?
                .into_iter()
                .map(|m| m.system_id)
                .collect();
            let out_of_scope: Vec<_> = ours.difference(&self.learned.in_scope).collect();
            if !out_of_scope.is_empty() {
                return Err(Failure::new(format!(
                    "machines outside {} carry the run's marker: {out_of_scope:?}",
                    self.cfg.scope()
                )));
            }
            if ours != pinned || pinned.len() != mms.len() {
                return Err(Failure::new(format!(
                    "{} MaasMachines pin {pinned:?}, MAAS has {ours:?} marked as the run's",
                    mms.len()
                )));
            }
            Ok(format!(
                "{} MaasMachines, {} MAAS machines marked as theirs: {}",
                mms.len(),
                ours.len(),
                ours.into_iter().collect::<Vec<_>>().join(", ")
            ))
        }
        .await;
        self.finish(CHECK_NO_LEAK, started, r)
    }

    async fn dns_record(&self) -> Result<Option<maas_api::DnsResource>, Failure> {
        let Some(fqdn) = &self.learned.fqdn else {
            return Ok(None);
        };
        let filter = DnsResourceFilter {
            fqdn: Some(fqdn.clone()),
            ..Default::default()
        };
        match self.maas.list_dns_resources(&filter).await {
            Ok(list) => Ok(list.into_iter().find(|d| &d.fqdn == fqdn)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn check_dns(&mut self, client: &Client, cp_ip: &str) -> Result<(), Stop> {
        let started = Instant::now();
        let r = async {
            let fqdn = self.learned.fqdn.clone().unwrap_or_default();
            let mc = objects::maas_cluster(client, self.names).await?;
            let status_name = mc
                .and_then(|m| m.status)
                .and_then(|s| s.network)
                .and_then(|n| n.dns_name);
            if status_name.as_deref() != Some(fqdn.as_str()) {
                return Err(Failure::new(format!(
                    "MaasCluster status.network.dnsName {status_name:?}, expected {fqdn}"
                )));
            }
            let record = self
                .dns_record()
                .await?
                .ok_or_else(|| Failure::new(format!("MAAS has no DNS resource {fqdn}")))?;
            let ips: Vec<String> = record.ip_addresses.iter().map(|a| a.ip.clone()).collect();
            if !ips.iter().any(|ip| ip == cp_ip) {
                return Err(Failure::new(format!(
                    "DNS resource {fqdn} has {ips:?}, not the control plane's {cp_ip}"
                )));
            }
            Ok(format!("{fqdn} → {}", ips.join(" ")))
        }
        .await;
        self.finish(CHECK_DNS, started, r)
    }

    async fn check_delete(&mut self, client: &Client, plan: &[MachinePlan]) -> Result<(), Stop> {
        let started = Instant::now();
        let names = self.names;
        let r = async {
            let mms = objects::maas_machines(client, names).await?;
            let ids: Vec<String> = mms
                .iter()
                .filter_map(|mm| mm.spec.system_id.clone())
                .collect();
            for m in plan {
                objects::delete_machine(client, names, &m.name).await?;
            }
            self.wait(
                client,
                "MaasMachines gone",
                async |c: &Client| {
                    Ok(objects::maas_machines(c, names)
                        .await?
                        .is_empty()
                        .then_some(()))
                },
                async |c: &Client| explain_machines(c, names).await,
            )
            .await?;
            let maas = self.maas;
            let ids2 = ids.clone();
            let states = self
                .wait(
                    client,
                    "every released machine Ready without an owner",
                    async |_c: &Client| {
                        let mut states = Vec::new();
                        for id in &ids2 {
                            let m = maas.read_machine(id).await?;
                            if m.status != MachineStatus::Ready || m.owner.is_some() {
                                return Ok(None);
                            }
                            states.push(format!("{} {}", m.hostname, m.status_name));
                        }
                        Ok(Some(states))
                    },
                    async |_c: &Client| {
                        let mut s = Vec::new();
                        for id in &ids {
                            match maas.read_machine(id).await {
                                Ok(m) => {
                                    s.push(format!("{id} {} owner {:?}", m.status_name, m.owner))
                                }
                                Err(e) => s.push(format!("{id}: {e}")),
                            }
                        }
                        Failure::new(s.join("; "))
                    },
                )
                .await?;
            Ok(format!("{} released: {}", states.len(), states.join(", ")))
        }
        .await;
        self.finish(CHECK_DELETE, started, r)
    }

    async fn check_cluster_delete(&mut self, client: &Client) -> Result<(), Stop> {
        let started = Instant::now();
        let names = self.names;
        let r = async {
            objects::delete_cluster(client, names).await?;
            self.wait(
                client,
                "MaasCluster gone",
                async |c: &Client| {
                    Ok(objects::maas_cluster(c, names)
                        .await?
                        .is_none()
                        .then_some(()))
                },
                async |_c: &Client| Failure::new("the MaasCluster's finalizer was not removed"),
            )
            .await?;
            if let Some(d) = self.dns_record().await? {
                return Err(Failure::new(format!(
                    "MAAS still has DNS resource {} (id {})",
                    d.fqdn, d.id
                )));
            }
            Ok(format!(
                "MaasCluster gone, no DNS resource {}",
                self.learned.fqdn.as_deref().unwrap_or("")
            ))
        }
        .await;
        self.finish(CHECK_CLUSTER_DELETE, started, r)
    }

    async fn sigterm(&mut self) {
        let Some(m) = self.stack.manager.as_mut() else {
            return;
        };
        if !self.learned.completed {
            // Stop it before cleaning up, so that it does not act meanwhile.
            let _ = m.stop(Duration::from_secs(20)).await;
            self.stack.manager = None;
            return;
        }
        let started = Instant::now();
        let r = match m.stop(Duration::from_secs(30)).await {
            Some(s) if s.success() => Ok(format!("pid {}: {s}", m.pid())),
            Some(s) => Err(Failure::new(format!(
                "exit {s}; last lines of {}:\n{}",
                m.log().display(),
                kube_testenv::last_lines(m.log(), 15)
            ))),
            None => Err(Failure::new("no exit within 30s (killed)")),
        };
        self.stack.manager = None;
        self.report.outcome(CHECK_SIGTERM, started, &r);
    }

    /// Releases every machine that carries the run's marker and removes the
    /// run's DNS record. After a complete run, anything found is a failure.
    async fn cleanup(&mut self) {
        let started = Instant::now();
        let r = async {
            let mut done = Vec::new();
            if self.learned.markers.is_empty() && self.learned.fqdn.is_none() {
                return Ok("nothing was created in MAAS".to_owned());
            }
            let ours = self.ours().await?;
            for m in &ours {
                if m.status != MachineStatus::Ready || m.owner.is_some() {
                    if let Err(e) = self
                        .maas
                        .release(
                            &m.system_id,
                            &ReleaseParams {
                                comment: Some("capmaas conformance cleanup".into()),
                                ..Default::default()
                            },
                        )
                        .await
                    {
                        return Err(Failure {
                            message: format!(
                                "could not release {} ({})",
                                m.system_id, m.status_name
                            ),
                            maas_text: Some(e.to_string()),
                        });
                    }
                    done.push(format!("released {} ({})", m.hostname, m.status_name));
                }
            }
            if let Some(d) = self.dns_record().await? {
                self.maas.delete_dns_resource(d.id).await?;
                done.push(format!("deleted DNS resource {}", d.fqdn));
            }
            // Wait (bounded) for the releases to finish.
            let deadline = Instant::now() + self.cfg.timeout.min(Duration::from_secs(300));
            for m in &ours {
                loop {
                    let now = self.maas.read_machine(&m.system_id).await?;
                    if now.status == MachineStatus::Ready && now.owner.is_none() {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(Failure::new(format!(
                            "{} still {} after the cleanup's release",
                            m.system_id, now.status_name
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            match (done.is_empty(), self.learned.completed) {
                (true, _) => Ok("nothing left".to_owned()),
                (false, true) => Err(Failure::new(format!(
                    "the run left these behind (fixed now): {}",
                    done.join("; ")
                ))),
                (false, false) => Ok(format!("after the failure: {}", done.join("; "))),
            }
        }
        .await;
        self.report.outcome(CHECK_CLEANUP, started, &r);
    }
}

/// A failure naming every MaasMachine's unhappy conditions (MAAS's texts
/// travel there).
async fn explain_machines(client: &Client, names: &Names) -> Failure {
    match objects::maas_machines(client, names).await {
        Err(e) => e,
        Ok(mms) => {
            let lines: Vec<String> = mms
                .iter()
                .filter(|mm| !objects::provisioned(mm))
                .map(|mm| {
                    let s = mm.status.as_ref();
                    format!(
                        "{} [{}]: {}",
                        mm.name_any(),
                        s.and_then(|s| s.machine_state.clone())
                            .unwrap_or_else(|| "no MAAS machine".into()),
                        objects::unhappy_conditions(
                            s.map(|s| s.conditions.as_slice()).unwrap_or_default()
                        )
                    )
                })
                .collect();
            Failure::with_maas("conditions below", lines.join(" | "))
        }
    }
}

fn conditions_failure(conditions: &[capi_types::Condition]) -> Failure {
    Failure::with_maas("conditions below", objects::unhappy_conditions(conditions))
}
