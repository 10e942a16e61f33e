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
            vec![
                a("GET", None, "Read a domain.", domain_read),
                admin(a("PUT", None, "Update a domain.", domain_update)),
                admin(a("DELETE", None, "Delete a domain.", domain_delete)),
            ],
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
    // DomainForm.ttl = IntegerField(min_value=1, max_value=604800).
    let ttl = validate::form_int(c.body.get("ttl"), Some(1), Some(TTL_MAX))
        .map_err(|m| MaasError::field("ttl", m))?;
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

/// `DomainForm.ttl`'s maximum (a week).
const TTL_MAX: i64 = 604_800;

/// The domain of the URL, by id or name.
fn domain_id(st: &crate::domain::state::State, spec: &str) -> Result<u64, MaasError> {
    st.domains
        .values()
        .find(|d| d.id.to_string() == spec || d.name == spec)
        .map(|d| d.id)
        .ok_or_else(|| MaasError::no_match("Domain"))
}

/// `PUT domains/{id}/` (DomainForm: name, ttl, authoritative).
fn domain_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let mut st = sh.write();
        let id = domain_id(&st, c.arg(0))?;
        let name = match c.body.get("name") {
            Some(raw) => Some(
                validate::domain_name(Some(raw)).map_err(|msgs| MaasError::fields("name", msgs))?,
            ),
            None => None,
        };
        let ttl = validate::form_int(c.body.get("ttl"), Some(1), Some(TTL_MAX))
            .map_err(|m| MaasError::field("ttl", m))?;
        let authoritative = c.body.opt_bool("authoritative")?;
        if let Some(n) = &name
            && st.domains.values().any(|d| &d.name == n && d.id != id)
        {
            return Err(MaasError::field(
                "name",
                "Domain with this Name already exists.",
            ));
        }
        if let Some(d) = st.domains.get_mut(&id) {
            if let Some(n) = name {
                d.name = n;
            }
            if c.body.contains("ttl") {
                d.ttl = ttl;
            }
            if let Some(a) = authoritative {
                d.authoritative = a;
            }
        }
        render::domain(&st, id)
    };
    Ok(Reply::json(&v))
}

/// `DELETE domains/{id}/`: never the default domain; a domain still holding
/// records or machines fails on its protected foreign keys (500).
fn domain_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let mut st = sh.write();
    let id = domain_id(&st, c.arg(0))?;
    if id == crate::domain::state::DEFAULT_DOMAIN_ID {
        return Err(MaasError::bad_request(
            "This domain is the default domain, it cannot be deleted.",
        ));
    }
    if st.dnsresources.values().any(|d| d.domain_id == id)
        || st.machines.values().any(|m| m.domain_id == id)
    {
        return Err(MaasError::internal(
            "Cannot delete some instances of model 'Domain' because they are referenced through protected foreign keys.",
        ));
    }
    st.domains.remove(&id);
    Ok(Reply::deleted())
}
