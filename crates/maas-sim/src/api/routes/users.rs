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
            admin(a("POST", None, "Create a user (admin).", users_create)),
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

/// `POST users/` (admin): username, email, password and is_superuser, each
/// mandatory; a taken username violates the unique index, which MAAS
/// retries as a conflict and answers with its 409 page.
fn users_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let username = c.body.required("username")?.to_string();
    let email = c.body.required("email")?.to_string();
    c.body.required("password")?;
    let is_superuser =
        crate::domain::params::parse_bool("is_superuser", c.body.required("is_superuser")?)?;
    let mut st = sh.write();
    if st.user_by_name(&username).is_some() {
        return Err(MaasError::RetriesExhausted);
    }
    let id = st.users.keys().max().copied().unwrap_or(0) + 1;
    let user = User {
        id,
        username,
        email,
        is_superuser,
    };
    let v = render::user(&user);
    st.users.insert(id, user);
    drop(st);
    Ok(Reply::json(&v))
}
