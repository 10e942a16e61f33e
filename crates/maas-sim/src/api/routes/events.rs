//! `GET events/?op=query`: node filters, levels, paging and the
//! `next_uri`/`prev_uri` links, as MAAS computes them.

use super::{a, auth, h};
use crate::api::Api;
use crate::api::{Ctx, HandlerResult, Reply, ResourceDef};
use crate::domain::error::MaasError;
use crate::domain::params::Params;
use crate::model::Level;
use std::collections::HashSet;

const MAX_EVENT_LOG_COUNT: i64 = 1000;
const DEFAULT_EVENT_LOG_LIMIT: i64 = 100;
const URI_PARAMS: &[&str] = &[
    "agent_name",
    "domain",
    "hostname",
    "id",
    "level",
    "limit",
    "mac_address",
    "op",
    "zone",
    "owner",
];

/// Python's `quote_plus`.
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `reverse("events_handler")` plus the request's own parameters (those
/// MAAS keeps), with `drop` removed and `set` appended.
fn make_uri(query: &Params, drop: &str, set: Option<(&str, String)>) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, values) in query.lists() {
        if !URI_PARAMS.contains(&k.as_str()) || k == drop {
            continue;
        }
        for v in values {
            pairs.push((k.clone(), v));
        }
    }
    if let Some((k, v)) = set {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v));
    }
    let qs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect();
    if qs.is_empty() {
        "/MAAS/api/2.0/events/".to_string()
    } else {
        format!("/MAAS/api/2.0/events/?{}", qs.join("&"))
    }
}

pub(crate) fn query(sh: &Api, c: &Ctx) -> HandlerResult {
    let q = &c.query;
    let user = c.user()?;
    let after = q.opt_int("after")?;
    let before = q.opt_int("before")?;
    let level = q.get("level").unwrap_or("INFO").to_string();
    let mut limit = q.opt_int("limit")?.unwrap_or(DEFAULT_EVENT_LOG_LIMIT);
    if limit > MAX_EVENT_LOG_COUNT {
        return Err(MaasError::bad_request(format!(
            "Requested number of events {limit} is greater than limit: {MAX_EVENT_LOG_COUNT}"
        )));
    }
    if limit < 1 {
        limit = 1;
    }
    let owner = q.get("owner").map(str::to_string);
    let macs = q.get_list("mac_address");
    let invalid: Vec<&String> = macs
        .iter()
        .filter(|m| {
            let parts: Vec<&str> = m.split([':', '-']).collect();
            !(parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit())))
        })
        .collect();
    if !invalid.is_empty() {
        let names: Vec<&str> = invalid.iter().map(|s| s.as_str()).collect();
        return Err(MaasError::bad_request(format!(
            "Invalid MAC address(es): {}",
            names.join(", ")
        )));
    }
    let st = sh.state.read();
    let ids = q.get_list("id");
    let hostnames = q.get_list("hostname");
    let zones = q.get_list("zone");
    let domains = q.get_list("domain");
    let agents = q.get_list("agent_name");
    let macs: Vec<String> = macs
        .iter()
        .map(|m| m.to_ascii_lowercase().replace('-', ":"))
        .collect();
    let nodes: HashSet<u64> = st
        .machines
        .values()
        .filter(|m| st.can_view(user, m))
        .filter(|m| ids.is_empty() || ids.contains(&m.system_id))
        .filter(|m| hostnames.is_empty() || hostnames.contains(&m.hostname))
        .filter(|m| {
            zones.is_empty()
                || st
                    .zones
                    .get(&m.zone_id)
                    .map(|z| zones.contains(&z.name))
                    .unwrap_or(false)
        })
        .filter(|m| {
            domains.is_empty()
                || st
                    .domains
                    .get(&m.domain_id)
                    .map(|d| domains.contains(&d.name))
                    .unwrap_or(false)
        })
        .filter(|m| agents.is_empty() || agents.contains(&m.agent_name))
        .filter(|m| {
            macs.is_empty()
                || m.interfaces
                    .iter()
                    .filter_map(|i| st.interfaces.get(i))
                    .any(|i| macs.contains(&i.mac.to_ascii_lowercase()))
        })
        .map(|m| m.id)
        .collect();
    let min_level = match Level::parse(&level) {
        Some(l) => l,
        None => {
            return Err(MaasError::bad_request(format!(
                "Unrecognised log level: {level}"
            )));
        }
    };
    let keep = |e: &&crate::model::Event| {
        nodes.contains(&e.machine_id)
            && if min_level == Level::Audit {
                e.etype.level == Level::Audit
            } else {
                e.etype.level >= min_level
            }
            && owner.as_ref().map(|o| &e.username == o).unwrap_or(true)
    };
    let limit = limit as usize;
    let events: Vec<&crate::model::Event> = match (after, before) {
        (None, None) => st.events.iter().rev().filter(keep).take(limit).collect(),
        (None, Some(b)) => st
            .events
            .iter()
            .rev()
            .filter(|e| (e.id as i64) < b)
            .filter(keep)
            .take(limit)
            .collect(),
        (Some(a), None) => {
            let mut v: Vec<&crate::model::Event> = st
                .events
                .iter()
                .filter(|e| (e.id as i64) > a)
                .filter(keep)
                .take(limit)
                .collect();
            v.reverse();
            v
        }
        (Some(_), Some(_)) => {
            return Err(MaasError::bad_request(
                "There is undetermined behaviour when both `after` and `before` are specified.",
            ));
        }
    };
    let next_uri = match events.first() {
        Some(e) => make_uri(q, "before", Some(("after", e.id.to_string()))),
        None => match before {
            None => make_uri(q, "before", None),
            Some(b) => make_uri(q, "before", Some(("after", (b - 1).to_string()))),
        },
    };
    let prev_uri = match events.last() {
        Some(e) => Some(make_uri(q, "after", Some(("before", e.id.to_string())))),
        None => after.map(|a| make_uri(q, "after", Some(("before", (a + 1).to_string())))),
    };
    let rendered: Vec<serde_json::Value> = events
        .iter()
        .map(|e| crate::api::render::event(e))
        .collect();
    drop(st);
    Ok(Reply::json(&serde_json::json!({
        "count": rendered.len(),
        "events": rendered,
        "next_uri": next_uri,
        "prev_uri": prev_uri,
    })))
}

/// `events/`.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![auth(h(
        "EventsHandler",
        "Retrieve filtered node events.",
        "/MAAS/api/2.0/events/",
        &[],
        vec![a(
            "GET",
            Some("query"),
            "List node events, newest first.",
            events_query,
        )],
    ))]
}

fn events_query(sh: &Api, c: &Ctx) -> HandlerResult {
    query(sh, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_keeps_request_params_and_sets_cursor() {
        let q = Params::parse_urlencoded(b"op=query&id=7wq4ex&before=5&junk=1");
        assert_eq!(
            make_uri(&q, "before", Some(("after", "9921".into()))),
            "/MAAS/api/2.0/events/?op=query&id=7wq4ex&after=9921"
        );
        assert_eq!(quote_plus("a b/c"), "a+b%2Fc");
    }
}
