//! The invariants, checked on samples of MAAS (maas-sim's machines and its
//! request log). Pure: the runner feeds it what it reads from `/_sim/`, and
//! the unit tests feed it synthetic samples.
//!
//! - **No double allocation**: in no sample do two MAAS machines that are
//!   held (Allocated, Deploying, Deployed, Failed deployment) carry the same
//!   owner marker (`agent_name` `capmaas/<ns>/<name>/<uid>`, or the
//!   `capmaas.io.owner` workload annotation).
//! - **No second deploy**: once a deploy of a machine ran in MAAS (the
//!   request log says so: no fault, or a fault after which the request still
//!   ran), no further deploy of that machine runs before a release of it ran.
//! - **No leak** (at the end, [`Checker::finish`]): no machine carries our
//!   marker or is held by a user.
//! - **The log is complete**: the incremental reads (`?since=`) see every
//!   `seq`, else the two checks above could miss something.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use maas_sim::{FaultKind, MachineState, NodeStatus, RequestRecord};

/// The workload annotation that carries the owner marker.
pub const OWNER_ANNOTATION: &str = "capmaas.io.owner";
/// The first segment of every owner marker (`agent_name`).
pub const MARKER_PREFIX: &str = "capmaas/";

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two held MAAS machines carry one MaasMachine's marker.
    DoubleAllocation {
        /// The marker.
        marker: String,
        /// The machines carrying it.
        system_ids: Vec<String>,
    },
    /// A second deploy of a machine ran without a release in between.
    DoubleDeploy {
        /// The machine.
        system_id: String,
        /// `seq` of the deploy that ran first.
        first_seq: u64,
        /// `seq` of the second.
        second_seq: u64,
    },
    /// At the end, a machine still ours in MAAS.
    Leak {
        /// The machine.
        system_id: String,
        /// Its status.
        status: NodeStatus,
        /// Its marker or owner.
        holder: String,
    },
    /// Request-log records were never seen (the log is bounded).
    LogGap {
        /// The `seq` expected next.
        expected: u64,
        /// The `seq` read.
        got: u64,
    },
    /// Something the runner found (a stuck finalizer, a MaasMachine never
    /// provisioned, a panic in the manager's log, a timeout).
    Other(String),
}

impl Violation {
    /// A double allocation or a double deploy.
    #[must_use]
    pub fn is_double(&self) -> bool {
        matches!(
            self,
            Violation::DoubleAllocation { .. } | Violation::DoubleDeploy { .. }
        )
    }

    /// A leaked machine.
    #[must_use]
    pub fn is_leak(&self) -> bool {
        matches!(self, Violation::Leak { .. })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::DoubleAllocation { marker, system_ids } => write!(
                f,
                "double allocation: {} held machines carry {marker}",
                system_ids.join(", ")
            ),
            Violation::DoubleDeploy {
                system_id,
                first_seq,
                second_seq,
            } => write!(
                f,
                "second deploy of {system_id} (request #{second_seq}; the first ran as #{first_seq}, no release between)"
            ),
            Violation::Leak {
                system_id,
                status,
                holder,
            } => write!(f, "leak: {system_id} is {} for {holder}", status.name()),
            Violation::LogGap { expected, got } => write!(
                f,
                "request log gap: expected #{expected}, read #{got} (records lost, checks incomplete)"
            ),
            Violation::Other(s) => f.write_str(s),
        }
    }
}

/// A machine MAAS gives to no one else.
#[must_use]
pub fn held(status: NodeStatus) -> bool {
    matches!(
        status,
        NodeStatus::Allocated
            | NodeStatus::Deploying
            | NodeStatus::Deployed
            | NodeStatus::FailedDeployment
    )
}

/// The owner marker a machine carries, if any.
#[must_use]
pub fn marker(m: &MachineState) -> Option<&str> {
    if m.agent_name.starts_with(MARKER_PREFIX) {
        return Some(&m.agent_name);
    }
    m.workload_annotations
        .get(OWNER_ANNOTATION)
        .map(String::as_str)
}

/// The system id in a `/MAAS/api/2.0/machines/<id>/` path.
#[must_use]
pub fn machine_path_id(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/MAAS/api/2.0/machines/")?;
    let id = rest.strip_suffix('/').unwrap_or(rest);
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The invariant checker of one run.
#[derive(Debug, Default)]
pub struct Checker {
    last_seq: u64,
    /// Machines whose deploy ran, with its `seq`, until a release runs.
    deployed: BTreeMap<String, u64>,
    reported_doubles: BTreeSet<(String, Vec<String>)>,
    violations: Vec<Violation>,
    faults: u64,
    requests: u64,
    samples: u64,
}

impl Checker {
    /// A checker that has seen nothing.
    #[must_use]
    pub fn new() -> Checker {
        Checker::default()
    }

    /// The last request `seq` seen (pass it as `since`).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Requests seen with an injected fault.
    #[must_use]
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// Requests seen.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Machine samples checked.
    #[must_use]
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// What broke so far.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Records something the runner found.
    pub fn report(&mut self, v: Violation) {
        self.violations.push(v);
    }

    /// New request-log records (`seq` above [`Checker::last_seq`], oldest
    /// first).
    pub fn observe_requests(&mut self, records: &[RequestRecord]) {
        for r in records {
            if r.seq <= self.last_seq {
                continue;
            }
            if r.seq != self.last_seq + 1 {
                self.violations.push(Violation::LogGap {
                    expected: self.last_seq + 1,
                    got: r.seq,
                });
            }
            self.last_seq = r.seq;
            self.requests += 1;
            if r.fault.is_some() {
                self.faults += 1;
            }
            if !r.fault.is_none_or(FaultKind::ran) {
                continue; // MAAS did not act
            }
            let Some(id) = machine_path_id(&r.path) else {
                continue;
            };
            match r.action.as_deref() {
                Some("MachineHandler.deploy") => {
                    if let Some(&first_seq) = self.deployed.get(id) {
                        self.violations.push(Violation::DoubleDeploy {
                            system_id: id.to_owned(),
                            first_seq,
                            second_seq: r.seq,
                        });
                    } else if r.status == 200 || r.fault.is_some() {
                        // Accepted (200), or ran with a lost/garbled answer.
                        self.deployed.insert(id.to_owned(), r.seq);
                    }
                }
                Some("MachineHandler.release") => {
                    self.deployed.remove(id);
                }
                _ => {}
            }
        }
    }

    /// One sample of every MAAS machine.
    pub fn observe_machines(&mut self, machines: &[MachineState]) {
        self.samples += 1;
        let mut by_marker: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for m in machines.iter().filter(|m| held(m.status)) {
            if let Some(k) = marker(m) {
                by_marker.entry(k).or_default().push(m.system_id.clone());
            }
        }
        for (k, mut ids) in by_marker {
            if ids.len() > 1 {
                ids.sort();
                if self.reported_doubles.insert((k.to_owned(), ids.clone())) {
                    self.violations.push(Violation::DoubleAllocation {
                        marker: k.to_owned(),
                        system_ids: ids,
                    });
                }
            }
        }
    }

    /// The final sample, once everything was deleted: every machine still
    /// ours is a leak.
    pub fn finish(&mut self, machines: &[MachineState]) {
        self.observe_machines(machines);
        for m in machines {
            let holder = match (marker(m), &m.owner) {
                (Some(k), _) => k.to_owned(),
                (None, Some(owner)) if held(m.status) => format!("user {owner}"),
                _ => continue,
            };
            self.violations.push(Violation::Leak {
                system_id: m.system_id.clone(),
                status: m.status,
                holder,
            });
        }
    }

    /// Doubles (allocations and deploys) found.
    #[must_use]
    pub fn doubles(&self) -> usize {
        self.violations.iter().filter(|v| v.is_double()).count()
    }

    /// Leaks found.
    #[must_use]
    pub fn leaks(&self) -> usize {
        self.violations.iter().filter(|v| v.is_leak()).count()
    }

    /// Nothing broke.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.violations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maas_sim::PowerState;

    fn machine(id: &str, status: NodeStatus, agent: &str) -> MachineState {
        MachineState {
            system_id: id.into(),
            hostname: format!("host-{id}"),
            status,
            status_message: None,
            owner: held(status).then(|| "admin".to_owned()),
            power_state: PowerState::Off,
            power_type: "manual".into(),
            ip_addresses: vec![],
            agent_name: agent.into(),
            zone: "default".into(),
            pool: "default".into(),
            tags: vec![],
            locked: false,
            vm_host: None,
            osystem: String::new(),
            distro_series: String::new(),
            ephemeral_deploy: false,
            has_user_data: false,
            cpu_count: 4,
            memory: 8192,
            architecture: "amd64/generic".into(),
            workload_annotations: BTreeMap::new(),
            pending_steps: 0,
        }
    }

    fn req(
        seq: u64,
        action: &str,
        id: &str,
        status: u16,
        fault: Option<FaultKind>,
    ) -> RequestRecord {
        RequestRecord {
            seq,
            method: "POST".into(),
            path: format!("/MAAS/api/2.0/machines/{id}/"),
            op: action.rsplit('.').next().map(str::to_owned),
            action: Some(action.into()),
            status,
            user: Some("admin".into()),
            unix_ms: 0,
            duration_us: 0,
            fault,
        }
    }

    const M1: &str = "capmaas/soak-0/m0-1/uid-1";
    const M2: &str = "capmaas/soak-0/m0-2/uid-2";

    #[test]
    fn catches_a_double_allocation_once() {
        let mut c = Checker::new();
        let ok = [
            machine("aaa", NodeStatus::Deployed, M1),
            machine("bbb", NodeStatus::Allocated, M2),
            // Releasing (agent_name already cleared, annotation kept) does not count.
            machine("ccc", NodeStatus::Releasing, M1),
        ];
        c.observe_machines(&ok);
        assert!(c.clean(), "{:?}", c.violations());
        let double = [
            machine("aaa", NodeStatus::Deployed, M1),
            machine("ddd", NodeStatus::Allocated, M1),
            machine("bbb", NodeStatus::Allocated, M2),
        ];
        c.observe_machines(&double);
        c.observe_machines(&double);
        assert_eq!(
            c.violations(),
            [Violation::DoubleAllocation {
                marker: M1.into(),
                system_ids: vec!["aaa".into(), "ddd".into()],
            }]
        );
        assert_eq!((c.doubles(), c.leaks()), (1, 0));
        // The annotation alone is a marker too (register_vmhost overwrites agent_name).
        let mut by_annotation = machine("eee", NodeStatus::Deployed, "maas-kvm-pod");
        by_annotation
            .workload_annotations
            .insert(OWNER_ANNOTATION.into(), M2.into());
        let mut c = Checker::new();
        c.observe_machines(&[machine("bbb", NodeStatus::Allocated, M2), by_annotation]);
        assert_eq!(c.doubles(), 1, "{:?}", c.violations());
    }

    #[test]
    fn catches_a_leak_at_the_end() {
        let mut c = Checker::new();
        let mut released = machine("aaa", NodeStatus::Ready, "");
        released.owner = None;
        c.finish(&[released.clone()]);
        assert!(c.clean(), "{:?}", c.violations());

        let mut c = Checker::new();
        c.finish(&[released, machine("bbb", NodeStatus::Deployed, M1)]);
        assert_eq!(
            c.violations(),
            [Violation::Leak {
                system_id: "bbb".into(),
                status: NodeStatus::Deployed,
                holder: M1.into(),
            }]
        );
        assert_eq!((c.leaks(), c.doubles()), (1, 0));
        // Held by a user without our marker (allocated, then the marker lost) is a leak too.
        let mut c = Checker::new();
        c.finish(&[machine("ccc", NodeStatus::Allocated, "")]);
        assert_eq!(c.leaks(), 1);
        assert!(
            c.violations()[0]
                .to_string()
                .contains("ccc is Allocated for user admin")
        );
    }

    #[test]
    fn catches_a_second_deploy_but_not_a_retry_of_one_that_did_not_run() {
        let mut c = Checker::new();
        c.observe_requests(&[
            // 503 injected, not run; then the lock page, not run: retries are fine.
            req(
                1,
                "MachineHandler.deploy",
                "aaa",
                503,
                Some(FaultKind::ErrorRate),
            ),
            req(
                2,
                "MachineHandler.deploy",
                "aaa",
                409,
                Some(FaultKind::LockPage),
            ),
            // Ran, answer lost.
            req(
                3,
                "MachineHandler.deploy",
                "aaa",
                0,
                Some(FaultKind::DropConnection),
            ),
            req(4, "MachineHandler.read", "aaa", 200, None),
        ]);
        assert!(c.clean(), "{:?}", c.violations());
        assert_eq!((c.faults(), c.requests(), c.last_seq()), (3, 4, 4));
        c.observe_requests(&[req(5, "MachineHandler.deploy", "aaa", 409, None)]);
        assert_eq!(
            c.violations(),
            [Violation::DoubleDeploy {
                system_id: "aaa".into(),
                first_seq: 3,
                second_seq: 5,
            }]
        );
        // After a release the machine may be deployed again (a new allocation).
        let mut c = Checker::new();
        c.observe_requests(&[
            req(1, "MachineHandler.deploy", "aaa", 200, None),
            req(2, "MachineHandler.release", "aaa", 200, None),
            req(3, "MachineHandler.deploy", "aaa", 200, None),
            // Already-seen records are skipped (overlapping reads).
            req(3, "MachineHandler.deploy", "aaa", 200, None),
        ]);
        assert!(c.clean(), "{:?}", c.violations());
        // A garbage 200 after the deploy ran counts as a deploy that ran.
        let mut c = Checker::new();
        c.observe_requests(&[
            req(
                1,
                "MachineHandler.deploy",
                "aaa",
                200,
                Some(FaultKind::RespondAfterRunning),
            ),
            req(2, "MachineHandler.deploy", "aaa", 200, None),
        ]);
        assert_eq!(c.doubles(), 1);
    }

    #[test]
    fn a_gap_in_the_log_is_a_violation() {
        let mut c = Checker::new();
        c.observe_requests(&[req(1, "MachineHandler.read", "aaa", 200, None)]);
        c.observe_requests(&[req(5, "MachineHandler.read", "aaa", 200, None)]);
        assert_eq!(
            c.violations(),
            [Violation::LogGap {
                expected: 2,
                got: 5
            }]
        );
    }

    #[test]
    fn machine_paths() {
        assert_eq!(
            machine_path_id("/MAAS/api/2.0/machines/abc123/"),
            Some("abc123")
        );
        assert_eq!(machine_path_id("/MAAS/api/2.0/machines/"), None);
        assert_eq!(machine_path_id("/MAAS/api/2.0/nodes/abc/interfaces/"), None);
    }
}
