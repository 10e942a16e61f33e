//! `fabrics/`, their VLANs and `vlans/{id}/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "FabricsHandler",
            "Manage fabrics.",
            "/MAAS/api/2.0/fabrics/",
            &[],
            vec![a("GET", None, "List fabrics.", fabrics_list)],
        )),
        auth(h(
            "FabricHandler",
            "Manage a fabric.",
            "/MAAS/api/2.0/fabrics/{id}/",
            &["id"],
            vec![a("GET", None, "Read a fabric.", fabric_read)],
        )),
        auth(h(
            "VlansHandler",
            "Manage VLANs on a fabric.",
            "/MAAS/api/2.0/fabrics/{fabric_id}/vlans/",
            &["fabric_id"],
            vec![a("GET", None, "List VLANs on a fabric.", vlans_list)],
        )),
        ResourceDef {
            auth: Some(h(
                "VlanHandler",
                "Manage a VLAN on a fabric.",
                "/MAAS/api/2.0/fabrics/{fabric_id}/vlans/{vid}/",
                &["fabric_id", "vid"],
                vec![a("GET", None, "Read a VLAN.", vlan_read)],
            )),
            anon: None,
            extra_patterns: &["vlans/{vlan_id}/"],
        },
    ]
}

fn fabrics_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        st.fabrics
            .values()
            .map(|f| render::fabric(&st, f))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn fabric_by_spec(st: &crate::domain::state::State, spec: &str) -> Option<u64> {
    st.fabrics
        .values()
        .find(|f| f.id.to_string() == spec || f.name == spec)
        .map(|f| f.id)
}

fn fabric_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
        match st.fabrics.get(&id) {
            Some(f) => render::fabric(&st, f),
            None => return Err(MaasError::no_match("Fabric")),
        }
    };
    Ok(Reply::json(&v))
}

fn vlans_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let fid = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
        st.vlans
            .values()
            .filter(|v| v.fabric_id == fid)
            .map(|v| render::vlan(&st, v.id))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn vlan_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = if c.args.len() == 1 {
            c.arg(0)
                .parse::<u64>()
                .ok()
                .filter(|id| st.vlans.contains_key(id))
        } else {
            let fid = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
            st.vlans
                .values()
                .find(|v| v.fabric_id == fid && v.vid.to_string() == c.arg(1))
                .map(|v| v.id)
        };
        let id = id.ok_or_else(|| MaasError::no_match("VLAN"))?;
        render::vlan(&st, id)
    };
    Ok(Reply::json(&v))
}
