//! `dnsresourcerecords/`: DNS resource records (CNAME, MX, NS, SRV, SSHFP,
//! TXT) of DNS resources.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "DNSResourceRecordsHandler",
            "Manage DNS resource records (e.g. CNAME, MX, NS, SRV, TXT)",
            "/MAAS/api/2.0/dnsresourcerecords/",
            &[],
            vec![
                a("GET", None, "List all DNS resource records.", records_list),
                admin(a(
                    "POST",
                    None,
                    "Create a DNS resource record.",
                    records_create,
                )),
            ],
        )),
        auth(h(
            "DNSResourceRecordHandler",
            "Manage dnsresourcerecord.",
            "/MAAS/api/2.0/dnsresourcerecords/{id}/",
            &["id"],
            vec![
                a("GET", None, "Read a DNS resource record.", record_read),
                a("PUT", None, "Update a DNS resource record.", record_update),
                a(
                    "DELETE",
                    None,
                    "Delete a DNS resource record.",
                    record_delete,
                ),
            ],
        )),
    ]
}

fn records_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        st.list_dnsdata(&c.query)?
            .into_iter()
            .map(|r| render::dnsdata(&st, r))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn record_reply(sh: &Api, id: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.dnsdata.get(&id) {
            Some(r) => render::dnsdata(&st, r),
            None => return Err(MaasError::no_match("DNSData")),
        }
    };
    Ok(Reply::json(&v))
}

fn records_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().create_dnsdata(user, &c.body)?;
    record_reply(sh, id)
}

fn record_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        render::dnsdata(&st, st.dnsdata_or_404(c.arg(0))?)
    };
    Ok(Reply::json(&v))
}

fn record_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().update_dnsdata(user, c.arg(0), &c.body)?;
    record_reply(sh, id)
}

fn record_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    sh.write().delete_dnsdata(user, c.arg(0))?;
    Ok(Reply::deleted())
}
