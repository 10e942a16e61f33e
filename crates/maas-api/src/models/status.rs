//! Machine status and power state.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! machine_statuses {
    ($( $variant:ident = $num:literal, $label:literal, $filter:literal; )*) => {
        /// A machine's `status` (MAAS `NODE_STATUS`): the 23 values MAAS 3.x defines, plus
        /// [`MachineStatus::Unknown`] for any number a newer MAAS may add.
        ///
        /// Serialised as the integer MAAS uses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MachineStatus {
            $(
                #[doc = $label]
                $variant,
            )*
            /// A status number this client does not know.
            Unknown(i64),
        }

        impl MachineStatus {
            /// Every known status, in numeric order.
            pub const ALL: [MachineStatus; 23] = [$(MachineStatus::$variant,)*];

            /// The status for a MAAS status number.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($num => MachineStatus::$variant,)*
                    other => MachineStatus::Unknown(other),
                }
            }

            /// The MAAS status number.
            pub fn code(self) -> i64 {
                match self {
                    $(MachineStatus::$variant => $num,)*
                    MachineStatus::Unknown(n) => n,
                }
            }

            /// The label MAAS shows as `status_name` (e.g. `Failed deployment`).
            pub fn label(self) -> &'static str {
                match self {
                    $(MachineStatus::$variant => $label,)*
                    MachineStatus::Unknown(_) => "Unknown",
                }
            }

            /// The lower-case name the machines list filter takes for `status=`
            /// (e.g. `failed_deployment`); `None` for an unknown number.
            pub fn filter_name(self) -> Option<&'static str> {
                match self {
                    $(MachineStatus::$variant => Some($filter),)*
                    MachineStatus::Unknown(_) => None,
                }
            }
        }
    };
}

machine_statuses! {
    New = 0, "New", "new";
    Commissioning = 1, "Commissioning", "commissioning";
    FailedCommissioning = 2, "Failed commissioning", "failed_commissioning";
    Missing = 3, "Missing", "missing";
    Ready = 4, "Ready", "ready";
    Reserved = 5, "Reserved", "reserved";
    Deployed = 6, "Deployed", "deployed";
    Retired = 7, "Retired", "retired";
    Broken = 8, "Broken", "broken";
    Deploying = 9, "Deploying", "deploying";
    Allocated = 10, "Allocated", "allocated";
    FailedDeployment = 11, "Failed deployment", "failed_deployment";
    Releasing = 12, "Releasing", "releasing";
    ReleasingFailed = 13, "Releasing failed", "releasing_failed";
    DiskErasing = 14, "Disk erasing", "disk_erasing";
    FailedDiskErasing = 15, "Failed disk erasing", "failed_disk_erasing";
    RescueMode = 16, "Rescue mode", "rescue_mode";
    EnteringRescueMode = 17, "Entering rescue mode", "entering_rescue_mode";
    FailedEnteringRescueMode = 18, "Failed to enter rescue mode", "failed_entering_rescue_mode";
    ExitingRescueMode = 19, "Exiting rescue mode", "exiting_rescue_mode";
    FailedExitingRescueMode = 20, "Failed to exit rescue mode", "failed_exiting_rescue_mode";
    Testing = 21, "Testing", "testing";
    FailedTesting = 22, "Failed testing", "failed_testing";
}

impl MachineStatus {
    /// True for the statuses MAAS reports when an operation on the machine failed.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            MachineStatus::FailedCommissioning
                | MachineStatus::FailedDeployment
                | MachineStatus::ReleasingFailed
                | MachineStatus::FailedDiskErasing
                | MachineStatus::FailedEnteringRescueMode
                | MachineStatus::FailedExitingRescueMode
                | MachineStatus::FailedTesting
        )
    }
}

impl Default for MachineStatus {
    fn default() -> Self {
        MachineStatus::Unknown(-1)
    }
}

impl fmt::Display for MachineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineStatus::Unknown(n) => write!(f, "Unknown({n})"),
            known => f.write_str(known.label()),
        }
    }
}

impl Serialize for MachineStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

impl<'de> Deserialize<'de> for MachineStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // MAAS sends an integer; tolerate a numeric string and anything else as unknown.
        let v = serde_json::Value::deserialize(d)?;
        let code = match &v {
            serde_json::Value::Number(n) => n.as_i64().unwrap_or(-1),
            serde_json::Value::String(s) => s.trim().parse::<i64>().unwrap_or(-1),
            _ => -1,
        };
        Ok(MachineStatus::from_code(code))
    }
}

/// A machine's `power_state`: `on`, `off`, `unknown`, `error`, or something newer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PowerState {
    /// `on`
    On,
    /// `off`
    Off,
    /// `unknown` (also used when the field is missing or null)
    #[default]
    Unknown,
    /// `error`: MAAS could not query the BMC.
    Error,
    /// A value this client does not know, kept verbatim.
    Other(String),
}

impl PowerState {
    /// Parse MAAS's string form (case-insensitive).
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "on" => PowerState::On,
            "off" => PowerState::Off,
            "unknown" | "" => PowerState::Unknown,
            "error" => PowerState::Error,
            _ => PowerState::Other(s.to_owned()),
        }
    }

    /// MAAS's string form.
    pub fn as_str(&self) -> &str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
            PowerState::Other(s) => s,
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PowerState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PowerState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<serde_json::Value>::deserialize(d)? {
            Some(serde_json::Value::String(s)) => PowerState::parse(&s),
            _ => PowerState::Unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_every_known_code() {
        for (i, status) in MachineStatus::ALL.iter().enumerate() {
            assert_eq!(status.code(), i as i64);
            assert_eq!(MachineStatus::from_code(i as i64), *status);
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, i.to_string());
            let back: MachineStatus = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *status);
            assert!(status.filter_name().is_some());
        }
    }

    #[test]
    fn unknown_status_numbers_are_kept() {
        let s: MachineStatus = serde_json::from_str("42").unwrap();
        assert_eq!(s, MachineStatus::Unknown(42));
        assert_eq!(serde_json::to_string(&s).unwrap(), "42");
        assert_eq!(s.filter_name(), None);
        let neg: MachineStatus = serde_json::from_str("-7").unwrap();
        assert_eq!(neg.code(), -7);
        let odd: MachineStatus = serde_json::from_str("\"6\"").unwrap();
        assert_eq!(odd, MachineStatus::Deployed);
        let junk: MachineStatus = serde_json::from_str("{}").unwrap();
        assert_eq!(junk, MachineStatus::Unknown(-1));
    }

    #[test]
    fn status_labels_match_maas() {
        assert_eq!(MachineStatus::Deployed.label(), "Deployed");
        assert_eq!(MachineStatus::FailedDeployment.label(), "Failed deployment");
        assert_eq!(
            MachineStatus::FailedExitingRescueMode.label(),
            "Failed to exit rescue mode"
        );
        assert_eq!(
            MachineStatus::FailedDeployment.filter_name(),
            Some("failed_deployment")
        );
        assert!(MachineStatus::FailedTesting.is_failed());
        assert!(!MachineStatus::Deployed.is_failed());
    }

    #[test]
    fn power_state_parses_known_and_unknown() {
        for (raw, want) in [
            ("on", PowerState::On),
            ("OFF", PowerState::Off),
            ("unknown", PowerState::Unknown),
            ("error", PowerState::Error),
            ("standby", PowerState::Other("standby".into())),
        ] {
            let got: PowerState = serde_json::from_value(serde_json::json!(raw)).unwrap();
            assert_eq!(got, want, "{raw}");
        }
        let null: PowerState = serde_json::from_str("null").unwrap();
        assert_eq!(null, PowerState::Unknown);
        assert_eq!(
            serde_json::to_string(&PowerState::Other("x".into())).unwrap(),
            "\"x\""
        );
    }
}
