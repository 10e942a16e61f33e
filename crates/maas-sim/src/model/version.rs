//! MAAS version profiles: the behaviour differences between MAAS releases
//! that clients can observe, kept in one place.

use std::fmt;
use std::str::FromStr;

/// The MAAS release whose behaviour the simulator reproduces.
///
/// `V3_8` behaves as MAAS `main` (3.8.0 alpha): the VM host endpoints answer
/// 410 Gone, `register_vmhost`/`install_kvm` are rejected, the `pod` and
/// `virtualmachine_id` machine fields and the `pod*` constraints are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum MaasVersion {
    /// MAAS 3.0 (reported as `3.0.2`).
    V3_0,
    /// MAAS 3.1 (reported as `3.1.3`).
    V3_1,
    /// MAAS 3.2 (reported as `3.2.10`).
    V3_2,
    /// MAAS 3.3 (reported as `3.3.6`: the 3.3.7+ point releases also show
    /// `ephemeral_deploy` and `enable_hw_sync`, backported from 3.4/3.5).
    V3_3,
    /// MAAS 3.4 (reported as `3.4.1`).
    V3_4,
    /// MAAS 3.5 (reported as `3.5.10`).
    V3_5,
    /// MAAS 3.6 (reported as `3.6.5`).
    #[default]
    V3_6,
    /// MAAS 3.7 (reported as `3.7.3`).
    V3_7,
    /// MAAS `main` (reported as `3.8.0~alpha1`).
    V3_8,
}

impl MaasVersion {
    /// Every profile, oldest first.
    pub const ALL: [MaasVersion; 9] = [
        MaasVersion::V3_0,
        MaasVersion::V3_1,
        MaasVersion::V3_2,
        MaasVersion::V3_3,
        MaasVersion::V3_4,
        MaasVersion::V3_5,
        MaasVersion::V3_6,
        MaasVersion::V3_7,
        MaasVersion::V3_8,
    ];

    /// The short name accepted by `--maas-version` (`3.6`).
    pub fn short(self) -> &'static str {
        match self {
            MaasVersion::V3_0 => "3.0",
            MaasVersion::V3_1 => "3.1",
            MaasVersion::V3_2 => "3.2",
            MaasVersion::V3_3 => "3.3",
            MaasVersion::V3_4 => "3.4",
            MaasVersion::V3_5 => "3.5",
            MaasVersion::V3_6 => "3.6",
            MaasVersion::V3_7 => "3.7",
            MaasVersion::V3_8 => "3.8",
        }
    }

    /// The full version string `version/` reports.
    pub fn full(self) -> &'static str {
        match self {
            MaasVersion::V3_0 => "3.0.2",
            MaasVersion::V3_1 => "3.1.3",
            MaasVersion::V3_2 => "3.2.10",
            MaasVersion::V3_3 => "3.3.6",
            MaasVersion::V3_4 => "3.4.1",
            MaasVersion::V3_5 => "3.5.10",
            MaasVersion::V3_6 => "3.6.5",
            MaasVersion::V3_7 => "3.7.3",
            MaasVersion::V3_8 => "3.8.0~alpha1",
        }
    }

    /// VM host (pod) support exists (removed on MAAS main).
    pub fn has_vm_hosts(self) -> bool {
        self < MaasVersion::V3_8
    }

    /// `ephemeral_deploy` appears in machine JSON (3.5+).
    pub fn shows_ephemeral_deploy(self) -> bool {
        self >= MaasVersion::V3_5
    }

    /// Deploying with `register_vmhost`/`install_kvm` and in memory is refused
    /// up front with the 3.5+ text, judged on the request's `ephemeral_deploy`
    /// (and a diskless machine). Before 3.5 the check reads the machine's own
    /// state (diskless, or its last deploy was in memory) with another text,
    /// so a fresh machine asked for both at once is not refused.
    pub fn vm_host_memory_check_on_request(self) -> bool {
        self >= MaasVersion::V3_5
    }

    /// `last_sync`, `sync_interval` and `next_sync` appear in machine JSON and
    /// `enable_hw_sync` is a deploy parameter (3.2+).
    pub fn has_hw_sync(self) -> bool {
        self >= MaasVersion::V3_2
    }

    /// `enable_hw_sync` appears in machine JSON (3.4+).
    pub fn shows_enable_hw_sync(self) -> bool {
        self >= MaasVersion::V3_4
    }

    /// `parent` appears in machine JSON (3.3+).
    pub fn shows_parent(self) -> bool {
        self >= MaasVersion::V3_3
    }

    /// `allocate` with a `system_id` that matches no available machine says
    /// so (3.3+). Before 3.3 it was treated as any unmatched constraint: the
    /// generic message, and with VM hosts present MAAS composed a new VM
    /// instead (fixed in 3.3, Launchpad bug 1990289).
    pub fn allocate_honours_system_id(self) -> bool {
        self >= MaasVersion::V3_3
    }

    /// `error_description` appears in machine JSON (3.5+).
    pub fn shows_error_description(self) -> bool {
        self >= MaasVersion::V3_5
    }

    /// `enable_kernel_crash_dump` appears in machine JSON (3.6+).
    pub fn shows_kernel_crash_dump(self) -> bool {
        self >= MaasVersion::V3_6
    }

    /// `is_dpu` appears in machine JSON (3.7+).
    pub fn shows_is_dpu(self) -> bool {
        self >= MaasVersion::V3_7
    }

    /// The lock page (409) carries `Retry-After: 5` (3.2+).
    pub fn lock_page_retry_after(self) -> bool {
        self >= MaasVersion::V3_2
    }

    /// Minutes after which a deployment is marked failed when it does not
    /// finish: 3.6+ run the deploy workflow with 2 × `node_timeout` (30 min).
    pub fn deploy_timeout_minutes(self) -> u64 {
        if self >= MaasVersion::V3_6 { 60 } else { 30 }
    }
}

impl fmt::Display for MaasVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// An unknown `--maas-version` value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown MAAS version '{0}' (expected one of 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8)")]
pub struct UnknownVersion(pub String);

impl FromStr for MaasVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        MaasVersion::ALL
            .into_iter()
            .find(|v| v.short() == trimmed || v.full() == trimmed)
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_full_names() {
        assert_eq!("3.7".parse::<MaasVersion>().unwrap(), MaasVersion::V3_7);
        assert_eq!("3.6.5".parse::<MaasVersion>().unwrap(), MaasVersion::V3_6);
        assert!("2.9".parse::<MaasVersion>().is_err());
        assert_eq!("3.0".parse::<MaasVersion>().unwrap(), MaasVersion::V3_0);
        assert_eq!("3.3.6".parse::<MaasVersion>().unwrap(), MaasVersion::V3_3);
    }

    #[test]
    fn all_is_sorted_and_names_round_trip() {
        for w in MaasVersion::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for v in MaasVersion::ALL {
            assert_eq!(v.short().parse::<MaasVersion>().unwrap(), v);
            assert_eq!(v.full().parse::<MaasVersion>().unwrap(), v);
            assert!(v.full().starts_with(v.short()), "{v}");
        }
    }

    #[test]
    fn feature_boundaries() {
        assert!(!MaasVersion::V3_4.shows_ephemeral_deploy());
        assert!(MaasVersion::V3_5.shows_ephemeral_deploy());
        assert!(MaasVersion::V3_7.has_vm_hosts());
        assert!(!MaasVersion::V3_8.has_vm_hosts());
        assert_eq!(MaasVersion::V3_5.deploy_timeout_minutes(), 30);
        assert_eq!(MaasVersion::V3_6.deploy_timeout_minutes(), 60);
        assert!(MaasVersion::V3_0.has_vm_hosts());
        assert!(!MaasVersion::V3_3.shows_ephemeral_deploy());
        assert!(!MaasVersion::V3_1.has_hw_sync());
        assert!(MaasVersion::V3_2.has_hw_sync());
        assert!(!MaasVersion::V3_3.shows_enable_hw_sync());
        assert!(MaasVersion::V3_4.shows_enable_hw_sync());
        assert!(!MaasVersion::V3_2.shows_parent());
        assert!(MaasVersion::V3_3.shows_parent());
        assert!(!MaasVersion::V3_2.allocate_honours_system_id());
        assert!(MaasVersion::V3_3.allocate_honours_system_id());
        assert!(!MaasVersion::V3_4.vm_host_memory_check_on_request());
        assert!(MaasVersion::V3_5.vm_host_memory_check_on_request());
        assert!(!MaasVersion::V3_1.lock_page_retry_after());
        assert!(MaasVersion::V3_2.lock_page_retry_after());
    }
}
