//! Machine operations and MAAS's state machine: allocate (see
//! `constraints`), deploy, release, erase, power, broken/fixed, abort, lock,
//! workload annotations, delete; and what each timeline step does.

use crate::domain::error::MaasError;
use crate::domain::params::Params;
use crate::domain::state::State;
use crate::domain::validate;
use crate::model::version::MaasVersion;
use crate::model::*;
use std::time::Duration;

/// Permission levels of MAAS's authorization backend (without RBAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perm {
    View,
    Edit,
    Admin,
    Lock,
}

/// Ubuntu releases the simulator offers: (name, version, kernel).
pub(crate) const RELEASES: &[(&str, &str)] =
    &[("focal", "20.04"), ("jammy", "22.04"), ("noble", "24.04")];
pub(crate) const DEFAULT_SERIES: &str = "jammy";

/// Options MAAS parses for allocation and deployment.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllocationOptions {
    pub(crate) agent_name: String,
    pub(crate) comment: Option<String>,
    pub(crate) install_kvm: bool,
    pub(crate) register_vmhost: bool,
    pub(crate) ephemeral_deploy: bool,
    pub(crate) enable_hw_sync: bool,
}

/// `get_allocation_options`: boolean and choice validation, in MAAS's order.
pub(crate) fn allocation_options(
    post: &Params,
    version: MaasVersion,
) -> Result<AllocationOptions, MaasError> {
    let comment = post.get("comment").map(str::to_string);
    let install_rackd = post.bool_or("install_rackd", false)?;
    if install_rackd {
        return Err(MaasError::bad_request(if version >= MaasVersion::V3_8 {
            "Support for install_rackd allocation parameter has been removed."
        } else {
            "Deploying a machine as a rackd has been disabled and it's not supported anymore."
        }));
    }
    let install_kvm = post.bool_or("install_kvm", false)?;
    if install_kvm && !version.has_vm_hosts() {
        return Err(MaasError::bad_request(
            "Support for install_kvm allocation parameter has been removed.",
        ));
    }
    let register_vmhost = post.bool_or("register_vmhost", false)?;
    if register_vmhost && !version.has_vm_hosts() {
        return Err(MaasError::bad_request(
            "Support for register_vmhost allocation parameter has been removed.",
        ));
    }
    let ephemeral_deploy = post.bool_or("ephemeral_deploy", false)?;
    post.opt_bool("bridge_all")?;
    if let Some(bt) = post.get("bridge_type")
        && bt != "standard"
        && bt != "ovs"
    {
        return Err(MaasError::field(
            "bridge_type",
            format!("'{bt}' is not a valid bridge_type.  It should be one of: 'standard', 'ovs'."),
        ));
    }
    post.opt_bool("bridge_stp")?;
    post.opt_int("bridge_fd")?;
    let agent_name = post.get("agent_name").unwrap_or("").to_string();
    // Before 3.2 `enable_hw_sync` is no parameter: ignored like any other.
    let enable_hw_sync = version.has_hw_sync() && post.bool_or("enable_hw_sync", false)?;
    Ok(AllocationOptions {
        agent_name,
        comment,
        install_kvm,
        register_vmhost,
        ephemeral_deploy,
        enable_hw_sync,
    })
}

/// Resolve `jammy`, `ubuntu/jammy`, `22.04` or `ubuntu/22.04`.
pub(crate) fn resolve_series(series: &str) -> Option<&'static str> {
    let bare = series.strip_prefix("ubuntu/").unwrap_or(series);
    RELEASES
        .iter()
        .find(|(name, ver)| *name == bare || *ver == bare)
        .map(|(name, _)| *name)
}

fn kernel_for(series: &str) -> Option<String> {
    RELEASES
        .iter()
        .find(|(name, _)| *name == series)
        .map(|(_, ver)| format!("ga-{ver}"))
}

/// Django `BooleanField`: `false`, `0` and empty are false, anything else true.
fn django_bool(v: Option<&str>) -> bool {
    match v {
        None => false,
        Some(s) => {
            let l = s.trim().to_ascii_lowercase();
            !(l.is_empty() || l == "false" || l == "0")
        }
    }
}

impl State {
    /// `get_node_or_404` with MAAS's permission rules.
    pub(crate) fn machine_for(
        &self,
        user: &User,
        system_id: &str,
        perm: Perm,
    ) -> Result<u64, MaasError> {
        let Some(m) = self.machine_by_system_id(system_id) else {
            return Err(MaasError::no_match("Machine"));
        };
        if m.locked && perm == Perm::Edit {
            return Err(MaasError::forbidden(""));
        }
        let allowed = match perm {
            Perm::View => user.is_superuser || m.owner.is_none() || m.owner == Some(user.id),
            Perm::Edit | Perm::Lock => {
                m.owner.is_none() || m.owner == Some(user.id) || user.is_superuser
            }
            Perm::Admin => !m.locked && user.is_superuser,
        };
        if allowed {
            Ok(m.id)
        } else {
            Err(MaasError::forbidden(""))
        }
    }

    /// Whether `user` may see machine `m` (list filtering).
    pub(crate) fn can_view(&self, user: &User, m: &Machine) -> bool {
        user.is_superuser || m.owner.is_none() || m.owner == Some(user.id)
    }

    fn power_delay(&self) -> u64 {
        let p = self.timings.power.as_millis() as u64;
        p.min(self.timings.deploy.as_millis() as u64 / 10 + 1)
    }

    /// `Machine.acquire`.
    pub(crate) fn acquire(
        &mut self,
        mid: u64,
        user: &User,
        agent_name: &str,
        comment: Option<&str>,
    ) {
        self.emit_request(mid, ev::REQ_ACQUIRE, Some(user.id), comment);
        if let Some(m) = self.machines.get_mut(&mid) {
            m.agent_name = agent_name.to_string();
        }
        self.set_owner(mid, Some(user.id));
        self.set_status(mid, NodeStatus::Allocated);
    }

    /// `POST machines/{id}/?op=deploy`.
    pub(crate) fn deploy(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let series = post.get("distro_series").map(str::to_string);
        let hwe_kernel = post.get("hwe_kernel").map(str::to_string);
        let crash_dump = post.get("enable_kernel_crash_dump").map(str::to_string);
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        let options = allocation_options(post, self.version)?;
        if (options.install_kvm || options.register_vmhost) && !user.is_superuser {
            return Err(MaasError::forbidden(
                "Only administratros can deploy VM hosts",
            ));
        }
        if options.install_kvm || options.register_vmhost {
            let m = self
                .machines
                .get(&mid)
                .ok_or_else(|| MaasError::no_match("Machine"))?;
            let diskless = m.block_devices.is_empty();
            if self.version.vm_host_memory_check_on_request() {
                if options.ephemeral_deploy || diskless {
                    return Err(MaasError::bad_request(
                        "A machine can not be a VM host if it is deployed to memory.",
                    ));
                }
            } else if diskless || m.ephemeral_deploy {
                // Before 3.5: the machine's own state (its last deploy), not
                // this request's `ephemeral_deploy`.
                return Err(MaasError::bad_request(
                    "Cannot deploy as a VM host for ephemeral deployments.",
                ));
            }
        }
        let (status, owner) = {
            let m = self
                .machines
                .get(&mid)
                .ok_or_else(|| MaasError::no_match("Machine"))?;
            (m.status, m.owner)
        };
        let will_acquire = status == NodeStatus::Ready;
        if will_acquire {
            if let Some(o) = owner
                && o != user.id
            {
                return Err(MaasError::conflict(
                    "Can't allocate a machine belonging to another user.",
                ));
            }
        } else if status != NodeStatus::Allocated {
            return Err(MaasError::conflict(format!(
                "Can't deploy a machine that is in the '{}' state",
                status.name()
            )));
        }
        let series_in = series
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SERIES.to_string());
        let Some(series) = resolve_series(&series_in) else {
            // MAAS's choices start with the default release, ''.
            let choices: Vec<String> = std::iter::once("''".to_string())
                .chain(RELEASES.iter().map(|(n, _)| format!("'ubuntu/{n}'")))
                .collect();
            return Err(MaasError::field(
                "distro_series",
                format!(
                    "'{series_in}' is not a valid distro_series.  It should be one of: {}.",
                    choices.join(", ")
                ),
            ));
        };
        let crash_dump = match crash_dump {
            Some(v) => crate::domain::params::parse_bool("enable_kernel_crash_dump", &v)?,
            None => false,
        };
        // power_on's own parameters.
        let user_data = post.get("user_data").map(|s| s.as_bytes().to_vec());
        let comment = post.get("comment").map(str::to_string);
        if will_acquire {
            self.acquire(mid, user, &options.agent_name, comment.as_deref());
        }
        if let Some(m) = self.machines.get_mut(&mid) {
            m.osystem = "ubuntu".to_string();
            m.distro_series = series.to_string();
            m.hwe_kernel = Some(
                hwe_kernel
                    .filter(|k| !k.is_empty())
                    .or_else(|| kernel_for(series))
                    .unwrap_or_default(),
            );
            m.ephemeral_deploy = options.ephemeral_deploy;
            m.enable_hw_sync = options.enable_hw_sync;
            m.enable_kernel_crash_dump = crash_dump;
            m.install_kvm = options.install_kvm;
            m.register_vmhost = options.register_vmhost;
        }
        self.start_deployment(mid, user, user_data, comment.as_deref())?;
        Ok(mid)
    }

    /// `Node.start` on an Allocated machine: Deploying plus the timeline.
    pub(crate) fn start_deployment(
        &mut self,
        mid: u64,
        user: &User,
        user_data: Option<Vec<u8>>,
        comment: Option<&str>,
    ) -> Result<(), MaasError> {
        let system_id = self
            .machines
            .get(&mid)
            .map(|m| m.system_id.clone())
            .unwrap_or_default();
        // Claim AUTO addresses first: exhaustion fails the whole request.
        self.claim_auto_ips(mid).map_err(|_| {
            MaasError::unavailable(format!(
                "{system_id}: Unable to allocate static IP due to address exhaustion."
            ))
        })?;
        if let Some(m) = self.machines.get_mut(&mid) {
            if user_data.is_some() {
                m.user_data = user_data;
            }
            if m.osystem.is_empty() {
                m.osystem = "ubuntu".into();
                m.distro_series = DEFAULT_SERIES.into();
                m.hwe_kernel = kernel_for(DEFAULT_SERIES);
            }
            m.netboot = true;
        }
        self.emit_request(mid, ev::REQ_START_DEPLOYMENT, Some(user.id), comment);
        self.set_status(mid, NodeStatus::Deploying);
        self.emit(mid, ev::DEPLOYING, "", None);
        let steps = self.deploy_steps(mid);
        self.schedule(mid, steps);
        Ok(())
    }

    fn deploy_steps(&mut self, mid: u64) -> Vec<Step> {
        let now = self.now_ms;
        let d = (self.timings.deploy.as_millis() as u64).max(1);
        let at = |frac: f64| now + (d as f64 * frac) as u64;
        let p = now + self.power_delay();
        let (ephemeral, vmhost, power_on) = self
            .machines
            .get(&mid)
            .map(|m| {
                (
                    m.ephemeral_deploy,
                    m.register_vmhost || m.install_kvm,
                    m.power_state != PowerState::On,
                )
            })
            .unwrap_or((false, false, true));
        let mut steps = Vec::new();
        let step = |at_ms: u64, action: Action| Step { at_ms, action };
        if power_on {
            steps.push(step(p, Action::Power(PowerState::On)));
        }
        let fail = if self.deploy_failures > 0 {
            self.deploy_failures -= 1;
            true
        } else {
            false
        };
        let mut plan: Vec<(f64, Action)> = Vec::new();
        plan.push((0.1, Action::Event(ev::PXE_BOOT, String::new())));
        plan.push((0.2, Action::Event(ev::LOADING_EPHEMERAL, String::new())));
        if ephemeral {
            plan.push((1.0, Action::CompleteDeploy));
        } else {
            plan.push((0.35, Action::Event(ev::CONFIGURING_STORAGE, String::new())));
            plan.push((0.5, Action::Event(ev::INSTALLING_OS, String::new())));
            plan.push((0.65, Action::Event(ev::CONFIGURING_OS, String::new())));
            plan.push((0.8, Action::Event(ev::REBOOTING, String::new())));
            plan.push((0.8, Action::Netboot(false)));
            plan.push((0.9, Action::Event(ev::PXE_BOOT, String::new())));
            if vmhost {
                plan.push((0.9, Action::AgentName("maas-kvm-pod".into())));
            }
            plan.push((1.0, Action::CompleteDeploy));
        }
        if fail {
            plan.retain(|(f, _)| *f <= 0.5);
            plan.push((
                0.6,
                Action::FailDeploy(
                    "Installation failed (refer to the installation log for more information)."
                        .into(),
                ),
            ));
        }
        let timeout = self.deploy_timeout().as_millis() as u64;
        let minutes = self.deploy_timeout().as_secs() / 60;
        let mut timed_out = false;
        for (frac, action) in plan {
            let t = at(frac);
            if t >= now + timeout {
                timed_out = true;
                break;
            }
            steps.push(step(t, action));
        }
        if timed_out {
            steps.push(step(
                now + timeout,
                Action::FailDeploy(format!(
                    "Node operation 'Deploying' timed out after {minutes} minutes."
                )),
            ));
        }
        steps
    }

    /// `op=release` on one machine.
    pub(crate) fn release(
        &mut self,
        user: &User,
        system_id: &str,
        data: &Params,
    ) -> Result<u64, MaasError> {
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        let erase = django_bool(data.get("erase"));
        let force = django_bool(data.get("force"));
        let comment = data.get("comment").map(str::to_string);
        let status = self
            .machines
            .get(&mid)
            .map(|m| m.status)
            .unwrap_or(NodeStatus::Ready);
        if matches!(status, NodeStatus::Releasing | NodeStatus::Ready) {
            return Ok(mid);
        }
        if !status.releasable() {
            return Err(MaasError::conflict(format!(
                "Machine cannot be released in its current state ('{}').",
                status.name()
            )));
        }
        self.start_releasing(mid, user, comment.as_deref(), erase, force)?;
        Ok(mid)
    }

    /// Names of VM hosts running on machine `mid`.
    pub(crate) fn hosted_vmhosts(&self, mid: u64) -> Vec<String> {
        self.vmhosts
            .values()
            .filter(|v| v.host_machine == Some(mid))
            .map(|v| v.name.clone())
            .collect()
    }

    /// `maybe_delete_pods`: refuse without force, delete with it.
    fn check_hosted_vmhosts(&mut self, mid: u64, force: bool) -> Result<(), MaasError> {
        let hosted = self.hosted_vmhosts(mid);
        if hosted.is_empty() {
            return Ok(());
        }
        if !force {
            return Err(MaasError::bad_request(format!(
                "The following VM hosts must be removed first: {}",
                hosted.join(", ")
            )));
        }
        let ids: Vec<u64> = self
            .vmhosts
            .values()
            .filter(|v| v.host_machine == Some(mid))
            .map(|v| v.id)
            .collect();
        for id in ids {
            self.delete_vmhost(id, false);
        }
        Ok(())
    }

    /// `start_releasing`: erase first when asked, otherwise release now.
    pub(crate) fn start_releasing(
        &mut self,
        mid: u64,
        user: &User,
        comment: Option<&str>,
        erase: bool,
        force: bool,
    ) -> Result<(), MaasError> {
        self.check_hosted_vmhosts(mid, force)?;
        if erase {
            self.emit_request(mid, ev::REQ_ERASE, Some(user.id), comment);
            self.set_status(mid, NodeStatus::DiskErasing);
            let now = self.now_ms;
            let e = (self.timings.erase.as_millis() as u64).max(1);
            let off = self
                .machines
                .get(&mid)
                .is_some_and(|m| m.power_state != PowerState::On);
            let steps = boot_steps(
                now,
                e,
                off.then(|| now + self.power_delay()),
                [
                    (300, Action::Event(ev::PXE_BOOT, String::new())),
                    (600, Action::Event(ev::LOADING_EPHEMERAL, String::new())),
                    (1000, Action::FinishErase),
                ],
            );
            if let Some(m) = self.machines.get_mut(&mid) {
                m.netboot = true;
            }
            self.schedule(mid, steps);
        } else {
            self.emit_request(mid, ev::REQ_RELEASE, Some(user.id), comment);
            self.release_now(mid);
        }
        Ok(())
    }

    /// `Node._release`: Releasing, deployment fields cleared, power off, and
    /// Ready once off.
    pub(crate) fn release_now(&mut self, mid: u64) {
        self.unschedule(mid);
        self.set_status(mid, NodeStatus::Releasing);
        let (off, manual) = match self.machines.get_mut(&mid) {
            Some(m) => {
                m.agent_name.clear();
                m.netboot = true;
                m.osystem.clear();
                m.distro_series.clear();
                m.hwe_kernel = None;
                m.install_kvm = false;
                m.register_vmhost = false;
                m.enable_hw_sync = false;
                m.user_data = None;
                (m.power_state == PowerState::Off, m.power_type == "manual")
            }
            None => return,
        };
        self.emit(mid, ev::RELEASING, "", None);
        if off || manual {
            self.finalize_release(mid);
        } else {
            let now = self.now_ms;
            let r = (self.timings.release.as_millis() as u64).max(1);
            let p = self.power_delay().min(r);
            self.schedule(
                mid,
                vec![
                    Step {
                        at_ms: now + p,
                        action: Action::Power(PowerState::Off),
                    },
                    Step {
                        at_ms: now + r,
                        action: Action::CompleteRelease,
                    },
                ],
            );
        }
    }

    /// `_finalize_release`: AUTO addresses freed, Ready (or New), no owner;
    /// dynamic (allocate-composed) machines are deleted.
    pub(crate) fn finalize_release(&mut self, mid: u64) {
        let Some(m) = self.machines.get(&mid) else {
            return;
        };
        if m.dynamic {
            // Deleted right after this request has answered (MAAS renders
            // the in-memory machine, then it is gone).
            let now = self.now_ms;
            self.schedule(
                mid,
                vec![Step {
                    at_ms: now,
                    action: Action::Remove,
                }],
            );
            return;
        }
        let commissioned = m.commissioned;
        self.release_auto_ips(mid);
        self.set_owner(mid, None);
        self.set_status(
            mid,
            if commissioned {
                NodeStatus::Ready
            } else {
                NodeStatus::New
            },
        );
        if let Some(m) = self.machines.get_mut(&mid) {
            m.workload_annotations.clear();
        }
        self.emit(mid, ev::RELEASED, "", None);
    }

    /// `POST machines/?op=release` (batch).
    pub(crate) fn release_batch(
        &mut self,
        user: &User,
        post: &Params,
    ) -> Result<Vec<String>, MaasError> {
        let mut ids: Vec<String> = post.get_list("machines");
        ids.sort();
        ids.dedup();
        let comment = post.get("comment").map(str::to_string);
        let unknown: Vec<&String> = ids
            .iter()
            .filter(|id| !self.by_system_id.contains_key(*id))
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            return Err(MaasError::bad_request(format!(
                "Unknown machine(s): {}.",
                names.join(", ")
            )));
        }
        let mut permitted = Vec::new();
        let mut denied = Vec::new();
        for id in &ids {
            match self.machine_for(user, id, Perm::Edit) {
                Ok(mid) => permitted.push(mid),
                Err(_) => denied.push(id.clone()),
            }
        }
        if !denied.is_empty() {
            return Err(MaasError::forbidden(format!(
                "You don't have the required permission to release the following machine(s): {}.",
                denied.join(", ")
            )));
        }
        permitted.sort();
        let mut failed = Vec::new();
        let mut to_release = Vec::new();
        for mid in &permitted {
            let Some(m) = self.machines.get(mid) else {
                continue;
            };
            if m.status == NodeStatus::Ready {
                continue;
            } else if m.status.releasable() {
                if !self.hosted_vmhosts(*mid).is_empty() {
                    return Err(MaasError::bad_request(format!(
                        "The following VM hosts must be removed first: {}",
                        self.hosted_vmhosts(*mid).join(", ")
                    )));
                }
                to_release.push(*mid);
            } else {
                failed.push(format!("{} ('{}')", m.system_id, m.status.name()));
            }
        }
        if !failed.is_empty() {
            return Err(MaasError::conflict(format!(
                "Machine(s) cannot be released in their current state: {}.",
                failed.join(", ")
            )));
        }
        let mut released = Vec::new();
        for mid in to_release {
            if let Some(sid) = self.machines.get(&mid).map(|m| m.system_id.clone()) {
                self.start_releasing(mid, user, comment.as_deref(), false, false)?;
                released.push(sid);
            }
        }
        Ok(released)
    }

    /// `op=power_on`.
    pub(crate) fn power_on(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let user_data = post.get("user_data").map(|s| s.as_bytes().to_vec());
        let comment = post.get("comment").map(str::to_string);
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        if self.machines.get(&mid).and_then(|m| m.owner).is_none() {
            return Err(MaasError::conflict(
                "Can't start node: it hasn't been allocated.",
            ));
        }
        let install_kvm = post.bool_or("install_kvm", false)?;
        let register_vmhost = post.bool_or("register_vmhost", false)?;
        if let Some(bt) = post.get("bridge_type")
            && bt != "standard"
            && bt != "ovs"
        {
            return Err(MaasError::field(
                "bridge_type",
                format!(
                    "'{bt}' is not a valid bridge_type.  It should be one of: 'standard', 'ovs'."
                ),
            ));
        }
        post.opt_bool("bridge_stp")?;
        post.opt_int("bridge_fd")?;
        let status = self
            .machines
            .get(&mid)
            .map(|m| m.status)
            .unwrap_or(NodeStatus::New);
        if status == NodeStatus::Allocated {
            if let Some(m) = self.machines.get_mut(&mid) {
                m.install_kvm |= install_kvm && self.version.has_vm_hosts();
                m.register_vmhost |= register_vmhost && self.version.has_vm_hosts();
            }
            self.start_deployment(mid, user, user_data, comment.as_deref())?;
            return Ok(mid);
        }
        if let Some(m) = self.machines.get_mut(&mid)
            && user_data.is_some()
        {
            m.user_data = user_data;
        }
        self.emit_request(mid, ev::REQ_START, Some(user.id), comment.as_deref());
        let at = self.now_ms + self.timings.power.as_millis() as u64;
        self.add_steps(
            mid,
            vec![Step {
                at_ms: at,
                action: Action::Power(PowerState::On),
            }],
        );
        Ok(mid)
    }

    /// `op=power_off`; `None` when no power action could be sent (manual).
    pub(crate) fn power_off(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<Option<u64>, MaasError> {
        let comment = post.get("comment").map(str::to_string);
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        self.emit_request(mid, ev::REQ_STOP, Some(user.id), comment.as_deref());
        if self
            .machines
            .get(&mid)
            .map(|m| m.power_type == "manual")
            .unwrap_or(false)
        {
            return Ok(None);
        }
        let at = self.now_ms + self.timings.power.as_millis() as u64;
        self.add_steps(
            mid,
            vec![Step {
                at_ms: at,
                action: Action::Power(PowerState::Off),
            }],
        );
        Ok(Some(mid))
    }

    /// `op=mark_broken`: only the owner; releasable machines are released.
    pub(crate) fn mark_broken(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        if self.machines.get(&mid).and_then(|m| m.owner) != Some(user.id) {
            return Err(MaasError::forbidden(""));
        }
        let comment = post
            .get("comment")
            .filter(|c| !c.is_empty())
            .or_else(|| post.get("error_description"))
            .map(str::to_string);
        self.emit_request(mid, ev::REQ_MARK_BROKEN, Some(user.id), comment.as_deref());
        let status = self
            .machines
            .get(&mid)
            .map(|m| m.status)
            .unwrap_or(NodeStatus::New);
        if matches!(status, NodeStatus::Releasing | NodeStatus::DiskErasing) {
            // A release in flight: finish it now so that the Broken machine
            // holds no owner or AUTO addresses.
            self.unschedule(mid);
            self.release_auto_ips(mid);
            self.set_owner(mid, None);
            let on = self
                .machines
                .get(&mid)
                .map(|m| m.power_state == PowerState::On)
                .unwrap_or(false);
            if on {
                let at = self.now_ms + self.timings.power.as_millis() as u64;
                self.schedule(
                    mid,
                    vec![Step {
                        at_ms: at,
                        action: Action::Power(PowerState::Off),
                    }],
                );
            }
        } else if status.releasable() {
            let was_on = self
                .machines
                .get(&mid)
                .map(|m| m.power_state == PowerState::On)
                .unwrap_or(false);
            self.unschedule(mid);
            if let Some(m) = self.machines.get_mut(&mid) {
                m.power_state = PowerState::Off;
            }
            self.release_now(mid);
            if was_on {
                if let Some(m) = self.machines.get_mut(&mid) {
                    m.power_state = PowerState::On;
                }
                let at = self.now_ms + self.timings.power.as_millis() as u64;
                self.schedule(
                    mid,
                    vec![Step {
                        at_ms: at,
                        action: Action::Power(PowerState::Off),
                    }],
                );
            }
        }
        self.set_status(mid, NodeStatus::Broken);
        if let Some(m) = self.machines.get_mut(&mid) {
            m.error_description = comment.unwrap_or_default();
        }
        Ok(mid)
    }

    /// `op=mark_fixed` (admin).
    pub(crate) fn mark_fixed(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let comment = post.get("comment").map(str::to_string);
        let mid = self.machine_for(user, system_id, Perm::Admin)?;
        let (status, previous) = self
            .machines
            .get(&mid)
            .map(|m| (m.status, m.previous_status))
            .unwrap_or((NodeStatus::New, NodeStatus::New));
        if status != NodeStatus::Broken {
            return Err(MaasError::conflict(
                "Can't mark a non-broken node as 'Ready'.",
            ));
        }
        self.emit_request(mid, ev::REQ_MARK_FIXED, Some(user.id), comment.as_deref());
        let target = if previous == NodeStatus::Deployed {
            NodeStatus::Deployed
        } else {
            NodeStatus::Ready
        };
        if let Some(m) = self.machines.get_mut(&mid) {
            m.error_description.clear();
            if target == NodeStatus::Ready {
                m.osystem.clear();
                m.distro_series.clear();
                m.hwe_kernel = None;
            }
        }
        if target == NodeStatus::Ready {
            self.release_auto_ips(mid);
            self.set_owner(mid, None);
        }
        self.set_status(mid, target);
        Ok(mid)
    }

    /// `op=abort`.
    pub(crate) fn abort(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let comment = post.get("comment").map(str::to_string);
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        let (status, sid) = self
            .machines
            .get(&mid)
            .map(|m| (m.status, m.system_id.clone()))
            .unwrap_or((NodeStatus::New, String::new()));
        let (req, done, target) = match status {
            NodeStatus::Deploying => (
                ev::REQ_ABORT_DEPLOYMENT,
                ev::ABORTED_DEPLOYMENT,
                NodeStatus::Allocated,
            ),
            NodeStatus::Commissioning => (
                ev::REQ_ABORT_COMMISSIONING,
                ev::ABORTED_COMMISSIONING,
                NodeStatus::New,
            ),
            NodeStatus::DiskErasing => (
                ev::REQ_ABORT_ERASE,
                ev::ABORTED_DISK_ERASING,
                NodeStatus::FailedDiskErasing,
            ),
            other => {
                return Err(MaasError::conflict(format!(
                    "Cannot abort in current state: node {sid} is in state {}.",
                    other.name()
                )));
            }
        };
        self.unschedule(mid);
        self.emit_request(mid, req, Some(user.id), comment.as_deref());
        self.emit(mid, done, "", None);
        // `abort_deploying` stops the machine and sets it Allocated; its
        // AUTO addresses stay (released with the machine).
        self.set_status(mid, target);
        let on = self
            .machines
            .get(&mid)
            .map(|m| m.power_state != PowerState::Off)
            .unwrap_or(false);
        if on {
            let at = self.now_ms + self.timings.power.as_millis() as u64;
            self.schedule(
                mid,
                vec![Step {
                    at_ms: at,
                    action: Action::Power(PowerState::Off),
                }],
            );
        }
        Ok(mid)
    }

    /// `op=lock` / `op=unlock`.
    pub(crate) fn set_lock(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
        lock: bool,
    ) -> Result<u64, MaasError> {
        let mid = self.machine_for(user, system_id, Perm::Lock)?;
        let comment = post.get("comment").map(str::to_string);
        let (locked, status) = self
            .machines
            .get(&mid)
            .map(|m| (m.locked, m.status))
            .unwrap_or((false, NodeStatus::New));
        if lock {
            if locked {
                return Err(MaasError::conflict("Machine is already locked"));
            }
            if !matches!(status, NodeStatus::Deployed | NodeStatus::Deploying) {
                return Err(MaasError::conflict(
                    "Can't lock, node is not deployed or deploying",
                ));
            }
            self.emit_request(mid, ev::REQ_LOCK, Some(user.id), comment.as_deref());
        } else {
            if !locked {
                return Err(MaasError::conflict("Machine is not locked"));
            }
            self.emit_request(mid, ev::REQ_UNLOCK, Some(user.id), comment.as_deref());
        }
        if let Some(m) = self.machines.get_mut(&mid) {
            m.locked = lock;
        }
        Ok(mid)
    }

    /// `op=set_workload_annotations`.
    pub(crate) fn set_workload_annotations(
        &mut self,
        user: &User,
        system_id: &str,
        post: &Params,
    ) -> Result<u64, MaasError> {
        let mid = self.machine_for(user, system_id, Perm::Edit)?;
        if self.machines.get(&mid).and_then(|m| m.owner) != Some(user.id) {
            return Err(MaasError::conflict(
                "Cannot set workload annotation: it hasn't been acquired.",
            ));
        }
        // `OwnerData.objects.set_owner_data`, key by key in the form's order:
        // a key failing `DATA_KEY_RE` raises ValueError (500), a key longer
        // than the model's 255 fails `full_clean` (400); either way the
        // request's transaction rolls back and nothing changes.
        let mut set = Vec::new();
        let mut remove = Vec::new();
        for key in post.keys() {
            if key == "op" {
                continue;
            }
            match post.get(key) {
                Some("") | None => remove.push(key),
                Some(v) => {
                    if !validate::owner_data_key(key) {
                        return Err(MaasError::internal(validate::INVALID_KEY_NAME));
                    }
                    let len = validate::py_len(key);
                    if len > validate::OWNER_DATA_KEY_MAX {
                        return Err(MaasError::model_validation(
                            "key",
                            validate::max_length_text(validate::OWNER_DATA_KEY_MAX, len),
                        ));
                    }
                    set.push((key, v));
                }
            }
        }
        if let Some(m) = self.machines.get_mut(&mid) {
            for (key, value) in set {
                m.workload_annotations
                    .insert(key.to_string(), value.to_string());
            }
            for key in remove {
                m.workload_annotations.remove(key);
            }
        }
        Ok(mid)
    }

    /// `DELETE machines/{id}/` (admin).
    pub(crate) fn delete_machine(
        &mut self,
        user: &User,
        system_id: &str,
        force: bool,
    ) -> Result<(), MaasError> {
        let mid = self.machine_for(user, system_id, Perm::Admin)?;
        self.check_hosted_vmhosts(mid, force)?;
        // A VM's host loses its resources usage when the VM goes.
        self.remove_machine(mid);
        Ok(())
    }

    /// Apply one timeline action.
    pub(crate) fn apply(&mut self, mid: u64, action: Action) {
        match action {
            Action::Event(t, d) => self.emit(mid, t, d, None),
            Action::Power(state) => {
                let changed = match self.machines.get_mut(&mid) {
                    Some(m) if m.power_state != state => {
                        m.power_state = state;
                        true
                    }
                    _ => false,
                };
                if changed {
                    let t = if state == PowerState::On {
                        ev::POWERED_ON
                    } else {
                        ev::POWERED_OFF
                    };
                    self.emit(mid, t, "", None);
                }
            }
            Action::Netboot(on) => {
                if let Some(m) = self.machines.get_mut(&mid) {
                    m.netboot = on;
                }
            }
            Action::AgentName(name) => {
                if let Some(m) = self.machines.get_mut(&mid) {
                    m.agent_name = name;
                }
            }
            Action::CompleteDeploy => {
                if self.machines.get(&mid).map(|m| m.status) != Some(NodeStatus::Deploying) {
                    return;
                }
                let result_id = self.next_result_id();
                let vmhost = self
                    .machines
                    .get_mut(&mid)
                    .map(|m| {
                        m.installation_result_id = Some(result_id);
                        m.power_state = PowerState::On;
                        if !m.ephemeral_deploy {
                            m.netboot = false;
                        }
                        (m.register_vmhost, m.install_kvm)
                    })
                    .unwrap_or((false, false));
                if (vmhost.0 || vmhost.1) && self.version.has_vm_hosts() {
                    if vmhost.0 {
                        self.register_deployed_vmhost(mid, "lxd", vmhost.1);
                    }
                    if vmhost.1 {
                        self.register_deployed_vmhost(mid, "virsh", vmhost.0);
                    }
                }
                self.set_status(mid, NodeStatus::Deployed);
                self.emit(mid, ev::DEPLOYED, "", None);
            }
            Action::FailDeploy(comment) => {
                if self.machines.get(&mid).map(|m| m.status) != Some(NodeStatus::Deploying) {
                    return;
                }
                self.unschedule(mid);
                self.emit(mid, ev::MARK_FAILED_SYSTEM, comment.clone(), None);
                self.set_status(mid, NodeStatus::FailedDeployment);
                if let Some(m) = self.machines.get_mut(&mid) {
                    m.error_description = comment;
                }
            }
            Action::FinishErase => {
                if self.machines.get(&mid).map(|m| m.status) != Some(NodeStatus::DiskErasing) {
                    return;
                }
                self.emit(mid, ev::DISKS_ERASED, "", None);
                self.release_now(mid);
            }
            Action::CompleteRelease => {
                if self.machines.get(&mid).map(|m| m.status) == Some(NodeStatus::Releasing) {
                    self.finalize_release(mid);
                }
            }
            Action::Remove => self.remove_machine(mid),
            Action::CompleteCommission => {
                if self.machines.get(&mid).map(|m| m.status) != Some(NodeStatus::Commissioning) {
                    return;
                }
                let result_id = self.next_result_id();
                if let Some(m) = self.machines.get_mut(&mid) {
                    m.commissioned = true;
                    m.commissioning_result_id = Some(result_id);
                }
                self.set_status(mid, NodeStatus::Ready);
                self.emit(mid, ev::READY, "", None);
                let at = self.now_ms + self.power_delay();
                self.add_steps(
                    mid,
                    vec![Step {
                        at_ms: at,
                        action: Action::Power(PowerState::Off),
                    }],
                );
            }
        }
    }

    /// Start commissioning a New machine (composed VMs).
    pub(crate) fn start_commissioning(&mut self, mid: u64, user: Option<u64>) {
        if user.is_some() {
            self.emit_request(mid, ev::REQ_START_COMMISSIONING, user, None);
        }
        self.set_status(mid, NodeStatus::Commissioning);
        self.emit(mid, ev::COMMISSIONING, "", None);
        let now = self.now_ms;
        let c = (self.timings.commission.as_millis() as u64).max(1);
        let steps = boot_steps(
            now,
            c,
            Some(now + self.power_delay().min(c / 4 + 1)),
            [
                (300, Action::Event(ev::PXE_BOOT, String::new())),
                (500, Action::Event(ev::LOADING_EPHEMERAL, String::new())),
                (700, Action::Event(ev::GATHERING_INFO, String::new())),
                (1000, Action::CompleteCommission),
            ],
        );
        self.schedule(mid, steps);
    }

    /// Set the simulated timings.
    pub(crate) fn set_timings(&mut self, timings: crate::domain::state::Timings) {
        self.timings = timings;
    }

    /// Deploy duration helper for tests.
    #[allow(dead_code)]
    pub(crate) fn deploy_duration(&self) -> Duration {
        self.timings.deploy
    }
}

/// The steps of a boot lasting `total` ms from `now`: power on at
/// `power_on_at` (when the machine is off), then each `(per_mille, action)`
/// at `now + total * per_mille / 1000`.
fn boot_steps(
    now: u64,
    total: u64,
    power_on_at: Option<u64>,
    plan: impl IntoIterator<Item = (u64, Action)>,
) -> Vec<Step> {
    power_on_at
        .map(|at_ms| Step {
            at_ms,
            action: Action::Power(PowerState::On),
        })
        .into_iter()
        .chain(plan.into_iter().map(|(per_mille, action)| Step {
            at_ms: now + total * per_mille / 1000,
            action,
        }))
        .collect()
}
