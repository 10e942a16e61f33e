//! Static IPs on a machine's boot interface (`spec.staticIP`): the MAAS
//! side of `LinkStaticIp` and `UnlinkStaticIp`. The plan (interface, subnet,
//! links to add and remove) is `machine_lifecycle::static_ip`'s; this module
//! reads MAAS into its views and executes the steps.
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

use maas_api::{Interface, LinkMode, LinkSubnetParams, MaasApi, Machine, Subnet};
use machine_lifecycle as lc;
use machine_lifecycle::static_ip::{
    self as plan, InterfaceView, InterfacesView, LinkKind, LinkStep, LinkView, StaticIpInvalid,
    SubnetView,
};

/// Why a static IP operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StaticIpError {
    /// MAAS answered with an error (displayed redacted).
    #[error("{}", crate::error::redact_maas_text(&.0.to_string()))]
    Maas(#[from] maas_api::Error),
    /// The request cannot be carried out as specified (no such subnet ...).
    #[error("{0}")]
    Invalid(#[from] StaticIpInvalid),
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

/// MAAS's link mode (`auto`, `dhcp`, `static`, `link_up`) as the lifecycle's kind.
fn link_kind(mode: &str) -> LinkKind {
    let mode = mode.trim();
    if mode.eq_ignore_ascii_case("static") {
        LinkKind::Static
    } else if mode.eq_ignore_ascii_case("auto") {
        LinkKind::Auto
    } else if mode.eq_ignore_ascii_case("dhcp") {
        LinkKind::Dhcp
    } else {
        LinkKind::Other
    }
}

fn interface_view(i: &Interface) -> InterfaceView {
    InterfaceView {
        id: i.id,
        name: i.name.clone(),
        links: i
            .links
            .iter()
            .map(|l| LinkView {
                id: l.id,
                kind: link_kind(&l.mode),
                address: l.ip_address.clone(),
                subnet: l.subnet.as_ref().map(|s| s.id),
            })
            .collect(),
    }
}

/// A MAAS machine's interfaces as the lifecycle sees them.
#[must_use]
pub fn interfaces_view(m: &Machine) -> InterfacesView {
    InterfacesView {
        interfaces: m.interface_set.iter().map(interface_view).collect(),
        boot: m.boot_interface.as_ref().map(interface_view),
    }
}

fn subnet_views(subnets: &[Subnet]) -> Vec<SubnetView> {
    subnets
        .iter()
        .map(|s| SubnetView {
            id: s.id,
            cidr: s.cidr.clone(),
        })
        .collect()
}

/// The addresses of every STATIC link of `m` (for the lifecycle's view).
#[must_use]
pub fn static_addresses(m: &Machine) -> Vec<String> {
    plan::static_addresses(&interfaces_view(m))
}

/// The addresses of STATIC links whose interface still has an AUTO or DHCP
/// link on the same subnet (a replacement [`link`] has not finished).
#[must_use]
pub fn shadowed_static_addresses(m: &Machine) -> Vec<String> {
    plan::shadowed_static_addresses(&interfaces_view(m))
}

/// Runs the steps in order; stops at the first MAAS error (a failed
/// [`LinkStep::RestoreAuto`] is only warned about).
async fn execute(
    api: &dyn MaasApi,
    system_id: &str,
    steps: &[LinkStep],
) -> Result<(), StaticIpError> {
    for step in steps {
        match step {
            LinkStep::LinkStatic {
                interface,
                subnet,
                cidr,
                address,
            } => {
                let params = LinkSubnetParams {
                    mode: LinkMode::Static,
                    subnet: Some(subnet.to_string()),
                    ip_address: Some(address.to_string()),
                    ..LinkSubnetParams::default()
                };
                api.link_subnet(system_id, interface.id, &params).await?;
                tracing::info!(system_id, interface = %interface.name, address = %address, subnet = %cidr, "linked static IP");
            }
            LinkStep::Unlink {
                interface,
                link,
                kind,
            } => {
                api.unlink_subnet(system_id, interface.id, *link).await?;
                tracing::info!(system_id, interface = %interface.name, link, kind = ?kind, "unlinked");
            }
            LinkStep::RestoreAuto { interface, subnet } => {
                let params = LinkSubnetParams {
                    mode: LinkMode::Auto,
                    subnet: Some(subnet.to_string()),
                    ..LinkSubnetParams::default()
                };
                if let Err(e) = api.link_subnet(system_id, interface.id, &params).await {
                    // The address is free either way; the interface lacks an
                    // AUTO link until an administrator adds one.
                    tracing::warn!(system_id, interface = %interface.name, error = %crate::error::redact_maas_text(&e.to_string()), "could not restore the AUTO link");
                }
            }
        }
    }
    Ok(())
}

/// Links `req.address` STATIC on the boot interface of `req.system_id`,
/// replacing its AUTO/DHCP links on that subnet. Idempotent.
///
/// # Errors
/// MAAS's error (its message says why an address is refused), or
/// [`StaticIpError::Invalid`].
pub async fn link(api: &dyn MaasApi, req: &lc::StaticIpRequest) -> Result<Machine, StaticIpError> {
    let machine = api.read_machine(&req.system_id).await?;
    let subnets = api.list_subnets().await?;
    let steps = plan::plan_link(req, &interfaces_view(&machine), &subnet_views(&subnets))?;
    execute(api, &req.system_id, &steps).await?;
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
    let machine = api.read_machine(&req.system_id).await?;
    let steps = plan::plan_unlink(req, &interfaces_view(&machine))?;
    execute(api, &req.system_id, &steps).await?;
    Ok(api.read_machine(&req.system_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: i64, mode: &str, ip: Option<&str>, subnet_id: i64) -> maas_api::Link {
        maas_api::Link {
            id,
            mode: mode.into(),
            ip_address: ip.map(str::to_owned),
            subnet: Some(Subnet {
                id: subnet_id,
                cidr: "10.0.0.0/16".into(),
                ..Subnet::default()
            }),
        }
    }

    #[test]
    fn maas_link_modes_become_kinds() {
        assert_eq!(link_kind("static"), LinkKind::Static);
        assert_eq!(link_kind("STATIC"), LinkKind::Static);
        assert_eq!(link_kind("auto"), LinkKind::Auto);
        assert_eq!(link_kind("dhcp"), LinkKind::Dhcp);
        assert_eq!(link_kind("link_up"), LinkKind::Other);
        assert_eq!(link_kind(""), LinkKind::Other);
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
    fn invalid_requests_are_permanent() {
        let err = StaticIpError::from(StaticIpInvalid::NoSuchSubnet("7".into()));
        assert_eq!(err.to_string(), "MAAS has no subnet 7");
        assert_eq!(err.class(), lc::ErrorClass::Permanent);
    }
}
