//! One run's figures: how they are read (Prometheus text, maas-sim's
//! counters), shown (a table) and kept (JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Verbs that change something in the apiserver.
pub const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];

/// The figures of one run (`N` machines), as written to JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Machines in the cluster (1 control plane + N−1 workers).
    pub machines: usize,
    /// maas-sim's `--latency-profile`.
    pub latency_profile: String,
    /// maas-sim's deploy time, seconds.
    pub deploy_seconds: f64,
    /// Creating the Machines, bootstrap Secrets and MaasMachines, seconds.
    pub create_seconds: f64,
    /// From the first object created to every MaasMachine provisioned, seconds.
    pub provisioned_seconds: f64,
    /// From the first delete to every MaasMachine gone and every machine
    /// Ready and unowned in MAAS, seconds.
    pub released_seconds: f64,
    /// MAAS API requests over both phases (maas-sim's counters).
    pub maas_requests: u64,
    /// Of them, while provisioning.
    pub maas_requests_provisioning: u64,
    /// `maas_requests / machines`.
    pub maas_requests_per_machine: f64,
    /// MAAS requests by `Handler.action` (sums to `maas_requests`).
    pub maas_requests_by_operation: BTreeMap<String, u64>,
    /// MAAS answers by status code.
    pub maas_answers_by_status: BTreeMap<u16, u64>,
    /// Machine lists sent by the manager's shared poller.
    pub poller_lists: u64,
    /// MaasMachine reconciles.
    pub reconciles: u64,
    /// `reconciles / machines`.
    pub reconciles_per_machine: f64,
    /// Reconciles of every kind (MaasCluster too).
    pub reconciles_all_kinds: u64,
    /// apiserver writes (create, update, patch, delete) by the manager.
    pub kube_writes: u64,
    /// `kube_writes / machines`.
    pub kube_writes_per_machine: f64,
    /// apiserver requests by verb.
    pub kube_requests_by_verb: BTreeMap<String, u64>,
    /// The manager's utime + stime from its start to all released, seconds.
    pub manager_cpu_seconds: f64,
    /// `manager_cpu_seconds / machines`, in milliseconds.
    pub manager_cpu_ms_per_machine: f64,
    /// The manager's peak RSS (VmHWM), MiB.
    pub manager_peak_rss_mib: f64,
}

/// Samples of `name` in Prometheus text, summed by the value of `label`
/// (samples without it count under "").
pub fn metric_by_label(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let key = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim() == label)
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        *out.entry(key).or_insert(0.0) += v;
    }
    out
}

fn per(n: u64, machines: usize) -> f64 {
    if machines == 0 {
        0.0
    } else {
        n as f64 / machines as f64
    }
}

/// The manager's side of a report, from its `/metrics` text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagerFigures {
    /// MaasMachine reconciles.
    pub reconciles: u64,
    /// Every kind.
    pub reconciles_all_kinds: u64,
    /// Poller lists.
    pub poller_lists: u64,
    /// apiserver requests by verb.
    pub kube_requests_by_verb: BTreeMap<String, u64>,
}

impl ManagerFigures {
    /// Reads them from Prometheus text.
    pub fn from_metrics(text: &str) -> ManagerFigures {
        let kinds = metric_by_label(text, "capmaas_reconciles_total", "kind");
        let round = |v: f64| v.round() as u64;
        ManagerFigures {
            reconciles: kinds.get("MaasMachine").copied().map_or(0, round),
            reconciles_all_kinds: round(kinds.values().sum()),
            poller_lists: round(
                metric_by_label(text, "capmaas_poller_lists_total", "")
                    .values()
                    .sum(),
            ),
            kube_requests_by_verb: metric_by_label(text, "capmaas_kube_requests_total", "verb")
                .into_iter()
                .map(|(k, v)| (k, round(v)))
                .collect(),
        }
    }

    /// create + update + patch + delete.
    pub fn kube_writes(&self) -> u64 {
        WRITE_VERBS
            .iter()
            .filter_map(|v| self.kube_requests_by_verb.get(*v))
            .sum()
    }
}

/// What a run measured, before it is divided per machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// N.
    pub machines: usize,
    /// The profile.
    pub latency_profile: String,
    /// Deploy time.
    pub deploy_seconds: f64,
    /// Phase times.
    pub create_seconds: f64,
    /// To all provisioned.
    pub provisioned_seconds: f64,
    /// To all released.
    pub released_seconds: f64,
    /// maas-sim's counters at all provisioned.
    pub maas_at_provisioned: maas_sim::Counters,
    /// maas-sim's counters at all released.
    pub maas: maas_sim::Counters,
    /// The manager's metrics at all released.
    pub manager: ManagerFigures,
    /// The manager's CPU seconds at all released.
    pub manager_cpu_seconds: f64,
    /// Its peak RSS.
    pub manager_peak_rss_bytes: u64,
}

impl Report {
    /// Divides per machine.
    pub fn new(m: Measured) -> Report {
        let n = m.machines;
        let kube_writes = m.manager.kube_writes();
        Report {
            machines: n,
            latency_profile: m.latency_profile,
            deploy_seconds: m.deploy_seconds,
            create_seconds: m.create_seconds,
            provisioned_seconds: m.provisioned_seconds,
            released_seconds: m.released_seconds,
            maas_requests: m.maas.requests,
            maas_requests_provisioning: m.maas_at_provisioned.requests,
            maas_requests_per_machine: per(m.maas.requests, n),
            maas_requests_by_operation: m.maas.by_action,
            maas_answers_by_status: m.maas.by_status,
            poller_lists: m.manager.poller_lists,
            reconciles: m.manager.reconciles,
            reconciles_per_machine: per(m.manager.reconciles, n),
            reconciles_all_kinds: m.manager.reconciles_all_kinds,
            kube_writes,
            kube_writes_per_machine: per(kube_writes, n),
            kube_requests_by_verb: m.manager.kube_requests_by_verb,
            manager_cpu_seconds: m.manager_cpu_seconds,
            manager_cpu_ms_per_machine: if n == 0 {
                0.0
            } else {
                m.manager_cpu_seconds * 1000.0 / n as f64
            },
            manager_peak_rss_mib: m.manager_peak_rss_bytes as f64 / (1024.0 * 1024.0),
        }
    }

    /// The run as a two-column table (Markdown, readable as text too).
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "| N={} (latency {}, deploy {}s) | |",
            self.machines, self.latency_profile, self.deploy_seconds
        );
        t.push_str("|---|---:|\n");
        for (k, v) in self.rows() {
            let _ = writeln!(t, "| {k} | {v} |");
        }
        let _ = writeln!(t, "\nMAAS requests by operation (per machine):\n");
        t.push_str("| operation | requests | per machine |\n|---|---:|---:|\n");
        let mut ops: Vec<(&String, &u64)> = self.maas_requests_by_operation.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (op, n) in ops {
            let _ = writeln!(t, "| {op} | {n} | {:.2} |", per(*n, self.machines));
        }
        t
    }

    /// (metric, value) rows of the summary.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let verbs = self
            .kube_requests_by_verb
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            ("create objects (s)", format!("{:.1}", self.create_seconds)),
            (
                "all provisioned (s)",
                format!("{:.1}", self.provisioned_seconds),
            ),
            ("all released (s)", format!("{:.1}", self.released_seconds)),
            ("MAAS requests", self.maas_requests.to_string()),
            (
                "MAAS requests while provisioning",
                self.maas_requests_provisioning.to_string(),
            ),
            (
                "MAAS requests / machine",
                format!("{:.1}", self.maas_requests_per_machine),
            ),
            ("poller lists", self.poller_lists.to_string()),
            (
                "reconciles / machine",
                format!("{:.1}", self.reconciles_per_machine),
            ),
            (
                "apiserver writes / machine",
                format!("{:.1}", self.kube_writes_per_machine),
            ),
            ("apiserver requests by verb", verbs),
            (
                "manager CPU (s)",
                format!("{:.2}", self.manager_cpu_seconds),
            ),
            (
                "manager CPU / machine (ms)",
                format!("{:.1}", self.manager_cpu_ms_per_machine),
            ),
            (
                "manager peak RSS (MiB)",
                format!("{:.1}", self.manager_peak_rss_mib),
            ),
        ]
    }
}

/// Several runs side by side: one column per run.
pub fn comparison(reports: &[Report]) -> String {
    let mut t = String::from("| |");
    for r in reports {
        let _ = write!(t, " N={} |", r.machines);
    }
    t.push_str("\n|---|");
    for _ in reports {
        t.push_str("---:|");
    }
    t.push('\n');
    let rows: Vec<Vec<(&'static str, String)>> = reports.iter().map(Report::rows).collect();
    if let Some(first) = rows.first() {
        for (i, (name, _)) in first.iter().enumerate() {
            if *name == "apiserver requests by verb" {
                continue;
            }
            let _ = write!(t, "| {name} |");
            for r in &rows {
                let _ = write!(t, " {} |", r[i].1);
            }
            t.push('\n');
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP capmaas_reconciles_total x\n\
        capmaas_reconciles_total{kind=\"MaasMachine\",result=\"ok\"} 12\n\
        capmaas_reconciles_total{kind=\"MaasMachine\",result=\"error\"} 3\n\
        capmaas_reconciles_total{kind=\"MaasCluster\",result=\"ok\"} 4\n\
        capmaas_reconciles_total_created 1\n\
        capmaas_poller_lists_total 9\n\
        capmaas_kube_requests_total{verb=\"patch\"} 20\n\
        capmaas_kube_requests_total{verb=\"create\"} 5\n\
        capmaas_kube_requests_total{verb=\"get\"} 7\n\
        capmaas_kube_requests_total{verb=\"watch\"} 2\n";

    #[test]
    fn manager_figures_from_prometheus_text() {
        let f = ManagerFigures::from_metrics(METRICS);
        assert_eq!(f.reconciles, 15);
        assert_eq!(f.reconciles_all_kinds, 19);
        assert_eq!(f.poller_lists, 9);
        assert_eq!(
            f.kube_writes(),
            25,
            "patch + create; get and watch are reads"
        );
        assert_eq!(f.kube_requests_by_verb.get("watch"), Some(&2));
        assert_eq!(ManagerFigures::from_metrics(""), ManagerFigures::default());
    }

    fn measured() -> Measured {
        let mut maas = maas_sim::Counters {
            requests: 50,
            ..Default::default()
        };
        maas.by_action.insert("MachinesHandler.read".into(), 30);
        maas.by_action.insert("MachinesHandler.allocate".into(), 10);
        maas.by_action.insert("MachineHandler.deploy".into(), 10);
        maas.by_status.insert(200, 50);
        Measured {
            machines: 10,
            latency_profile: "region".into(),
            deploy_seconds: 2.0,
            create_seconds: 0.5,
            provisioned_seconds: 6.25,
            released_seconds: 3.0,
            maas_at_provisioned: maas_sim::Counters {
                requests: 40,
                ..Default::default()
            },
            maas,
            manager: ManagerFigures::from_metrics(METRICS),
            manager_cpu_seconds: 0.46,
            manager_peak_rss_bytes: 32 * 1024 * 1024,
        }
    }

    #[test]
    fn per_machine_figures_and_json_round_trip() {
        let r = Report::new(measured());
        assert_eq!(r.maas_requests_per_machine, 5.0);
        assert_eq!(r.reconciles_per_machine, 1.5);
        assert_eq!(r.kube_writes_per_machine, 2.5);
        assert!((r.manager_cpu_ms_per_machine - 46.0).abs() < 1e-9);
        assert_eq!(r.manager_peak_rss_mib, 32.0);
        assert_eq!(
            r.maas_requests_by_operation.values().sum::<u64>(),
            r.maas_requests
        );
        let json = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    /// CI once failed on 236.66666666666666 coming back one ulp off (serde_json parses
    /// floats approximately unless `float_roundtrip` is on): JSON reports must read back exactly.
    #[test]
    fn awkward_floats_read_back_exactly() {
        let mut r = Report::new(measured());
        for v in [236.666_666_666_666_66, 0.1 + 0.2, 1.0 / 3.0, 4.663_046_355] {
            r.manager_cpu_ms_per_machine = v;
            let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(
                back.manager_cpu_ms_per_machine.to_bits(),
                v.to_bits(),
                "{v}"
            );
        }
    }

    #[test]
    fn tables_show_every_figure() {
        let r = Report::new(measured());
        let t = r.table();
        assert!(t.contains("| MAAS requests / machine | 5.0 |"), "{t}");
        assert!(
            t.contains("| all provisioned (s) | 6.2 |")
                || t.contains("| all provisioned (s) | 6.3 |"),
            "{t}"
        );
        assert!(t.contains("| MachinesHandler.read | 30 | 3.00 |"), "{t}");
        // Busiest operation first.
        assert!(t.find("MachinesHandler.read").unwrap() < t.find("MachineHandler.deploy").unwrap());
        let mut big = r.clone();
        big.machines = 200;
        let c = comparison(&[r, big]);
        assert!(c.starts_with("| | N=10 | N=200 |"), "{c}");
        assert!(
            c.contains("| manager peak RSS (MiB) | 32.0 | 32.0 |"),
            "{c}"
        );
    }
}
