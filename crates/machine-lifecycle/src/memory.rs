//! How much memory an allocation asks MAAS for.
//!
//! An in-memory (ephemeral) deploy keeps the whole root filesystem in RAM, so
//! the lifecycle never asks for less than a floor
//! ([`crate::LifecycleConfig::ephemeral_min_memory_mib`]). The same answer is
//! used for the allocation and for what users see (the MaasMachine's status,
//! the template's `status.capacity`), so the two can never disagree.

/// The minimum memory asked of MAAS, and whether the floor raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRequest {
    /// `mem` of the allocation, MiB (`None`: no constraint).
    pub min_memory_mib: Option<u64>,
    /// What `spec.minMemory` asked for when the in-memory floor raised it;
    /// `None` when the request is the spec's own.
    pub raised_from: Option<Option<u64>>,
}

impl MemoryRequest {
    /// The request for `spec.minMemory` = `spec_min_mib`: the spec's value,
    /// raised to `floor_mib` for an in-memory deploy (a floor of 0 is none).
    #[must_use]
    pub fn decide(spec_min_mib: Option<u64>, ephemeral: bool, floor_mib: u64) -> Self {
        let spec_min = spec_min_mib.filter(|m| *m > 0);
        if ephemeral && floor_mib > spec_min.unwrap_or(0) {
            Self {
                min_memory_mib: Some(floor_mib),
                raised_from: Some(spec_min),
            }
        } else {
            Self {
                min_memory_mib: spec_min,
                raised_from: None,
            }
        }
    }

    /// Whether the floor raised the spec's value.
    #[must_use]
    pub fn raised(&self) -> bool {
        self.raised_from.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_raises_only_in_memory_deploys_asking_less() {
        let r = MemoryRequest::decide(Some(4096), true, 16384);
        assert_eq!(r.min_memory_mib, Some(16384));
        assert_eq!(r.raised_from, Some(Some(4096)));
        assert!(r.raised());

        let unset = MemoryRequest::decide(None, true, 16384);
        assert_eq!(unset.min_memory_mib, Some(16384));
        assert_eq!(unset.raised_from, Some(None));

        let above = MemoryRequest::decide(Some(32768), true, 16384);
        assert_eq!(above.min_memory_mib, Some(32768));
        assert!(!above.raised());

        let equal = MemoryRequest::decide(Some(16384), true, 16384);
        assert!(!equal.raised());

        let disk = MemoryRequest::decide(Some(4096), false, 16384);
        assert_eq!(disk.min_memory_mib, Some(4096));
        assert!(!disk.raised());
    }

    #[test]
    fn no_floor_and_zero_spec_mean_no_constraint() {
        assert_eq!(
            MemoryRequest::decide(None, true, 0),
            MemoryRequest {
                min_memory_mib: None,
                raised_from: None
            }
        );
        assert_eq!(
            MemoryRequest::decide(Some(0), false, 16384).min_memory_mib,
            None
        );
        assert_eq!(MemoryRequest::decide(Some(0), true, 0).min_memory_mib, None);
    }
}
