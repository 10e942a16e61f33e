//! `zones/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "ZonesHandler",
            "Manage physical zones.",
            "/MAAS/api/2.0/zones/",
            &[],
            vec![
                a("GET", None, "List zones.", zones_list),
                admin(a("POST", None, "Create a zone.", zones_create)),
            ],
        )),
        auth(h(
            "ZoneHandler",
            "Manage a physical zone, identified by name.",
            "/MAAS/api/2.0/zones/{name}/",
            &["name"],
            vec![
                a("GET", None, "Read a zone.", zone_read),
                admin(a("PUT", None, "Update a zone.", zone_update)),
                admin(a("DELETE", None, "Delete a zone.", zone_delete)),
            ],
        )),
    ]
}

fn zones_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut zs: Vec<&Zone> = st.zones.values().collect();
        zs.sort_by(|a, b| a.name.cmp(&b.name));
        zs.into_iter().map(|z| render::zone(&st, z.id)).collect()
    };
    Ok(Reply::json(&v))
}

fn zones_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let name = validate::form_name(c.body.get("name"), NAME_MAX, validate::model_name)
        .map_err(|m| MaasError::field("name", m))?;
    let description = c.body.get("description").unwrap_or("").to_string();
    let v = {
        let mut st = sh.write();
        if st.zone_by_name(name).is_some() {
            return Err(MaasError::field(
                "name",
                "Physical zone with this Name already exists.",
            ));
        }
        let id = st.add_zone(name, &description);
        render::zone(&st, id)
    };
    Ok(Reply::json(&v))
}

fn zone_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .zone_by_name(c.arg(0))
            .map(|z| z.id)
            .ok_or_else(|| MaasError::no_match("Zone"))?;
        render::zone(&st, id)
    };
    Ok(Reply::json(&v))
}

fn zone_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let mut st = sh.write();
    if let Some(id) = st.zone_by_name(c.arg(0)).map(|z| z.id) {
        if id == crate::domain::state::DEFAULT_ZONE_ID {
            return Err(MaasError::bad_request(
                "This zone is the default zone, it cannot be deleted.",
            ));
        }
        st.zones.remove(&id);
        for m in st.machines.values_mut() {
            if m.zone_id == id {
                m.zone_id = crate::domain::state::DEFAULT_ZONE_ID;
            }
        }
        for h in st.vmhosts.values_mut() {
            if h.zone_id == id {
                h.zone_id = crate::domain::state::DEFAULT_ZONE_ID;
            }
        }
    }
    Ok(Reply::deleted())
}

/// `PUT zones/{name}/` (ZoneForm: name and description).
fn zone_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let mut st = sh.write();
        let id = st
            .zone_by_name(c.arg(0))
            .map(|z| z.id)
            .ok_or_else(|| MaasError::no_match("Zone"))?;
        let name = match c.body.get("name") {
            Some(raw) => Some(
                validate::form_name(Some(raw), NAME_MAX, validate::model_name)
                    .map_err(|m| MaasError::field("name", m))?
                    .to_string(),
            ),
            None => None,
        };
        if let Some(n) = &name
            && st.zones.values().any(|z| &z.name == n && z.id != id)
        {
            return Err(MaasError::field(
                "name",
                "Physical zone with this Name already exists.",
            ));
        }
        if let Some(z) = st.zones.get_mut(&id) {
            if let Some(n) = name {
                z.name = n;
            }
            if let Some(d) = c.body.get("description") {
                z.description = d.to_string();
            }
        }
        render::zone(&st, id)
    };
    Ok(Reply::json(&v))
}
