//! `/MAAS/api/2.0/describe/`, generated from the route table, and the API
//! hash it shares with the `X-MAAS-API-Hash` header.

use super::{HandlerDef, Reply, reply, table};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::sync::OnceLock;

fn clean_path(path: &str) -> String {
    path.replace(":cidr}", "}")
}

fn describe_handler(h: &HandlerDef, host: Option<&str>) -> Value {
    let mut actions: Vec<Value> = h
        .actions
        .iter()
        .map(|a| {
            json!({
                "name": a.name(),
                "method": a.method,
                "op": a.op,
                "restful": a.op.is_none(),
                "doc": a.doc,
            })
        })
        .collect();
    actions.sort_by(|x, y| {
        let key = |v: &Value| {
            (
                v["name"].as_str().unwrap_or("").to_string(),
                v["method"].as_str().unwrap_or("").to_string(),
            )
        };
        key(x).cmp(&key(y))
    });
    let path = clean_path(h.path);
    let mut v = json!({
        "name": h.name,
        "doc": h.doc,
        "params": h.params,
        "path": path,
        "actions": actions,
    });
    if let (Some(host), Value::Object(o)) = (host, &mut v) {
        o.insert("uri".into(), json!(format!("http://{host}{path}")));
    }
    v
}

/// The description without `uri`s or `hash` (what the hash covers).
fn description(host: Option<&str>) -> Value {
    let mut resources: Vec<Value> = table()
        .iter()
        .map(|r| {
            let anon = r
                .anon
                .as_ref()
                .map(|h| describe_handler(h, host))
                .unwrap_or(Value::Null);
            let auth = r
                .auth
                .as_ref()
                .map(|h| describe_handler(h, host))
                .unwrap_or(Value::Null);
            let name = r.main().map(|h| h.name).unwrap_or("");
            json!({"name": name, "anon": anon, "auth": auth})
        })
        .collect();
    resources.sort_by(|a, b| {
        a["name"]
            .as_str()
            .unwrap_or("")
            .cmp(b["name"].as_str().unwrap_or(""))
    });
    let mut handlers: Vec<Value> = resources
        .iter()
        .filter(|r| !r["anon"].is_null())
        .map(|r| r["anon"].clone())
        .collect();
    handlers.extend(
        resources
            .iter()
            .filter(|r| !r["auth"].is_null())
            .map(|r| r["auth"].clone()),
    );
    json!({
        "doc": "MAAS API",
        "resources": resources,
        "handlers": handlers,
    })
}

/// SHA-1 of the canonical (host-independent, key-sorted) description.
pub(crate) fn api_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let canonical = serde_json::to_string(&description(None)).unwrap_or_default();
        hex::encode(Sha1::digest(canonical.as_bytes()))
    })
}

/// The full document for a request that came in on `host`.
pub(crate) fn document(host: &str) -> Value {
    let mut d = description(Some(host));
    if let Value::Object(o) = &mut d {
        o.insert("hash".into(), json!(api_hash()));
    }
    d
}

/// `json.dumps(description, sort_keys=True)` as `application/json`.
pub(crate) fn reply(host: &str) -> Reply {
    Reply::json_compact(&document(host), reply::JSON_BARE)
}
