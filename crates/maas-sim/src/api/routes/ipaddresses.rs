//! `ipaddresses/`: listing, reserve, release.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![auth(h(
        "IPAddressesHandler",
        "Manage IP addresses allocated by MAAS.",
        "/MAAS/api/2.0/ipaddresses/",
        &[],
        vec![
            a(
                "GET",
                None,
                "List the user's reserved IP addresses.",
                ipaddresses_list,
            ),
            a(
                "POST",
                Some("reserve"),
                "Reserve an IP address.",
                ipaddresses_reserve,
            ),
            a(
                "POST",
                Some("release"),
                "Release a reserved IP address.",
                ipaddresses_release,
            ),
        ],
    ))]
}

fn ipaddresses_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let all = c.query.bool_or("all", false)?;
    if all && !user.is_superuser {
        return Err(MaasError::forbidden_plain(
            "Listing all IP addresses requires admin privileges.",
        ));
    }
    let v: Vec<Value> = {
        let st = sh.state.read();
        st.ips
            .values()
            .filter(|r| r.ip.is_some())
            .filter(|r| {
                if all {
                    true
                } else {
                    r.user_id == Some(user.id) && r.alloc_type == AllocType::UserReserved
                }
            })
            .map(|r| render::ip(&st, r))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn ipaddresses_reserve(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let v = {
        let mut st = sh.write();
        let id = st.reserve_ip(user, &c.body)?;
        match st.ips.get(&id) {
            Some(r) => render::ip(&st, r),
            None => Value::Null,
        }
    };
    Ok(Reply::json(&v))
}

fn ipaddresses_release(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    sh.write().release_ip(user, &c.body)?;
    Ok(Reply::deleted())
}
