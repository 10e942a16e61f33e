//! Decisions of the MaasCluster side: the control-plane endpoint's port,
//! the addresses of its DNS record and whether that record is ours, what
//! `clusterctl move` needs on the credentials Secret.

use std::collections::{BTreeMap, BTreeSet};

/// CAPI's default `Cluster.spec.clusterNetwork.apiServerPort`.
pub const DEFAULT_API_SERVER_PORT: i32 = 6443;

/// The port of the control-plane endpoint the controller sets: the
/// Cluster's `spec.clusterNetwork.apiServerPort` (what kubeadm binds the API
/// server to) when it is a port, else `default` (the controller's
/// `api_server_port`, 6443 unless configured).
#[must_use]
pub fn api_server_port(cluster_port: Option<i32>, default: i32) -> i32 {
    cluster_port
        .filter(|p| (1..=65535).contains(p))
        .unwrap_or(default)
}

/// The IPs the control-plane DNS record should hold, given the published
/// IPs of the ready control-plane machines and what the record holds now;
/// `None`: leave it as it is. An empty set never replaces a non-empty one (a
/// control-plane machine that is briefly not Ready must not take the API
/// endpoint down), and an unchanged set is not written again.
#[must_use]
pub fn desired_dns_ips(
    ready: &BTreeSet<String>,
    current: &BTreeSet<String>,
) -> Option<Vec<String>> {
    if ready.is_empty() || ready == current {
        return None;
    }
    Some(ready.iter().cloned().collect())
}

/// The first characters of the TXT record that marks a control-plane DNS
/// record as managed by capmaas: `capmaas-cluster=<namespace>/<cluster>`.
pub const DNS_OWNER_PREFIX: &str = "capmaas-cluster=";

/// The TXT data that says the record at `<cluster>.<dnsDomain>` belongs to
/// the Cluster `namespace/cluster`. No uid: `clusterctl move` re-creates the
/// objects with new uids, and the record must stay theirs.
#[must_use]
pub fn dns_owner_marker(namespace: &str, cluster: &str) -> String {
    format!("{DNS_OWNER_PREFIX}{namespace}/{cluster}")
}

/// The owner (`<namespace>/<cluster>`) a TXT record's data names, when it
/// is a capmaas owner marker. MAAS keeps TXT data as given; a marker
/// someone wrote with quotes around it counts too.
#[must_use]
pub fn dns_owner_of(rrdata: &str) -> Option<&str> {
    let text = rrdata.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let owner = text.strip_prefix(DNS_OWNER_PREFIX)?;
    let (ns, name) = owner.split_once('/')?;
    let valid = |p: &str| !p.is_empty() && !p.contains(['/', ' ', '"']);
    (valid(ns) && valid(name)).then_some(owner)
}

/// What the controller saw of the DNS record at the control-plane name
/// (`GET dnsresources/?fqdn=`): its id, its addresses, the data of its TXT
/// records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsRecordView {
    /// The DNS resource's id.
    pub id: i64,
    /// Its addresses.
    pub ips: BTreeSet<String>,
    /// The data of its TXT records.
    pub txt: Vec<String>,
}

/// Whose the record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOwnership {
    /// It carries our owner marker, and no other.
    Ours,
    /// It carries no capmaas marker, and our status says we created it
    /// (a record written before owner markers existed): ours, to be marked.
    OursUnmarked,
    /// Someone else's: another cluster's marker (named), or no marker and
    /// nothing saying we made it.
    NotOurs {
        /// The other capmaas owner (`<namespace>/<cluster>`), if any.
        owner: Option<String>,
    },
}

/// Whose `record` is, for the Cluster `namespace/cluster`; `status_says_ours`:
/// the MaasCluster's `status.network.dnsName` is the record's name.
#[must_use]
pub fn dns_ownership(
    record: &DnsRecordView,
    namespace: &str,
    cluster: &str,
    status_says_ours: bool,
) -> DnsOwnership {
    let me = format!("{namespace}/{cluster}");
    let owners: BTreeSet<&str> = record.txt.iter().filter_map(|t| dns_owner_of(t)).collect();
    if let Some(other) = owners.iter().find(|o| **o != me) {
        // A second owner, even next to ours, makes it nobody's we can prove.
        return DnsOwnership::NotOurs {
            owner: Some((*other).to_owned()),
        };
    }
    if owners.contains(me.as_str()) {
        DnsOwnership::Ours
    } else if status_says_ours {
        DnsOwnership::OursUnmarked
    } else {
        DnsOwnership::NotOurs { owner: None }
    }
}

/// What the MaasCluster controller sees for its control-plane DNS record.
#[derive(Debug, Clone, Copy)]
pub struct DnsInputs<'a> {
    /// The MaasCluster's namespace.
    pub namespace: &'a str,
    /// The Cluster's name.
    pub cluster: &'a str,
    /// `<cluster>.<dnsDomain>`.
    pub fqdn: &'a str,
    /// `spec.controlPlaneEndpoint.host`, when set and not empty.
    pub endpoint_host: Option<&'a str>,
    /// `status.network.dnsName`.
    pub status_dns_name: Option<&'a str>,
    /// The record MAAS has at `fqdn` (`None`: none, or not looked up).
    pub record: Option<&'a DnsRecordView>,
    /// The published IPs of the ready control-plane machines.
    pub ready: &'a BTreeSet<String>,
    /// The MaasCluster is being deleted.
    pub deleting: bool,
}

/// Whether the controller must look the record up in MAAS. Reconciling:
/// unless the user's endpoint names another host. Deleting: when our status
/// or the endpoint names the record (a record of ours goes with the
/// cluster, status or not); a cluster that never got that far needs no MAAS
/// at all to go, even with its credentials gone.
#[must_use]
pub fn dns_needs_lookup(
    endpoint_host: Option<&str>,
    status_dns_name: Option<&str>,
    fqdn: &str,
    deleting: bool,
) -> bool {
    if deleting {
        status_dns_name == Some(fqdn) || endpoint_host == Some(fqdn)
    } else {
        endpoint_host.is_none_or(|h| h == fqdn)
    }
}

/// One step on the control-plane DNS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsPlan {
    /// The endpoint is the user's: touch no DNS record. `foreign_record`:
    /// a record exists at our name and is not ours (it is left alone).
    UserEndpoint {
        /// A record not ours exists at `<cluster>.<dnsDomain>`.
        foreign_record: bool,
    },
    /// No record: create the owner TXT record (`marker`; MAAS creates the
    /// DNS resource with it), then give it `ips` (when not empty).
    Create {
        /// TXT data.
        marker: String,
        /// Addresses to set once it exists.
        ips: Vec<String>,
    },
    /// Ours, written before markers: add the marker, then set `ips` if any.
    Mark {
        /// The DNS resource.
        id: i64,
        /// TXT data.
        marker: String,
        /// Addresses to set, when they differ.
        ips: Option<Vec<String>>,
    },
    /// Ours: replace its addresses with `ips`.
    Update {
        /// The DNS resource.
        id: i64,
        /// The new addresses.
        ips: Vec<String>,
    },
    /// Ours and right: nothing to write.
    InSync {
        /// The addresses it holds.
        ips: Vec<String>,
    },
    /// A record exists at our name and is not ours: never update or delete
    /// it, say so in a condition.
    NotOurs {
        /// The other capmaas owner, if it has one.
        owner: Option<String>,
    },
    /// Deleting and the record is ours: delete the DNS resource (its TXT
    /// records go with it).
    Delete {
        /// The DNS resource.
        id: i64,
    },
    /// Deleting: nothing of ours in MAAS.
    NothingToDelete,
}

/// The step on the control-plane DNS record. A record is only ever
/// changed or deleted when it is ours ([`dns_ownership`]); a user's
/// endpoint naming `fqdn` is managed only when the record there is ours
/// (after a status loss or `clusterctl move` the spec keeps the endpoint
/// we set, and the marker says it was ours).
#[must_use]
pub fn decide_dns(i: &DnsInputs<'_>) -> DnsPlan {
    let status_says_ours = i.status_dns_name == Some(i.fqdn);
    let ownership = i
        .record
        .map(|r| dns_ownership(r, i.namespace, i.cluster, status_says_ours));
    if i.deleting {
        return match (i.record, ownership) {
            (Some(r), Some(DnsOwnership::Ours | DnsOwnership::OursUnmarked)) => {
                DnsPlan::Delete { id: r.id }
            }
            _ => DnsPlan::NothingToDelete,
        };
    }
    let endpoint_ours = match i.endpoint_host {
        None => true,
        Some(h) if h != i.fqdn => {
            return DnsPlan::UserEndpoint {
                foreign_record: false,
            };
        }
        // Our name in the spec: ours when our status or the record says so.
        Some(_) => {
            status_says_ours
                || matches!(ownership, Some(DnsOwnership::Ours))
                || matches!(ownership, Some(DnsOwnership::NotOurs { owner: Some(_) }))
        }
    };
    if !endpoint_ours {
        return DnsPlan::UserEndpoint {
            foreign_record: i.record.is_some(),
        };
    }
    let (Some(record), Some(ownership)) = (i.record, ownership) else {
        return DnsPlan::Create {
            marker: dns_owner_marker(i.namespace, i.cluster),
            ips: i.ready.iter().cloned().collect(),
        };
    };
    match ownership {
        DnsOwnership::NotOurs { owner } => DnsPlan::NotOurs { owner },
        DnsOwnership::OursUnmarked => DnsPlan::Mark {
            id: record.id,
            marker: dns_owner_marker(i.namespace, i.cluster),
            ips: desired_dns_ips(i.ready, &record.ips),
        },
        DnsOwnership::Ours => match desired_dns_ips(i.ready, &record.ips) {
            Some(ips) => DnsPlan::Update { id: record.id, ips },
            None => DnsPlan::InSync {
                ips: record.ips.iter().cloned().collect(),
            },
        },
    }
}

/// The label that makes `clusterctl move` take an object that links to no
/// Cluster (it checks the key only).
pub const CLUSTERCTL_MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";

/// Labels to add to the `credentialsRef` Secret (given its labels) so that
/// `clusterctl move` takes it along with the MaasCluster; `None`: nothing to
/// write. Only the label, never an owner reference: the Secret is the
/// user's and may serve several clusters, and an owner reference would let
/// Kubernetes' garbage collector delete it with the last of them. The move
/// always moves a whole namespace, so a shared Secret moves with every
/// cluster that uses it.
#[must_use]
pub fn credentials_move_labels(
    labels: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    if labels.contains_key(CLUSTERCTL_MOVE_LABEL) {
        return None;
    }
    Some(BTreeMap::from([(
        CLUSTERCTL_MOVE_LABEL.to_owned(),
        String::new(),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ips: &[&str]) -> BTreeSet<String> {
        ips.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dns_never_emptied_and_only_written_on_change() {
        assert_eq!(desired_dns_ips(&set(&[]), &set(&["10.0.0.1"])), None);
        assert_eq!(desired_dns_ips(&set(&[]), &set(&[])), None);
        assert_eq!(
            desired_dns_ips(&set(&["10.0.0.1"]), &set(&["10.0.0.1"])),
            None
        );
        assert_eq!(
            desired_dns_ips(&set(&["10.0.0.2"]), &set(&["10.0.0.1"])),
            Some(vec!["10.0.0.2".to_owned()])
        );
        assert_eq!(
            desired_dns_ips(&set(&["10.0.0.1", "10.0.0.2"]), &set(&[])),
            Some(vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()])
        );
    }

    fn rec(id: i64, ips: &[&str], txt: &[&str]) -> DnsRecordView {
        DnsRecordView {
            id,
            ips: set(ips),
            txt: txt.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn inputs<'a>(
        namespace: &'a str,
        record: Option<&'a DnsRecordView>,
        ready: &'a BTreeSet<String>,
    ) -> DnsInputs<'a> {
        DnsInputs {
            namespace,
            cluster: "c1",
            fqdn: "c1.maas",
            endpoint_host: None,
            status_dns_name: None,
            record,
            ready,
            deleting: false,
        }
    }

    #[test]
    fn owner_markers_name_namespace_and_cluster_only() {
        assert_eq!(
            dns_owner_marker("team-a", "c1"),
            "capmaas-cluster=team-a/c1"
        );
        assert_eq!(dns_owner_of("capmaas-cluster=team-a/c1"), Some("team-a/c1"));
        assert_eq!(
            dns_owner_of("\"capmaas-cluster=team-a/c1\""),
            Some("team-a/c1")
        );
        for not_a_marker in [
            "v=spf1 -all",
            "capmaas-cluster=",
            "capmaas-cluster=team-a",
            "capmaas-cluster=/c1",
            "capmaas-cluster=a/b/c",
            "capmaas-cluster=a/b c",
        ] {
            assert_eq!(dns_owner_of(not_a_marker), None, "{not_a_marker}");
        }
    }

    #[test]
    fn two_clusters_of_one_name_in_two_namespaces_never_share_the_record() {
        let ready = set(&["10.0.0.1"]);
        // team-a creates it.
        let plan = decide_dns(&inputs("team-a", None, &ready));
        let DnsPlan::Create { marker, ips } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!(marker, "capmaas-cluster=team-a/c1");
        assert_eq!(ips, vec!["10.0.0.1".to_owned()]);
        let record = rec(7, &["10.0.0.1"], &[&marker]);
        // team-b's c1 sees it and leaves it alone, with its new IPs too.
        let other_ready = set(&["10.0.9.9"]);
        let b = inputs("team-b", Some(&record), &other_ready);
        assert_eq!(
            decide_dns(&b),
            DnsPlan::NotOurs {
                owner: Some("team-a/c1".into())
            }
        );
        assert_eq!(
            decide_dns(&DnsInputs {
                deleting: true,
                ..b
            }),
            DnsPlan::NothingToDelete,
            "deleting team-b's cluster never deletes team-a's endpoint"
        );
        // Even with team-b's status claiming the name (a restored backup).
        assert!(matches!(
            decide_dns(&DnsInputs {
                status_dns_name: Some("c1.maas"),
                endpoint_host: Some("c1.maas"),
                ..b
            }),
            DnsPlan::NotOurs { owner: Some(_) }
        ));
        assert_eq!(
            decide_dns(&inputs("team-a", Some(&record), &ready)),
            DnsPlan::InSync {
                ips: vec!["10.0.0.1".into()]
            }
        );
    }

    #[test]
    fn a_record_that_was_there_before_is_never_taken_over() {
        let ready = set(&["10.0.0.1"]);
        let theirs = rec(3, &["192.0.2.10"], &["v=spf1 -all"]);
        let i = inputs("team-a", Some(&theirs), &ready);
        assert_eq!(decide_dns(&i), DnsPlan::NotOurs { owner: None });
        assert_eq!(
            decide_dns(&DnsInputs {
                deleting: true,
                ..i
            }),
            DnsPlan::NothingToDelete
        );
        // The user pointed the endpoint at it: theirs, left alone.
        assert_eq!(
            decide_dns(&DnsInputs {
                endpoint_host: Some("c1.maas"),
                ..i
            }),
            DnsPlan::UserEndpoint {
                foreign_record: true
            }
        );
        // Another host entirely: no DNS at all.
        assert_eq!(
            decide_dns(&DnsInputs {
                endpoint_host: Some("lb.example.com"),
                ..i
            }),
            DnsPlan::UserEndpoint {
                foreign_record: false
            }
        );
        let lb = Some("lb.example.com");
        assert!(!dns_needs_lookup(lb, None, "c1.maas", false));
        assert!(!dns_needs_lookup(lb, None, "c1.maas", true));
        assert!(dns_needs_lookup(Some("c1.maas"), None, "c1.maas", false));
        assert!(dns_needs_lookup(None, None, "c1.maas", false));
        // Deleting: only what our status or endpoint names.
        assert!(dns_needs_lookup(Some("c1.maas"), None, "c1.maas", true));
        assert!(dns_needs_lookup(None, Some("c1.maas"), "c1.maas", true));
        assert!(!dns_needs_lookup(None, None, "c1.maas", true));
    }

    #[test]
    fn status_lost_or_moved_the_marker_keeps_the_record_managed() {
        // After `clusterctl move` (or any status loss) the spec keeps the
        // endpoint we set, the status is empty, the uids are new.
        let record = rec(7, &["10.0.0.1"], &["capmaas-cluster=team-a/c1"]);
        let ready = set(&["10.0.0.2", "10.0.0.3"]);
        let moved = DnsInputs {
            endpoint_host: Some("c1.maas"),
            status_dns_name: None,
            ..inputs("team-a", Some(&record), &ready)
        };
        assert_eq!(
            decide_dns(&moved),
            DnsPlan::Update {
                id: 7,
                ips: vec!["10.0.0.2".into(), "10.0.0.3".into()]
            },
            "the next rollout's addresses still reach the record"
        );
        assert_eq!(
            decide_dns(&DnsInputs {
                deleting: true,
                ..moved
            }),
            DnsPlan::Delete { id: 7 },
            "and the record goes with the cluster"
        );
        // Nothing ready yet after the move: the record is not emptied.
        let none = set(&[]);
        assert_eq!(
            decide_dns(&DnsInputs {
                ready: &none,
                ..moved
            }),
            DnsPlan::InSync {
                ips: vec!["10.0.0.1".into()]
            }
        );
        // Status lost and the record gone: the endpoint reads as the user's
        // (nothing says the name is ours to create).
        assert_eq!(
            decide_dns(&DnsInputs {
                record: None,
                ..moved
            }),
            DnsPlan::UserEndpoint {
                foreign_record: false
            }
        );
        // With our status, a deleted record is created again.
        assert!(matches!(
            decide_dns(&DnsInputs {
                record: None,
                status_dns_name: Some("c1.maas"),
                ..moved
            }),
            DnsPlan::Create { .. }
        ));
    }

    #[test]
    fn a_record_from_before_markers_is_marked_when_our_status_names_it() {
        let old = rec(5, &["10.0.0.1"], &[]);
        let ready = set(&["10.0.0.1"]);
        let i = DnsInputs {
            endpoint_host: Some("c1.maas"),
            status_dns_name: Some("c1.maas"),
            ..inputs("team-a", Some(&old), &ready)
        };
        assert_eq!(
            decide_dns(&i),
            DnsPlan::Mark {
                id: 5,
                marker: "capmaas-cluster=team-a/c1".into(),
                ips: None
            }
        );
        assert_eq!(
            decide_dns(&DnsInputs {
                deleting: true,
                ..i
            }),
            DnsPlan::Delete { id: 5 }
        );
        // Our marker next to another cluster's: nobody's we can prove.
        let both = rec(
            5,
            &[],
            &["capmaas-cluster=team-a/c1", "capmaas-cluster=team-b/c1"],
        );
        assert!(matches!(
            dns_ownership(&both, "team-a", "c1", true),
            DnsOwnership::NotOurs { .. }
        ));
    }

    #[test]
    fn the_move_label_is_added_once_whatever_its_value() {
        let mut labels = BTreeMap::from([("team".to_owned(), "infra".to_owned())]);
        let add = credentials_move_labels(&labels).unwrap();
        assert_eq!(add.len(), 1);
        assert_eq!(add.get(CLUSTERCTL_MOVE_LABEL).map(String::as_str), Some(""));
        labels.extend(add);
        assert_eq!(credentials_move_labels(&labels), None);
        let set_by_user = BTreeMap::from([(CLUSTERCTL_MOVE_LABEL.to_owned(), "yes".to_owned())]);
        assert_eq!(credentials_move_labels(&set_by_user), None);
    }

    #[test]
    fn the_clusters_port_wins_and_6443_is_the_default() {
        assert_eq!(api_server_port(Some(8443), DEFAULT_API_SERVER_PORT), 8443);
        assert_eq!(api_server_port(None, DEFAULT_API_SERVER_PORT), 6443);
        assert_eq!(api_server_port(None, 7443), 7443);
        for bad in [0, -1, 65536] {
            assert_eq!(api_server_port(Some(bad), 6443), 6443, "{bad}");
        }
    }
}
