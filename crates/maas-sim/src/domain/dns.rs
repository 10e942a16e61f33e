//! DNS resources as MAAS's `DNSResourceForm` handles them.

use crate::domain::error::MaasError;
use crate::domain::params::Params;
use crate::domain::state::{DEFAULT_DOMAIN_ID, State};
use crate::domain::validate;
use crate::model::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

type DnsForm = (String, u64, Option<i64>, Option<Vec<u64>>);

/// `DNSResource.name = CharField(max_length=191)`.
const DNS_NAME_MAX: usize = 191;

impl State {
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
        let (name, domain_id) = self.dns_target(data, existing)?;
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

        let ips = self.dns_addresses(user, ip_text)?;
        Ok((name, domain_id, ttl, ips))
    }

    /// The handler's part: name and domain from `fqdn` (only when neither
    /// `name` nor `domain` is given, split by `separate_fqdn`), the domain
    /// looked up by id or name (404). `None` for the domain when the form
    /// will see none.
    fn dns_target(
        &self,
        data: &Params,
        existing: Option<&DnsResource>,
    ) -> Result<(Option<String>, Option<u64>), MaasError> {
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

        Ok((name, domain_id))
    }

    /// The form's save: ids as given, addresses to their static IP or a new
    /// USER_RESERVED one; nothing is kept when any item fails (an unknown
    /// id fails the many-to-many insert: MAAS's 409 page).
    fn dns_addresses(
        &mut self,
        user: &User,
        ip_text: Option<&str>,
    ) -> Result<Option<Vec<u64>>, MaasError> {
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
        Ok(ip_text.map(|_| {
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
        }))
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
        // `DNSData.dnsresource` is `on_delete=CASCADE`.
        self.dnsdata.retain(|_, r| r.dnsresource_id != did);
        Ok(())
    }
}
