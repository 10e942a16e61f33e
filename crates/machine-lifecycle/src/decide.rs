//! The decision procedure: [`decide`] and [`action_failed`].

use std::time::Duration;

use crate::action::{
    Action, AllocateRequest, Decision, DeployRequest, MachineReport, Provisioned, ReleaseReason,
    ReleaseRequest, StaticIpRequest, Wait,
};
use crate::address::machine_addresses;
use crate::conditions::{
    ConditionStatus, ConditionUpdate, MACHINE_DEPLOYED, PAUSED, READY, reasons,
};
use crate::image::{ImageRef, valid_hwe_kernel};
use crate::maas::{Lookup, MaasMachineView, MaasStatus, PowerState};
use crate::marker::{ANNOTATION_OWNER, OwnerMarker};
use crate::memory::MemoryRequest;
use crate::ownership::{MarkerAnswer, check_marker_answer, proven_ours};
use crate::view::{
    CapiMachineView, ClusterView, EraseMode, LifecycleConfig, Observation, Progress, ReleaseRecord,
    TerminalFailure,
};

/// How an executed action failed (the controller classifies its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Network trouble, timeouts, 409 lock retries, 503 with `Retry-After`.
    Transient,
    /// MAAS has no machine (allocate 409) or no addresses (503 exhaustion).
    Capacity,
    /// MAAS rejected the request (400/403/404 on our parameters).
    Permanent,
    /// MAAS failed internally (500, 504).
    MaasFailure,
}

/// An executed action's failure, as reported back to the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    /// Its class.
    pub class: ErrorClass,
    /// A message for conditions and Events: MAAS's text, already redacted
    /// (no secrets).
    pub message: String,
    /// MAAS's `Retry-After`: the next attempt is never sooner.
    pub retry_after: Option<Duration>,
    /// The request may have taken effect in MAAS although no success was
    /// seen (a timeout or a connection lost after sending, a 5xx from MAAS or
    /// a proxy, an undecodable success answer). Only then does a failed
    /// allocation hold [`LifecycleConfig::allocation_settle_time`]: a 4xx,
    /// the 409 lock page or a 503 with `Retry-After` mean MAAS did not act.
    pub outcome_unknown: bool,
}

impl ActionError {
    /// An error of `class` with `message`, no `Retry-After`, outcome known.
    #[must_use]
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after: None,
            outcome_unknown: false,
        }
    }
}

type Step = (Action, Option<Duration>);

/// Decides the one next action for `obs`. Pure: same input, same output.
#[must_use]
pub fn decide(obs: &Observation, cfg: &LifecycleConfig) -> Decision {
    let marker = match OwnerMarker::new(&obs.infra.namespace, &obs.infra.name, &obs.infra.uid) {
        Ok(m) => m,
        Err(e) => {
            // Without a marker nothing can have been allocated.
            let mut d = Decider::without_marker(obs, cfg);
            if obs.infra.deleting {
                return d.finish((Action::RemoveFinalizer, None));
            }
            let step = d.fail(
                reasons::INVALID_SPEC,
                format!("cannot build the MAAS owner marker: {e}"),
            );
            return d.finish(step);
        }
    };
    let mut d = Decider::new(obs, cfg, Some(marker));
    let step = d.run();
    d.finish(step)
}

/// What the lifecycle read from Kubernetes (everything but its own
/// progress and status, the clock and MAAS), as a short fingerprint: a
/// back-off holds only while this is unchanged.
#[must_use]
pub fn inputs_fingerprint(obs: &Observation) -> String {
    let infra = &obs.infra;
    let text = format!(
        "{}/{}/{}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        infra.namespace,
        infra.name,
        infra.uid,
        infra.generation,
        infra.spec,
        infra.deleting,
        infra.paused,
        obs.machine,
        obs.cluster,
    );
    format!("{:08x}", crate::marker::fnv1a32(&text))
}

/// Call before observing MAAS: `Some(wait)` while a back-off the lifecycle
/// set ([`Progress::next_attempt_at`]) has not expired and nothing it reads
/// from Kubernetes changed since. Then do not call MAAS at all (no list, no
/// read) and look again after `wait`; `obs.maas` is not read. [`decide`]
/// applies the same rule, so a caller that observes anyway still makes no
/// MAAS call.
#[must_use]
pub fn backoff_pending(obs: &Observation) -> Option<Duration> {
    let p = &obs.infra.progress;
    let at = p.next_attempt_at?;
    let same = p.backoff_inputs.as_deref() == Some(inputs_fingerprint(obs).as_str());
    (obs.now < at && same).then(|| at.since(obs.now))
}

/// The back-off after the `failures`-th consecutive failure: `base`
/// doubling, capped at `capacity_backoff_max` (or `base` if larger), never
/// shorter than MAAS's `Retry-After`.
fn grow(
    cfg: &LifecycleConfig,
    base: Duration,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    crate::Backoff::new(base, cfg.capacity_backoff_max.max(base)).honouring(failures, retry_after)
}

/// MAAS could not be observed (or the MAAS client could not be built): what
/// to persist — a back-off doubling per consecutive failure, and, once the
/// failure is permanent (credentials refused, 403, 404) or repeats, a
/// `Ready=False/MaasUnavailable` condition with MAAS's text — and when to
/// look again. The mirrored MAAS fields of the status stay as they are.
#[must_use]
pub fn observation_failed(obs: &Observation, cfg: &LifecycleConfig, error: &ActionError) -> Wait {
    let mut progress = obs.infra.progress.clone();
    progress.attempt_failures = progress.attempt_failures.saturating_add(1);
    let n = progress.attempt_failures;
    let wait = grow(cfg, cfg.maas_retry_backoff, n, error.retry_after);
    progress.next_attempt_at = Some(obs.now.plus(wait));
    progress.backoff_inputs = Some(inputs_fingerprint(obs));
    let mut conditions = Vec::new();
    if error.class == ErrorClass::Permanent || n >= 2 {
        conditions.push(ConditionUpdate::new(
            READY,
            ConditionStatus::False,
            reasons::MAAS_UNAVAILABLE,
            format!(
                "cannot read machines from MAAS ({n} attempts): {}; next attempt in {}",
                error.message,
                secs(wait)
            ),
        ));
    }
    Wait {
        progress,
        conditions,
        requeue_after: wait,
    }
}

/// Reports that executing `failed.action` went wrong; returns what to persist
/// and when to look again. `obs` is the observation `failed` was decided on.
///
/// Every failure that is retried sets a back-off ([`Progress::next_attempt_at`])
/// that doubles per consecutive failure and honours `Retry-After`: until it
/// expires no MAAS call is made for this MaasMachine, however often it is
/// woken (see [`backoff_pending`]).
#[must_use]
pub fn action_failed(
    obs: &Observation,
    cfg: &LifecycleConfig,
    failed: &Decision,
    error: &ActionError,
) -> Decision {
    let marker = OwnerMarker::new(&obs.infra.namespace, &obs.infra.name, &obs.infra.uid).ok();
    let mut d = Decider::new(obs, cfg, marker);
    d.progress = failed.progress.clone();
    let msg = &error.message;
    let retry_after = error.retry_after;
    // Consecutive failures, this one included (capacity counts its own).
    let n = if error.class == ErrorClass::Capacity {
        d.progress.attempt_failures
    } else {
        d.progress.attempt_failures.saturating_add(1)
    };
    d.progress.attempt_failures = n;
    let exp = |base: Duration| grow(cfg, base, n, retry_after);
    // (step, back-off): `None` when the next decision differs anyway (a
    // terminal failure to act on, annotations given up) and must not wait.
    let (step, backoff): (Step, Option<Duration>) = match (&failed.action, error.class) {
        (Action::Allocate(req), ErrorClass::Capacity) => {
            d.progress.allocation_requested_at = None;
            d.progress.allocate_failures = d.progress.allocate_failures.saturating_add(1);
            let wait =
                backoff(cfg, d.progress.allocate_failures).max(retry_after.unwrap_or_default());
            let what = match &req.system_id {
                Some(id) => format!("pinned machine {id} is not available"),
                None => "no MAAS machine matches the constraints".to_owned(),
            };
            d.not_ready(
                reasons::WAITING_FOR_CAPACITY,
                format!(
                    "{what} ({msg}); next attempt in {} ({} so far)",
                    secs(wait),
                    d.progress.allocate_failures
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Allocate(_), ErrorClass::Permanent) => {
            d.progress.allocation_requested_at = None;
            let wait = exp(cfg.capacity_backoff_max);
            d.not_ready(
                reasons::ALLOCATION_REJECTED,
                format!(
                    "MAAS rejected the allocation: {msg}. Check that the tags, zone, resource pool \
                     and architecture in the spec exist in MAAS; next attempt in {}",
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Allocate(_), _) => {
            let wait = exp(cfg.capacity_backoff);
            let message = if error.outcome_unknown {
                // Keep allocation_requested_at: the machine may yet show up.
                format!(
                    "the allocation's outcome is unknown ({msg}): MAAS may have allocated a \
                     machine for us; waiting up to {}s for it to show before allocating again",
                    cfg.allocation_settle_time.as_secs()
                )
            } else {
                // MAAS said it did not act: nothing can land later.
                d.progress.allocation_requested_at = None;
                format!(
                    "allocation failed, MAAS did not act: {msg}; next attempt in {}",
                    secs(wait)
                )
            };
            d.not_ready(reasons::ALLOCATING, message);
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Deploy(req), ErrorClass::Permanent) => {
            let message = format!(
                "MAAS rejected the deploy of {}: {msg}. Fix spec.image or spec.hweKernel \
                 (immutable: recreate the MaasMachine)",
                req.system_id
            );
            d.progress.failure = Some(TerminalFailure {
                reason: reasons::DEPLOY_FAILED.to_owned(),
                message: message.clone(),
            });
            d.not_ready(reasons::DEPLOY_FAILED, message);
            ((Action::Observe, Some(Duration::ZERO)), None)
        }
        (Action::Deploy(req), _) if error.outcome_unknown => {
            // MAAS may have started the deploy (answer lost or garbled): the
            // next observation tells (Deploying, or still Allocated), so look
            // again soon rather than after the capacity back-off; the back-off
            // still holds against our own status writes.
            let wait = exp(cfg.maas_retry_backoff);
            d.progress.deploy_started_at = None;
            d.not_ready(
                reasons::DEPLOYING,
                format!(
                    "the deploy of {}'s outcome is unknown ({msg}): MAAS may be deploying it; \
                     looking again in {}",
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Deploy(req), _) => {
            let wait = exp(cfg.capacity_backoff);
            d.progress.deploy_started_at = None;
            d.not_ready(
                reasons::DEPLOYING,
                format!(
                    "deploy of {} failed: {msg}; next attempt in {}",
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Release(req), _) if error.outcome_unknown => {
            // MAAS may have released it (answer lost or garbled): the next
            // observation tells, so look again soon, not after the release
            // poll interval (which held a deletion for 2 minutes after a
            // dropped answer although MAAS had released at once).
            let wait = exp(cfg.maas_retry_backoff);
            d.not_ready(
                reasons::RELEASE_FAILED,
                format!(
                    "the release of {}'s outcome is unknown ({msg}): MAAS may have released it; \
                     looking again in {}",
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Release(req), _) => {
            let wait = exp(cfg.release_poll_interval);
            d.not_ready(
                reasons::RELEASE_FAILED,
                format!(
                    "MAAS did not release {}: {msg}; next attempt in {}",
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::PowerOn { system_id }, _) => {
            let wait = exp(cfg.power_on_retry_after);
            d.not_ready(
                reasons::POWERED_OFF,
                format!(
                    "power-on of {system_id} failed: {msg}; next attempt in {}",
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::LinkStaticIp(req), ErrorClass::Permanent) => {
            let message = format!(
                "MAAS rejected static IP {} for {}: {msg}. Fix spec.staticIP (immutable: recreate \
                 the MaasMachine with a free address outside the subnet's dynamic ranges, on a \
                 subnet the machine's boot interface is on); linking needs a MAAS administrator's \
                 API key",
                req.address, req.system_id
            );
            d.progress.failure = Some(TerminalFailure {
                reason: reasons::STATIC_IP_REJECTED.to_owned(),
                message: message.clone(),
            });
            d.not_ready(reasons::STATIC_IP_REJECTED, message);
            ((Action::Observe, Some(Duration::ZERO)), None)
        }
        (Action::LinkStaticIp(req), _) => {
            let wait = exp(cfg.capacity_backoff);
            d.not_ready(
                reasons::DEPLOYING,
                format!(
                    "linking static IP {} to {} failed: {msg}; next attempt in {}",
                    req.address,
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::UnlinkStaticIp(req), _) => {
            let wait = exp(cfg.release_poll_interval);
            d.not_ready(
                reasons::RELEASE_FAILED,
                format!(
                    "unlinking static IP {} from released machine {} failed: {msg}; next attempt \
                     in {}",
                    req.address,
                    req.system_id,
                    secs(wait)
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        (Action::Annotate { system_id, .. }, ErrorClass::Permanent) => {
            d.progress.annotations_rejected_for = Some(system_id.clone());
            ((Action::Observe, Some(Duration::ZERO)), None)
        }
        (Action::Annotate { system_id, .. }, _) if n >= cfg.max_annotate_failures => {
            // MAAS keeps failing (e.g. the 500 "Invalid character in key
            // name" MAAS answers keys it refuses): go on without them.
            d.progress.annotations_rejected_for = Some(system_id.clone());
            d.progress.attempt_failures = 0;
            d.not_ready(
                reasons::OWNER_ANNOTATIONS_FAILED,
                format!(
                    "MAAS failed set_workload_annotations on {system_id} {n} times ({msg}); going \
                     on without them (ownership rests on agent_name)"
                ),
            );
            ((Action::Observe, Some(Duration::ZERO)), None)
        }
        (Action::Annotate { system_id, .. }, _) => {
            let wait = exp(cfg.maas_retry_backoff);
            d.not_ready(
                reasons::OWNER_ANNOTATIONS_FAILED,
                format!(
                    "MAAS failed set_workload_annotations on {system_id}: {msg}; next attempt in \
                     {}s (attempt {n} of {})",
                    secs(wait),
                    cfg.max_annotate_failures
                ),
            );
            ((Action::Observe, Some(wait)), Some(wait))
        }
        _ => {
            let wait = exp(cfg.release_poll_interval);
            ((Action::Observe, Some(wait)), Some(wait))
        }
    };
    match backoff {
        Some(wait) => {
            d.progress.next_attempt_at = Some(obs.now.plus(wait));
            d.progress.backoff_inputs = Some(inputs_fingerprint(obs));
        }
        None => {
            d.progress.next_attempt_at = None;
            d.progress.backoff_inputs = None;
        }
    }
    d.finish(step)
}

/// `90s`, `0.5s`: a wait for a message (whole seconds in production).
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn backoff(cfg: &LifecycleConfig, failures: u32) -> Duration {
    crate::Backoff::new(cfg.capacity_backoff, cfg.capacity_backoff_max).after(failures)
}

fn status_rank(s: MaasStatus) -> u8 {
    match s {
        MaasStatus::Deployed => 0,
        MaasStatus::Deploying => 1,
        MaasStatus::Allocated => 2,
        _ => 3,
    }
}

struct Decider<'a> {
    obs: &'a Observation,
    cfg: &'a LifecycleConfig,
    marker: Option<OwnerMarker>,
    /// Whether the `agent_name` answer may be trusted ([`check_marker_answer`]).
    answer: MarkerAnswer,
    progress: Progress,
    conditions: Vec<ConditionUpdate>,
}

impl<'a> Decider<'a> {
    fn new(obs: &'a Observation, cfg: &'a LifecycleConfig, marker: Option<OwnerMarker>) -> Self {
        let answer = marker.as_ref().map_or(MarkerAnswer::Consistent, |m| {
            check_marker_answer(m, &obs.maas.by_marker)
        });
        Self {
            obs,
            cfg,
            marker,
            answer,
            progress: obs.infra.progress.clone(),
            conditions: Vec::new(),
        }
    }

    fn without_marker(obs: &'a Observation, cfg: &'a LifecycleConfig) -> Self {
        Self::new(obs, cfg, None)
    }

    // ----- helpers -------------------------------------------------------

    fn set(
        &mut self,
        type_: &'static str,
        status: ConditionStatus,
        reason: &'static str,
        msg: String,
    ) {
        self.conditions.retain(|c| c.type_ != type_);
        self.conditions
            .push(ConditionUpdate::new(type_, status, reason, msg));
    }

    fn not_ready(&mut self, reason: &'static str, msg: impl Into<String>) {
        let msg = msg.into();
        self.set(
            MACHINE_DEPLOYED,
            ConditionStatus::False,
            reason,
            msg.clone(),
        );
        self.set(READY, ConditionStatus::False, reason, msg);
    }

    fn ready(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        self.set(
            MACHINE_DEPLOYED,
            ConditionStatus::True,
            reasons::DEPLOYED,
            msg.clone(),
        );
        self.set(READY, ConditionStatus::True, reasons::READY, msg);
    }

    /// Ours: proven by our owner annotation, or claimed by the `agent_name`
    /// query when its answer is consistent with the filter (`ownership.rs`).
    fn ours(&self, m: &MaasMachineView) -> bool {
        let Some(marker) = &self.marker else {
            return false;
        };
        proven_ours(marker, m) || (self.answer.is_consistent() && marker.matches(&m.agent_name))
    }

    /// Ours and not back in MAAS's free pool.
    fn held(&self, m: &MaasMachineView) -> bool {
        self.ours(m) && !m.status.is_unowned()
    }

    fn lookup(&self, id: &str) -> Option<&'a Lookup> {
        self.obs.maas.lookups.get(id)
    }

    fn recorded_id(&self) -> Option<&'a str> {
        self.obs
            .infra
            .spec
            .system_id
            .as_deref()
            .filter(|s| !s.is_empty())
    }

    fn is_provisioned(&self) -> bool {
        self.obs.infra.provisioned
            || self
                .obs
                .infra
                .spec
                .provider_id
                .as_deref()
                .is_some_and(|p| !p.is_empty())
    }

    fn releasing_record(&self, id: &str) -> bool {
        self.progress.releasing.iter().any(|r| r.system_id == id)
    }

    fn finish(&mut self, (action, requeue_after): Step) -> Decision {
        let report = if matches!(action, Action::ForgetSystemId { .. }) {
            None
        } else {
            self.report()
        };
        Decision {
            action,
            progress: self.progress.clone(),
            conditions: std::mem::take(&mut self.conditions),
            report,
            requeue_after,
        }
    }

    fn report(&self) -> Option<MachineReport> {
        let id = self.recorded_id()?;
        let Some(Lookup::Found(m)) = self.lookup(id) else {
            return None;
        };
        if !(self.ours(m) || self.releasing_record(id)) {
            return None;
        }
        let addresses = if m.status == MaasStatus::Deployed {
            machine_addresses(&m.hostname, &m.fqdn, &m.ip_addresses)
        } else {
            Vec::new()
        };
        Some(MachineReport {
            system_id: m.system_id.clone(),
            machine_state: m.status.name(),
            power_state: m.power_state.as_str().to_owned(),
            hostname: m.hostname.clone(),
            deployed_in_memory: m.ephemeral_deploy,
            zone: m.zone.clone(),
            addresses,
        })
    }

    // ----- top level -----------------------------------------------------

    fn run(&mut self) -> Step {
        let obs = self.obs;
        let paused = obs.infra.paused || obs.cluster.is_some_and(|c| c.paused);
        if paused {
            let who = if obs.infra.paused {
                "the MaasMachine"
            } else {
                "the Cluster"
            };
            self.set(
                PAUSED,
                ConditionStatus::True,
                reasons::PAUSED,
                format!("{who} is paused"),
            );
            return (Action::Paused, None);
        }
        if let Some(wait) = backoff_pending(obs) {
            // Woken before the back-off ends with nothing changed: no MAAS
            // call, nothing new to say.
            self.conditions.clear();
            return (Action::Observe, Some(wait));
        }
        if self.progress.next_attempt_at.take().is_some() {
            // The back-off is over (or lifted): this attempt may call MAAS; a
            // failure counts on from attempt_failures.
            self.progress.backoff_inputs = None;
        } else {
            // The last attempt was not reported as failed.
            self.progress.attempt_failures = 0;
        }
        self.set(
            PAUSED,
            ConditionStatus::False,
            reasons::NOT_PAUSED,
            String::new(),
        );
        if let MarkerAnswer::FilterIgnored { evidence } = &self.answer {
            // Nothing can be decided from an answer that lists other
            // tenants' machines: no release, adoption or allocation (which
            // could never be adopted) until MAAS answers correctly.
            let msg = format!(
                "MAAS ignored the agent_name filter of the owner-marker query (a proxy, or a MAAS \
                 that drops the parameter): {evidence}. Nothing is allocated, adopted or \
                 released until it answers with our machines only"
            );
            self.not_ready(reasons::OWNERSHIP_UNPROVEN, msg);
            return (Action::Observe, Some(self.cfg.release_poll_interval));
        }
        self.prune_releases();
        if let Some(step) = self.unlink_released_static_ip() {
            return step;
        }
        if obs.infra.deleting {
            return self.delete();
        }
        self.provision()
    }

    /// Drops release records MAAS has confirmed (machine free, gone, or someone else's).
    fn prune_releases(&mut self) {
        let lookups = &self.obs.maas.lookups;
        let records = std::mem::take(&mut self.progress.releasing);
        let kept: Vec<ReleaseRecord> = records
            .into_iter()
            .filter(|r| match lookups.get(&r.system_id) {
                None => true,
                Some(Lookup::NotFound) => false,
                Some(Lookup::Found(m)) => {
                    let foreign_agent = !m.agent_name.is_empty() && !self.ours(m);
                    (!foreign_agent && (m.status.is_releasing() || m.status.is_release_failed()))
                        || self.holds_our_static_ip_released(m)
                }
            })
            .collect();
        self.progress.releasing = kept;
    }

    /// `spec.staticIP`'s address, when set.
    fn static_address(&self) -> Option<&'a str> {
        self.obs
            .infra
            .spec
            .static_ip
            .as_ref()
            .map(|s| s.address.as_str())
            .filter(|a| !a.is_empty())
    }

    /// `m` is back in MAAS's free pool (nobody owns it) and still has a
    /// STATIC link with our address: MAAS keeps STATIC links across
    /// releases, so it is ours to remove.
    fn holds_our_static_ip_released(&self, m: &MaasMachineView) -> bool {
        let Some(address) = self.static_address() else {
            return false;
        };
        m.status.is_unowned()
            && m.owner.is_none()
            && m.static_addresses.iter().any(|a| a == address)
    }

    /// `m` is being released (no other tenant's marker on it) and holds our
    /// static address: once MAAS finishes, the STATIC link stays and is ours
    /// to remove, so the machine must not be forgotten before that.
    fn releasing_with_our_static_ip(&self, m: &MaasMachineView) -> bool {
        let Some(address) = self.static_address() else {
            return false;
        };
        m.status.is_releasing()
            && (m.agent_name.is_empty() || self.ours(m))
            && m.static_addresses.iter().any(|a| a == address)
    }

    /// A machine we released still holds our static address: unlink it
    /// before the release counts as done (and before anything else).
    fn unlink_released_static_ip(&mut self) -> Option<Step> {
        self.static_address()?;
        let m = self
            .progress
            .releasing
            .iter()
            .find_map(|r| match self.lookup(&r.system_id) {
                Some(Lookup::Found(m)) if self.holds_our_static_ip_released(m) => Some(m),
                _ => None,
            })?;
        Some(self.unlink_static_ip(m))
    }

    /// `UnlinkStaticIp` of our address from `m` (released, still holding it).
    fn unlink_static_ip(&mut self, m: &MaasMachineView) -> Step {
        let address = self.static_address().unwrap_or_default();
        let id = m.system_id.clone();
        let msg = format!("{id} is released; unlinking static IP {address} from it");
        if self.obs.infra.deleting {
            self.set(
                READY,
                ConditionStatus::False,
                reasons::DELETING,
                msg.clone(),
            );
            self.set(
                MACHINE_DEPLOYED,
                ConditionStatus::False,
                reasons::RELEASING,
                msg,
            );
        } else {
            self.not_ready(reasons::RELEASING, msg);
        }
        let subnet = self
            .obs
            .infra
            .spec
            .static_ip
            .as_ref()
            .and_then(|s| s.subnet.clone());
        (
            Action::UnlinkStaticIp(StaticIpRequest {
                system_id: id,
                address: address.to_owned(),
                subnet,
            }),
            Some(Duration::ZERO),
        )
    }

    /// A release of ours that MAAS failed and that no longer carries the
    /// marker: the record is the proof it is ours; ask again.
    fn retry_failed_release(&mut self) -> Option<Step> {
        let candidate =
            self.progress
                .releasing
                .iter()
                .find_map(|r| match self.lookup(&r.system_id) {
                    Some(Lookup::Found(m))
                        if m.status.is_release_failed()
                            && m.agent_name.is_empty()
                            && m.owner.is_some()
                            && !m.workload_annotations.contains_key(ANNOTATION_OWNER) =>
                    {
                        Some(m)
                    }
                    _ => None,
                })?;
        Some(self.release(candidate, ReleaseReason::RetryRelease))
    }

    fn release(&mut self, m: &MaasMachineView, reason: ReleaseReason) -> Step {
        let id = m.system_id.clone();
        // Nothing of ours reached the disks of a machine that was never deployed.
        let erase = if m.status == MaasStatus::Allocated {
            EraseMode::None
        } else {
            self.obs.infra.spec.erase
        };
        if !self.releasing_record(&id) {
            self.progress.releasing.push(ReleaseRecord {
                system_id: id.clone(),
                since: self.obs.now,
            });
        }
        let comment = match &reason {
            ReleaseReason::Deleting => "capmaas: MaasMachine deleted".to_owned(),
            ReleaseReason::Duplicate => "capmaas: duplicate allocation".to_owned(),
            ReleaseReason::RetryDeploy { cause, .. } => format!("capmaas: deploy failed: {cause}"),
            ReleaseReason::Failed => "capmaas: MaasMachine failed".to_owned(),
            ReleaseReason::RetryRelease => "capmaas: retrying failed release".to_owned(),
        };
        match &reason {
            ReleaseReason::Deleting => {
                self.set(
                    READY,
                    ConditionStatus::False,
                    reasons::DELETING,
                    format!("releasing {id}"),
                );
                self.set(
                    MACHINE_DEPLOYED,
                    ConditionStatus::False,
                    reasons::RELEASING,
                    format!("releasing {id} ({})", m.status),
                );
            }
            ReleaseReason::RetryRelease => self.not_ready(
                reasons::RELEASE_FAILED,
                format!(
                    "MAAS failed to release {id} ({}); asking again",
                    m.status_message
                ),
            ),
            // Conditions for retries and failures are set by the caller;
            // a duplicate does not change this machine's story.
            ReleaseReason::Duplicate
            | ReleaseReason::RetryDeploy { .. }
            | ReleaseReason::Failed => {}
        }
        (
            Action::Release(ReleaseRequest {
                system_id: id,
                erase,
                reason,
                comment,
            }),
            Some(Duration::ZERO),
        )
    }

    fn fail(&mut self, reason: &'static str, message: String) -> Step {
        self.progress.failure = Some(TerminalFailure {
            reason: reason.to_owned(),
            message: message.clone(),
        });
        self.failed()
    }

    /// Terminal failure: give back anything we still hold, then stay failed.
    fn failed(&mut self) -> Step {
        let Some(failure) = self.progress.failure.clone() else {
            return (Action::Observe, None);
        };
        let reason = reasons::canonical(&failure.reason);
        self.not_ready(reason, failure.message.clone());
        let obs = self.obs;
        let recorded = self.recorded_id().and_then(|id| match self.lookup(id) {
            Some(Lookup::Found(m)) => Some(m),
            _ => None,
        });
        let mut held: Vec<&MaasMachineView> = recorded.into_iter().collect();
        held.extend(obs.maas.by_marker.iter());
        let release = held
            .into_iter()
            .find(|m| self.held(m) && m.status.is_releasable());
        if let Some(m) = release {
            return self.release(m, ReleaseReason::Failed);
        }
        (
            Action::Fail {
                reason: reason.to_owned(),
                message: failure.message,
            },
            None,
        )
    }

    // ----- provisioning --------------------------------------------------

    fn provision(&mut self) -> Step {
        let obs = self.obs;
        let Some(machine) = obs.machine.as_ref() else {
            self.not_ready(
                reasons::WAITING_FOR_OWNER,
                "waiting for Cluster API to set the owner Machine",
            );
            return (Action::WaitForOwnerMachine, None);
        };
        let Some(cluster) = obs.cluster else {
            self.not_ready(
                reasons::WAITING_FOR_CLUSTER,
                "waiting for the Cluster to exist",
            );
            return (Action::WaitForCluster, None);
        };
        if let Some(step) = self.retry_failed_release() {
            return step;
        }
        if self.progress.failure.is_some() {
            return self.failed();
        }
        match self.recorded_id() {
            None => self.unrecorded(machine, cluster),
            Some(id) => self.recorded(id, machine, cluster),
        }
    }

    fn unrecorded(&mut self, machine: &CapiMachineView, cluster: ClusterView) -> Step {
        let obs = self.obs;
        if let Some(pid) = obs
            .infra
            .spec
            .provider_id
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            // Only a user writes providerID before systemID (we record the
            // machine first). Allocating would take a machine that could
            // never be recorded (spec.systemID is refused once providerID is
            // set): fail, giving back anything that carries our marker.
            return self.fail(
                reasons::INVALID_SPEC,
                format!(
                    "spec.providerID is set ({pid}) but spec.systemID is not: nothing is allocated. \
                     Recreate the MaasMachine without spec.providerID (the controller sets it), or \
                     with spec.systemID naming the MAAS machine to use"
                ),
            );
        }
        let held: Vec<&MaasMachineView> =
            obs.maas.by_marker.iter().filter(|m| self.held(m)).collect();
        // A machine of ours whose release MAAS failed is given back, not adopted;
        // one being released is left to MAAS.
        if let Some(m) = held.iter().find(|m| m.status.is_release_failed()) {
            return self.release(m, ReleaseReason::RetryRelease);
        }
        let mut ours: Vec<&MaasMachineView> = held
            .into_iter()
            .filter(|m| !m.status.is_releasing())
            .collect();
        ours.sort_by(|a, b| {
            status_rank(a.status)
                .cmp(&status_rank(b.status))
                .then_with(|| a.system_id.cmp(&b.system_id))
        });
        if let Some(best) = ours.first() {
            let id = best.system_id.clone();
            self.progress.recorded_system_id = Some(id.clone());
            self.progress.allocate_failures = 0;
            // allocation_requested_at stays until spec.systemID is written:
            // a crash before that must not let a deletion finish early.
            self.progress.deploy_started_at = None;
            self.progress.power_on_requested_at = None;
            self.not_ready(
                reasons::ADOPTING,
                format!("machine {id} carries our owner marker; recording it in spec.systemID"),
            );
            return (Action::Adopt { system_id: id }, Some(Duration::ZERO));
        }
        if let Some(step) = self.allocation_in_flight() {
            return step;
        }
        self.allocate(machine, cluster, None)
    }

    /// An allocation was sent recently and its machine is not visible yet:
    /// wait for it rather than allocate again (or finish a deletion).
    fn allocation_in_flight(&mut self) -> Option<Step> {
        let at = self.progress.allocation_requested_at?;
        let cfg = self.cfg;
        let waited = self.obs.now.since(at);
        if waited >= cfg.allocation_settle_time {
            self.progress.allocation_requested_at = None;
            return None;
        }
        self.not_ready(
            reasons::ALLOCATING,
            format!(
                "the last allocation's outcome is unknown (no answer seen); waiting up to {}s \
                 after it for MAAS to show the machine it may have allocated for us before \
                 allocating again",
                cfg.allocation_settle_time.as_secs()
            ),
        );
        Some((
            Action::Observe,
            Some(cfg.allocation_settle_time.saturating_sub(waited)),
        ))
    }

    /// Checks that must pass before allocating or deploying.
    fn gates(&mut self, machine: &CapiMachineView, cluster: ClusterView) -> Option<Step> {
        let obs = self.obs;
        let cfg = self.cfg;
        if machine.deleting {
            self.not_ready(
                reasons::DELETING,
                "the owner Machine is being deleted; not allocating or deploying",
            );
            return Some((Action::Observe, None));
        }
        if !cluster.infrastructure_provisioned {
            self.not_ready(
                reasons::WAITING_FOR_CLUSTER_INFRASTRUCTURE,
                "waiting for the cluster infrastructure (MaasCluster) to be provisioned",
            );
            return Some((Action::WaitForClusterInfrastructure, None));
        }
        if machine
            .bootstrap_data_secret
            .as_deref()
            .is_none_or(str::is_empty)
        {
            self.not_ready(
                reasons::WAITING_FOR_BOOTSTRAP_DATA,
                "waiting for the bootstrap provider to set Machine.spec.bootstrap.dataSecretName",
            );
            return Some((Action::WaitForBootstrapData, None));
        }
        if let Err(e) = ImageRef::parse(&obs.infra.spec.image) {
            return Some(self.fail(
                reasons::INVALID_SPEC,
                format!("{e} (spec.image is immutable: recreate the MaasMachine)"),
            ));
        }
        if let Some(k) = obs
            .infra
            .spec
            .hwe_kernel
            .as_deref()
            .filter(|k| !k.is_empty())
            && !valid_hwe_kernel(k)
        {
            return Some(self.fail(
                reasons::INVALID_SPEC,
                format!("spec.hweKernel {k:?} is not a kernel name like `ga-22.04` or `hwe-22.04`"),
            ));
        }
        if obs.infra.spec.has_pod_constraints() {
            let removed = cfg.vm_hosts_removed_in;
            match obs.maas.version {
                None => {
                    self.not_ready(
                        reasons::WAITING_FOR_MAAS_VERSION,
                        "VM host (pod) constraints set; waiting to learn the MAAS version",
                    );
                    return Some((Action::Observe, Some(cfg.capacity_backoff)));
                }
                Some(v) if v >= removed => {
                    self.not_ready(
                        reasons::VM_HOSTS_NOT_SUPPORTED,
                        format!(
                            "spec.pod, spec.notPods, spec.podType and spec.notPodTypes need MAAS VM \
                             hosts, which MAAS {v} no longer has (removed in {removed}): recreate \
                             the MaasMachine without them. Nothing is allocated meanwhile"
                        ),
                    );
                    return Some((Action::Observe, Some(cfg.capacity_backoff_max)));
                }
                Some(_) => {}
            }
        }
        if obs.infra.spec.ephemeral {
            let min = cfg.ephemeral_min_maas_version;
            match obs.maas.version {
                None => {
                    self.not_ready(
                        reasons::WAITING_FOR_MAAS_VERSION,
                        "in-memory deploy requested; waiting to learn the MAAS version",
                    );
                    return Some((Action::Observe, Some(cfg.capacity_backoff)));
                }
                Some(v) if v < min => {
                    self.not_ready(
                        reasons::EPHEMERAL_NOT_SUPPORTED,
                        format!(
                            "spec.ephemeral (in-memory deploy) needs MAAS {min} or newer, this MAAS is \
                             {v}: upgrade MAAS, or recreate the MaasMachine with spec.ephemeral: false. \
                             No machine is deployed meanwhile"
                        ),
                    );
                    return Some((Action::Observe, Some(cfg.capacity_backoff_max)));
                }
                Some(_) => {}
            }
        }
        None
    }

    fn allocate(
        &mut self,
        machine: &CapiMachineView,
        cluster: ClusterView,
        pinned: Option<&str>,
    ) -> Step {
        if let Some(step) = self.gates(machine, cluster) {
            return step;
        }
        let Some(marker) = self.marker.as_ref() else {
            return (Action::Observe, None);
        };
        let spec = &self.obs.infra.spec;
        let non_empty =
            |s: &Option<String>| s.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        let min_memory_mib = MemoryRequest::decide(
            spec.min_memory_mib,
            spec.ephemeral,
            self.cfg.ephemeral_min_memory_mib,
        )
        .min_memory_mib;
        let zone = non_empty(&machine.failure_domain).or_else(|| non_empty(&spec.failure_domain));
        let req = AllocateRequest {
            agent_name: marker.render(),
            system_id: pinned.map(str::to_owned),
            min_cpu: spec.min_cpu,
            min_memory_mib,
            min_disk_gb: spec.min_disk_gb,
            tags: spec.tags.clone(),
            not_tags: spec.not_tags.clone(),
            zone,
            pool: non_empty(&spec.resource_pool),
            architecture: non_empty(&spec.architecture),
            pod: non_empty(&spec.pod),
            not_pods: spec.not_pods.clone(),
            pod_type: non_empty(&spec.pod_type),
            not_pod_types: spec.not_pod_types.clone(),
            subnets: spec
                .static_ip
                .iter()
                .filter(|s| !s.address.is_empty())
                .map(|s| format!("ip:{}", s.address))
                .collect(),
            avoid_system_ids: self.progress.avoid_system_ids.clone(),
            comment: format!(
                "capmaas: {}/{} (cluster {})",
                self.obs.infra.namespace, self.obs.infra.name, machine.cluster_name
            ),
        };
        let what = match pinned {
            Some(id) => format!("allocating pinned machine {id}"),
            None => "allocating a MAAS machine".to_owned(),
        };
        self.not_ready(reasons::ALLOCATING, what);
        self.progress.allocation_requested_at = Some(self.obs.now);
        (Action::Allocate(req), Some(Duration::ZERO))
    }

    fn forget(&mut self, id: &str, why: String) -> Step {
        // recorded_system_id is left as is: should the spec patch not happen,
        // the id must still read as ours, not as pinned.
        self.progress.deploy_started_at = None;
        self.progress.power_on_requested_at = None;
        self.not_ready(
            reasons::ALLOCATING,
            format!("{why}; clearing spec.systemID to allocate another machine"),
        );
        (
            Action::ForgetSystemId {
                system_id: id.to_owned(),
            },
            Some(Duration::ZERO),
        )
    }

    fn release_duplicates(&mut self, keep: &str) -> Option<Step> {
        let obs = self.obs;
        let mut dups: Vec<&MaasMachineView> = obs
            .maas
            .by_marker
            .iter()
            .filter(|m| m.system_id != keep && self.held(m) && m.status.is_releasable())
            .collect();
        dups.sort_by(|a, b| a.system_id.cmp(&b.system_id));
        let m = dups.first()?;
        Some(self.release(m, ReleaseReason::Duplicate))
    }

    fn recorded(&mut self, id: &str, machine: &CapiMachineView, cluster: ClusterView) -> Step {
        let cfg = self.cfg;
        let Some(lookup) = self.lookup(id) else {
            // The controller did not look the machine up: wait rather than guess.
            return (Action::Observe, Some(cfg.deploy_poll_interval));
        };
        let pinned = self.obs.infra.system_id_pinned();
        let provisioned = self.is_provisioned();
        match lookup {
            Lookup::NotFound => {
                if pinned {
                    return self.fail(
                        reasons::PINNED_MACHINE_UNAVAILABLE,
                        format!(
                            "pinned machine {id} does not exist in MAAS: clear spec.systemID or set it \
                             to an existing machine"
                        ),
                    );
                }
                if provisioned {
                    return self.fail(
                        reasons::MACHINE_NOT_FOUND,
                        format!(
                            "machine {id} was deleted from MAAS; delete the Machine so that Cluster API \
                             replaces it"
                        ),
                    );
                }
                self.forget(id, format!("machine {id} no longer exists in MAAS"))
            }
            Lookup::Found(m) if self.held(m) => {
                self.progress.allocation_requested_at = None;
                if let Some(step) = self.release_duplicates(id) {
                    return step;
                }
                self.held_machine(m, machine, cluster)
            }
            Lookup::Found(m) if self.releasing_record(id) => {
                self.not_ready(
                    reasons::RELEASING,
                    format!("waiting for MAAS to release {id} ({})", m.status),
                );
                (Action::Observe, Some(cfg.release_poll_interval))
            }
            Lookup::Found(m) if pinned => {
                if let Some(step) = self.release_duplicates(id) {
                    return step;
                }
                if m.status == MaasStatus::Ready && m.owner.is_none() {
                    // The lookup already tells whether the pinned machine can
                    // run in memory; asking MAAS would only earn a 409.
                    if let Some(step) = self.pinned_too_small(m) {
                        return step;
                    }
                    return self.allocate(machine, cluster, Some(id));
                }
                let owner = m.owner.as_deref().unwrap_or("nobody");
                self.not_ready(
                    reasons::PINNED_MACHINE_UNAVAILABLE,
                    format!(
                        "pinned machine {id} is {} (owner: {owner}); waiting for it to be Ready, or \
                         clear spec.systemID to let MAAS choose",
                        m.status
                    ),
                );
                (Action::Observe, Some(cfg.capacity_backoff_max))
            }
            Lookup::Found(m) if self.holds_our_static_ip_released(m) => {
                // Released outside our records: free our address before
                // anything else (the next machine needs it).
                self.unlink_static_ip(m)
            }
            Lookup::Found(m) if self.releasing_with_our_static_ip(m) => {
                // Released outside our records and not done yet: keep it
                // recorded so that the address is unlinked once it is free.
                self.not_ready(
                    reasons::RELEASING,
                    format!(
                        "machine {id} is being released outside Cluster API ({}); waiting to \
                         unlink static IP {} from it",
                        m.status,
                        self.static_address().unwrap_or_default()
                    ),
                );
                (Action::Observe, Some(cfg.release_poll_interval))
            }
            Lookup::Found(m) => {
                if provisioned {
                    return self.fail(
                        reasons::MACHINE_NOT_OWNED,
                        format!(
                            "machine {id} ({}) no longer carries our owner marker (released or \
                             re-allocated outside Cluster API); delete the Machine so that Cluster API \
                             replaces it",
                            m.status
                        ),
                    );
                }
                self.forget(id, format!("machine {id} ({}) is no longer ours", m.status))
            }
        }
    }

    fn held_machine(
        &mut self,
        m: &MaasMachineView,
        machine: &CapiMachineView,
        cluster: ClusterView,
    ) -> Step {
        let cfg = self.cfg;
        let id = m.system_id.as_str();
        if matches!(
            m.status,
            MaasStatus::Allocated | MaasStatus::Deploying | MaasStatus::Deployed
        ) && self.progress.annotations_rejected_for.as_deref() != Some(id)
            && let Some(marker) = &self.marker
        {
            let desired = marker.workload_annotations(Some(&machine.cluster_name));
            if desired
                .iter()
                .any(|(k, v)| m.workload_annotations.get(k) != Some(v))
            {
                return (
                    Action::Annotate {
                        system_id: id.to_owned(),
                        annotations: desired,
                    },
                    Some(Duration::ZERO),
                );
            }
        }
        match m.status {
            MaasStatus::Allocated => self.deploy(m, machine, cluster),
            MaasStatus::Deploying => {
                let now = self.obs.now;
                let started = *self.progress.deploy_started_at.get_or_insert(now);
                let elapsed = now.since(started);
                if elapsed >= cfg.deploy_timeout {
                    let cause = format!(
                        "deploy did not finish within {} minutes (MAAS: {:?})",
                        cfg.deploy_timeout.as_secs() / 60,
                        m.status_message
                    );
                    return self.retry_deploy(m, reasons::DEPLOY_FAILED, cause);
                }
                self.not_ready(
                    reasons::DEPLOYING,
                    format!("MAAS is deploying {id}: {}", m.status_message),
                );
                let left = cfg.deploy_timeout.saturating_sub(elapsed);
                (Action::Observe, Some(cfg.deploy_poll_interval.min(left)))
            }
            MaasStatus::Deployed => self.deployed(m),
            MaasStatus::FailedDeployment => {
                let cause = format!("MAAS reports Failed deployment: {:?}", m.status_message);
                self.retry_deploy(m, reasons::DEPLOY_FAILED, cause)
            }
            MaasStatus::Broken if !self.is_provisioned() => {
                let cause = format!("machine marked Broken in MAAS: {:?}", m.status_message);
                self.retry_deploy(m, reasons::DEPLOY_FAILED, cause)
            }
            s if s.is_releasing() => {
                self.not_ready(reasons::RELEASING, format!("MAAS is releasing {id} ({s})"));
                (Action::Observe, Some(cfg.release_poll_interval))
            }
            s if s.is_release_failed() => self.release(m, ReleaseReason::RetryRelease),
            s => {
                self.not_ready(
                    reasons::UNEXPECTED_MACHINE_STATE,
                    format!(
                        "machine {id} is {s} in MAAS ({:?}); waiting for it to return to Deployed",
                        m.status_message
                    ),
                );
                (Action::Observe, Some(cfg.deploy_poll_interval))
            }
        }
    }

    /// Why `m` cannot take this MaasMachine's in-memory deploy, if it cannot.
    fn too_small_for_memory(&self, m: &MaasMachineView) -> Option<String> {
        let min = self.cfg.ephemeral_min_memory_mib;
        (self.obs.infra.spec.ephemeral && m.memory_mib < min).then(|| {
            format!(
                "machine {} has {} MiB of memory; an in-memory deploy needs at least {min} MiB",
                m.system_id, m.memory_mib
            )
        })
    }

    /// A pinned machine too small for the in-memory deploy is a terminal
    /// failure (MAAS cannot choose another): whether still Ready (decided from
    /// the lookup, before any allocation) or already allocated (released).
    fn pinned_too_small(&mut self, m: &MaasMachineView) -> Option<Step> {
        let base = self.too_small_for_memory(m)?;
        Some(self.fail(
            reasons::INSUFFICIENT_MEMORY,
            format!(
                "{base}: pin a machine with more memory, or recreate the MaasMachine with \
                 spec.ephemeral: false"
            ),
        ))
    }

    fn deploy(
        &mut self,
        m: &MaasMachineView,
        machine: &CapiMachineView,
        cluster: ClusterView,
    ) -> Step {
        let cfg = self.cfg;
        let spec = &self.obs.infra.spec;
        let id = m.system_id.as_str();
        if self.obs.infra.system_id_pinned() {
            if let Some(step) = self.pinned_too_small(m) {
                return step;
            }
        } else if let Some(base) = self.too_small_for_memory(m) {
            return self.retry_deploy(m, reasons::INSUFFICIENT_MEMORY, base);
        }
        if let Some(step) = self.gates(machine, cluster) {
            return step;
        }
        let Ok(image) = ImageRef::parse(&spec.image) else {
            return (Action::Observe, None);
        };
        let Some(secret) = machine.bootstrap_data_secret.clone() else {
            return (Action::Observe, None);
        };
        if let Some(address) = self.static_address()
            && (!m.static_addresses.iter().any(|a| a == address)
                || m.static_addresses_shadowed.iter().any(|a| a == address))
        {
            self.not_ready(
                reasons::DEPLOYING,
                format!("linking static IP {address} to {id} before deploying"),
            );
            return (
                Action::LinkStaticIp(StaticIpRequest {
                    system_id: id.to_owned(),
                    address: address.to_owned(),
                    subnet: spec.static_ip.as_ref().and_then(|s| s.subnet.clone()),
                }),
                Some(Duration::ZERO),
            );
        }
        self.progress.deploy_started_at = Some(self.obs.now);
        self.progress.power_on_requested_at = None;
        let mode = if spec.ephemeral { " in memory" } else { "" };
        self.not_ready(
            reasons::DEPLOYING,
            format!("deploying {image} to {id}{mode}"),
        );
        (
            Action::Deploy(DeployRequest {
                system_id: id.to_owned(),
                osystem: image.osystem,
                distro_series: image.distro_series,
                hwe_kernel: spec.hwe_kernel.clone().filter(|k| !k.is_empty()),
                ephemeral: spec.ephemeral,
                bootstrap_data_secret: secret,
                comment: format!(
                    "capmaas: {}/{}",
                    self.obs.infra.namespace, self.obs.infra.name
                ),
            }),
            Some(cfg.deploy_poll_interval),
        )
    }

    fn deployed(&mut self, m: &MaasMachineView) -> Step {
        let cfg = self.cfg;
        let now = self.obs.now;
        let id = m.system_id.as_str();
        self.progress.deploy_started_at = None;
        if m.power_state == PowerState::Off {
            if let Some(at) = self.progress.power_on_requested_at
                && now.since(at) < cfg.power_on_retry_after
            {
                self.not_ready(
                    reasons::POWERED_OFF,
                    format!("machine {id} is off; power-on requested, waiting for MAAS"),
                );
                return (
                    Action::Observe,
                    Some(cfg.power_on_retry_after.saturating_sub(now.since(at))),
                );
            }
            self.progress.power_on_requested_at = Some(now);
            self.not_ready(
                reasons::POWERED_OFF,
                format!("MAAS reports {id} powered off; powering it on"),
            );
            return (
                Action::PowerOn {
                    system_id: id.to_owned(),
                },
                Some(cfg.power_on_retry_after),
            );
        }
        self.progress.power_on_requested_at = None;
        let note = match m.power_state {
            PowerState::On => String::new(),
            other => format!("MAAS reports power state {other}; not acting on it"),
        };
        self.ready(note);
        let existing = self
            .obs
            .infra
            .spec
            .provider_id
            .as_deref()
            .filter(|p| !p.is_empty());
        // Both halves of MarkProvisioned must have landed (status and spec.providerID).
        if self.obs.infra.provisioned && existing.is_some() {
            return (Action::Observe, Some(cfg.steady_interval));
        }
        let provider_id = match existing {
            Some(existing) => existing.to_owned(),
            None => provider_id(&m.zone, id),
        };
        (
            Action::MarkProvisioned(Provisioned {
                provider_id,
                addresses: machine_addresses(&m.hostname, &m.fqdn, &m.ip_addresses),
                failure_domain: m.zone.clone(),
            }),
            Some(cfg.steady_interval),
        )
    }

    /// Counts a failed attempt, releases the machine, and retries (elsewhere
    /// unless pinned) or gives up after the retry limit.
    fn retry_deploy(&mut self, m: &MaasMachineView, reason: &'static str, cause: String) -> Step {
        let cfg = self.cfg;
        let id = m.system_id.clone();
        let failures = self.progress.deploy_failures.saturating_add(1);
        self.progress.deploy_failures = failures;
        self.progress.last_deploy_failure = Some(cause.clone());
        self.progress.deploy_started_at = None;
        self.progress.power_on_requested_at = None;
        if !self.progress.avoid_system_ids.contains(&id) {
            self.progress.avoid_system_ids.push(id.clone());
        }
        while self.progress.avoid_system_ids.len() > cfg.avoid_list_max {
            self.progress.avoid_system_ids.remove(0);
        }
        let final_attempt = failures > cfg.max_deploy_retries;
        let total = cfg.max_deploy_retries.saturating_add(1);
        let message = if final_attempt {
            let message = format!(
                "giving up after {failures} failed deploy attempts; last on {id}: {cause}. Delete the \
                 Machine (or let a MachineHealthCheck remediate it) to try again"
            );
            self.progress.failure = Some(TerminalFailure {
                reason: reason.to_owned(),
                message: message.clone(),
            });
            message
        } else if self.obs.infra.system_id_pinned() {
            format!(
                "{cause}; releasing {id} and retrying on the pinned machine (attempt {} of {total})",
                failures + 1
            )
        } else {
            format!(
                "{cause}; releasing {id} and retrying on another machine (attempt {} of {total})",
                failures + 1
            )
        };
        self.not_ready(reason, message);
        self.release(
            m,
            ReleaseReason::RetryDeploy {
                cause,
                final_attempt,
            },
        )
    }

    // ----- deletion ------------------------------------------------------

    fn delete(&mut self) -> Step {
        let obs = self.obs;
        let cfg = self.cfg;
        if let Some(step) = self.retry_failed_release() {
            return step;
        }
        let mut waiting: Vec<(String, String)> = Vec::new();
        let recorded = self.recorded_id();
        if let Some(id) = recorded {
            match self.lookup(id) {
                None => waiting.push((id.to_owned(), "not looked up".to_owned())),
                Some(Lookup::NotFound) => {}
                Some(Lookup::Found(m)) if self.held(m) => {
                    if m.status.is_releasable() {
                        return self.release(m, ReleaseReason::Deleting);
                    }
                    waiting.push((id.to_owned(), m.status.name()));
                }
                // Released outside our records (by an administrator, or the
                // status was lost) with our static address still linked.
                Some(Lookup::Found(m)) if self.holds_our_static_ip_released(m) => {
                    return self.unlink_static_ip(m);
                }
                // Being released outside our records (an administrator's
                // release, or ours after the status was lost) with our static
                // address: MAAS keeps the STATIC link, so wait until the
                // machine is back in the pool and unlink it then.
                Some(Lookup::Found(m)) if self.releasing_with_our_static_ip(m) => {
                    waiting.push((id.to_owned(), m.status.name()));
                }
                Some(Lookup::Found(_)) => {}
            }
        }
        let mut others: Vec<&MaasMachineView> = obs
            .maas
            .by_marker
            .iter()
            .filter(|m| Some(m.system_id.as_str()) != recorded && self.held(m))
            .collect();
        others.sort_by(|a, b| a.system_id.cmp(&b.system_id));
        for m in others {
            if m.status.is_releasable() {
                return self.release(m, ReleaseReason::Deleting);
            }
            waiting.push((m.system_id.clone(), m.status.name()));
        }
        for r in &self.progress.releasing {
            if !waiting.iter().any(|(id, _)| *id == r.system_id) {
                waiting.push((r.system_id.clone(), "releasing".to_owned()));
            }
        }
        if waiting.is_empty()
            && let Some(step) = self.allocation_in_flight()
        {
            self.set(
                READY,
                ConditionStatus::False,
                reasons::DELETING,
                "waiting for an allocation in flight".into(),
            );
            return step;
        }
        if !waiting.is_empty() {
            let list = waiting
                .iter()
                .map(|(id, state)| format!("{id} ({state})"))
                .collect::<Vec<_>>()
                .join(", ");
            self.set(
                READY,
                ConditionStatus::False,
                reasons::DELETING,
                format!("waiting for MAAS: {list}"),
            );
            self.set(
                MACHINE_DEPLOYED,
                ConditionStatus::False,
                reasons::RELEASING,
                format!("waiting for MAAS to release {list}"),
            );
            return (Action::Observe, Some(cfg.release_poll_interval));
        }
        let note = "all MAAS machines released".to_owned();
        self.set(
            READY,
            ConditionStatus::False,
            reasons::DELETING,
            note.clone(),
        );
        self.set(
            MACHINE_DEPLOYED,
            ConditionStatus::False,
            reasons::DELETING,
            note,
        );
        (Action::RemoveFinalizer, None)
    }
}

/// `maas:///<zone>/<system-id>` (the form the existing Go provider uses, so
/// node providerIDs stay compatible). An empty zone becomes `default`.
#[must_use]
pub fn provider_id(zone: &str, system_id: &str) -> String {
    let zone = if zone.is_empty() { "default" } else { zone };
    format!("maas:///{zone}/{system_id}")
}

/// The system ID in a providerID (`maas:///<zone>/<id>`, `maas://<id>`, ...):
/// its last path segment.
#[must_use]
pub fn system_id_from_provider_id(provider_id: &str) -> Option<&str> {
    let rest = provider_id.strip_prefix("maas://")?;
    rest.rsplit('/').next().filter(|s| !s.is_empty())
}
