//! Ownership proven from MAAS's own answer, not from a server-side filter.
//!
//! `GET machines/?agent_name=<marker>` is how the controller finds the
//! machines allocated for a MaasMachine, but `agent_name` is not part of the
//! machine JSON (MAAS leaves it out of its displayed fields), so the answer
//! alone cannot show that the filter was applied. A MAAS, or a proxy in
//! front of it, that ignored or dropped the parameter would answer with
//! every machine of every tenant, and trusting it would let a deletion
//! release them.
//!
//! Two kinds of evidence, checked here and nowhere else:
//!
//! * **proof**: the machine's own JSON carries our owner workload annotation
//!   ([`crate::ANNOTATION_OWNER`] equal to the rendered marker). The
//!   controller writes it right after adopting a machine; MAAS clears it on
//!   release;
//! * **claim**: the machine was only listed by the filtered query (the
//!   controller puts the marker in [`MaasMachineView::agent_name`] for those).
//!   A claim counts only when the answer as a whole is consistent with the
//!   filter having been applied ([`check_marker_answer`]): every entry is
//!   checked, and one entry that could not carry our `agent_name` (a free
//!   machine, an owner annotation naming someone else) shows the filter was
//!   ignored. Then no claim counts and [`crate::decide`] does nothing at all
//!   ([`crate::reasons::OWNERSHIP_UNPROVEN`]) until MAAS answers correctly.
//!
//! What a claim still has to be trusted for: a machine allocated for us and
//! not yet annotated (the answer to the allocation was lost, or the
//! controller stopped before annotating it) has no other evidence; refusing
//! it would leak it. A filter-ignoring answer made only of allocated,
//! unannotated machines of other tools is the one case these checks cannot
//! tell apart (documented in `docs/lifecycle.md`).

use crate::maas::MaasMachineView;
use crate::marker::{ANNOTATION_MACHINE, ANNOTATION_OWNER, OwnerMarker};

/// Is the answer to `GET machines/?agent_name=<marker>` one MAAS could have
/// given with the filter applied?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerAnswer {
    /// Every entry may carry the marker: claims count.
    Consistent,
    /// At least one entry cannot carry the marker: the filter was ignored
    /// (by MAAS or a proxy); only proven entries are ours.
    FilterIgnored {
        /// The first entry that shows it, and why (for the condition).
        evidence: String,
    },
}

impl MarkerAnswer {
    /// Claims count.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        matches!(self, MarkerAnswer::Consistent)
    }
}

/// The machine's own JSON proves it belongs to `marker`'s MaasMachine.
#[must_use]
pub fn proven_ours(marker: &OwnerMarker, m: &MaasMachineView) -> bool {
    m.workload_annotations
        .get(ANNOTATION_OWNER)
        .is_some_and(|v| marker.matches(v))
}

/// Why `m` cannot be an entry of an honest answer to the `agent_name=marker`
/// query; `None` when it can.
#[must_use]
pub fn inconsistent_with_filter(marker: &OwnerMarker, m: &MaasMachineView) -> Option<String> {
    let id = &m.system_id;
    if let Some(owner) = m.workload_annotations.get(ANNOTATION_OWNER)
        && !marker.matches(owner)
    {
        // Our allocations get our annotation; after `clusterctl move` the
        // annotation names the old uid, but then `agent_name` does too, so
        // the machine is not in the new marker's answer either.
        return Some(format!(
            "{id} carries the owner annotation of another MaasMachine ({ANNOTATION_OWNER}={owner})"
        ));
    }
    if let Some(named) = m.workload_annotations.get(ANNOTATION_MACHINE) {
        let ours = format!("{}/{}", marker.namespace(), marker.name());
        if *named != ours {
            return Some(format!(
                "{id} carries the annotation of another MaasMachine ({ANNOTATION_MACHINE}={named})"
            ));
        }
    }
    if m.owner.is_none() && !m.status.is_releasing() {
        // Only an allocation sets agent_name, and a release clears it: a
        // machine nobody owns (free, commissioning, ...) carries none.
        return Some(format!(
            "{id} has no owner in MAAS ({}) and can carry no agent_name",
            m.status
        ));
    }
    None
}

/// Checks every entry of the answer to `GET machines/?agent_name=<marker>`.
#[must_use]
pub fn check_marker_answer(marker: &OwnerMarker, answer: &[MaasMachineView]) -> MarkerAnswer {
    // Entries naming another agent_name are no claim of ours (the
    // controller names every listed machine with the marker it asked for).
    answer
        .iter()
        .filter(|m| marker.matches(&m.agent_name))
        .find_map(|m| inconsistent_with_filter(marker, m))
        .map_or(MarkerAnswer::Consistent, |evidence| {
            MarkerAnswer::FilterIgnored { evidence }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maas::{MaasStatus, PowerState};

    const UID: &str = "2b1a7c3e-9d4f-4a51-8e0c-6f2d1b3a4c5d";

    fn marker() -> OwnerMarker {
        OwnerMarker::new("ns", "m", UID).unwrap()
    }

    fn allocated(id: &str) -> MaasMachineView {
        let mut m = MaasMachineView::new(id, MaasStatus::Allocated, PowerState::Off);
        m.owner = Some("capi".into());
        m.agent_name = marker().render();
        m
    }

    #[test]
    fn our_allocations_annotated_or_not_are_consistent() {
        let mut annotated = allocated("aaa111");
        annotated.workload_annotations = marker().workload_annotations(Some("c"));
        let answer = [annotated.clone(), allocated("bbb222")];
        assert_eq!(
            check_marker_answer(&marker(), &answer),
            MarkerAnswer::Consistent
        );
        assert!(proven_ours(&marker(), &annotated));
        assert!(!proven_ours(&marker(), &allocated("bbb222")));
        assert_eq!(
            check_marker_answer(&marker(), &[]),
            MarkerAnswer::Consistent
        );
    }

    #[test]
    fn a_free_machine_or_another_owner_shows_the_filter_was_ignored() {
        let mut free = MaasMachineView::new("ccc333", MaasStatus::Ready, PowerState::Off);
        free.agent_name = marker().render();
        let verdict = check_marker_answer(&marker(), &[allocated("aaa111"), free]);
        let MarkerAnswer::FilterIgnored { evidence } = verdict else {
            panic!("{verdict:?}");
        };
        assert!(
            evidence.contains("ccc333") && evidence.contains("no owner"),
            "{evidence}"
        );

        let other = OwnerMarker::new("ns2", "m", "another-uid").unwrap();
        let mut foreign = allocated("ddd444");
        foreign.workload_annotations = other.workload_annotations(None);
        assert!(!check_marker_answer(&marker(), &[foreign]).is_consistent());

        let mut same_name_other_ns = allocated("eee555");
        same_name_other_ns
            .workload_annotations
            .insert(ANNOTATION_MACHINE.into(), "ns2/m".into());
        assert!(!check_marker_answer(&marker(), &[same_name_other_ns]).is_consistent());
    }
}
