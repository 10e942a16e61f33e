//! Test control: the in-process [`Control`] handle and the same operations
//! over HTTP under `/_sim/` (unauthenticated, loopback only).

use crate::api::faults::{OpFault, ScriptedFault};
use crate::domain::inventory::MachineSpec;
use crate::domain::state::Timings;
use crate::domain::vmhost::{SimulatedDiscovery, SimulatedHost};
use crate::model::{NodeStatus, PowerState};
use crate::runtime::log::{Counters, RequestRecord};
use crate::runtime::shared::{Shared, SimError};
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A machine's externally visible state, for assertions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MachineState {
    /// System id.
    pub system_id: String,
    /// Hostname.
    pub hostname: String,
    /// Status.
    pub status: NodeStatus,
    /// `status_message`.
    pub status_message: Option<String>,
    /// Owner's username.
    pub owner: Option<String>,
    /// Power state.
    pub power_state: PowerState,
    /// Power type.
    pub power_type: String,
    /// Assigned addresses.
    pub ip_addresses: Vec<String>,
    /// Agent name.
    pub agent_name: String,
    /// Zone name.
    pub zone: String,
    /// Pool name.
    pub pool: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Locked.
    pub locked: bool,
    /// VM host name, for VMs.
    pub vm_host: Option<String>,
    /// Deployed OS.
    pub osystem: String,
    /// Deployed series.
    pub distro_series: String,
    /// Deployed to memory.
    pub ephemeral_deploy: bool,
    /// `user_data` was given (its content is not shown).
    pub has_user_data: bool,
    /// Cores.
    pub cpu_count: u32,
    /// Memory (MiB).
    pub memory: u64,
    /// Architecture.
    pub architecture: String,
    /// Workload annotations.
    pub workload_annotations: BTreeMap<String, String>,
    /// Scheduled steps still to run.
    pub pending_steps: usize,
}

/// A JSON-friendly dump of the whole simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Version profile (`3.6`).
    pub maas_version: String,
    /// Simulated time (ms since start).
    pub now_ms: u64,
    /// Timings.
    pub timings: Timings,
    /// Machines by id.
    pub machines: Vec<MachineState>,
    /// Machines per status name.
    pub status_counts: BTreeMap<String, usize>,
    /// VM hosts: name → (used cores, total cores).
    pub vm_hosts: Vec<Value>,
    /// Reserved/used addresses.
    pub ip_addresses: usize,
    /// DNS resources (fqdn).
    pub dns_resources: Vec<String>,
    /// Events recorded.
    pub events: usize,
    /// Pending deploy failures (fault injection).
    pub deploy_failures: u32,
    /// Request counters.
    pub counters: Counters,
}

/// In-process control of a running simulator (cheap to clone).
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    /// Generate `count` more machines (deterministic continuation).
    pub fn add_machines(&self, count: usize) -> Result<Vec<String>, SimError> {
        Ok(self.shared.write().generate_machines(count)?)
    }

    /// Add one machine; returns its system id.
    pub fn add_machine(&self, spec: MachineSpec) -> Result<String, SimError> {
        Ok(self.shared.write().add_machine_from_spec(&spec)?)
    }

    /// Current timings.
    pub fn timings(&self) -> Timings {
        self.shared.state.read().timings
    }

    /// Replace the timings (applies to operations started afterwards).
    pub fn set_timings(&self, timings: Timings) {
        self.shared.write().set_timings(timings);
        self.shared.config.lock().timings = timings;
    }

    /// Add a standing per-operation fault.
    pub fn add_fault(&self, fault: OpFault) {
        self.shared.faults.lock().rules.push(fault);
    }

    /// Add a scripted one-shot fault.
    pub fn add_scripted_fault(&self, fault: ScriptedFault) {
        match fault {
            ScriptedFault::FailDeploys { count } => self.shared.write().deploy_failures += count,
            other => self.shared.faults.lock().scripted.push(other),
        }
    }

    /// Remove every fault (including pending deploy failures).
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
        self.shared.write().deploy_failures = 0;
    }

    /// Standing and scripted faults.
    pub fn faults(&self) -> (Vec<OpFault>, Vec<ScriptedFault>) {
        let f = self.shared.faults.lock();
        let mut scripted = f.scripted.clone();
        let n = self.shared.state.read().deploy_failures;
        if n > 0 {
            scripted.push(ScriptedFault::FailDeploys { count: n });
        }
        (f.rules.clone(), scripted)
    }

    /// Move simulated time forward (waits end early) and apply what is due.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.settle();
    }

    /// Complete every pending transition now.
    pub fn complete_pending(&self) {
        let mut st = self.shared.write();
        st.complete_all();
    }

    /// Requests seen, oldest first (bounded to the last 10 000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().records.iter().cloned().collect()
    }

    /// The requests after `seq` (their [`RequestRecord::seq`] is greater),
    /// oldest first: read the log incrementally by passing the last `seq`
    /// seen. A first record whose `seq` is more than `since + 1` means the
    /// ones between fell out of the bounded log (or were cleared).
    pub fn requests_since(&self, since: u64) -> Vec<RequestRecord> {
        self.shared.log.lock().since(since)
    }

    /// Forget the request log and counters.
    pub fn clear_requests(&self) {
        self.shared.log.lock().clear();
    }

    /// Aggregate counters.
    pub fn counters(&self) -> Counters {
        self.shared.log.lock().counters.clone()
    }

    fn machine_state(st: &crate::domain::state::State, m: &crate::model::Machine) -> MachineState {
        MachineState {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            status: m.status,
            status_message: m.status_message.clone(),
            owner: st.username(m.owner).map(str::to_string),
            power_state: m.power_state,
            power_type: m.power_type.clone(),
            ip_addresses: st.machine_ips(m).iter().map(|i| i.to_string()).collect(),
            agent_name: m.agent_name.clone(),
            zone: st
                .zones
                .get(&m.zone_id)
                .map(|z| z.name.clone())
                .unwrap_or_default(),
            pool: st
                .pools
                .get(&m.pool_id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            tags: m.tags.iter().cloned().collect(),
            locked: m.locked,
            vm_host: m
                .pod_id
                .and_then(|p| st.vmhosts.get(&p))
                .map(|h| h.name.clone()),
            osystem: m.osystem.clone(),
            distro_series: m.distro_series.clone(),
            ephemeral_deploy: m.ephemeral_deploy,
            has_user_data: m.user_data.is_some(),
            cpu_count: m.cpu_count,
            memory: m.memory,
            architecture: m.architecture.clone(),
            workload_annotations: m.workload_annotations.clone(),
            pending_steps: m.timeline.len(),
        }
    }

    /// One machine's state.
    pub fn machine(&self, system_id: &str) -> Option<MachineState> {
        self.shared.settle();
        let st = self.shared.state.read();
        st.machine_by_system_id(system_id)
            .map(|m| Control::machine_state(&st, m))
    }

    /// The `user_data` a deploy stored (tests only: it may hold secrets).
    pub fn user_data(&self, system_id: &str) -> Option<Vec<u8>> {
        let st = self.shared.state.read();
        st.machine_by_system_id(system_id)
            .and_then(|m| m.user_data.clone())
    }

    /// Every machine's state, by id.
    pub fn machines(&self) -> Vec<MachineState> {
        self.shared.settle();
        let st = self.shared.state.read();
        st.machines
            .values()
            .map(|m| Control::machine_state(&st, m))
            .collect()
    }

    /// A JSON-friendly dump of the state.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.settle();
        let counters = self.counters();
        let st = self.shared.state.read();
        let machines: Vec<MachineState> = st
            .machines
            .values()
            .map(|m| Control::machine_state(&st, m))
            .collect();
        let mut status_counts = BTreeMap::new();
        for m in &machines {
            *status_counts
                .entry(m.status.name().to_string())
                .or_insert(0) += 1;
        }
        let vm_hosts = st
            .vmhosts
            .values()
            .map(|h| {
                let (c, mem, s) = st.vmhost_used(h.id);
                json!({
                    "id": h.id,
                    "name": h.name,
                    "power_address": h.power_address,
                    "host": h.host_machine.and_then(|m| st.machines.get(&m)).map(|m| m.system_id.clone()),
                    "cores": {"used": c, "total": h.cores},
                    "memory": {"used": mem, "total": h.memory},
                    "local_storage": {"used": s, "total": h.local_storage()},
                })
            })
            .collect();
        let dns_resources = st
            .dnsresources
            .values()
            .map(|d| {
                let domain = st
                    .domains
                    .get(&d.domain_id)
                    .map(|x| x.name.as_str())
                    .unwrap_or("");
                format!("{}.{}", d.name, domain)
            })
            .collect();
        Snapshot {
            maas_version: st.version.short().to_string(),
            now_ms: self.shared.clock.now_ms(),
            timings: st.timings,
            machines,
            status_counts,
            vm_hosts,
            ip_addresses: st.ip_index.len(),
            dns_resources,
            events: st.events.len(),
            deploy_failures: st.deploy_failures,
            counters,
        }
    }

    /// Rebuild the starting inventory; faults, nonces and the log are reset.
    pub fn reset(&self) -> Result<(), SimError> {
        self.shared.reset()
    }

    /// The built-in simulated LXD hosts (configure them, trust certificates).
    pub fn simulated_discovery(&self) -> Arc<SimulatedDiscovery> {
        self.shared.sim_discovery.clone()
    }
}

// ----- HTTP ----------------------------------------------------------------

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

#[derive(Deserialize)]
struct AddMachines {
    count: Option<usize>,
    #[serde(flatten)]
    spec: Option<Value>,
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    ms: Option<u64>,
}

#[derive(Deserialize)]
struct Trust {
    address: String,
    certificate: String,
}

#[derive(Deserialize)]
struct LxdHost {
    address: String,
    #[serde(flatten)]
    host: SimulatedHost,
}

type Ax = AxState<Arc<Shared>>;

/// The `/_sim` router.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/keys", get(keys))
        .route("/_sim/machines", get(machines).post(add_machines))
        .route("/_sim/machines/{system_id}", get(machine))
        .route("/_sim/timings", get(timings).put(set_timings))
        .route(
            "/_sim/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/faults/scripted", post(add_scripted))
        .route("/_sim/advance", post(advance))
        .route("/_sim/complete", post(complete))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/counters", get(counters))
        .route("/_sim/snapshot", get(snapshot))
        .route("/_sim/reset", post(reset))
        .route("/_sim/lxd-hosts", post(lxd_host))
        .route("/_sim/lxd-hosts/trust", post(trust))
}

async fn keys(AxState(sh): Ax) -> Response {
    Json(json!({"admin": sh.admin_key.expose(), "user": sh.user_key.expose()})).into_response()
}

async fn machines(AxState(sh): Ax) -> Response {
    Json(Control::new(sh).machines()).into_response()
}

async fn machine(AxState(sh): Ax, Path(system_id): Path<String>) -> Response {
    match Control::new(sh).machine(&system_id) {
        Some(m) => Json(m).into_response(),
        None => err(StatusCode::NOT_FOUND, format!("no machine {system_id}")),
    }
}

async fn add_machines(AxState(sh): Ax, Json(body): Json<AddMachines>) -> Response {
    let c = Control::new(sh);
    let result = match (body.count, body.spec) {
        (Some(n), _) => c.add_machines(n),
        (None, Some(spec)) => match serde_json::from_value::<MachineSpec>(spec) {
            Ok(spec) => c.add_machine(spec).map(|id| vec![id]),
            Err(e) => return err(StatusCode::BAD_REQUEST, e.to_string()),
        },
        (None, None) => c.add_machines(1),
    };
    match result {
        Ok(ids) => Json(json!({"system_ids": ids})).into_response(),
        Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn timings(AxState(sh): Ax) -> Response {
    Json(Control::new(sh).timings()).into_response()
}

async fn set_timings(AxState(sh): Ax, Json(t): Json<Timings>) -> Response {
    Control::new(sh).set_timings(t);
    Json(t).into_response()
}

async fn faults(AxState(sh): Ax) -> Response {
    let (rules, scripted) = Control::new(sh).faults();
    Json(json!({"faults": rules, "scripted": scripted})).into_response()
}

async fn add_fault(AxState(sh): Ax, Json(f): Json<OpFault>) -> Response {
    Control::new(sh).add_fault(f);
    StatusCode::NO_CONTENT.into_response()
}

async fn add_scripted(AxState(sh): Ax, Json(f): Json<ScriptedFault>) -> Response {
    Control::new(sh).add_scripted_fault(f);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(AxState(sh): Ax) -> Response {
    Control::new(sh).clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn advance(AxState(sh): Ax, Json(a): Json<Advance>) -> Response {
    let d = match (a.ms, a.seconds) {
        (Some(ms), _) => Duration::from_millis(ms),
        (None, Some(s)) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        _ => return err(StatusCode::BAD_REQUEST, "give \"seconds\" or \"ms\""),
    };
    let c = Control::new(sh.clone());
    c.advance(d);
    Json(json!({"now_ms": sh.clock.now_ms()})).into_response()
}

async fn complete(AxState(sh): Ax) -> Response {
    Control::new(sh).complete_pending();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: Option<u64>,
}

async fn requests(AxState(sh): Ax, Query(q): Query<Since>) -> Response {
    let c = Control::new(sh);
    match q.since {
        Some(n) => Json(c.requests_since(n)).into_response(),
        None => Json(c.requests()).into_response(),
    }
}

async fn clear_requests(AxState(sh): Ax) -> Response {
    Control::new(sh).clear_requests();
    StatusCode::NO_CONTENT.into_response()
}

async fn counters(AxState(sh): Ax) -> Response {
    Json(Control::new(sh).counters()).into_response()
}

async fn snapshot(AxState(sh): Ax) -> Response {
    Json(Control::new(sh).snapshot()).into_response()
}

async fn reset(AxState(sh): Ax) -> Response {
    match Control::new(sh).reset() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn lxd_host(AxState(sh): Ax, Json(h): Json<LxdHost>) -> Response {
    sh.sim_discovery.set_host(&h.address, h.host);
    StatusCode::NO_CONTENT.into_response()
}

async fn trust(AxState(sh): Ax, Json(t): Json<Trust>) -> Response {
    sh.sim_discovery
        .trust_certificate(&t.address, &t.certificate);
    StatusCode::NO_CONTENT.into_response()
}
