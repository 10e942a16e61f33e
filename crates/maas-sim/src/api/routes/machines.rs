//! `machines/` and `machines/{system_id}/`: listing, allocation, the machine state machine.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        ResourceDef {
            auth: Some(h(
                "MachinesHandler",
                "Manage the collection of all the machines in MAAS.",
                "/MAAS/api/2.0/machines/",
                &[],
                vec![
                    a(
                        "GET",
                        None,
                        "List machines visible to the user, optionally filtered.",
                        machines_list,
                    ),
                    a(
                        "GET",
                        Some("list_allocated"),
                        "List machines allocated to the user.",
                        machines_list_allocated,
                    ),
                    a(
                        "GET",
                        Some("is_registered"),
                        "Whether a MAC address is registered.",
                        machines_is_registered,
                    ),
                    a(
                        "POST",
                        Some("allocate"),
                        "Allocate a Ready machine matching the constraints.",
                        machines_allocate,
                    ),
                    a(
                        "POST",
                        Some("release"),
                        "Release several machines.",
                        machines_release,
                    ),
                ],
            )),
            anon: Some(h(
                "AnonMachinesHandler",
                "Anonymous machine access.",
                "/MAAS/api/2.0/machines/",
                &[],
                vec![a(
                    "GET",
                    Some("is_registered"),
                    "Whether a MAC address is registered.",
                    machines_is_registered,
                )],
            )),
            extra_patterns: &[],
        },
        auth(h(
            "MachineHandler",
            "Manage an individual machine, identified by its system_id.",
            "/MAAS/api/2.0/machines/{system_id}/",
            &["system_id"],
            vec![
                a("GET", None, "Read a machine.", machine_read),
                a("PUT", None, "Update a machine (admin).", machine_update),
                a("DELETE", None, "Delete a machine (admin).", machine_delete),
                a(
                    "POST",
                    Some("deploy"),
                    "Deploy an operating system to a machine.",
                    machine_deploy,
                ),
                a(
                    "POST",
                    Some("release"),
                    "Release a machine.",
                    machine_release,
                ),
                a(
                    "POST",
                    Some("power_on"),
                    "Power on a machine.",
                    machine_power_on,
                ),
                a(
                    "POST",
                    Some("power_off"),
                    "Power off a machine.",
                    machine_power_off,
                ),
                a(
                    "GET",
                    Some("query_power_state"),
                    "Query the machine's power state.",
                    machine_query_power_state,
                ),
                a(
                    "POST",
                    Some("mark_broken"),
                    "Mark a machine as Broken.",
                    machine_mark_broken,
                ),
                a(
                    "POST",
                    Some("mark_fixed"),
                    "Mark a Broken machine as fixed.",
                    machine_mark_fixed,
                ),
                a(
                    "POST",
                    Some("abort"),
                    "Abort the machine's current operation.",
                    machine_abort,
                ),
                a(
                    "POST",
                    Some("lock"),
                    "Lock a deployed machine.",
                    machine_lock,
                ),
                a("POST", Some("unlock"), "Unlock a machine.", machine_unlock),
                a(
                    "POST",
                    Some("set_workload_annotations"),
                    "Set key=value workload annotations (empty value deletes).",
                    machine_set_workload_annotations,
                ),
                // MAAS keeps the pre-2.5 name as a deprecated alias (juju's gomaasapi uses it).
                a(
                    "POST",
                    Some("set_owner_data"),
                    "Deprecated, use set-workload-annotations.",
                    machine_set_workload_annotations,
                ),
            ],
        )),
    ]
}

fn machines_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let values: Vec<Value> = {
        let st = sh.state.read();
        let ids = st.list_machines(user, &c.query)?;
        ids.iter()
            .filter_map(|id| st.machines.get(id))
            .map(|m| render::machine(&st, m))
            .collect()
    };
    Ok(Reply::json(&values))
}

fn machines_list_allocated(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let ids = c.query.get_list("id");
    let values: Vec<Value> = {
        let st = sh.state.read();
        st.machines
            .values()
            .filter(|m| m.owner == Some(user.id) && m.status == NodeStatus::Allocated)
            .filter(|m| ids.is_empty() || ids.contains(&m.system_id))
            .map(|m| render::machine(&st, m))
            .collect()
    };
    Ok(Reply::json(&values))
}

fn machines_is_registered(sh: &Api, c: &Ctx) -> HandlerResult {
    let mac = c
        .query
        .required("mac_address")?
        .to_ascii_lowercase()
        .replace('-', ":");
    let st = sh.state.read();
    let found = st.interfaces.values().any(|i| {
        i.mac.to_ascii_lowercase() == mac
            && st
                .machines
                .get(&i.machine_id)
                .map(|m| {
                    !matches!(
                        m.status,
                        NodeStatus::New | NodeStatus::Commissioning | NodeStatus::Retired
                    )
                })
                .unwrap_or(false)
    });
    drop(st);
    Ok(Reply::json(&found))
}

fn machines_allocate(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    // The scan runs under the read lock, in parallel with other requests;
    // the write lock is held only to re-check the candidate and take it, and
    // the reply is rendered with the lock downgraded (readers go on).
    let candidate = sh.state.read().allocation_candidate(&c.body);
    let value = sh.write_then_read(
        |st| st.allocate(user, &c.body, candidate),
        |st, alloc| {
            let alloc = alloc?;
            let m = st
                .machines
                .get(&alloc.machine_id)
                .ok_or_else(|| MaasError::no_match("Machine"))?;
            let mut v = render::machine(st, m);
            if let Value::Object(o) = &mut v {
                o.insert("constraints_by_type".into(), alloc.constraints_by_type);
            }
            Ok::<_, MaasError>(v)
        },
    )?;
    Ok(Reply::json(&value))
}

fn machines_release(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let ids = sh.write().release_batch(user, &c.body)?;
    Ok(Reply::json(&ids))
}

fn render_machine_reply(sh: &Api, mid: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.machines.get(&mid) {
            Some(m) => render::machine(&st, m),
            None => return Err(MaasError::no_match("Machine")),
        }
    };
    Ok(Reply::json(&v))
}

fn machine_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let (mid, generation, v) = {
        let st = sh.state.read();
        let mid = st.machine_for(user, c.arg(0), Perm::View)?;
        // The generation cannot move while the read lock is held.
        let generation = sh.generation();
        if let Some(body) = sh.cached_render(mid, generation) {
            return Ok(Reply::new(StatusCode::OK, Some(reply::JSON), body));
        }
        match st.machines.get(&mid) {
            Some(m) => (mid, generation, render::machine(&st, m)),
            None => return Err(MaasError::no_match("Machine")),
        }
    };
    // Serialization happens off the lock.
    let reply = Reply::json(&v);
    sh.store_render(mid, generation, reply.body.clone());
    Ok(reply)
}

fn machine_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = {
        let mut st = sh.write();
        let mid = st.machine_for(user, c.arg(0), Perm::Admin)?;
        let data = &c.body;
        let (mut hostname, mut domain_id) = st
            .machines
            .get(&mid)
            .map(|m| (m.hostname.clone(), m.domain_id))
            .unwrap_or_default();
        // NodeForm.clean_domain: an id (a missing one is an uncaught
        // DoesNotExist), else a name.
        if let Some(d) = data.get("domain").filter(|d| !d.is_empty()) {
            let found = match d.trim().parse::<i64>() {
                Ok(id) => Some(
                    u64::try_from(id)
                        .ok()
                        .filter(|id| st.domains.contains_key(id))
                        .ok_or_else(|| {
                            MaasError::internal("Domain matching query does not exist.")
                        })?,
                ),
                Err(_) => st.domain_by_name(d).map(|x| x.id),
            };
            domain_id = found
                .ok_or_else(|| MaasError::field("domain", format!("Unable to find domain {d}")))?;
        }
        if let Some(raw) = data.get("hostname").filter(|h| !h.trim().is_empty()) {
            // The field's validate_hostname, then Node.clean splits
            // `host.domain` (the domain must exist), then uniqueness.
            let raw = raw.trim();
            if let Some(msg) = validate::hostname(raw) {
                return Err(MaasError::field("hostname", msg));
            }
            let host = match raw.split_once('.') {
                Some((h, d)) => {
                    domain_id = st
                        .domain_by_name(d)
                        .map(|d| d.id)
                        .ok_or_else(|| MaasError::field("hostname", "Nonexistant domain."))?;
                    h
                }
                None => raw,
            };
            if st.by_hostname.get(host).is_some_and(|id| *id != mid) {
                return Err(MaasError::field(
                    "hostname",
                    "Node with this Hostname already exists.",
                ));
            }
            hostname = host.to_string();
        }
        let zone_id = match data.get("zone") {
            Some(z) => Some(st.zone_by_name(z).map(|z| z.id).ok_or_else(|| {
                MaasError::field(
                    "zone",
                    "Select a valid choice. That choice is not one of the available choices.",
                )
            })?),
            None => None,
        };
        let pool_id = match data.get("pool") {
            Some(p) => Some(st.pool_by_name(p).map(|p| p.id).ok_or_else(|| {
                MaasError::field(
                    "pool",
                    "Select a valid choice. That choice is not one of the available choices.",
                )
            })?),
            None => None,
        };
        // Everything validated: apply (MAAS saves once, or not at all).
        let old = st
            .machines
            .get(&mid)
            .map(|m| m.hostname.clone())
            .unwrap_or_default();
        if old != hostname {
            st.by_hostname.remove(&old);
            st.by_hostname.insert(hostname.clone(), mid);
        }
        if let Some(m) = st.machines.get_mut(&mid) {
            m.hostname = hostname;
            m.domain_id = domain_id;
            if let Some(d) = data.get("description") {
                m.description = d.to_string();
            }
            if let Some(z) = zone_id {
                m.zone_id = z;
            }
            if let Some(p) = pool_id {
                m.pool_id = p;
            }
        }
        mid
    };
    render_machine_reply(sh, mid)
}

fn machine_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let force = c.query.bool_or("force", false)?;
    sh.write().delete_machine(user, c.arg(0), force)?;
    Ok(Reply::deleted())
}

fn machine_deploy(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().deploy(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_release(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().release(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_power_on(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().power_on(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_power_off(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let outcome = sh.write().power_off(user, c.arg(0), &c.body)?;
    match outcome {
        Some(mid) => render_machine_reply(sh, mid),
        None => Ok(Reply::json(&Value::Null)),
    }
}

fn machine_query_power_state(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let st = sh.state.read();
    let mid = st.machine_for(user, c.arg(0), Perm::View)?;
    let state = st
        .machines
        .get(&mid)
        .map(|m| {
            if m.power_type == "manual" {
                "unknown"
            } else {
                m.power_state.as_str()
            }
        })
        .unwrap_or("unknown");
    drop(st);
    Ok(Reply::json(&json!({ "state": state })))
}

fn machine_mark_broken(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().mark_broken(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_mark_fixed(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().mark_fixed(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_abort(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().abort(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}

fn machine_lock(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().set_lock(user, c.arg(0), &c.body, true)?;
    render_machine_reply(sh, mid)
}

fn machine_unlock(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh.write().set_lock(user, c.arg(0), &c.body, false)?;
    render_machine_reply(sh, mid)
}

fn machine_set_workload_annotations(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let mid = sh
        .write()
        .set_workload_annotations(user, c.arg(0), &c.body)?;
    render_machine_reply(sh, mid)
}
