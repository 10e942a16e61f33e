//! `version/` (anonymous).

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![ResourceDef {
        auth: None,
        anon: Some(h(
            "VersionHandler",
            "Information about this MAAS instance.",
            "/MAAS/api/2.0/version/",
            &[],
            vec![a(
                "GET",
                None,
                "Read version and capabilities.",
                version_read,
            )],
        )),
        extra_patterns: &[],
    }]
}

pub(crate) const CAPABILITIES: &[&str] = &[
    "networks-management",
    "static-ipaddresses",
    "ipv6-deployment-ubuntu",
    "devices-management",
    "storage-deployment-ubuntu",
    "network-deployment-ubuntu",
    "bridging-interface-ubuntu",
    "bridging-automatic-ubuntu",
    "authenticate-api",
];

fn version_read(sh: &Api, _c: &Ctx) -> HandlerResult {
    // `json.dumps` of a dict keeps insertion order: build the text by hand.
    let caps = crate::model::pyfmt::json_compact(CAPABILITIES);
    let version = crate::model::pyfmt::json_compact(sh.version.full());
    let body =
        format!("{{\"capabilities\": {caps}, \"version\": {version}, \"subversion\": \"\"}}");
    Ok(Reply::text(StatusCode::OK, reply::JSON, body))
}
