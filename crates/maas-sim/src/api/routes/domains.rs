//! `domains/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "DomainsHandler",
            "Manage domains.",
            "/MAAS/api/2.0/domains/",
            &[],
            vec![
                a("GET", None, "List domains.", domains_list),
                admin(a("POST", None, "Create a domain.", domains_create)),
            ],
        )),
        auth(h(
            "DomainHandler",
            "Manage a domain.",
            "/MAAS/api/2.0/domains/{id}/",
            &["id"],
            vec![a("GET", None, "Read a domain.", domain_read)],
        )),
    ]
}

fn domains_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut ds: Vec<&Domain> = st.domains.values().collect();
        ds.sort_by(|a, b| a.name.cmp(&b.name));
        ds.into_iter().map(|d| render::domain(&st, d.id)).collect()
    };
    Ok(Reply::json(&v))
}

/// `POST domains/` (admin): MAAS's `DomainsHandler.create` with `DomainForm` (name, ttl,
/// authoritative; the name is unique).
fn domains_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let ttl = c.body.opt_int("ttl")?;
    let authoritative = c.body.bool_or("authoritative", true)?;
    let v = {
        let mut st = sh.write();
        let name = validate::domain_name(c.body.get("name"))
            .map_err(|msgs| MaasError::fields("name", msgs))?;
        if st.domains.values().any(|d| d.name == name) {
            return Err(MaasError::field(
                "name",
                "Domain with this Name already exists.",
            ));
        }
        let id = st.add_domain(&name, ttl, authoritative);
        render::domain(&st, id)
    };
    Ok(Reply::json(&v))
}

fn domain_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .domains
            .values()
            .find(|d| d.id.to_string() == c.arg(0) || d.name == c.arg(0))
            .map(|d| d.id)
            .ok_or_else(|| MaasError::no_match("Domain"))?;
        render::domain(&st, id)
    };
    Ok(Reply::json(&v))
}
