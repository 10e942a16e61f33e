//! Latency profiles: how long a MAAS region takes to answer.
//!
//! maas-sim answers in microseconds; a real region is a Django application
//! behind PostgreSQL whose machine endpoints cost tens of milliseconds each
//! (OAuth check, a transaction, a dozen queries to render one machine's
//! interfaces, disks and power state) and whose machine lists cost more per
//! machine returned. With [`LatencyProfile::Region`] every API answer is
//! delayed by a base cost per operation plus, for machine lists, a cost per
//! machine in the answer, so a client's request count shows up as wall time
//! (`make bench`, docs/maas-sim.md "Latency profiles" has the figures and why).
//!
//! The delay is added after the request ran, before it is answered and
//! recorded (so `duration_us` in the request log includes it). Requests are
//! delayed concurrently: the region's worker pool is not modelled.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How long answers take (`--latency-profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyProfile {
    /// Answer at once (the default).
    #[default]
    None,
    /// As a real Django region feels: see [`LatencyProfile::delay`].
    Region,
}

/// A profile name that is not `none` or `region`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown latency profile '{0}' (expected none or region)")]
pub struct UnknownLatencyProfile(pub String);

impl FromStr for LatencyProfile {
    type Err = UnknownLatencyProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(LatencyProfile::None),
            "region" => Ok(LatencyProfile::Region),
            other => Err(UnknownLatencyProfile(other.to_string())),
        }
    }
}

impl fmt::Display for LatencyProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LatencyProfile::None => "none",
            LatencyProfile::Region => "region",
        })
    }
}

/// Region profile: a request that was not routed to an operation (401,
/// 404, bad signature): Django's middleware and the OAuth lookup only.
const REGION_UNROUTED_MS: u64 = 10;
/// Region profile: an operation not listed in [`region_base_ms`].
const REGION_DEFAULT_MS: u64 = 30;
/// Region profile: per machine in a machine list's answer.
const REGION_PER_LISTED_MACHINE_MS: u64 = 8;

/// Region profile: the base cost of `Handler.action` in milliseconds.
fn region_base_ms(action: &str) -> u64 {
    match action {
        "VersionHandler.read" | "UsersHandler.whoami" => 5,
        "MachineHandler.read" => 40,
        "MachinesHandler.read" | "MachinesHandler.list_allocated" | "TagHandler.machines" => 30,
        "MachineHandler.set_workload_annotations" | "MachineHandler.update" => 50,
        "MachinesHandler.allocate" => 150,
        "MachineHandler.deploy" => 250,
        "MachineHandler.release" | "MachinesHandler.release" => 150,
        "MachineHandler.power_on" | "MachineHandler.power_off" => 120,
        "MachineHandler.query_power_state" => 300,
        _ => REGION_DEFAULT_MS,
    }
}

/// Operations whose answer is a JSON list of machines (each one rendered).
fn lists_machines(action: &str) -> bool {
    matches!(
        action,
        "MachinesHandler.read" | "MachinesHandler.list_allocated" | "TagHandler.machines"
    )
}

/// Elements of a top-level JSON array (0 when `body` is not one).
fn listed(body: &[u8]) -> u64 {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
        .map(|v| v.len() as u64)
        .unwrap_or(0)
}

impl LatencyProfile {
    /// The delay of one answer: `action` is the `Handler.action` that ran
    /// (`None`: the request was refused before routing), `body` the answer.
    pub fn delay(self, action: Option<&str>, status: u16, body: &[u8]) -> Duration {
        match self {
            LatencyProfile::None => Duration::ZERO,
            LatencyProfile::Region => {
                let Some(action) = action else {
                    return Duration::from_millis(REGION_UNROUTED_MS);
                };
                let mut ms = region_base_ms(action);
                if status == 200 && lists_machines(action) {
                    ms += REGION_PER_LISTED_MACHINE_MS * listed(body);
                }
                Duration::from_millis(ms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for p in [LatencyProfile::None, LatencyProfile::Region] {
            assert_eq!(p.to_string().parse::<LatencyProfile>(), Ok(p));
        }
        assert_eq!(LatencyProfile::default(), LatencyProfile::None);
        let e = "slow".parse::<LatencyProfile>().unwrap_err();
        assert!(e.to_string().contains("'slow'"), "{e}");
    }

    #[test]
    fn none_never_delays() {
        let body = br#"[{"system_id":"a"},{"system_id":"b"}]"#;
        for action in [
            None,
            Some("MachinesHandler.read"),
            Some("MachineHandler.deploy"),
        ] {
            assert_eq!(
                LatencyProfile::None.delay(action, 200, body),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn region_costs_per_operation() {
        let r = LatencyProfile::Region;
        let ms = |a: Option<&str>| r.delay(a, 200, b"{}").as_millis();
        assert_eq!(ms(Some("MachineHandler.read")), 40);
        assert_eq!(ms(Some("MachinesHandler.allocate")), 150);
        assert_eq!(ms(Some("MachineHandler.deploy")), 250);
        assert_eq!(ms(Some("MachineHandler.release")), 150);
        assert_eq!(ms(Some("VersionHandler.read")), 5);
        assert_eq!(ms(Some("ZonesHandler.read")), 30, "unlisted: the default");
        assert_eq!(ms(None), 10, "unrouted: middleware only");
        // Writes cost more than reads; reads of one machine more than the version.
        assert!(ms(Some("MachineHandler.deploy")) > ms(Some("MachineHandler.read")));
        assert!(ms(Some("MachineHandler.read")) > ms(Some("VersionHandler.read")));
    }

    #[test]
    fn region_lists_cost_per_returned_machine() {
        let r = LatencyProfile::Region;
        let list = |n: usize| {
            let items: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"system_id":"m{i}"}}"#))
                .collect();
            format!("[{}]", items.join(","))
        };
        let ms = |n: usize| {
            r.delay(Some("MachinesHandler.read"), 200, list(n).as_bytes())
                .as_millis()
        };
        assert_eq!(ms(0), 30);
        assert_eq!(ms(1), 38);
        assert_eq!(ms(1000), 30 + 8 * 1000);
        assert_eq!(
            r.delay(Some("TagHandler.machines"), 200, list(3).as_bytes())
                .as_millis(),
            54
        );
        // Only machine lists pay per element, and only when answered.
        assert_eq!(
            r.delay(Some("ZonesHandler.read"), 200, list(3).as_bytes())
                .as_millis(),
            30
        );
        assert_eq!(
            r.delay(Some("MachinesHandler.read"), 400, list(3).as_bytes())
                .as_millis(),
            30
        );
        assert_eq!(
            r.delay(Some("MachinesHandler.read"), 200, b"not json")
                .as_millis(),
            30
        );
    }
}
