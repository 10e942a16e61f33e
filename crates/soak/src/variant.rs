//! The MAAS fault variants a run injects, through maas-sim's control API.

use maas_sim::{OpFault, ScriptedFault};

use crate::rng::Rng;

/// Django's page for an unhandled exception (what MAAS or a proxy in front
/// of it sends with a 500).
pub const HTML_500: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";

/// Bodies that are not MAAS's JSON, sent with a 200.
pub const GARBAGE: [&str; 3] = [
    "<html><body>Welcome to nginx!</body></html>",
    "{\"system_id\": \"trunc",
    "\u{0}\u{1}\u{2} not json",
];

/// What goes wrong in MAAS during a run (besides the kills, which every
/// variant has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// No MAAS fault: kills only.
    Kills,
    /// 20 % of every MAAS request answered 503 (`Retry-After: 10`), not run.
    Rate503,
    /// MAAS's 409 lock page (`Retry-After: 5`) on random operations, not run.
    LockPage,
    /// The connection dropped after MAAS ran an allocate, deploy or release.
    Dropped,
    /// 500 HTML pages on random operations, not run.
    Html500,
    /// Garbage 200 bodies on random operations, both instead of running
    /// them and after running them.
    Garbage,
}

/// The operations scripted faults hit.
const OPS: [&str; 5] = [
    "allocate",
    "deploy",
    "release",
    "MachinesHandler.read",
    "MachineHandler.read",
];

/// The operations whose answer is dropped after MAAS acted.
const ACTING_OPS: [&str; 3] = ["allocate", "deploy", "release"];

impl Variant {
    /// Every variant, in run order.
    pub const ALL: [Variant; 6] = [
        Variant::Kills,
        Variant::Rate503,
        Variant::LockPage,
        Variant::Dropped,
        Variant::Html500,
        Variant::Garbage,
    ];

    /// Its name in `SOAK_VARIANTS` and the run lines.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Variant::Kills => "kills",
            Variant::Rate503 => "503",
            Variant::LockPage => "lock",
            Variant::Dropped => "drop",
            Variant::Html500 => "html500",
            Variant::Garbage => "garbage",
        }
    }

    /// The variant called `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The standing fault for the whole chaos phase, if any.
    #[must_use]
    pub fn standing(self) -> Option<OpFault> {
        match self {
            Variant::Rate503 => Some(OpFault {
                op: "*".into(),
                error_rate: 0.2,
                status: 503,
                body: None,
                latency_ms: 0,
            }),
            _ => None,
        }
    }

    /// The next scripted fault to add (every few hundred ms while the
    /// chaos lasts), if the variant has them.
    pub fn next_scripted(self, rng: &mut Rng) -> Option<ScriptedFault> {
        let op = |rng: &mut Rng, ops: &[&str]| (*rng.pick(ops).unwrap_or(&"allocate")).to_owned();
        match self {
            Variant::Kills | Variant::Rate503 => None,
            Variant::LockPage => Some(ScriptedFault::LockPage {
                op: op(rng, &OPS),
                count: 1 + (rng.next_u64() % 2) as u32,
            }),
            Variant::Dropped => Some(ScriptedFault::DropConnection {
                op: op(rng, &ACTING_OPS),
                count: 1,
            }),
            Variant::Html500 => Some(ScriptedFault::Respond {
                op: op(rng, &OPS),
                count: 1,
                status: 500,
                body: HTML_500.into(),
                content_type: Some("text/html; charset=utf-8".into()),
                retry_after: None,
            }),
            Variant::Garbage => {
                let body = (*rng.pick(&GARBAGE).unwrap_or(&GARBAGE[0])).to_owned();
                let content_type = Some(if body.starts_with('<') {
                    "text/html; charset=utf-8".to_owned()
                } else {
                    "application/json".to_owned()
                });
                if rng.next_u64().is_multiple_of(2) {
                    Some(ScriptedFault::RespondAfterRunning {
                        op: op(rng, &ACTING_OPS),
                        count: 1,
                        status: 200,
                        body,
                        content_type,
                    })
                } else {
                    Some(ScriptedFault::Respond {
                        op: op(rng, &OPS),
                        count: 1,
                        status: 200,
                        body,
                        content_type,
                        retry_after: None,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_each_variant_faults_as_it_says() {
        for v in Variant::ALL {
            assert_eq!(Variant::parse(v.name()), Some(v));
        }
        assert_eq!(Variant::parse("nope"), None);
        let mut rng = Rng::new(3);
        assert!(
            Variant::Kills.next_scripted(&mut rng).is_none() && Variant::Kills.standing().is_none()
        );
        assert_eq!(
            Variant::Rate503
                .standing()
                .map(|f| (f.error_rate, f.status)),
            Some((0.2, 503))
        );
        for _ in 0..50 {
            match Variant::Dropped.next_scripted(&mut rng) {
                Some(ScriptedFault::DropConnection { op, .. }) => {
                    assert!(ACTING_OPS.contains(&op.as_str()));
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                Variant::LockPage.next_scripted(&mut rng),
                Some(ScriptedFault::LockPage { .. })
            ));
            assert!(matches!(
                Variant::Html500.next_scripted(&mut rng),
                Some(ScriptedFault::Respond { status: 500, .. })
            ));
        }
        let garbage: Vec<_> = (0..40)
            .filter_map(|_| Variant::Garbage.next_scripted(&mut rng))
            .collect();
        assert!(
            garbage
                .iter()
                .any(|f| matches!(f, ScriptedFault::RespondAfterRunning { status: 200, .. }))
        );
        assert!(
            garbage
                .iter()
                .any(|f| matches!(f, ScriptedFault::Respond { status: 200, .. }))
        );
    }
}
