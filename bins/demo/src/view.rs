//! What the demo shows: one row per machine, the table, the summary line.

use std::fmt::Write as _;
use std::time::Duration;

use capi_types::{MaasMachine, MachineAddressType};
use kube::ResourceExt;

/// Where a machine is, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The MaasMachine's `MachineDeployed` reason (`Allocating`, `Deploying`, …).
    Progress(String),
    /// Provisioned: `status.initialization.provisioned` and `Ready=True`.
    Provisioned,
    /// Being deleted: MAAS is releasing the machine.
    Releasing,
    /// Gone from Kubernetes and Ready (unowned) in MAAS.
    Released,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Progress(r) => f.write_str(r),
            State::Provisioned => f.write_str("Provisioned"),
            State::Releasing => f.write_str("Releasing"),
            State::Released => f.write_str("Released"),
        }
    }
}

/// The parts of a [`Row`] whose changes are reported: state, system id, IP,
/// in-memory.
pub type RowKey = (String, Option<String>, Option<String>, &'static str);

/// One machine's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// MaasMachine name.
    pub name: String,
    /// State.
    pub state: State,
    /// MAAS system id, once known.
    pub system_id: Option<String>,
    /// First address of the machine.
    pub ip: Option<String>,
    /// `spec.ephemeral`.
    pub ephemeral: bool,
    /// `status.deployedInMemory`, once deployed.
    pub in_memory: Option<bool>,
    /// The condition's message while not provisioned.
    pub detail: String,
}

impl Row {
    /// A row from the MaasMachine as it is now; `previous` keeps what a
    /// deleted object no longer shows (system id, IP, in-memory).
    pub fn observe(mm: &MaasMachine, previous: Option<&Row>) -> Row {
        let status = mm.status.as_ref();
        let condition = |t: &str| status.and_then(|s| s.conditions.iter().find(|c| c.type_ == t));
        let provisioned = status
            .and_then(|s| s.initialization.as_ref())
            .and_then(|i| i.provisioned)
            == Some(true);
        let ready = condition("Ready").is_some_and(|c| c.status == "True");
        let deployed = condition("MachineDeployed");
        let state = if mm.metadata.deletion_timestamp.is_some() {
            State::Releasing
        } else if provisioned && ready {
            State::Provisioned
        } else {
            State::Progress(
                deployed
                    .map(|c| c.reason.clone())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "Pending".into()),
            )
        };
        let detail = match &state {
            State::Progress(_) | State::Releasing => {
                deployed.map(|c| c.message.clone()).unwrap_or_default()
            }
            _ => String::new(),
        };
        let ip = status
            .and_then(|s| {
                s.addresses
                    .iter()
                    .find(|a| a.type_ == MachineAddressType::InternalIp)
                    .or_else(|| {
                        s.addresses
                            .iter()
                            .find(|a| a.type_ == MachineAddressType::ExternalIp)
                    })
            })
            .map(|a| a.address.clone());
        Row {
            name: mm.name_any(),
            state,
            system_id: mm
                .spec
                .system_id
                .clone()
                .or_else(|| previous.and_then(|p| p.system_id.clone())),
            ip: ip.or_else(|| previous.and_then(|p| p.ip.clone())),
            ephemeral: mm.spec.ephemeral,
            // `deployedInMemory` is false until a deploy starts: trust a
            // false only once the machine is provisioned.
            in_memory: status
                .and_then(|s| s.deployed_in_memory)
                .filter(|m| *m || provisioned)
                .or_else(|| previous.and_then(|p| p.in_memory)),
            detail,
        }
    }

    /// The IN-MEMORY column.
    pub fn in_memory_text(&self) -> &'static str {
        match (self.in_memory, self.ephemeral) {
            (Some(true), _) => "yes",
            (Some(false), _) => "no",
            (None, true) => "requested",
            (None, false) => "-",
        }
    }

    /// What changes the plain-progress output reports.
    pub fn key(&self) -> RowKey {
        (
            self.state.to_string(),
            self.system_id.clone(),
            self.ip.clone(),
            self.in_memory_text(),
        )
    }
}

const HEADERS: [&str; 5] = ["NAME", "STATE", "SYSTEM-ID", "IP", "IN-MEMORY"];

fn cells(r: &Row) -> [String; 5] {
    [
        r.name.clone(),
        r.state.to_string(),
        r.system_id.clone().unwrap_or_else(|| "-".into()),
        r.ip.clone().unwrap_or_else(|| "-".into()),
        r.in_memory_text().to_owned(),
    ]
}

/// The table: a header and one line per row, columns aligned; with
/// `details`, the condition message of unfinished rows is appended
/// (cut to `width` characters in all).
pub fn table(rows: &[Row], details: bool, width: usize) -> Vec<String> {
    let all: Vec<[String; 5]> = rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(str::len);
    for c in &all {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |c: [&str; 5]| {
        let mut s = String::new();
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            if i + 1 == c.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s
    };
    let mut out = vec![line(HEADERS)];
    for (row, c) in rows.iter().zip(&all) {
        let mut l = line([&c[0], &c[1], &c[2], &c[3], &c[4]]);
        if details && !row.detail.is_empty() {
            let pad = widths[4].saturating_sub(c[4].chars().count());
            let _ = write!(l, "{:pad$}  {}", "", row.detail);
        }
        out.push(cut(&l, width));
    }
    out
}

/// `s` cut to `width` characters (with `…`).
pub fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// How the demo ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Machines in the cluster.
    pub machines: usize,
    /// Machines that reached Provisioned.
    pub provisioned: usize,
    /// Machines released in MAAS after their deletion.
    pub released: usize,
    /// Machines deployed in memory.
    pub in_memory: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Why it stopped early, if it did.
    pub failure: Option<String>,
}

impl Outcome {
    /// Every machine was provisioned and released, and nothing failed.
    pub fn success(&self) -> bool {
        self.failure.is_none()
            && self.provisioned == self.machines
            && self.released == self.machines
    }

    /// The demo's last line, e.g.
    /// `demo: 5/5 machines provisioned and released in 23.4s (1 in memory)`.
    pub fn summary_line(&self) -> String {
        let n = self.machines;
        let counts = if self.provisioned == self.released {
            format!("{}/{n} machines provisioned and released", self.provisioned)
        } else {
            format!(
                "{}/{n} machines provisioned, {}/{n} released",
                self.provisioned, self.released
            )
        };
        let mut line = format!(
            "demo: {counts} in {:.1}s ({} in memory)",
            self.elapsed.as_secs_f64(),
            self.in_memory
        );
        if let Some(f) = &self.failure {
            let _ = write!(line, "; FAILED: {f}");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mm(value: serde_json::Value) -> MaasMachine {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn rows_follow_the_maas_machine() {
        let deploying = mm(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
            "metadata": {"name": "demo-worker-0"},
            "spec": {"image": "ubuntu/jammy", "ephemeral": true, "systemID": "abc123"},
            "status": {"conditions": [
                {"type": "MachineDeployed", "status": "False", "reason": "Deploying",
                 "message": "MAAS is deploying abc123: Installing OS", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
        }));
        let r = Row::observe(&deploying, None);
        assert_eq!(r.state, State::Progress("Deploying".into()));
        assert_eq!(r.system_id.as_deref(), Some("abc123"));
        assert_eq!(r.in_memory_text(), "requested");
        assert_eq!(r.detail, "MAAS is deploying abc123: Installing OS");

        let done = mm(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
            "metadata": {"name": "demo-worker-0"},
            "spec": {"image": "ubuntu/jammy", "ephemeral": true, "systemID": "abc123"},
            "status": {"initialization": {"provisioned": true}, "ready": true, "deployedInMemory": true,
                "addresses": [{"type": "Hostname", "address": "h"}, {"type": "InternalIP", "address": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
        }));
        let r2 = Row::observe(&done, Some(&r));
        assert_eq!(r2.state, State::Provisioned);
        assert_eq!(r2.ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(r2.in_memory_text(), "yes");
        assert!(r2.detail.is_empty());

        // Deleted: status gone, what was known is kept.
        let mut deleting = mm(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
            "metadata": {"name": "demo-worker-0", "deletionTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"image": "ubuntu/jammy", "ephemeral": true}
        }));
        deleting.spec.system_id = None;
        let r3 = Row::observe(&deleting, Some(&r2));
        assert_eq!(r3.state, State::Releasing);
        assert_eq!(
            (
                r3.system_id.as_deref(),
                r3.ip.as_deref(),
                r3.in_memory_text()
            ),
            (Some("abc123"), Some("10.0.0.5"), "yes")
        );
    }

    #[test]
    fn table_aligns_columns_and_cuts_details() {
        let rows = vec![
            Row {
                name: "demo-control-plane-0".into(),
                state: State::Provisioned,
                system_id: Some("abc123".into()),
                ip: Some("10.0.0.21".into()),
                ephemeral: false,
                in_memory: Some(false),
                detail: String::new(),
            },
            Row {
                name: "demo-worker-0".into(),
                state: State::Progress("Deploying".into()),
                system_id: None,
                ip: None,
                ephemeral: true,
                in_memory: None,
                detail: "MAAS is deploying def456: Installing OS".into(),
            },
        ];
        let t = table(&rows, true, 80);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[0],
            "NAME                  STATE        SYSTEM-ID  IP         IN-MEMORY"
        );
        assert_eq!(
            t[1],
            "demo-control-plane-0  Provisioned  abc123     10.0.0.21  no"
        );
        assert!(t[2].starts_with(
            "demo-worker-0         Deploying    -          -          requested  MAAS is"
        ));
        assert_eq!(t[2].chars().count(), 80);
        assert!(t[2].ends_with('…'));
        assert!(!table(&rows, false, 200)[2].contains("MAAS"));
    }

    #[test]
    fn summary_line() {
        let mut o = Outcome {
            machines: 5,
            provisioned: 5,
            released: 5,
            in_memory: 1,
            elapsed: Duration::from_millis(23_449),
            failure: None,
        };
        assert!(o.success());
        assert_eq!(
            o.summary_line(),
            "demo: 5/5 machines provisioned and released in 23.4s (1 in memory)"
        );
        o.released = 3;
        assert!(!o.success());
        assert_eq!(
            o.summary_line(),
            "demo: 5/5 machines provisioned, 3/5 released in 23.4s (1 in memory)"
        );
        o.released = 5;
        o.failure = Some("interrupted".into());
        assert!(!o.success());
        assert!(
            o.summary_line()
                .ends_with("(1 in memory); FAILED: interrupted")
        );
    }
}
