//! `resourcepools/` and `resourcepool/{id}/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "ResourcePoolsHandler",
            "Manage resource pools.",
            "/MAAS/api/2.0/resourcepools/",
            &[],
            vec![
                a("GET", None, "List resource pools.", pools_list),
                a(
                    "POST",
                    None,
                    "Create a resource pool (admin).",
                    pools_create,
                ),
            ],
        )),
        auth(h(
            "ResourcePoolHandler",
            "Manage a resource pool, identified by id or name.",
            "/MAAS/api/2.0/resourcepool/{id}/",
            &["id"],
            vec![
                a("GET", None, "Read a resource pool.", pool_read),
                admin(a("PUT", None, "Update a resource pool.", pool_update)),
                admin(a("DELETE", None, "Delete a resource pool.", pool_delete)),
            ],
        )),
    ]
}

fn pools_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut ps: Vec<&Pool> = st.pools.values().collect();
        ps.sort_by(|a, b| a.name.cmp(&b.name));
        ps.into_iter().map(|p| render::pool(&st, p.id)).collect()
    };
    Ok(Reply::json(&v))
}

fn pools_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    if !user.is_superuser {
        return Err(MaasError::forbidden(""));
    }
    let name = validate::form_name(c.body.get("name"), NAME_MAX, validate::model_name)
        .map_err(|m| MaasError::field("name", m))?;
    let description = c.body.get("description").unwrap_or("").to_string();
    let v = {
        let mut st = sh.write();
        if st.pool_by_name(name).is_some() {
            return Err(MaasError::field(
                "name",
                "Resource pool with this Name already exists.",
            ));
        }
        let id = st.add_pool(name, &description);
        render::pool(&st, id)
    };
    Ok(Reply::json(&v))
}

fn pool_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .pools
            .values()
            .find(|p| p.id.to_string() == c.arg(0) || p.name == c.arg(0))
            .map(|p| p.id)
            .ok_or_else(|| MaasError::no_match("ResourcePool"))?;
        render::pool(&st, id)
    };
    Ok(Reply::json(&v))
}

/// The pool of the URL, by id or name.
fn pool_id(st: &crate::domain::state::State, spec: &str) -> Result<u64, MaasError> {
    st.pools
        .values()
        .find(|p| p.id.to_string() == spec || p.name == spec)
        .map(|p| p.id)
        .ok_or_else(|| MaasError::no_match("ResourcePool"))
}

/// `PUT resourcepool/{id}/` (ResourcePoolForm: name and description).
fn pool_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let mut st = sh.write();
        let id = pool_id(&st, c.arg(0))?;
        let name = match c.body.get("name") {
            Some(raw) => Some(
                validate::form_name(Some(raw), NAME_MAX, validate::model_name)
                    .map_err(|m| MaasError::field("name", m))?
                    .to_string(),
            ),
            None => None,
        };
        if let Some(n) = &name
            && st.pools.values().any(|p| &p.name == n && p.id != id)
        {
            return Err(MaasError::field(
                "name",
                "Resource pool with this Name already exists.",
            ));
        }
        if let Some(p) = st.pools.get_mut(&id) {
            if let Some(n) = name {
                p.name = n;
            }
            if let Some(d) = c.body.get("description") {
                p.description = d.to_string();
            }
        }
        render::pool(&st, id)
    };
    Ok(Reply::json(&v))
}

/// `DELETE resourcepool/{id}/`: not the default pool, not a pool with
/// machines (`ResourcePool.delete`'s ValidationErrors, 400 text).
fn pool_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let mut st = sh.write();
    let id = pool_id(&st, c.arg(0))?;
    if id == crate::domain::state::DEFAULT_POOL_ID {
        return Err(MaasError::bad_request(
            "This is the default pool, it cannot be deleted.",
        ));
    }
    if st.machines.values().any(|m| m.pool_id == id) {
        return Err(MaasError::bad_request(
            "Pool has machines in it, it cannot be deleted.",
        ));
    }
    st.pools.remove(&id);
    Ok(Reply::deleted())
}
