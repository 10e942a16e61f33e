//! Static IPs on a machine's boot interface (`spec.staticIP`): which
//! interface, which subnet, which links to add and remove — pure planning
//! for [`crate::Action::LinkStaticIp`] and [`crate::Action::UnlinkStaticIp`].
//! The controller reads the machine's interfaces and MAAS's subnets into the
//! views below, calls [`plan_link`] or [`plan_unlink`] and executes the
//! [`LinkStep`]s in order.
//!
//! * Linking: a STATIC link of the boot interface to the subnet (given by id
//!   or CIDR, else the most specific one containing the address), then the
//!   removal of the interface's AUTO/DHCP links on that subnet, so the
//!   machine deploys with the one address. The STATIC link comes first: when
//!   MAAS refuses it (address in use, in a dynamic range ...) nothing has
//!   changed. Already linked: only the removals remain (idempotent).
//! * Unlinking: the removal of every STATIC link holding the address, then,
//!   when its interface is left without AUTO/DHCP link, an AUTO link on the
//!   same subnet (best effort), so the next user of the machine gets an
//!   address as commissioning set it up.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

use crate::action::StaticIpRequest;

/// How an interface link gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// `auto`: an address is picked at deploy time.
    Auto,
    /// `dhcp`.
    Dhcp,
    /// `static`: a fixed address; survives release.
    Static,
    /// `link_up` or anything else: no address of ours.
    Other,
}

impl LinkKind {
    /// AUTO or DHCP: the links a static address replaces.
    #[must_use]
    pub fn is_dynamic(self) -> bool {
        matches!(self, LinkKind::Auto | LinkKind::Dhcp)
    }
}

/// One link of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// Link id (for unlinking).
    pub id: i64,
    /// Its kind.
    pub kind: LinkKind,
    /// The address, as MAAS printed it (`None`: none).
    pub address: Option<String>,
    /// The subnet's id (`None`: not linked to a subnet).
    pub subnet: Option<i64>,
}

/// One interface of a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    /// Interface id.
    pub id: i64,
    /// Its name (`eth0`), for logs.
    pub name: String,
    /// Its links.
    pub links: Vec<LinkView>,
}

/// A machine's interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfacesView {
    /// `interface_set` (carries the current links).
    pub interfaces: Vec<InterfaceView>,
    /// `boot_interface` when MAAS names one (its links may be a stale copy:
    /// the entry of [`Self::interfaces`] with the same id wins).
    pub boot: Option<InterfaceView>,
}

/// One MAAS subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetView {
    /// Subnet id.
    pub id: i64,
    /// Its CIDR as MAAS printed it (`10.0.0.0/24`).
    pub cidr: String,
}

/// An interface named in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceRef {
    /// Interface id.
    pub id: i64,
    /// Its name, for logs.
    pub name: String,
}

/// One MAAS call of a static-IP plan, executed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStep {
    /// `op=link_subnet mode=STATIC subnet=<id> ip_address=<address>`.
    LinkStatic {
        /// The interface.
        interface: InterfaceRef,
        /// The subnet's id.
        subnet: i64,
        /// The subnet's CIDR, for logs.
        cidr: String,
        /// The address.
        address: IpAddr,
    },
    /// `op=unlink_subnet id=<link>`.
    Unlink {
        /// The interface.
        interface: InterfaceRef,
        /// The link's id.
        link: i64,
        /// What the link was.
        kind: LinkKind,
    },
    /// `op=link_subnet mode=AUTO subnet=<id>`. Best effort: if it fails the
    /// address is free all the same; warn and go on.
    RestoreAuto {
        /// The interface.
        interface: InterfaceRef,
        /// The subnet's id.
        subnet: i64,
    },
}

/// Network and broadcast addresses: MAAS links them, but no host can use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedAddress {
    /// The subnet's first address.
    Network,
    /// The last address of an IPv4 subnet.
    Broadcast,
}

impl fmt::Display for ReservedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReservedAddress::Network => "network",
            ReservedAddress::Broadcast => "broadcast",
        })
    }
}

/// Why a static-IP request cannot be carried out as specified. Terminal:
/// only a spec change (or a MAAS change) fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StaticIpInvalid {
    /// `spec.staticIP.address` is not an address.
    #[error("{0:?} is not an IP address")]
    NotAnAddress(String),
    /// The machine has no interface.
    #[error("machine {0} has no boot interface")]
    NoBootInterface(String),
    /// No MAAS subnet has the id or CIDR given.
    #[error("MAAS has no subnet {0}")]
    NoSuchSubnet(String),
    /// No MAAS subnet contains the address.
    #[error("no MAAS subnet contains {0}")]
    NoSubnetContains(IpAddr),
    /// The address is the subnet's network or broadcast address.
    #[error("{address} is the {what} address of MAAS subnet {cidr}; pick a host address in it")]
    Reserved {
        /// The address.
        address: IpAddr,
        /// Which one it is.
        what: ReservedAddress,
        /// The subnet.
        cidr: String,
    },
}

fn net(cidr: &str) -> Option<IpNet> {
    cidr.trim().parse().ok()
}

/// Whether `cidr` (`10.0.0.0/24`, `fd00::/64`) contains `ip`; false for
/// anything that is not a CIDR.
#[must_use]
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    net(cidr).is_some_and(|n| n.contains(&ip))
}

/// Whether `ip` is the network or broadcast address of `cidr` (IPv4 up to
/// /30; IPv6 up to /126, network only). Admission can only see this when the
/// spec gives the CIDR; here the subnet comes from MAAS.
#[must_use]
pub fn reserved_address(cidr: &str, ip: IpAddr) -> Option<ReservedAddress> {
    let n = net(cidr)?;
    if !n.contains(&ip) {
        return None;
    }
    match n {
        IpNet::V4(v4) if v4.prefix_len() <= 30 => {
            if IpAddr::V4(v4.network()) == ip {
                Some(ReservedAddress::Network)
            } else if IpAddr::V4(v4.broadcast()) == ip {
                Some(ReservedAddress::Broadcast)
            } else {
                None
            }
        }
        IpNet::V6(v6) if v6.prefix_len() <= 126 => {
            (IpAddr::V6(v6.network()) == ip).then_some(ReservedAddress::Network)
        }
        _ => None,
    }
}

/// The subnet `spec` names (an id or a CIDR, written as MAAS writes it) or,
/// when `None` or empty, the one that contains `address` (the most specific
/// when several do).
///
/// # Errors
/// [`StaticIpInvalid::NoSuchSubnet`] or [`StaticIpInvalid::NoSubnetContains`].
pub fn pick_subnet<'a>(
    subnets: &'a [SubnetView],
    spec: Option<&str>,
    address: IpAddr,
) -> Result<&'a SubnetView, StaticIpInvalid> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let found = match s.parse::<i64>() {
                Ok(id) => subnets.iter().find(|n| n.id == id),
                Err(_) => {
                    let want = net(s);
                    subnets
                        .iter()
                        .find(|n| want.is_some() && net(&n.cidr) == want)
                }
            };
            found.ok_or_else(|| StaticIpInvalid::NoSuchSubnet(s.to_owned()))
        }
        None => subnets
            .iter()
            .filter_map(|n| Some((net(&n.cidr)?, n)))
            .filter(|(c, _)| c.contains(&address))
            .max_by_key(|(c, _)| c.prefix_len())
            .map(|(_, n)| n)
            .ok_or(StaticIpInvalid::NoSubnetContains(address)),
    }
}

fn parse_address(address: &str) -> Result<IpAddr, StaticIpInvalid> {
    address
        .trim()
        .parse()
        .map_err(|_| StaticIpInvalid::NotAnAddress(address.to_owned()))
}

fn holds(l: &LinkView, address: IpAddr) -> bool {
    l.kind == LinkKind::Static
        && l.address.as_deref().and_then(|a| a.trim().parse().ok()) == Some(address)
}

fn iface_ref(i: &InterfaceView) -> InterfaceRef {
    InterfaceRef {
        id: i.id,
        name: i.name.clone(),
    }
}

/// The boot interface: MAAS's `boot_interface` (with the current links from
/// `interface_set`), else the first interface.
#[must_use]
pub fn boot_interface(m: &InterfacesView) -> Option<&InterfaceView> {
    match &m.boot {
        Some(boot) => Some(
            m.interfaces
                .iter()
                .find(|i| i.id == boot.id)
                .unwrap_or(boot),
        ),
        None => m.interfaces.first(),
    }
}

/// The addresses of every STATIC link (for [`crate::MaasMachineView`]),
/// sorted, without repeats.
#[must_use]
pub fn static_addresses(m: &InterfacesView) -> Vec<String> {
    let mut out: Vec<String> = m
        .interfaces
        .iter()
        .flat_map(|i| i.links.iter())
        .filter(|l| l.kind == LinkKind::Static)
        .filter_map(|l| l.address.clone())
        .filter(|a| !a.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The addresses of STATIC links whose interface still has an AUTO or DHCP
/// link on the same subnet (a replacement [`plan_link`] has not finished).
#[must_use]
pub fn shadowed_static_addresses(m: &InterfacesView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for iface in &m.interfaces {
        for l in iface.links.iter().filter(|l| l.kind == LinkKind::Static) {
            let shadowed = l.subnet.is_some()
                && iface
                    .links
                    .iter()
                    .any(|o| o.kind.is_dynamic() && o.subnet == l.subnet);
            if shadowed && let Some(a) = l.address.clone().filter(|a| !a.is_empty()) {
                out.push(a);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The MAAS calls that link `req.address` STATIC on the machine's boot
/// interface and remove the AUTO/DHCP links it replaces.
///
/// # Errors
/// [`StaticIpInvalid`]: the address, the interface or the subnet is unusable.
pub fn plan_link(
    req: &StaticIpRequest,
    machine: &InterfacesView,
    subnets: &[SubnetView],
) -> Result<Vec<LinkStep>, StaticIpInvalid> {
    let address = parse_address(&req.address)?;
    let iface = boot_interface(machine)
        .ok_or_else(|| StaticIpInvalid::NoBootInterface(req.system_id.clone()))?;
    let subnet = pick_subnet(subnets, req.subnet.as_deref(), address)?;
    if let Some(what) = reserved_address(&subnet.cidr, address) {
        return Err(StaticIpInvalid::Reserved {
            address,
            what,
            cidr: subnet.cidr.clone(),
        });
    }
    let mut steps = Vec::new();
    if !iface.links.iter().any(|l| holds(l, address)) {
        steps.push(LinkStep::LinkStatic {
            interface: iface_ref(iface),
            subnet: subnet.id,
            cidr: subnet.cidr.clone(),
            address,
        });
    }
    steps.extend(
        iface
            .links
            .iter()
            .filter(|l| l.kind.is_dynamic() && l.subnet == Some(subnet.id))
            .map(|l| LinkStep::Unlink {
                interface: iface_ref(iface),
                link: l.id,
                kind: l.kind,
            }),
    );
    Ok(steps)
}

/// The MAAS calls that give `req.address` back: unlink every STATIC link
/// holding it and restore an AUTO link where its interface is left without
/// AUTO/DHCP link. Empty when no link holds the address.
///
/// # Errors
/// [`StaticIpInvalid::NotAnAddress`].
pub fn plan_unlink(
    req: &StaticIpRequest,
    machine: &InterfacesView,
) -> Result<Vec<LinkStep>, StaticIpInvalid> {
    let address = parse_address(&req.address)?;
    let mut steps = Vec::new();
    for iface in &machine.interfaces {
        let Some(link) = iface.links.iter().find(|l| holds(l, address)) else {
            continue;
        };
        steps.push(LinkStep::Unlink {
            interface: iface_ref(iface),
            link: link.id,
            kind: link.kind,
        });
        let has_dynamic = iface
            .links
            .iter()
            .any(|l| l.id != link.id && l.kind.is_dynamic());
        if !has_dynamic && let Some(subnet) = link.subnet {
            steps.push(LinkStep::RestoreAuto {
                interface: iface_ref(iface),
                subnet,
            });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn subnet(id: i64, cidr: &str) -> SubnetView {
        SubnetView {
            id,
            cidr: cidr.into(),
        }
    }

    fn link(id: i64, kind: LinkKind, address: Option<&str>, subnet: i64) -> LinkView {
        LinkView {
            id,
            kind,
            address: address.map(str::to_owned),
            subnet: Some(subnet),
        }
    }

    fn iface(id: i64, links: Vec<LinkView>) -> InterfaceView {
        InterfaceView {
            id,
            name: format!("eth{id}"),
            links,
        }
    }

    fn req(address: &str, subnet: Option<&str>) -> StaticIpRequest {
        StaticIpRequest {
            system_id: "abc123".into(),
            address: address.into(),
            subnet: subnet.map(str::to_owned),
        }
    }

    fn r(id: i64) -> InterfaceRef {
        InterfaceRef {
            id,
            name: format!("eth{id}"),
        }
    }

    #[test]
    fn network_and_broadcast_addresses_are_found() {
        use ReservedAddress::{Broadcast, Network};
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.0.0.0")),
            Some(Network)
        );
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.0.0.255")),
            Some(Broadcast)
        );
        assert_eq!(reserved_address("10.0.0.0/23", ip("10.0.0.255")), None);
        assert_eq!(
            reserved_address("10.0.0.0/23", ip("10.0.1.255")),
            Some(Broadcast)
        );
        assert_eq!(reserved_address("10.0.0.0/31", ip("10.0.0.0")), None);
        assert_eq!(reserved_address("10.0.0.0/24", ip("10.0.0.20")), None);
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.1.0.0")),
            None,
            "not in it"
        );
        assert_eq!(reserved_address("fd00::/64", ip("fd00::")), Some(Network));
        assert_eq!(reserved_address("fd00::/64", ip("fd00::ffff")), None);
        assert_eq!(reserved_address("fd00::/128", ip("fd00::")), None);
        assert_eq!(reserved_address("garbage", ip("10.0.0.0")), None);
    }

    #[test]
    fn cidrs_contain_their_addresses() {
        assert!(cidr_contains("10.0.0.0/24", ip("10.0.0.20")));
        assert!(!cidr_contains("10.0.0.0/24", ip("10.0.1.20")));
        assert!(cidr_contains("0.0.0.0/0", ip("192.0.2.1")));
        assert!(cidr_contains("fd00::/64", ip("fd00::20")));
        assert!(!cidr_contains("fd00::/64", ip("fd01::20")));
        assert!(!cidr_contains("10.0.0.0/24", ip("fd00::20")));
        assert!(!cidr_contains("garbage", ip("10.0.0.1")));
        assert!(!cidr_contains("10.0.0.0/33", ip("10.0.0.1")));
        assert!(
            cidr_contains(" 10.0.0.0/24 ", ip("10.0.0.1")),
            "MAAS's spacing"
        );
    }

    #[test]
    fn subnets_are_picked_by_id_cidr_or_address() {
        let all = vec![
            subnet(1, "10.0.0.0/16"),
            subnet(2, "10.0.5.0/24"),
            subnet(3, "not a cidr"),
        ];
        let a = ip("10.0.5.9");
        assert_eq!(pick_subnet(&all, None, a).unwrap().id, 2, "most specific");
        assert_eq!(
            pick_subnet(&all, Some(" "), a).unwrap().id,
            2,
            "blank is none"
        );
        assert_eq!(pick_subnet(&all, Some("1"), a).unwrap().id, 1);
        assert_eq!(pick_subnet(&all, Some("10.0.0.0/16"), a).unwrap().id, 1);
        let err = pick_subnet(&all, Some("7"), a).unwrap_err();
        assert_eq!(err.to_string(), "MAAS has no subnet 7");
        let err = pick_subnet(&all, Some("not a cidr"), a).unwrap_err();
        assert_eq!(err, StaticIpInvalid::NoSuchSubnet("not a cidr".into()));
        let err = pick_subnet(&all, None, ip("192.0.2.1")).unwrap_err();
        assert_eq!(err.to_string(), "no MAAS subnet contains 192.0.2.1");
    }

    #[test]
    fn static_links_are_reported_and_shadowed_until_the_auto_link_is_gone() {
        let mut m = InterfacesView {
            interfaces: vec![
                iface(
                    1,
                    vec![
                        link(10, LinkKind::Static, Some("10.0.7.20"), 1),
                        link(11, LinkKind::Auto, None, 1),
                    ],
                ),
                iface(
                    2,
                    vec![
                        link(12, LinkKind::Static, Some("10.1.0.5"), 2),
                        link(13, LinkKind::Auto, None, 3),
                        link(14, LinkKind::Static, Some(""), 2),
                    ],
                ),
            ],
            boot: None,
        };
        assert_eq!(static_addresses(&m), vec!["10.0.7.20", "10.1.0.5"]);
        assert_eq!(shadowed_static_addresses(&m), vec!["10.0.7.20"]);
        m.interfaces[0].links.retain(|l| l.kind != LinkKind::Auto);
        assert!(shadowed_static_addresses(&m).is_empty());
    }

    #[test]
    fn linking_adds_the_static_link_first_then_removes_what_it_replaces() {
        let m = InterfacesView {
            interfaces: vec![
                iface(
                    1,
                    vec![
                        link(10, LinkKind::Auto, None, 2),
                        link(11, LinkKind::Dhcp, None, 2),
                        link(12, LinkKind::Auto, None, 1),
                    ],
                ),
                iface(2, vec![link(20, LinkKind::Auto, None, 2)]),
            ],
            boot: None,
        };
        let subnets = [subnet(1, "10.0.0.0/16"), subnet(2, "10.0.5.0/24")];
        let steps = plan_link(&req("10.0.5.9", None), &m, &subnets).unwrap();
        assert_eq!(
            steps,
            [
                LinkStep::LinkStatic {
                    interface: r(1),
                    subnet: 2,
                    cidr: "10.0.5.0/24".into(),
                    address: ip("10.0.5.9"),
                },
                LinkStep::Unlink {
                    interface: r(1),
                    link: 10,
                    kind: LinkKind::Auto
                },
                LinkStep::Unlink {
                    interface: r(1),
                    link: 11,
                    kind: LinkKind::Dhcp
                },
            ]
        );
    }

    #[test]
    fn linking_again_only_finishes_the_removals() {
        let mut m = InterfacesView {
            interfaces: vec![iface(
                1,
                vec![
                    link(10, LinkKind::Static, Some("10.0.5.9"), 2),
                    link(11, LinkKind::Auto, None, 2),
                ],
            )],
            boot: None,
        };
        let subnets = [subnet(2, "10.0.5.0/24")];
        let steps = plan_link(&req("10.0.5.9", Some("2")), &m, &subnets).unwrap();
        assert_eq!(
            steps,
            [LinkStep::Unlink {
                interface: r(1),
                link: 11,
                kind: LinkKind::Auto
            }]
        );
        m.interfaces[0].links.pop();
        assert!(
            plan_link(&req("10.0.5.9", None), &m, &subnets)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_boot_interface_is_used_with_its_current_links() {
        let m = InterfacesView {
            interfaces: vec![
                iface(1, vec![]),
                iface(2, vec![link(21, LinkKind::Auto, None, 2)]),
            ],
            // A stale copy without links.
            boot: Some(iface(2, vec![])),
        };
        let subnets = [subnet(2, "10.0.5.0/24")];
        let steps = plan_link(&req("10.0.5.9", None), &m, &subnets).unwrap();
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|s| match s {
            LinkStep::LinkStatic { interface, .. } | LinkStep::Unlink { interface, .. } =>
                interface.id == 2,
            LinkStep::RestoreAuto { .. } => false,
        }));
        // Only a boot_interface: it is used as it is.
        let only_boot = InterfacesView {
            interfaces: vec![],
            boot: Some(iface(3, vec![])),
        };
        assert_eq!(boot_interface(&only_boot).map(|i| i.id), Some(3));
    }

    #[test]
    fn unusable_requests_are_refused_before_any_call() {
        let m = InterfacesView {
            interfaces: vec![iface(1, vec![])],
            boot: None,
        };
        let subnets = [subnet(2, "10.0.5.0/24")];
        assert_eq!(
            plan_link(&req("10.0.5.x", None), &m, &subnets).unwrap_err(),
            StaticIpInvalid::NotAnAddress("10.0.5.x".into())
        );
        assert_eq!(
            plan_link(&req("10.0.5.9", None), &InterfacesView::default(), &subnets)
                .unwrap_err()
                .to_string(),
            "machine abc123 has no boot interface"
        );
        assert_eq!(
            plan_link(&req("10.0.5.255", None), &m, &subnets)
                .unwrap_err()
                .to_string(),
            "10.0.5.255 is the broadcast address of MAAS subnet 10.0.5.0/24; pick a host address in it"
        );
        assert_eq!(
            plan_link(&req("192.0.2.1", None), &m, &subnets).unwrap_err(),
            StaticIpInvalid::NoSubnetContains(ip("192.0.2.1"))
        );
        assert!(plan_unlink(&req("nope", None), &m).is_err());
    }

    #[test]
    fn unlinking_restores_an_auto_link_only_where_none_is_left() {
        let m = InterfacesView {
            interfaces: vec![
                iface(1, vec![link(10, LinkKind::Static, Some("10.0.5.9"), 2)]),
                iface(
                    2,
                    vec![
                        link(20, LinkKind::Static, Some("10.0.5.9"), 2),
                        link(21, LinkKind::Dhcp, None, 3),
                    ],
                ),
                iface(3, vec![link(30, LinkKind::Static, Some("10.0.5.10"), 2)]),
            ],
            boot: None,
        };
        let steps = plan_unlink(&req("10.0.5.9", None), &m).unwrap();
        assert_eq!(
            steps,
            [
                LinkStep::Unlink {
                    interface: r(1),
                    link: 10,
                    kind: LinkKind::Static
                },
                LinkStep::RestoreAuto {
                    interface: r(1),
                    subnet: 2
                },
                LinkStep::Unlink {
                    interface: r(2),
                    link: 20,
                    kind: LinkKind::Static
                },
            ]
        );
        assert!(plan_unlink(&req("10.0.5.99", None), &m).unwrap().is_empty());
    }
}
