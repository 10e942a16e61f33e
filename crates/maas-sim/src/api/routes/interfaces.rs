//! `nodes/{system_id}/interfaces/`: interfaces and their links.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(h(
            "InterfacesHandler",
            "Manage interfaces on a node.",
            "/MAAS/api/2.0/nodes/{system_id}/interfaces/",
            &["system_id"],
            vec![a("GET", None, "List a node's interfaces.", interfaces_list)],
        )),
        auth(h(
            "InterfaceHandler",
            "Manage a node's interface.",
            "/MAAS/api/2.0/nodes/{system_id}/interfaces/{id}/",
            &["system_id", "id"],
            vec![
                a("GET", None, "Read an interface.", interface_read),
                a(
                    "POST",
                    Some("link_subnet"),
                    "Link the interface to a subnet.",
                    interface_link_subnet,
                ),
                a(
                    "POST",
                    Some("unlink_subnet"),
                    "Remove a link from the interface.",
                    interface_unlink_subnet,
                ),
            ],
        )),
    ]
}

fn interfaces_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let values: Vec<Value> = {
        let st = sh.state.read();
        let Some(m) = st.machine_by_system_id(c.arg(0)) else {
            return Err(MaasError::no_match("Node"));
        };
        if !st.can_view(user, m) {
            return Err(MaasError::forbidden(""));
        }
        m.interfaces
            .iter()
            .filter_map(|i| st.interfaces.get(i))
            .map(|i| render::interface(&st, i))
            .collect()
    };
    Ok(Reply::json(&values))
}

fn interface_reply(sh: &Api, iid: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.interfaces.get(&iid) {
            Some(i) => render::interface(&st, i),
            None => return Err(MaasError::no_match("Interface")),
        }
    };
    Ok(Reply::json(&v))
}

fn interface_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let (_, iid) = sh
        .state
        .read()
        .interface_for(user, c.arg(0), c.arg(1), Perm::View)?;
    interface_reply(sh, iid)
}

fn interface_link_subnet(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let iid = sh.write().link_subnet(user, c.arg(0), c.arg(1), &c.body)?;
    interface_reply(sh, iid)
}

fn interface_unlink_subnet(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let iid = sh
        .write()
        .unlink_subnet(user, c.arg(0), c.arg(1), &c.body)?;
    interface_reply(sh, iid)
}
