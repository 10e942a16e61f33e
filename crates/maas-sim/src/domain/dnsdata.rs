//! DNS resource records (`DNSData`) as MAAS's `dnsresourcerecords/`
//! handlers, `DNSDataForm` and the model's `clean` handle them.

use crate::domain::error::MaasError;
use crate::domain::params::Params;
use crate::domain::state::State;
use crate::domain::validate;
use crate::model::*;
use std::collections::BTreeMap;

/// `SUPPORTED_RRTYPES` (a Python set: MAAS's message lists them in hash
/// order, which changes from process to process; the simulator sorts).
const SUPPORTED_RRTYPES: [&str; 6] = ["CNAME", "MX", "NS", "SRV", "SSHFP", "TXT"];
/// `DNSData.rrtype = CharField(max_length=8)`.
const RRTYPE_MAX: usize = 8;
/// `DNSDataForm.ttl`'s `max_value`.
const TTL_MAX: i64 = (1 << 31) - 1;

const INVALID_CNAME_MSG: &str = "Invalid CNAME: Should be '<server>'.";
const INVALID_MX_MSG: &str =
    "Invalid MX: Should be '<preference> <server>'. Range for preference is 0-65535.";
const INVALID_SRV_MSG: &str = "Invalid SRV: Should be '<priority> <weight> <port> <server>'. \
                               Range for priority, weight, and port are 0-65536.";
const INVALID_SSHFP_MSG: &str = "Invalid SSHFP: Should be '<algorithm> <fptype> <fingerprint>'.";
const CNAME_AND_OTHER_MSG: &str = "CNAME records for a name cannot coexist with non-CNAME records.";
const MULTI_CNAME_MSG: &str = "Only one CNAME can be associated with a name.";

/// A cleaned form: ttl, rrtype (upper case), rrdata.
type DataForm = (Option<i64>, String, String);

/// `CNAME_SPEC`: labels of `[_a-zA-Z0-9]([-_a-zA-Z0-9]{0,62}[_a-zA-Z0-9])?`
/// joined by dots, one trailing dot allowed (`re.search` with `^…$`: a
/// trailing newline passes).
fn cname_ok(data: &str) -> bool {
    let label = |l: &str| {
        let b = l.as_bytes();
        let edge = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        (1..=64).contains(&b.len())
            && edge(b[0])
            && edge(b[b.len() - 1])
            && b.iter().all(|c| edge(*c) || *c == b'-')
    };
    let whole = |s: &str| {
        let s = s.strip_suffix('.').unwrap_or(s);
        !s.is_empty() && s.split('.').all(label)
    };
    whole(data) || data.strip_suffix('\n').is_some_and(whole)
}

/// Leading ASCII digits of `s` and the rest, when there is at least one.
fn number(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// `\s+` then the rest (Python's `\s` on str: Unicode whitespace).
fn spaces(s: &str) -> Option<&str> {
    let rest = s.trim_start();
    (rest.len() < s.len()).then_some(rest)
}

/// `^(?P<a>[0-9]+)\s+ … ` for `n` numbers: the numbers and the rest.
/// `[0-9]+` is greedy and `\s+` needs a space after it, so a number is
/// always all the leading digits.
fn numbers(mut s: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (num, rest) = number(s)?;
        out.push(num);
        s = spaces(rest)?;
    }
    Some((out, s))
}

fn in_u16(n: &str) -> bool {
    n.trim_start_matches('0').len() <= 5 && n.parse::<u32>().is_ok_and(|v| v <= 65535)
}

/// `DNSData.clean_rrdata`: the message of its `ValidationError`, if any.
fn clean_rrdata(rrtype: &str, rrdata: &str) -> Option<String> {
    match rrtype {
        "CNAME" => (!cname_ok(rrdata)).then(|| INVALID_CNAME_MSG.to_string()),
        "SSHFP" => numbers(rrdata, 2)
            .is_none()
            .then(|| INVALID_SSHFP_MSG.to_string()),
        "MX" => {
            // `(?P<mxhost>.+)$`: one character at least (no newline).
            let Some((n, host)) = numbers(rrdata, 1).filter(|(_, h)| !h.is_empty()) else {
                return Some(INVALID_MX_MSG.to_string());
            };
            if !in_u16(n[0]) {
                return Some(INVALID_MX_MSG.to_string());
            }
            validate::model_domain_name(host)
        }
        "NS" => validate::model_domain_name(rrdata),
        "SRV" => {
            let Some((n, target)) = numbers(rrdata, 3) else {
                return Some(INVALID_SRV_MSG.to_string());
            };
            if !n.iter().all(|x| in_u16(x)) {
                return Some(INVALID_SRV_MSG.to_string());
            }
            // `(?P<target>.*)` stops at a newline.
            let target = target.split('\n').next().unwrap_or("");
            if target == "." {
                None
            } else {
                validate::model_domain_name(target)
            }
        }
        // TXT is free-form; an unsupported type was refused by its field.
        _ => None,
    }
}

impl State {
    /// `DNSDataForm` (with `APIEditMixin`: on update a missing field keeps
    /// the instance's value), then the model's field validators and its
    /// `clean`.
    fn dnsdata_form(
        &self,
        data: &Params,
        existing: Option<&DnsData>,
        dnsresource_id: u64,
    ) -> Result<DataForm, MaasError> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut push = |k: &str, m: String| errors.entry(k.to_string()).or_default().push(m);
        let ttl = match (data.get("ttl"), existing) {
            (None, Some(e)) => e.ttl,
            (raw, _) => validate::form_int(raw, Some(0), Some(TTL_MAX)).unwrap_or_else(|m| {
                push("ttl", m);
                None
            }),
        };
        let mut text = |key: &str, old: Option<&str>| -> Option<String> {
            let value = match data.get(key) {
                Some(v) => validate::form_strip(v).to_string(),
                None => old.unwrap_or("").to_string(),
            };
            if value.is_empty() {
                push(key, validate::REQUIRED.to_string());
                None
            } else {
                Some(value)
            }
        };
        let rrtype = text("rrtype", existing.map(|e| e.rrtype.as_str()));
        let rrdata = text("rrdata", existing.map(|e| e.rrdata.as_str()));
        let (Some(rrtype), Some(rrdata)) = (rrtype, rrdata) else {
            return Err(MaasError::form(errors));
        };
        // The model's field validators: `validate_rrtype`, then max_length.
        let upper = rrtype.to_uppercase();
        if !SUPPORTED_RRTYPES.contains(&upper.as_str()) {
            push(
                "rrtype",
                format!("{upper} is not one of {}.", SUPPORTED_RRTYPES.join(" ")),
            );
        }
        let len = validate::py_len(&rrtype);
        if len > RRTYPE_MAX {
            push("rrtype", validate::max_length_text(RRTYPE_MAX, len));
        }
        // The model's clean runs whatever the fields said.
        let mut all = Vec::new();
        if let Some(m) = clean_rrdata(&upper, &rrdata) {
            all.push(m);
        } else if existing.is_none() {
            let siblings: Vec<&DnsData> = self
                .dnsdata
                .values()
                .filter(|d| d.dnsresource_id == dnsresource_id)
                .collect();
            let cname_exists = siblings.iter().any(|d| d.rrtype == "CNAME");
            if upper == "CNAME" {
                let has_ips = self
                    .dnsresources
                    .get(&dnsresource_id)
                    .is_some_and(|r| !r.ip_ids.is_empty());
                if has_ips || siblings.iter().any(|d| d.rrtype != "CNAME") {
                    all.push(CNAME_AND_OTHER_MSG.to_string());
                } else if cname_exists {
                    all.push(MULTI_CNAME_MSG.to_string());
                }
            } else if cname_exists {
                all.push(CNAME_AND_OTHER_MSG.to_string());
            }
        }
        if !all.is_empty() {
            errors.entry("__all__".to_string()).or_default().extend(all);
        }
        if !errors.is_empty() {
            return Err(MaasError::form(errors));
        }
        Ok((ttl, upper, rrdata))
    }

    /// The name and domain a `dnsresourcerecords/` request names: `name`
    /// and `domain`, or `fqdn` split by `separate_fqdn(fqdn, rrtype)` when
    /// neither is given (a name that no split matches fails as MAAS does,
    /// with a 500), the domain looked up by id or name (404).
    fn dnsdata_target(&self, data: &Params) -> Result<(Option<String>, Option<u64>), MaasError> {
        let mut name = data.get("name").map(str::to_string);
        let mut domain = data.get("domain").map(str::to_string);
        if name.is_none()
            && domain.is_none()
            && let Some(fqdn) = data.get("fqdn")
        {
            if validate::SPECIAL_DNS_NAMES.contains(&fqdn) {
                name = Some(fqdn.to_string());
            } else if self.domain_by_name(fqdn).is_some() {
                name = Some("@".to_string());
                domain = Some(fqdn.to_string());
            } else {
                let split = if data.get("rrtype") == Some("SRV") {
                    validate::split_srv_fqdn(fqdn)
                } else {
                    validate::split_fqdn(fqdn)
                };
                let (n, d) = split.ok_or_else(|| {
                    MaasError::internal("cannot unpack non-iterable NoneType object")
                })?;
                name = Some(n);
                domain = Some(d);
            }
        }
        let domain_id = match domain.as_deref() {
            Some(d) => Some(self.dnsdata_domain(d)?),
            None => None,
        };
        Ok((name, domain_id))
    }

    /// `Domain.objects.get_domain_or_404`: by id when all digits, else by
    /// name.
    fn dnsdata_domain(&self, d: &str) -> Result<u64, MaasError> {
        let found = if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) {
            d.parse::<u64>().ok().and_then(|id| self.domains.get(&id))
        } else {
            self.domain_by_name(d)
        };
        found
            .map(|x| x.id)
            .ok_or_else(|| MaasError::no_match("Domain"))
    }

    /// `POST dnsresourcerecords/`: the record, on the DNS resource of that
    /// name (created by `DNSResourceForm` when missing). One transaction:
    /// a record that fails its form leaves no new DNS resource behind.
    pub(crate) fn create_dnsdata(&mut self, user: &User, data: &Params) -> Result<u64, MaasError> {
        if data.get("rrtype").is_none() {
            return Err(MaasError::bad_request("rrtype must be provided."));
        }
        if data.get("rrdata").is_none() {
            return Err(MaasError::bad_request("rrdata must be provided."));
        }
        let (name, domain_id) = self.dnsdata_target(data)?;
        let (Some(name), Some(domain_id)) = (name, domain_id) else {
            return Err(MaasError::bad_request(
                "Either name and domain (or fqdn) must be specified",
            ));
        };
        let existing = self
            .dnsresources
            .values()
            .find(|d| d.name == name && d.domain_id == domain_id)
            .map(|d| d.id);
        let (resource_id, created) = match existing {
            Some(id) => (id, false),
            None => {
                let mut form = Params::new();
                for (k, v) in data.pairs() {
                    if k != "name" && k != "domain" && k != "fqdn" {
                        form.push(k.clone(), v.clone());
                    }
                }
                form.push("name", name);
                form.push("domain", domain_id.to_string());
                (self.create_dnsresource(user, &form)?, true)
            }
        };
        match self.dnsdata_form(data, None, resource_id) {
            Ok((ttl, rrtype, rrdata)) => {
                let id = self.next_dnsdata_id();
                self.dnsdata.insert(
                    id,
                    DnsData {
                        id,
                        dnsresource_id: resource_id,
                        ttl,
                        rrtype,
                        rrdata,
                    },
                );
                Ok(id)
            }
            Err(e) => {
                if created {
                    // The request's transaction is rolled back.
                    self.dnsresources.remove(&resource_id);
                }
                Err(e)
            }
        }
    }

    /// `DNSData.objects.get_dnsdata_or_404` by id.
    pub(crate) fn dnsdata_or_404(&self, id: &str) -> Result<&DnsData, MaasError> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.dnsdata.get(&id))
            .ok_or_else(|| MaasError::no_match("DNSData"))
    }

    /// `PUT dnsresourcerecords/{id}/` (404 before 403).
    pub(crate) fn update_dnsdata(
        &mut self,
        user: &User,
        id: &str,
        data: &Params,
    ) -> Result<u64, MaasError> {
        let existing = self.dnsdata_or_404(id)?.clone();
        if !user.is_superuser {
            return Err(MaasError::forbidden(""));
        }
        let (ttl, rrtype, rrdata) =
            self.dnsdata_form(data, Some(&existing), existing.dnsresource_id)?;
        if let Some(d) = self.dnsdata.get_mut(&existing.id) {
            d.ttl = ttl;
            d.rrtype = rrtype;
            d.rrdata = rrdata;
        }
        Ok(existing.id)
    }

    /// `DELETE dnsresourcerecords/{id}/`: the record, and its DNS resource
    /// when it has no other record and no address left.
    pub(crate) fn delete_dnsdata(&mut self, user: &User, id: &str) -> Result<(), MaasError> {
        let existing = self.dnsdata_or_404(id)?.clone();
        if !user.is_superuser {
            return Err(MaasError::forbidden(""));
        }
        self.dnsdata.remove(&existing.id);
        let rid = existing.dnsresource_id;
        let others = self.dnsdata.values().any(|d| d.dnsresource_id == rid);
        let has_ips = self
            .dnsresources
            .get(&rid)
            .is_some_and(|r| !r.ip_ids.is_empty());
        if !others && !has_ips {
            self.dnsresources.remove(&rid);
        }
        Ok(())
    }

    /// `GET dnsresourcerecords/`: filtered by `fqdn` (split as on create),
    /// or `name` and `domain`, and `rrtype` (exact); ordered by domain and
    /// name (by name when a domain is given), then id.
    pub(crate) fn list_dnsdata(&self, q: &Params) -> Result<Vec<&DnsData>, MaasError> {
        let (name, domain_id) = self.dnsdata_target(q)?;
        let rrtype = q.get("rrtype");
        let mut out: Vec<(u64, &str, u64, &DnsData)> = self
            .dnsdata
            .values()
            .filter_map(|d| {
                let r = self.dnsresources.get(&d.dnsresource_id)?;
                Some((r.domain_id, r.name.as_str(), d.id, d))
            })
            .filter(|(dom, _, _, _)| domain_id.is_none_or(|id| *dom == id))
            .filter(|(_, n, _, _)| name.as_deref().is_none_or(|want| *n == want))
            .filter(|(_, _, _, d)| rrtype.is_none_or(|t| d.rrtype == t))
            .collect();
        out.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        Ok(out.into_iter().map(|(_, _, _, d)| d).collect())
    }

    /// The records of one DNS resource, ordered by rrtype (then id), as
    /// `DNSResourceHandler.resource_records` lists them.
    pub(crate) fn dnsdata_of(&self, dnsresource_id: u64) -> Vec<&DnsData> {
        let mut v: Vec<&DnsData> = self
            .dnsdata
            .values()
            .filter(|d| d.dnsresource_id == dnsresource_id)
            .collect();
        v.sort_by(|a, b| (&a.rrtype, a.id).cmp(&(&b.rrtype, b.id)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrdata_rules_per_type() {
        assert_eq!(clean_rrdata("TXT", "anything at all = /"), None);
        assert_eq!(clean_rrdata("CNAME", "www.example.com."), None);
        assert_eq!(clean_rrdata("CNAME", "_sip.example"), None);
        assert_eq!(
            clean_rrdata("CNAME", "bad name").as_deref(),
            Some(INVALID_CNAME_MSG)
        );
        assert_eq!(clean_rrdata("MX", "10 mail.example.com"), None);
        assert_eq!(
            clean_rrdata("MX", "70000 mail").as_deref(),
            Some(INVALID_MX_MSG)
        );
        assert_eq!(clean_rrdata("MX", "mail").as_deref(), Some(INVALID_MX_MSG));
        assert_eq!(clean_rrdata("SRV", "0 5 5060 sip.example.com"), None);
        assert_eq!(clean_rrdata("SRV", "0 5 5060 ."), None);
        assert_eq!(
            clean_rrdata("SRV", "0 5 sip").as_deref(),
            Some(INVALID_SRV_MSG)
        );
        assert_eq!(clean_rrdata("SSHFP", "1 2 abcdef"), None);
        assert_eq!(
            clean_rrdata("SSHFP", "1 abcdef").as_deref(),
            Some(INVALID_SSHFP_MSG)
        );
        assert_eq!(
            clean_rrdata("NS", "ns_1.example").as_deref(),
            Some("Domain name contains invalid characters.")
        );
    }

    #[test]
    fn srv_names_split_as_maas_regex_does() {
        // The optional third label is tried first, so the name takes it.
        assert_eq!(
            validate::split_srv_fqdn("_sip._tcp.example.com"),
            Some(("_sip._tcp.example".into(), "com".into()))
        );
        // …and the unescaped dots match letters: MAAS's own split of
        // `_sip._tcp.maas` names the domain `s` (then 404s).
        assert_eq!(
            validate::split_srv_fqdn("_sip._tcp.maas"),
            Some(("_sip._tcp.ma".into(), "s".into()))
        );
        assert_eq!(
            validate::split_srv_fqdn("_sip._tcp.host.maas"),
            Some(("_sip._tcp.host".into(), "maas".into()))
        );
        assert_eq!(validate::split_srv_fqdn("sip.maas"), None);
    }
}
