//! `dnsresources/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "DNSResourcesHandler",
            "Manage DNS resources.",
            "/MAAS/api/2.0/dnsresources/",
            &[],
            vec![
                a("GET", None, "List DNS resources.", dnsresources_list),
                admin(a(
                    "POST",
                    None,
                    "Create a DNS resource.",
                    dnsresources_create,
                )),
            ],
        )),
        auth(h(
            "DNSResourceHandler",
            "Manage a DNS resource.",
            "/MAAS/api/2.0/dnsresources/{id}/",
            &["id"],
            vec![
                a("GET", None, "Read a DNS resource.", dnsresource_read),
                a("PUT", None, "Update a DNS resource.", dnsresource_update),
                a("DELETE", None, "Delete a DNS resource.", dnsresource_delete),
            ],
        )),
    ]
}

fn dnsresources_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let q = &c.query;
    let all = q.bool_or("all", false)?;
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut name = q.get("name").map(str::to_string);
        let mut domain = q.get("domain").map(str::to_string);
        if name.is_none()
            && domain.is_none()
            && let Some(fqdn) = q.get("fqdn")
        {
            let (n, d) = fqdn.split_once('.').unwrap_or((fqdn, ""));
            name = Some(n.to_string());
            domain = Some(d.to_string());
        }
        let domain_id = match domain.as_deref() {
            Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                let id: u64 = d.parse().unwrap_or(u64::MAX);
                Some(
                    st.domains
                        .get(&id)
                        .map(|x| x.id)
                        .ok_or_else(|| MaasError::no_match("Domain"))?,
                )
            }
            Some(d) => Some(
                st.domain_by_name(d)
                    .map(|x| x.id)
                    .ok_or_else(|| MaasError::no_match("Domain"))?,
            ),
            None => None,
        };
        let rrtype = q.get("rrtype");
        // `filter(dnsdata__rrtype=rrtype)`: a join on the resource's
        // records (exact type; addresses are not records), one row per
        // matching record.
        let mut records: Vec<&DnsResource> = st
            .dnsresources
            .values()
            .filter(|d| domain_id.map(|id| d.domain_id == id).unwrap_or(true))
            .filter(|d| name.as_ref().map(|n| &d.name == n).unwrap_or(true))
            .flat_map(|d| {
                let rows = match rrtype {
                    None => 1,
                    Some(t) => st.dnsdata_of(d.id).iter().filter(|r| r.rrtype == t).count(),
                };
                std::iter::repeat_n(d, rows)
            })
            .collect();
        records.sort_by(|a, b| (a.domain_id, &a.name).cmp(&(b.domain_id, &b.name)));
        let mut out: Vec<Value> = records
            .into_iter()
            .map(|d| render::dnsresource(&st, d))
            .collect();
        if all {
            for m in st.machines.values() {
                if domain_id.map(|id| m.domain_id != id).unwrap_or(false) {
                    continue;
                }
                if name.as_ref().map(|n| n != &m.hostname).unwrap_or(false) {
                    continue;
                }
                let ips = st.machine_ips(m);
                if ips.is_empty() {
                    continue;
                }
                let rrs: Vec<Value> = ips
                    .iter()
                    .filter(|ip| {
                        let t = if ip.is_ipv4() { "A" } else { "AAAA" };
                        rrtype.is_none_or(|want| want == t)
                    })
                    .map(|ip| {
                        json!({
                            "ttl": null,
                            "rrtype": if ip.is_ipv4() { "A" } else { "AAAA" },
                            "rrdata": ip.to_string(),
                            "system_id": m.system_id,
                            "node_type": 0,
                            "dnsresource_id": null,
                            "user_id": null,
                        })
                    })
                    .collect();
                if rrs.is_empty() {
                    continue;
                }
                out.push(json!({
                    "id": -1,
                    "fqdn": st.fqdn(m),
                    "address_ttl": null,
                    "ip_addresses": null,
                    "resource_records": rrs,
                    "resource_uri": "/MAAS/api/2.0/dnsresources/-1/",
                }));
            }
        }
        out
    };
    Ok(Reply::json(&v))
}

fn dnsresource_reply(sh: &Api, id: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.dnsresources.get(&id) {
            Some(d) => render::dnsresource(&st, d),
            None => return Err(MaasError::no_match("DNSResource")),
        }
    };
    Ok(Reply::json(&v))
}

fn dnsresources_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().create_dnsresource(user, &c.body)?;
    dnsresource_reply(sh, id)
}

fn dnsresource_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let id: u64 = c
        .arg(0)
        .parse()
        .map_err(|_| MaasError::no_match("DNSResource"))?;
    dnsresource_reply(sh, id)
}

fn dnsresource_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().update_dnsresource(user, c.arg(0), &c.body)?;
    dnsresource_reply(sh, id)
}

fn dnsresource_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    sh.write().delete_dnsresource(user, c.arg(0))?;
    Ok(Reply::deleted())
}
