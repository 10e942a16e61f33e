//! `users/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![auth(h(
        "UsersHandler",
        "Manage the user accounts of this MAAS.",
        "/MAAS/api/2.0/users/",
        &[],
        vec![
            a("GET", None, "List users.", users_list),
            a(
                "GET",
                Some("whoami"),
                "Describe the requesting user.",
                users_whoami,
            ),
        ],
    ))]
}

fn users_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = sh.state.read().users.values().map(render::user).collect();
    Ok(Reply::json(&v))
}

fn users_whoami(_sh: &Api, c: &Ctx) -> HandlerResult {
    Ok(Reply::json(&render::user(c.user()?)))
}
