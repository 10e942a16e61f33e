//! Networking: subnet specifiers, AUTO address claims, interface links,
//! reserved addresses and DNS resources.

use crate::domain::error::MaasError;
use crate::domain::machines::Perm;
use crate::domain::params::Params;
use crate::domain::state::{DEFAULT_DOMAIN_ID, State, dynamic_range_for};
use crate::domain::validate;
use crate::model::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A parsed DNS resource form: name, domain id, TTL, addresses.
type DnsForm = (String, u64, Option<i64>, Option<Vec<u64>>);

/// `DNSResource.name = CharField(max_length=191)`.
const DNS_NAME_MAX: usize = 191;

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
                    errors.entry("mode".into()).or_default().push(format!(
                        "'{m}' is not a valid mode.  It should be one of: 'auto', 'dhcp', 'static', 'link_up'."
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
                    errors.entry("subnet".into()).or_default().push(
                        "Select a valid choice. That choice is not one of the available choices."
                            .into(),
                    );
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
                "auto" | "static" if subnet.is_none() && !errors.contains_key("subnet") => {
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

    /// `DNSResourcesHandler.create` / `DNSResourceHandler.update` and
    /// `DNSResourceForm`, in MAAS's order: `fqdn` split (only when neither
    /// `name` nor `domain` is given), the domain looked up (404), the form's
    /// fields, its `clean` (the name is checked when addresses are given —
    /// on update always, as the form is fed the instance's addresses), the
    /// model's `clean`, then the save, which turns addresses into static IPs.
    fn dns_form(
        &mut self,
        user: &User,
        data: &Params,
        existing: Option<&DnsResource>,
    ) -> Result<DnsForm, MaasError> {
        // The handler: name and domain from `fqdn`, the domain by id or name.
        let mut name = data.get("name").map(str::to_string);
        let mut domain: Option<Option<String>> = data.get("domain").map(|d| Some(d.to_string()));
        if name.is_none()
            && domain.is_none()
            && let Some(fqdn) = data.get("fqdn")
        {
            let (n, d) = if validate::SPECIAL_DNS_NAMES.contains(&fqdn) {
                (fqdn.to_string(), None)
            } else if self.domain_by_name(fqdn).is_some() {
                ("@".to_string(), Some(fqdn.to_string()))
            } else {
                let (n, d) = validate::split_fqdn(fqdn).ok_or_else(|| {
                    MaasError::internal("cannot unpack non-iterable NoneType object")
                })?;
                (n, Some(d))
            };
            name = Some(n);
            domain = Some(d);
        }
        let domain_id = match &domain {
            Some(Some(d)) => Some(self.domain_for_dns(d)?),
            // `data["domain"] = None`: the form sees an empty domain.
            Some(None) => None,
            None => existing.map(|e| e.domain_id),
        };

        // The form's fields (APIEditMixin: missing fields keep the
        // instance's values).
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let name = match name.as_deref().map(validate::form_strip) {
            Some(n) => Some(n.to_string()),
            None => existing.map(|e| e.name.clone()),
        }
        .filter(|n| !n.is_empty());
        if name.is_none() {
            errors
                .entry("name".into())
                .or_default()
                .push(validate::REQUIRED.into());
        }
        if domain_id.is_none() {
            errors
                .entry("domain".into())
                .or_default()
                .push(validate::REQUIRED.into());
        }
        let ttl = match data.get("address_ttl") {
            None => existing.and_then(|e| e.address_ttl),
            Some(v) if v.trim().is_empty() => None,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n < 0 => {
                    errors
                        .entry("address_ttl".into())
                        .or_default()
                        .push("Ensure this value is greater than or equal to 0.".into());
                    None
                }
                Ok(n) if n > i64::from(i32::MAX) => {
                    errors
                        .entry("address_ttl".into())
                        .or_default()
                        .push("Ensure this value is less than or equal to 2147483647.".into());
                    None
                }
                Ok(n) => Some(n),
                Err(_) => {
                    errors
                        .entry("address_ttl".into())
                        .or_default()
                        .push("Enter a whole number.".into());
                    None
                }
            },
        };
        // The form's clean: on create only when `ip_addresses` was sent.
        let ip_text = data.get("ip_addresses");
        if ip_text.is_some() || existing.is_some() {
            let Some(n) = &name else {
                // `self.cleaned_data["name"]` after the name field failed.
                return Err(MaasError::internal("'name'"));
            };
            if let Err(msg) = validate::dnsresource_name(n) {
                errors.entry("__all__".into()).or_default().push(msg);
            }
        }
        // The model: its name's max_length, then its clean.
        if let Some(n) = &name {
            let len = validate::py_len(n);
            if len > DNS_NAME_MAX {
                errors
                    .entry("name".into())
                    .or_default()
                    .push(validate::max_length_text(DNS_NAME_MAX, len));
            }
            let domain = domain_id.unwrap_or(DEFAULT_DOMAIN_ID);
            if existing.is_none()
                && self
                    .dnsresources
                    .values()
                    .any(|d| &d.name == n && d.domain_id == domain)
            {
                errors
                    .entry("__all__".into())
                    .or_default()
                    .push("Labels must be unique within their zone.".into());
            }
            if let Some(e) = existing
                && !e.ip_ids.is_empty()
                && let Err(msg) = validate::dnsresource_name(n)
            {
                errors.entry("__all__".into()).or_default().push(msg);
            }
        }
        if !errors.is_empty() {
            return Err(MaasError::form(errors));
        }
        let (Some(name), Some(domain_id)) = (name, domain_id) else {
            return Err(MaasError::internal("'name'"));
        };

        // The save: ids as given, addresses to their static IP or a new
        // USER_RESERVED one; nothing is kept when any item fails.
        enum Item {
            Id(u64),
            Known(u64),
            New(IpAddr),
        }
        let mut items = Vec::new();
        for item in ip_text.unwrap_or("").split_whitespace() {
            if item.chars().all(|c| c.is_ascii_digit()) {
                items.push(Item::Id(item.parse().unwrap_or(u64::MAX)));
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                items.push(match self.ip_index.get(&ip) {
                    Some(id) => Item::Known(*id),
                    None => Item::New(ip),
                });
            } else {
                return Err(MaasError::internal(format!(
                    "failed to detect a valid IP address from {}",
                    crate::model::pyfmt::repr_str(item)
                )));
            }
        }
        if items
            .iter()
            .any(|i| matches!(i, Item::Id(id) if !self.ips.contains_key(id)))
        {
            // The many-to-many insert violates its foreign key; MAAS retries
            // the transaction as a conflict, then serves its 409 page.
            return Err(MaasError::RetriesExhausted);
        }
        let ips = ip_text.map(|_| {
            items
                .into_iter()
                .map(|i| match i {
                    Item::Id(id) | Item::Known(id) => id,
                    Item::New(ip) => {
                        let subnet = self.subnet_for_ip(ip);
                        self.create_ip(
                            AllocType::UserReserved,
                            Some(ip),
                            subnet,
                            Some(user.id),
                            None,
                        )
                    }
                })
                .collect()
        });
        Ok((name, domain_id, ttl, ips))
    }

    /// The domain a DNS form names: by id when all digits, else by name.
    fn domain_for_dns(&self, d: &str) -> Result<u64, MaasError> {
        let found = if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) {
            d.parse::<u64>().ok().and_then(|id| self.domains.get(&id))
        } else {
            self.domain_by_name(d)
        };
        found
            .map(|x| x.id)
            .ok_or_else(|| MaasError::no_match("Domain"))
    }

    /// `POST dnsresources/`.
    pub(crate) fn create_dnsresource(
        &mut self,
        user: &User,
        data: &Params,
    ) -> Result<u64, MaasError> {
        let (name, domain_id, ttl, ips) = self.dns_form(user, data, None)?;
        let id = self.next_dns_id();
        self.dnsresources.insert(
            id,
            DnsResource {
                id,
                name,
                domain_id,
                address_ttl: ttl,
                ip_ids: ips.unwrap_or_default(),
            },
        );
        Ok(id)
    }

    /// `PUT dnsresources/{id}/`.
    pub(crate) fn update_dnsresource(
        &mut self,
        user: &User,
        id: &str,
        data: &Params,
    ) -> Result<u64, MaasError> {
        if !user.is_superuser {
            return Err(MaasError::forbidden(""));
        }
        let did: u64 = id.parse().map_err(|_| MaasError::no_match("DNSResource"))?;
        let existing = self
            .dnsresources
            .get(&did)
            .cloned()
            .ok_or_else(|| MaasError::no_match("DNSResource"))?;
        let (name, domain_id, ttl, ips) = self.dns_form(user, data, Some(&existing))?;
        if let Some(d) = self.dnsresources.get_mut(&did) {
            d.name = name;
            d.domain_id = domain_id;
            d.address_ttl = ttl;
            if let Some(ips) = ips {
                d.ip_ids = ips;
            }
        }
        Ok(did)
    }

    /// `DELETE dnsresources/{id}/`.
    pub(crate) fn delete_dnsresource(&mut self, user: &User, id: &str) -> Result<(), MaasError> {
        let did: u64 = id.parse().map_err(|_| MaasError::no_match("DNSResource"))?;
        if !self.dnsresources.contains_key(&did) {
            return Err(MaasError::no_match("DNSResource"));
        }
        if !user.is_superuser {
            return Err(MaasError::forbidden(""));
        }
        self.dnsresources.remove(&did);
        Ok(())
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
