//! Networking: subnet specifiers, AUTO address claims, interface links,
//! reserved addresses and DNS resources.

use crate::domain::error::MaasError;
use crate::domain::machines::Perm;
use crate::domain::params::Params;
use crate::domain::state::{State, dynamic_range_for};
use crate::model::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A parsed DNS resource form: name, domain id, TTL, addresses.
/// Errors of address allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpError {
    Exhausted,
}

impl State {
    /// Resolve a subnet specifier (`<id>`, a CIDR, a name, or `id:`,
    /// `cidr:`, `name:`, `ip:`, `vid:`, `vlan:`, `fabric:`, `space:`).
    pub(crate) fn subnets_matching(&self, spec: &str) -> Result<Vec<u64>, String> {
        let (kind, value) = match spec.split_once(':') {
            Some((k, v))
                if ["id", "cidr", "name", "ip", "vid", "vlan", "fabric", "space"].contains(&k) =>
            {
                (Some(k), v)
            }
            _ => (None, spec),
        };
        let all = self.subnets.values();
        let ids: Vec<u64> = match kind {
            None => {
                if let Ok(id) = value.parse::<u64>() {
                    all.filter(|s| s.id == id).map(|s| s.id).collect()
                } else if let Ok(net) = value.parse::<ipnet::IpNet>() {
                    all.filter(|s| s.cidr == net).map(|s| s.id).collect()
                } else {
                    all.filter(|s| s.name == value).map(|s| s.id).collect()
                }
            }
            Some("id") => {
                let id = value
                    .parse::<u64>()
                    .map_err(|_| "Subnet ID must be numeric.".to_string())?;
                all.filter(|s| s.id == id).map(|s| s.id).collect()
            }
            Some("cidr") => {
                let net = value
                    .parse::<ipnet::IpNet>()
                    .map_err(|_| format!("Invalid CIDR: {value}"))?;
                all.filter(|s| s.cidr == net).map(|s| s.id).collect()
            }
            Some("name") => all.filter(|s| s.name == value).map(|s| s.id).collect(),
            Some("ip") => {
                let ip = value
                    .parse::<IpAddr>()
                    .map_err(|_| format!("Invalid IP address: {value}"))?;
                self.subnet_for_ip(ip).into_iter().collect()
            }
            Some("vid") => {
                let vid = value
                    .parse::<u32>()
                    .map_err(|_| format!("Invalid VID: {value}"))?;
                all.filter(|s| self.vlans.get(&s.vlan_id).map(|v| v.vid) == Some(vid))
                    .map(|s| s.id)
                    .collect()
            }
            Some("vlan") => {
                let id = value.parse::<u64>().unwrap_or(u64::MAX);
                all.filter(|s| s.vlan_id == id).map(|s| s.id).collect()
            }
            Some("fabric") => {
                let fabric_ids: Vec<u64> = self
                    .fabrics
                    .values()
                    .filter(|f| f.name == value || f.id.to_string() == value)
                    .map(|f| f.id)
                    .collect();
                all.filter(|s| {
                    self.vlans
                        .get(&s.vlan_id)
                        .map(|v| fabric_ids.contains(&v.fabric_id))
                        .unwrap_or(false)
                })
                .map(|s| s.id)
                .collect()
            }
            Some("space") => all
                .filter(|s| {
                    let space = self.vlans.get(&s.vlan_id).and_then(|v| v.space.clone());
                    space.as_deref().unwrap_or("undefined") == value
                })
                .map(|s| s.id)
                .collect(),
            Some(_) => Vec::new(),
        };
        Ok(ids)
    }

    /// One subnet by specifier, or 404 `No Subnet matches the given query.`
    pub(crate) fn subnet_by_spec(&self, spec: &str) -> Result<u64, MaasError> {
        match self.subnets_matching(spec) {
            Ok(ids) if ids.len() == 1 => Ok(ids[0]),
            _ => Err(MaasError::no_match("Subnet")),
        }
    }

    /// `str(subnet)` as MAAS renders it in messages.
    pub(crate) fn subnet_str(&self, subnet_id: u64) -> String {
        match self.subnets.get(&subnet_id) {
            Some(s) => {
                let vid = self.vlans.get(&s.vlan_id).map(|v| v.vid).unwrap_or(0);
                format!("{}:{}(vid={})", s.name, s.cidr, vid)
            }
            None => String::new(),
        }
    }

    /// The ids of every link (address row) of the machine's interfaces.
    fn machine_links(&self, mid: u64) -> Vec<u64> {
        self.machines
            .get(&mid)
            .map(|m| {
                m.interfaces
                    .iter()
                    .filter_map(|i| self.interfaces.get(i))
                    .flat_map(|i| i.links.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Give every AUTO link of the machine an address (at deploy).
    pub(crate) fn claim_auto_ips(&mut self, mid: u64) -> Result<(), IpError> {
        let links = self.machine_links(mid);
        let mut assigned = Vec::new();
        for lid in links {
            let Some(row) = self.ips.get(&lid) else {
                continue;
            };
            if row.alloc_type != AllocType::Auto || row.ip.is_some() {
                continue;
            }
            let Some(subnet_id) = row.subnet_id else {
                continue;
            };
            match self.pick_free_ip(subnet_id) {
                Some(ip) => {
                    self.set_ip(lid, Some(ip));
                    assigned.push(lid);
                }
                None => {
                    for l in assigned {
                        self.set_ip(l, None);
                    }
                    return Err(IpError::Exhausted);
                }
            }
        }
        Ok(())
    }

    /// Free the addresses of the machine's AUTO links (at release).
    pub(crate) fn release_auto_ips(&mut self, mid: u64) {
        let links = self.machine_links(mid);
        for lid in links {
            if self.ips.get(&lid).map(|r| r.alloc_type) == Some(AllocType::Auto) {
                self.set_ip(lid, None);
            }
        }
    }

    /// Addresses currently assigned to the machine, in interface order.
    pub(crate) fn machine_ips(&self, m: &Machine) -> Vec<IpAddr> {
        m.interfaces
            .iter()
            .filter_map(|i| self.interfaces.get(i))
            .flat_map(|i| i.links.iter())
            .filter_map(|l| self.ips.get(l))
            .filter_map(|r| r.ip)
            .collect()
    }

    /// The interface `iface` (id or name) of machine `system_id`, with the
    /// permission check MAAS applies to interface edits (machine admin).
    pub(crate) fn interface_for(
        &self,
        user: &User,
        system_id: &str,
        iface: &str,
        perm: Perm,
    ) -> Result<(u64, u64), MaasError> {
        let Some(m) = self.machine_by_system_id(system_id) else {
            return Err(MaasError::no_match("Interface"));
        };
        let iid = m.interfaces.iter().copied().find(|id| {
            id.to_string() == iface
                || self
                    .interfaces
                    .get(id)
                    .map(|i| i.name == iface)
                    .unwrap_or(false)
        });
        let Some(iid) = iid else {
            return Err(MaasError::no_match("Interface"));
        };
        let allowed = match perm {
            Perm::View => self.can_view(user, m),
            _ => user.is_superuser && !m.locked,
        };
        if !allowed {
            return Err(MaasError::forbidden(""));
        }
        Ok((m.id, iid))
    }

    /// `op=link_subnet`.
    pub(crate) fn link_subnet(
        &mut self,
        user: &User,
        system_id: &str,
        iface: &str,
        data: &Params,
    ) -> Result<u64, MaasError> {
        let force = data.bool_or("force", false)?;
        let (mid, iid) = self.interface_for(user, system_id, iface, Perm::Edit)?;
        check_link_state(self, mid, "link subnet")?;
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let modes = ["auto", "dhcp", "static", "link_up"];
        let mode = match data.get("mode") {
            None | Some("") => {
                errors
                    .entry("mode".into())
                    .or_default()
                    .push("This field is required.".into());
                None
            }
            Some(m) => {
                let lower = m.to_ascii_lowercase();
                if modes.contains(&lower.as_str()) {
                    Some(lower)
                } else {
                    // The form lower-cases the mode before checking it.
                    errors.entry("mode".into()).or_default().push(format!(
                        "'{lower}' is not a valid mode.  It should be one of: 'auto', 'dhcp', 'static', 'link_up'."
                    ));
                    None
                }
            }
        };
        let iface_vlan = self.interfaces.get(&iid).and_then(|i| i.vlan_id);
        let subnet = match data.get("subnet").filter(|s| !s.is_empty()) {
            None => None,
            Some(spec) => {
                let candidates = self.subnets_matching(spec).unwrap_or_default();
                let allowed: Vec<u64> = candidates
                    .into_iter()
                    .filter(|sid| {
                        force
                            || iface_vlan.is_none()
                            || self
                                .subnets
                                .get(sid)
                                .map(|s| Some(s.vlan_id) == iface_vlan)
                                .unwrap_or(false)
                    })
                    .collect();
                if allowed.len() == 1 {
                    Some(allowed[0])
                } else {
                    // An id the specifier field cannot find is named; any
                    // other miss is the choice field's text.
                    let msg = if spec.chars().all(|c| c.is_ascii_digit()) {
                        format!("None found with id={spec}.")
                    } else {
                        "Select a valid choice. That choice is not one of the available choices."
                            .to_string()
                    };
                    errors.entry("subnet".into()).or_default().push(msg);
                    None
                }
            }
        };
        let ip = match data.get("ip_address").filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => match v.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    errors
                        .entry("ip_address".into())
                        .or_default()
                        .push("Enter a valid IPv4 or IPv6 address.".into());
                    None
                }
            },
        };
        let default_gateway = data.bool_or("default_gateway", false).unwrap_or(false);
        if let Some(mode) = mode.as_deref() {
            match mode {
                // The mode's own check comes after the field's: a subnet
                // that was not found is also missing.
                "auto" | "static" if subnet.is_none() => {
                    errors
                        .entry("subnet".into())
                        .or_default()
                        .push("This field is required.".into());
                }
                _ => {}
            }
            if mode == "static"
                && let (Some(sid), Some(ip)) = (subnet, ip)
            {
                let s = self.subnets.get(&sid);
                if let Some(s) = s {
                    if !s.cidr.contains(&ip) {
                        errors.entry("ip_address".into()).or_default().push(format!(
                            "IP address is not in the given subnet '{}'.",
                            self.subnet_str(sid)
                        ));
                    }
                    if let Some(r) = dynamic_range_for(s, ip) {
                        errors.entry("ip_address".into()).or_default().push(format!(
                            "IP address is inside a dynamic range {} to {}.",
                            r.start, r.end
                        ));
                    }
                }
            }
            if mode == "dhcp" {
                let has_dhcp = self
                    .interfaces
                    .get(&iid)
                    .map(|i| {
                        i.links
                            .iter()
                            .any(|l| self.ips.get(l).map(|r| r.alloc_type) == Some(AllocType::Dhcp))
                    })
                    .unwrap_or(false);
                if has_dhcp {
                    errors
                        .entry("mode".into())
                        .or_default()
                        .push("Interface is already set to DHCP.".into());
                }
            }
            if mode == "link_up" && !force {
                let active = self
                    .interfaces
                    .get(&iid)
                    .map(|i| {
                        i.links
                            .iter()
                            .any(|l| self.ips.get(l).map(|r| r.ip.is_some()).unwrap_or(false))
                    })
                    .unwrap_or(false);
                if active {
                    errors.entry("mode".into()).or_default().push(
                        "Cannot configure interface to link up (with no IP address) while other links are already configured. Specify force=True to override this behavior and delete all links.".into(),
                    );
                }
            }
            if default_gateway {
                if !matches!(mode, "auto" | "static") {
                    errors
                        .entry("default_gateway".into())
                        .or_default()
                        .push(format!("Cannot use in mode '{mode}'."));
                } else if let Some(sid) = subnet
                    && self.subnets.get(&sid).and_then(|s| s.gateway_ip).is_none()
                {
                    errors.entry("default_gateway".into()).or_default().push(format!(
                            "Cannot set as default gateway because subnet {} doesn't provide a gateway IP address.",
                            self.subnet_str(sid)
                        ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(MaasError::form(errors));
        }
        let mode = mode.unwrap_or_default();
        if mode == "link_up" || force {
            let links: Vec<u64> = self
                .interfaces
                .get(&iid)
                .map(|i| i.links.clone())
                .unwrap_or_default();
            for l in links {
                self.delete_ip(l);
            }
        }
        if force && let Some(sid) = subnet {
            let vlan = self.subnets.get(&sid).map(|s| s.vlan_id);
            if let Some(i) = self.interfaces.get_mut(&iid) {
                i.vlan_id = vlan;
            }
        }
        let row = match mode.as_str() {
            "static" => {
                let Some(sid) = subnet else {
                    return Err(MaasError::field("subnet", "This field is required."));
                };
                if ip.is_some_and(|a| self.ip_index.contains_key(&a)) {
                    return Err(MaasError::not_found("IP address is already in use."));
                }
                let ip = self.requested_or_free_ip(ip, sid)?;
                self.create_ip(AllocType::Sticky, Some(ip), Some(sid), None, Some(iid))
            }
            "auto" => self.create_ip(AllocType::Auto, None, subnet, None, Some(iid)),
            "dhcp" => self.create_ip(AllocType::Dhcp, None, subnet, None, Some(iid)),
            _ => self.create_ip(AllocType::Sticky, None, subnet, None, Some(iid)),
        };
        // A machine that is already deploying keeps its AUTO semantics: the
        // address is claimed at the next deploy.
        if let Some(i) = self.interfaces.get_mut(&iid) {
            i.links.push(row);
        }
        let _ = mid;
        Ok(iid)
    }

    /// `op=unlink_subnet id=<link id>`.
    pub(crate) fn unlink_subnet(
        &mut self,
        user: &User,
        system_id: &str,
        iface: &str,
        data: &Params,
    ) -> Result<u64, MaasError> {
        let (mid, iid) = self.interface_for(user, system_id, iface, Perm::Edit)?;
        check_link_state(self, mid, "unlink subnet")?;
        let links: Vec<u64> = self
            .interfaces
            .get(&iid)
            .map(|i| i.links.clone())
            .unwrap_or_default();
        let choices: Vec<String> = links.iter().map(|l| format!("'{l}'")).collect();
        let id = match data.get("id").filter(|s| !s.is_empty()) {
            None => return Err(MaasError::field("id", "This field is required.")),
            Some(v) => v,
        };
        let Some(link) = links.iter().copied().find(|l| l.to_string() == id) else {
            return Err(MaasError::field(
                "id",
                format!(
                    "'{id}' is not a valid id.  It should be one of: {}.",
                    choices.join(", ")
                ),
            ));
        };
        self.delete_ip(link);
        Ok(iid)
    }

    /// `POST ipaddresses/?op=reserve`.
    pub(crate) fn reserve_ip(&mut self, user: &User, post: &Params) -> Result<u64, MaasError> {
        let subnet_spec = post.get("subnet").map(str::to_string);
        let ip_in = post
            .get("ip")
            .or_else(|| post.get("ip_address"))
            .map(str::to_string);
        let hostname = post.get("hostname").map(str::to_string);
        let mac = post.get("mac").map(str::to_string);
        let ip = match ip_in.as_deref() {
            None => None,
            Some(v) => match v.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    return Err(MaasError::field(
                        "ip_address",
                        "Enter a valid IPv4 or IPv6 address.",
                    ));
                }
            },
        };
        let subnet_id = if let Some(ip) = ip {
            self.subnet_for_ip(ip).ok_or_else(|| {
                MaasError::bad_request(format!("No known subnet for IP address: {ip}."))
            })?
        } else if let Some(spec) = subnet_spec.as_deref() {
            match self.subnets_matching(spec) {
                Ok(ids) if ids.len() == 1 => ids[0],
                _ => {
                    return Err(MaasError::bad_request(format!(
                        "Unable to identify subnet: {spec}."
                    )));
                }
            }
        } else {
            return Err(MaasError::bad_request(
                "Must supply either the 'subnet' or the 'ip' parameter.",
            ));
        };
        if let Some(ip) = ip
            && let Some(s) = self.subnets.get(&subnet_id)
            && dynamic_range_for(s, ip).is_some()
        {
            return Err(MaasError::forbidden(format!(
                "IP address {ip} belongs to an existing dynamic range. To reserve this IP address, a MAC address is required. (Create a device instead.)"
            )));
        }
        let (name, domain_id) = match hostname.as_deref().filter(|h| !h.is_empty()) {
            Some(h) if h.find('.').map(|i| i > 0).unwrap_or(false) => {
                let (n, d) = h.split_once('.').unwrap_or((h, ""));
                let domain = self
                    .domain_by_name(d)
                    .ok_or_else(|| MaasError::no_match("Domain"))?;
                (Some(n.to_string()), domain.id)
            }
            Some(h) => (Some(h.to_string()), crate::domain::state::DEFAULT_DOMAIN_ID),
            None => (None, crate::domain::state::DEFAULT_DOMAIN_ID),
        };
        let ip = self.requested_or_free_ip(ip, subnet_id)?;
        let _ = mac;
        let row = self.create_ip(
            AllocType::UserReserved,
            Some(ip),
            Some(subnet_id),
            Some(user.id),
            None,
        );
        if let Some(name) = name {
            let existing = self
                .dnsresources
                .values()
                .find(|d| d.name == name && d.domain_id == domain_id)
                .map(|d| d.id);
            let did = match existing {
                Some(id) => id,
                None => {
                    let id = self.next_dns_id();
                    self.dnsresources.insert(
                        id,
                        DnsResource {
                            id,
                            name,
                            domain_id,
                            address_ttl: None,
                            ip_ids: Vec::new(),
                        },
                    );
                    id
                }
            };
            if let Some(d) = self.dnsresources.get_mut(&did) {
                d.ip_ids.push(row);
            }
        }
        Ok(row)
    }

    /// `POST ipaddresses/?op=release`.
    pub(crate) fn release_ip(&mut self, user: &User, post: &Params) -> Result<(), MaasError> {
        let ip_s = post.required("ip")?.to_string();
        let force = post.bool_or("force", false)?;
        if force && !user.is_superuser {
            return Err(MaasError::forbidden_plain(
                "Force-releasing an IP address requires admin privileges.",
            ));
        }
        let Ok(ip) = ip_s.parse::<IpAddr>() else {
            return Err(MaasError::field(
                "ip",
                "Enter a valid IPv4 or IPv6 address.",
            ));
        };
        let row = self.ip_index.get(&ip).copied().filter(|id| {
            self.ips
                .get(id)
                .map(|r| {
                    force || (r.alloc_type == AllocType::UserReserved && r.user_id == Some(user.id))
                })
                .unwrap_or(false)
        });
        let Some(row) = row else {
            return Err(MaasError::bad_request(if force {
                format!("IP address {ip} does not exist.")
            } else {
                format!(
                    "IP address {ip} does not exist, is not the correct type of address, or does not belong to the requesting user.\nIf you are sure you want to release this address, use force=true as a MAAS administrator."
                )
            }));
        };
        self.delete_ip(row);
        Ok(())
    }

    /// `ip` if it is not in use (MAAS answers 404 when it is), else a free
    /// address of subnet `sid` (503 when there is none).
    fn requested_or_free_ip(&mut self, ip: Option<IpAddr>, sid: u64) -> Result<IpAddr, MaasError> {
        match ip {
            Some(ip) if self.ip_index.contains_key(&ip) => Err(MaasError::not_found(format!(
                "The IP address {ip} is already in use."
            ))),
            Some(ip) => Ok(ip),
            None => self.pick_free_ip(sid).ok_or_else(|| {
                let cidr = self
                    .subnets
                    .get(&sid)
                    .map(|s| s.cidr.to_string())
                    .unwrap_or_default();
                MaasError::unavailable(format!("No more IPs available in subnet: {cidr}."))
            }),
        }
    }
}

/// The machine states in which interface links may change.
fn check_link_state(st: &State, mid: u64, operation: &str) -> Result<(), MaasError> {
    let status = st
        .machines
        .get(&mid)
        .map(|m| m.status)
        .unwrap_or(NodeStatus::New);
    if matches!(
        status,
        NodeStatus::New
            | NodeStatus::Ready
            | NodeStatus::FailedTesting
            | NodeStatus::Allocated
            | NodeStatus::Broken
    ) {
        Ok(())
    } else {
        Err(MaasError::conflict(format!(
            "Cannot {operation} interface because the machine is not New, Ready, Allocated, or Broken."
        )))
    }
}
