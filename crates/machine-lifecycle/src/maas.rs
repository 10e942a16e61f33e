//! What MAAS showed: machine status, power state, version. View types only;
//! the controller fills them from its MAAS client.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A MAAS machine status (`status` integer, `status_name` label).
///
/// All 23 statuses MAAS 3.x defines, plus [`MaasStatus::Unknown`] for any code
/// a newer MAAS might add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaasStatus {
    /// 0
    New,
    /// 1
    Commissioning,
    /// 2
    FailedCommissioning,
    /// 3
    Missing,
    /// 4
    Ready,
    /// 5
    Reserved,
    /// 6
    Deployed,
    /// 7
    Retired,
    /// 8
    Broken,
    /// 9
    Deploying,
    /// 10
    Allocated,
    /// 11
    FailedDeployment,
    /// 12
    Releasing,
    /// 13
    ReleasingFailed,
    /// 14
    DiskErasing,
    /// 15
    FailedDiskErasing,
    /// 16
    RescueMode,
    /// 17
    EnteringRescueMode,
    /// 18
    FailedEnteringRescueMode,
    /// 19
    ExitingRescueMode,
    /// 20
    FailedExitingRescueMode,
    /// 21
    Testing,
    /// 22
    FailedTesting,
    /// A code this crate does not know.
    Unknown(i64),
}

const ALL_KNOWN: [MaasStatus; 23] = [
    MaasStatus::New,
    MaasStatus::Commissioning,
    MaasStatus::FailedCommissioning,
    MaasStatus::Missing,
    MaasStatus::Ready,
    MaasStatus::Reserved,
    MaasStatus::Deployed,
    MaasStatus::Retired,
    MaasStatus::Broken,
    MaasStatus::Deploying,
    MaasStatus::Allocated,
    MaasStatus::FailedDeployment,
    MaasStatus::Releasing,
    MaasStatus::ReleasingFailed,
    MaasStatus::DiskErasing,
    MaasStatus::FailedDiskErasing,
    MaasStatus::RescueMode,
    MaasStatus::EnteringRescueMode,
    MaasStatus::FailedEnteringRescueMode,
    MaasStatus::ExitingRescueMode,
    MaasStatus::FailedExitingRescueMode,
    MaasStatus::Testing,
    MaasStatus::FailedTesting,
];

impl MaasStatus {
    /// Every status MAAS defines, in code order.
    #[must_use]
    pub fn all_known() -> &'static [MaasStatus; 23] {
        &ALL_KNOWN
    }

    /// From MAAS's integer `status`.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL_KNOWN.get(i).copied())
            .unwrap_or(MaasStatus::Unknown(code))
    }

    /// MAAS's integer `status`.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            MaasStatus::Unknown(code) => code,
            known => ALL_KNOWN
                .iter()
                .position(|s| *s == known)
                .and_then(|i| i64::try_from(i).ok())
                .unwrap_or(-1),
        }
    }

    /// MAAS's `status_name` (e.g. `Failed deployment`); `Unknown (<code>)` otherwise.
    #[must_use]
    pub fn name(self) -> String {
        let s = match self {
            MaasStatus::New => "New",
            MaasStatus::Commissioning => "Commissioning",
            MaasStatus::FailedCommissioning => "Failed commissioning",
            MaasStatus::Missing => "Missing",
            MaasStatus::Ready => "Ready",
            MaasStatus::Reserved => "Reserved",
            MaasStatus::Deployed => "Deployed",
            MaasStatus::Retired => "Retired",
            MaasStatus::Broken => "Broken",
            MaasStatus::Deploying => "Deploying",
            MaasStatus::Allocated => "Allocated",
            MaasStatus::FailedDeployment => "Failed deployment",
            MaasStatus::Releasing => "Releasing",
            MaasStatus::ReleasingFailed => "Releasing failed",
            MaasStatus::DiskErasing => "Disk erasing",
            MaasStatus::FailedDiskErasing => "Failed disk erasing",
            MaasStatus::RescueMode => "Rescue mode",
            MaasStatus::EnteringRescueMode => "Entering rescue mode",
            MaasStatus::FailedEnteringRescueMode => "Failed to enter rescue mode",
            MaasStatus::ExitingRescueMode => "Exiting rescue mode",
            MaasStatus::FailedExitingRescueMode => "Failed to exit rescue mode",
            MaasStatus::Testing => "Testing",
            MaasStatus::FailedTesting => "Failed testing",
            MaasStatus::Unknown(code) => return format!("Unknown ({code})"),
        };
        s.to_owned()
    }

    /// Statuses from which MAAS accepts `op=release`
    /// (Ready and Releasing are accepted as no-ops and excluded here).
    #[must_use]
    pub fn is_releasable(self) -> bool {
        matches!(
            self,
            MaasStatus::Allocated
                | MaasStatus::Reserved
                | MaasStatus::Broken
                | MaasStatus::Deploying
                | MaasStatus::Deployed
                | MaasStatus::FailedDeployment
                | MaasStatus::FailedDiskErasing
                | MaasStatus::ReleasingFailed
        )
    }

    /// A release is under way (MAAS will finish it on its own).
    #[must_use]
    pub fn is_releasing(self) -> bool {
        matches!(self, MaasStatus::Releasing | MaasStatus::DiskErasing)
    }

    /// A release that MAAS gave up on; another `op=release` is accepted.
    #[must_use]
    pub fn is_release_failed(self) -> bool {
        matches!(
            self,
            MaasStatus::ReleasingFailed | MaasStatus::FailedDiskErasing
        )
    }

    /// Free in MAAS's pool: nobody owns a machine in these statuses.
    #[must_use]
    pub fn is_unowned(self) -> bool {
        matches!(self, MaasStatus::Ready | MaasStatus::New)
    }
}

impl fmt::Display for MaasStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// MAAS's `power_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// `on`
    On,
    /// `off`
    Off,
    /// `unknown` (also what manual power types always report)
    Unknown,
    /// `error` (the BMC could not be queried)
    Error,
}

impl PowerState {
    /// Parses MAAS's text; anything unrecognised is [`PowerState::Unknown`].
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "on" => PowerState::On,
            "off" => PowerState::Off,
            "error" => PowerState::Error,
            _ => PowerState::Unknown,
        }
    }

    /// MAAS's text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MAAS release version (`version` of `GET version/`), e.g. `3.5.0~rc1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaasVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when absent).
    pub patch: u32,
}

/// `MaasVersion::from_str` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unrecognised MAAS version {0:?}")]
pub struct VersionError(pub String);

impl MaasVersion {
    /// A version.
    #[must_use]
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl FromStr for MaasVersion {
    type Err = VersionError;

    /// Accepts `3.5`, `3.5.10`, `3.5.0~rc1`, `3.6.0-beta2`, `2.5.0 from source`;
    /// qualifiers after the numbers are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(text.to_owned());
        let core: &str = text
            .trim()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut nums = core.split('.').filter(|s| !s.is_empty());
        let major = nums.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let minor = nums.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let patch = match nums.next() {
            Some(p) => p.parse().map_err(|_| err())?,
            None => 0,
        };
        Ok(Self {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for MaasVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One MAAS machine as the lifecycle needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaasMachineView {
    /// `system_id`.
    pub system_id: String,
    /// `hostname`.
    pub hostname: String,
    /// `fqdn` (empty when unknown).
    pub fqdn: String,
    /// `status`.
    pub status: MaasStatus,
    /// `status_message` (e.g. "Installing OS"; failures carry MAAS's reason).
    pub status_message: String,
    /// `power_state`.
    pub power_state: PowerState,
    /// `owner` (MAAS user name); `None` when unowned.
    pub owner: Option<String>,
    /// `agent_name`; empty when none.
    pub agent_name: String,
    /// `workload_annotations`.
    pub workload_annotations: BTreeMap<String, String>,
    /// `zone.name`.
    pub zone: String,
    /// `memory` in MiB.
    pub memory_mib: u64,
    /// `ip_addresses`, as MAAS printed them.
    pub ip_addresses: Vec<String>,
    /// `ephemeral_deploy` (MAAS 3.5+; `None` on older versions).
    pub ephemeral_deploy: Option<bool>,
    /// Addresses of the machine's STATIC links (`interface_set[].links[]`
    /// with mode `static` and an address). MAAS keeps them across releases.
    pub static_addresses: Vec<String>,
    /// Those of [`Self::static_addresses`] whose interface still has an
    /// AUTO or DHCP link on the same subnet (a replacement left half done):
    /// linking is not complete until that link is gone.
    pub static_addresses_shadowed: Vec<String>,
}

impl MaasMachineView {
    /// A minimal view (for tests and simulators): status and power, nothing else.
    #[must_use]
    pub fn new(system_id: impl Into<String>, status: MaasStatus, power_state: PowerState) -> Self {
        Self {
            system_id: system_id.into(),
            hostname: String::new(),
            fqdn: String::new(),
            status,
            status_message: String::new(),
            power_state,
            owner: None,
            agent_name: String::new(),
            workload_annotations: BTreeMap::new(),
            zone: String::new(),
            memory_mib: 0,
            ip_addresses: Vec::new(),
            ephemeral_deploy: None,
            static_addresses: Vec::new(),
            static_addresses_shadowed: Vec::new(),
        }
    }
}

/// The answer to "look up machine `system_id`".
// A handful of lookups per reconcile: boxing would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// MAAS returned the machine.
    Found(MaasMachineView),
    /// MAAS answered 404: it no longer knows the machine.
    NotFound,
}

/// Everything MAAS showed for one reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaasView {
    /// `GET machines/?agent_name=<marker>`: machines carrying our owner marker
    /// (zero, one or several).
    pub by_marker: Vec<MaasMachineView>,
    /// `GET machines/<id>/` for every id in
    /// [`crate::InfraMachineView::ids_to_look_up`]. Missing entries make the
    /// lifecycle wait rather than guess.
    pub lookups: BTreeMap<String, Lookup>,
    /// `GET version/`; `None` when it could not be read or parsed.
    pub version: Option<MaasVersion>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_code() {
        for (i, s) in MaasStatus::all_known().iter().enumerate() {
            let code = i64::try_from(i).unwrap();
            assert_eq!(MaasStatus::from_code(code), *s);
            assert_eq!(s.code(), code);
        }
        assert_eq!(MaasStatus::from_code(23), MaasStatus::Unknown(23));
        assert_eq!(MaasStatus::from_code(-1), MaasStatus::Unknown(-1));
        assert_eq!(MaasStatus::Unknown(99).code(), 99);
    }

    #[test]
    fn status_names_match_maas() {
        assert_eq!(MaasStatus::FailedDeployment.name(), "Failed deployment");
        assert_eq!(
            MaasStatus::FailedExitingRescueMode.name(),
            "Failed to exit rescue mode"
        );
        assert_eq!(MaasStatus::Unknown(42).name(), "Unknown (42)");
    }

    #[test]
    fn release_classes_are_disjoint() {
        for s in MaasStatus::all_known() {
            let classes = [s.is_releasing(), s.is_unowned()];
            assert!(!(classes[0] && classes[1]));
            if s.is_releasing() || s.is_unowned() {
                assert!(!s.is_releasable(), "{s}");
            }
        }
        assert!(MaasStatus::ReleasingFailed.is_releasable());
        assert!(!MaasStatus::Commissioning.is_releasable());
    }

    #[test]
    fn power_state_parsing() {
        assert_eq!(PowerState::parse("on"), PowerState::On);
        assert_eq!(PowerState::parse("OFF"), PowerState::Off);
        assert_eq!(PowerState::parse("error"), PowerState::Error);
        assert_eq!(PowerState::parse("unknown"), PowerState::Unknown);
        assert_eq!(PowerState::parse("weird"), PowerState::Unknown);
    }

    #[test]
    fn versions_parse_and_order() {
        let v: MaasVersion = "3.5.0~rc1".parse().unwrap();
        assert_eq!(v, MaasVersion::new(3, 5, 0));
        assert_eq!(
            "3.6".parse::<MaasVersion>().unwrap(),
            MaasVersion::new(3, 6, 0)
        );
        assert_eq!(
            "2.5.0 from source".parse::<MaasVersion>().unwrap(),
            MaasVersion::new(2, 5, 0)
        );
        assert_eq!(
            "3.6.0-beta2".parse::<MaasVersion>().unwrap(),
            MaasVersion::new(3, 6, 0)
        );
        assert!("garbage".parse::<MaasVersion>().is_err());
        assert!("3".parse::<MaasVersion>().is_err());
        assert!(MaasVersion::new(3, 4, 9) < MaasVersion::new(3, 5, 0));
        assert!(MaasVersion::new(3, 10, 0) > MaasVersion::new(3, 9, 9));
    }
}
