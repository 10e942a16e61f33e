//! Static IPs on a machine's boot interface (`spec.staticIP`): the MAAS
//! side of `LinkStaticIp` and `UnlinkStaticIp`.
//!
//! Linking (machine Allocated, ours): `op=link_subnet mode=STATIC` of the
//! boot interface to the subnet (given, or the one containing the address)
//! with the address, then `op=unlink_subnet` of the interface's AUTO/DHCP
//! links on that subnet, so the machine deploys with the one address. The
//! STATIC link comes first: when MAAS refuses it (address in use, not in the
//! subnet, in a dynamic range) nothing has changed.
//!
//! Unlinking (machine released, back in the free pool): `op=unlink_subnet`
//! of the STATIC link holding the address, then an AUTO link on the same
//! subnet when the interface is left without AUTO/DHCP link, as
//! commissioning sets it up, so the next user of the machine gets an
//! address as before.
//!
//! Both need a MAAS administrator's key (MAAS checks the admin permission
//! on interface links of machines).

use std::net::IpAddr;

use maas_api::{Interface, LinkMode, LinkSubnetParams, MaasApi, Machine, Subnet};
use machine_lifecycle as lc;

/// Why a static IP operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StaticIpError {
    /// MAAS answered with an error (displayed redacted).
    #[error("{}", crate::error::redact_maas_text(&.0.to_string()))]
    Maas(#[from] maas_api::Error),
    /// The request cannot be carried out as specified (no such subnet ...).
    #[error("{0}")]
    Invalid(String),
}

impl StaticIpError {
    /// The lifecycle's class of this error.
    #[must_use]
    pub fn class(&self) -> lc::ErrorClass {
        match self {
            StaticIpError::Maas(e) => crate::error::lifecycle_class(e),
            StaticIpError::Invalid(_) => lc::ErrorClass::Permanent,
        }
    }
}

/// Whether `cidr` (`10.0.0.0/24`, `fd00::/64`) contains `ip`.
#[must_use]
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.trim().split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// `"network"` or `"broadcast"` when `ip` is that address of `cidr` (IPv4 up
/// to /30; IPv6 up to /126, network only): MAAS links such an address, but
/// no host can use it. Admission can only see this when the spec gives the
/// CIDR; here the subnet comes from MAAS.
#[must_use]
pub fn reserved_address(cidr: &str, ip: IpAddr) -> Option<&'static str> {
    let (_, len) = cidr.trim().split_once('/')?;
    let len: u32 = len.parse().ok()?;
    if !cidr_contains(cidr, ip) {
        return None;
    }
    match ip {
        IpAddr::V4(a) if len <= 30 => {
            let host = u32::MAX.checked_shr(len).unwrap_or(0);
            match u32::from(a) & host {
                0 => Some("network"),
                h if h == host => Some("broadcast"),
                _ => None,
            }
        }
        IpAddr::V6(a) if len <= 126 => {
            let host = u128::MAX.checked_shr(len).unwrap_or(0);
            (u128::from(a) & host == 0).then_some("network")
        }
        _ => None,
    }
}

fn same_cidr(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> Option<(IpAddr, u32)> {
        let (n, l) = s.trim().split_once('/')?;
        Some((n.parse().ok()?, l.parse().ok()?))
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The subnet `spec` names (an id or a CIDR) or, when `None`, the one that
/// contains `address` (the most specific when several do).
///
/// # Errors
/// [`StaticIpError::Invalid`] when no subnet matches.
pub fn pick_subnet<'a>(
    subnets: &'a [Subnet],
    spec: Option<&str>,
    address: IpAddr,
) -> Result<&'a Subnet, StaticIpError> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let found = match s.parse::<i64>() {
                Ok(id) => subnets.iter().find(|n| n.id == id),
                Err(_) => subnets.iter().find(|n| same_cidr(&n.cidr, s)),
            };
            found.ok_or_else(|| StaticIpError::Invalid(format!("MAAS has no subnet {s}")))
        }
        None => subnets
            .iter()
            .filter(|n| cidr_contains(&n.cidr, address))
            .max_by_key(|n| {
                n.cidr
                    .split_once('/')
                    .and_then(|(_, l)| l.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .ok_or_else(|| StaticIpError::Invalid(format!("no MAAS subnet contains {address}"))),
    }
}

fn parse_address(address: &str) -> Result<IpAddr, StaticIpError> {
    address
        .trim()
        .parse()
        .map_err(|_| StaticIpError::Invalid(format!("{address:?} is not an IP address")))
}

fn link_subnet_id(l: &maas_api::Link) -> Option<i64> {
    l.subnet.as_ref().map(|s| s.id)
}

fn holds(l: &maas_api::Link, address: IpAddr) -> bool {
    l.mode.eq_ignore_ascii_case("static")
        && l.ip_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            == Some(address)
}

/// The boot interface (MAAS's `boot_interface`, else the first interface).
fn boot_interface(m: &Machine) -> Option<Interface> {
    match &m.boot_interface {
        // interface_set carries the current links; boot_interface may be a copy.
        Some(boot) => Some(
            m.interface_set
                .iter()
                .find(|i| i.id == boot.id)
                .cloned()
                .unwrap_or_else(|| boot.clone()),
        ),
        None => m.interface_set.first().cloned(),
    }
}

/// The addresses of every STATIC link of `m` (for the lifecycle's view).
#[must_use]
pub fn static_addresses(m: &Machine) -> Vec<String> {
    let mut out: Vec<String> = m
        .interface_set
        .iter()
        .flat_map(|i| i.links.iter())
        .filter(|l| l.mode.eq_ignore_ascii_case("static"))
        .filter_map(|l| l.ip_address.clone())
        .filter(|a| !a.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The addresses of STATIC links whose interface still has an AUTO or DHCP
/// link on the same subnet (a replacement [`link`] has not finished).
#[must_use]
pub fn shadowed_static_addresses(m: &Machine) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for iface in &m.interface_set {
        for l in iface
            .links
            .iter()
            .filter(|l| l.mode.eq_ignore_ascii_case("static"))
        {
            let shadowed = iface.links.iter().any(|o| {
                (o.mode.eq_ignore_ascii_case("auto") || o.mode.eq_ignore_ascii_case("dhcp"))
                    && link_subnet_id(o).is_some()
                    && link_subnet_id(o) == link_subnet_id(l)
            });
            if shadowed && let Some(a) = l.ip_address.clone().filter(|a| !a.is_empty()) {
                out.push(a);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Links `req.address` STATIC on the boot interface of `req.system_id`,
/// replacing its AUTO/DHCP links on that subnet. Idempotent.
///
/// # Errors
/// MAAS's error (its message says why an address is refused), or
/// [`StaticIpError::Invalid`].
pub async fn link(api: &dyn MaasApi, req: &lc::StaticIpRequest) -> Result<Machine, StaticIpError> {
    let address = parse_address(&req.address)?;
    let machine = api.read_machine(&req.system_id).await?;
    let iface = boot_interface(&machine).ok_or_else(|| {
        StaticIpError::Invalid(format!("machine {} has no boot interface", req.system_id))
    })?;
    let subnets = api.list_subnets().await?;
    let subnet = pick_subnet(&subnets, req.subnet.as_deref(), address)?;
    if let Some(what) = reserved_address(&subnet.cidr, address) {
        return Err(StaticIpError::Invalid(format!(
            "{address} is the {what} address of MAAS subnet {}; pick a host address in it",
            subnet.cidr
        )));
    }
    if !iface.links.iter().any(|l| holds(l, address)) {
        let params = LinkSubnetParams {
            mode: LinkMode::Static,
            subnet: Some(subnet.id.to_string()),
            ip_address: Some(address.to_string()),
            ..LinkSubnetParams::default()
        };
        api.link_subnet(&req.system_id, iface.id, &params).await?;
        tracing::info!(system_id = %req.system_id, interface = %iface.name, address = %address, subnet = %subnet.cidr, "linked static IP");
    }
    for l in iface.links.iter().filter(|l| {
        (l.mode.eq_ignore_ascii_case("auto") || l.mode.eq_ignore_ascii_case("dhcp"))
            && link_subnet_id(l) == Some(subnet.id)
    }) {
        api.unlink_subnet(&req.system_id, iface.id, l.id).await?;
        tracing::info!(system_id = %req.system_id, interface = %iface.name, mode = %l.mode, "removed the link the static IP replaces");
    }
    Ok(api.read_machine(&req.system_id).await?)
}

/// Removes the STATIC link holding `req.address` from `req.system_id` and,
/// when its interface is left without AUTO/DHCP link, links it AUTO to the
/// same subnet. Nothing to do when no link holds the address.
///
/// # Errors
/// MAAS's error, or [`StaticIpError::Invalid`].
pub async fn unlink(
    api: &dyn MaasApi,
    req: &lc::StaticIpRequest,
) -> Result<Machine, StaticIpError> {
    let address = parse_address(&req.address)?;
    let machine = api.read_machine(&req.system_id).await?;
    for iface in &machine.interface_set {
        let Some(link) = iface.links.iter().find(|l| holds(l, address)) else {
            continue;
        };
        api.unlink_subnet(&req.system_id, iface.id, link.id).await?;
        tracing::info!(system_id = %req.system_id, interface = %iface.name, address = %address, "unlinked static IP");
        let has_auto = iface.links.iter().any(|l| {
            l.id != link.id
                && (l.mode.eq_ignore_ascii_case("auto") || l.mode.eq_ignore_ascii_case("dhcp"))
        });
        if !has_auto && let Some(subnet) = link_subnet_id(link) {
            let params = LinkSubnetParams {
                mode: LinkMode::Auto,
                subnet: Some(subnet.to_string()),
                ..LinkSubnetParams::default()
            };
            if let Err(e) = api.link_subnet(&req.system_id, iface.id, &params).await {
                // The address is free either way; the interface lacks an
                // AUTO link until an administrator adds one.
                tracing::warn!(system_id = %req.system_id, interface = %iface.name, error = %crate::error::redact_maas_text(&e.to_string()), "could not restore the AUTO link");
            }
        }
    }
    Ok(api.read_machine(&req.system_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: i64, cidr: &str) -> Subnet {
        Subnet {
            id,
            cidr: cidr.into(),
            ..Subnet::default()
        }
    }

    #[test]
    fn network_and_broadcast_addresses_are_found() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.0.0.0")),
            Some("network")
        );
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.0.0.255")),
            Some("broadcast")
        );
        assert_eq!(reserved_address("10.0.0.0/23", ip("10.0.0.255")), None);
        assert_eq!(
            reserved_address("10.0.0.0/23", ip("10.0.1.255")),
            Some("broadcast")
        );
        assert_eq!(reserved_address("10.0.0.0/31", ip("10.0.0.0")), None);
        assert_eq!(reserved_address("10.0.0.0/24", ip("10.0.0.20")), None);
        assert_eq!(
            reserved_address("10.0.0.0/24", ip("10.1.0.0")),
            None,
            "not in it"
        );
        assert_eq!(reserved_address("fd00::/64", ip("fd00::")), Some("network"));
        assert_eq!(reserved_address("fd00::/64", ip("fd00::ffff")), None);
        assert_eq!(reserved_address("fd00::/128", ip("fd00::")), None);
    }

    #[test]
    fn cidrs_contain_their_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains("10.0.0.0/24", ip("10.0.0.20")));
        assert!(!cidr_contains("10.0.0.0/24", ip("10.0.1.20")));
        assert!(cidr_contains("0.0.0.0/0", ip("192.0.2.1")));
        assert!(cidr_contains("fd00::/64", ip("fd00::20")));
        assert!(!cidr_contains("fd00::/64", ip("fd01::20")));
        assert!(!cidr_contains("10.0.0.0/24", ip("fd00::20")));
        assert!(!cidr_contains("garbage", ip("10.0.0.1")));
        assert!(!cidr_contains("10.0.0.0/33", ip("10.0.0.1")));
    }

    fn link(id: i64, mode: &str, ip: Option<&str>, subnet_id: i64) -> maas_api::Link {
        maas_api::Link {
            id,
            mode: mode.into(),
            ip_address: ip.map(str::to_owned),
            subnet: Some(subnet(subnet_id, "10.0.0.0/16")),
        }
    }

    #[test]
    fn static_links_are_reported_and_shadowed_until_the_auto_link_is_gone() {
        let mut m = Machine::default();
        m.interface_set.push(Interface {
            id: 1,
            links: vec![
                link(10, "static", Some("10.0.7.20"), 1),
                link(11, "auto", None, 1),
            ],
            ..Interface::default()
        });
        m.interface_set.push(Interface {
            id: 2,
            links: vec![
                link(12, "static", Some("10.1.0.5"), 2),
                link(13, "auto", None, 3),
            ],
            ..Interface::default()
        });
        assert_eq!(static_addresses(&m), vec!["10.0.7.20", "10.1.0.5"]);
        assert_eq!(shadowed_static_addresses(&m), vec!["10.0.7.20"]);
        m.interface_set[0].links.retain(|l| l.mode != "auto");
        assert!(shadowed_static_addresses(&m).is_empty());
    }

    #[test]
    fn subnets_are_picked_by_id_cidr_or_address() {
        let all = vec![subnet(1, "10.0.0.0/16"), subnet(2, "10.0.5.0/24")];
        let ip: IpAddr = "10.0.5.9".parse().unwrap();
        assert_eq!(pick_subnet(&all, None, ip).unwrap().id, 2, "most specific");
        assert_eq!(pick_subnet(&all, Some("1"), ip).unwrap().id, 1);
        assert_eq!(pick_subnet(&all, Some("10.0.0.0/16"), ip).unwrap().id, 1);
        let err = pick_subnet(&all, Some("7"), ip).unwrap_err();
        assert_eq!(err.to_string(), "MAAS has no subnet 7");
        assert_eq!(err.class(), lc::ErrorClass::Permanent);
        let err = pick_subnet(&all, None, "192.0.2.1".parse().unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "no MAAS subnet contains 192.0.2.1");
    }
}
