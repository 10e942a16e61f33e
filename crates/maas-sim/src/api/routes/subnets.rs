//! `subnets/` (by id or CIDR).

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "SubnetsHandler",
            "Manage subnets.",
            "/MAAS/api/2.0/subnets/",
            &[],
            vec![a("GET", None, "List subnets.", subnets_list)],
        )),
        auth(h(
            "SubnetHandler",
            "Manage a subnet, identified by id or CIDR.",
            "/MAAS/api/2.0/subnets/{id:cidr}/",
            &["id"],
            vec![a("GET", None, "Read a subnet.", subnet_read)],
        )),
    ]
}

fn subnets_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        st.subnets
            .keys()
            .map(|id| render::subnet(&st, *id))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn subnet_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st.subnet_by_spec(c.arg(0))?;
        render::subnet(&st, id)
    };
    Ok(Reply::json(&v))
}
