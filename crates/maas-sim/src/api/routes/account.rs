//! `account/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![auth(h(
        "AccountHandler",
        "Manage the current logged-in user.",
        "/MAAS/api/2.0/account/",
        &[],
        vec![a(
            "POST",
            Some("create_authorisation_token"),
            "Create an authorisation OAuth token and consumer.",
            account_create_token,
        )],
    ))]
}

fn account_create_token(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let name = c.body.get("name").map(str::to_string);
    let mut st = sh.write();
    let consumer = crate::model::names::key_part(&mut st.rng, 18);
    let token = crate::model::names::key_part(&mut st.rng, 18);
    let secret = crate::model::names::key_part(&mut st.rng, 32);
    let name = name.unwrap_or_else(|| format!("Token {}", st.tokens.len() + 1));
    st.tokens.insert(
        token.clone(),
        Token {
            consumer_key: consumer.clone(),
            token_key: token.clone(),
            secret: secret.clone(),
            user_id: user.id,
            name: name.clone(),
        },
    );
    drop(st);
    let body = format!(
        "{{\"token_key\": {}, \"token_secret\": {}, \"consumer_key\": {}, \"name\": {}}}",
        crate::model::pyfmt::json_compact(&token),
        crate::model::pyfmt::json_compact(&secret),
        crate::model::pyfmt::json_compact(&consumer),
        crate::model::pyfmt::json_compact(&name)
    );
    Ok(Reply::text(StatusCode::OK, reply::JSON, body))
}
