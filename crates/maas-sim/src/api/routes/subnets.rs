//! `subnets/` (by id or CIDR).

#[allow(unused_imports)]
use super::prelude::*;
use std::net::IpAddr;

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
            vec![
                a("GET", None, "Read a subnet.", subnet_read),
                a(
                    "GET",
                    Some("statistics"),
                    "Usage statistics of a subnet.",
                    subnet_statistics,
                ),
                a(
                    "GET",
                    Some("reserved_ip_ranges"),
                    "Ranges of a subnet in use or reserved.",
                    subnet_reserved_ranges,
                ),
                a(
                    "GET",
                    Some("unreserved_ip_ranges"),
                    "Ranges of a subnet free for allocation.",
                    subnet_unreserved_ranges,
                ),
            ],
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

/// A subnet's addresses as MAAS counts them: the usable ones (IPv4 without
/// network and broadcast addresses), and each reserved one with its purposes.
struct Usage {
    first: IpAddr,
    last: IpAddr,
    total: u128,
    /// (address, purposes), sorted.
    used: Vec<(u128, Vec<&'static str>)>,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(n))
    }
}

fn usage(st: &crate::domain::state::State, sid: u64) -> Option<Usage> {
    let s = st.subnets.get(&sid)?;
    let v4 = s.cidr.addr().is_ipv4();
    let (net, bcast) = (to_u128(s.cidr.network()), to_u128(s.cidr.broadcast()));
    let (first, last) = if v4 && s.cidr.prefix_len() < 31 {
        (net + 1, bcast - 1)
    } else {
        (net, bcast)
    };
    let mut used: std::collections::BTreeMap<u128, Vec<&'static str>> = Default::default();
    if let Some(gw) = s.gateway_ip {
        used.entry(to_u128(gw)).or_default().push("gateway-ip");
    }
    for r in &s.ranges {
        let purpose = match r.kind {
            RangeKind::Dynamic => "dynamic",
            RangeKind::Reserved => "reserved",
        };
        for n in to_u128(r.start)..=to_u128(r.end) {
            used.entry(n).or_default().push(purpose);
        }
    }
    for ip in st.ips.values().filter(|r| r.subnet_id == Some(sid)) {
        if let Some(addr) = ip.ip {
            let purpose = match ip.alloc_type {
                AllocType::UserReserved => "user-reserved",
                AllocType::Dhcp => "dhcp",
                _ => "assigned-ip",
            };
            used.entry(to_u128(addr)).or_default().push(purpose);
        }
    }
    Some(Usage {
        first: from_u128(v4, first),
        last: from_u128(v4, last),
        total: last - first + 1,
        used: used
            .into_iter()
            .filter(|(n, _)| (first..=last).contains(n))
            .collect(),
    })
}

/// `GET subnets/{id}/?op=statistics`.
fn subnet_statistics(sh: &Api, c: &Ctx) -> HandlerResult {
    let st = sh.state.read();
    let sid = st.subnet_by_spec(c.arg(0))?;
    let Some(u) = usage(&st, sid) else {
        return Err(MaasError::no_match("Subnet"));
    };
    let unavailable = u.used.len() as u128;
    let available = u.total - unavailable;
    let ratio = unavailable as f64 / u.total as f64;
    let largest = free_ranges(&u)
        .iter()
        .map(|(a, b)| b - a + 1)
        .max()
        .unwrap_or(0);
    let v = json!({
        "num_available": available,
        "largest_available": largest,
        "num_unavailable": unavailable,
        "total_addresses": u.total,
        "usage": ratio,
        "usage_string": format!("{:.0}%", ratio * 100.0),
        "available_string": format!("{:.0}%", (1.0 - ratio) * 100.0),
        "first_address": u.first.to_string(),
        "last_address": u.last.to_string(),
        "ip_version": if u.first.is_ipv4() { 4 } else { 6 },
    });
    drop(st);
    Ok(Reply::json(&v))
}

/// The free stretches between the used addresses, inclusive.
fn free_ranges(u: &Usage) -> Vec<(u128, u128)> {
    let (first, last) = (to_u128(u.first), to_u128(u.last));
    let mut out = Vec::new();
    let mut next = first;
    for (n, _) in &u.used {
        if *n > next {
            out.push((next, n - 1));
        }
        next = n + 1;
    }
    if next <= last {
        out.push((next, last));
    }
    out
}

fn range_json(v4: bool, start: u128, end: u128) -> Value {
    json!({
        "start": from_u128(v4, start).to_string(),
        "end": from_u128(v4, end).to_string(),
        "num_addresses": end - start + 1,
    })
}

/// `GET subnets/{id}/?op=unreserved_ip_ranges`.
fn subnet_unreserved_ranges(sh: &Api, c: &Ctx) -> HandlerResult {
    let st = sh.state.read();
    let sid = st.subnet_by_spec(c.arg(0))?;
    let Some(u) = usage(&st, sid) else {
        return Err(MaasError::no_match("Subnet"));
    };
    let v4 = u.first.is_ipv4();
    let v: Vec<Value> = free_ranges(&u)
        .into_iter()
        .map(|(a, b)| range_json(v4, a, b))
        .collect();
    drop(st);
    Ok(Reply::json(&v))
}

/// `GET subnets/{id}/?op=reserved_ip_ranges`: consecutive addresses with
/// the same purposes form one range.
fn subnet_reserved_ranges(sh: &Api, c: &Ctx) -> HandlerResult {
    let st = sh.state.read();
    let sid = st.subnet_by_spec(c.arg(0))?;
    let Some(u) = usage(&st, sid) else {
        return Err(MaasError::no_match("Subnet"));
    };
    let v4 = u.first.is_ipv4();
    let mut out: Vec<Value> = Vec::new();
    let mut current: Option<(u128, u128, Vec<&'static str>)> = None;
    for (n, purposes) in &u.used {
        match &mut current {
            Some((_, end, p)) if *end + 1 == *n && p == purposes => *end = *n,
            _ => {
                if let Some((a, b, p)) = current.take() {
                    let mut r = range_json(v4, a, b);
                    r["purpose"] = json!(p);
                    out.push(r);
                }
                current = Some((*n, *n, purposes.clone()));
            }
        }
    }
    if let Some((a, b, p)) = current {
        let mut r = range_json(v4, a, b);
        r["purpose"] = json!(p);
        out.push(r);
    }
    drop(st);
    Ok(Reply::json(&out))
}
