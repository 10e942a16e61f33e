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
            vec![a("GET", None, "Read a resource pool.", pool_read)],
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
