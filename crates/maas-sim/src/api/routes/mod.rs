//! The route table and the handler functions behind it.

pub(crate) mod events;

use super::reply::{self, VMHOST_REMOVED};
use super::{ActionDef, Ctx, Exec, HandlerDef, HandlerResult, MaasError, Reply, ResourceDef};
use crate::api::Api;
use crate::api::render;
use crate::domain::machines::Perm;
use crate::domain::validate;
use crate::model::version::MaasVersion;
use crate::model::*;
use http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

fn a(
    method: &'static str,
    op: Option<&'static str>,
    doc: &'static str,
    f: super::SyncFn,
) -> ActionDef {
    ActionDef {
        method,
        op,
        admin: false,
        doc,
        exec: Exec::Sync(f),
    }
}

fn admin(mut action: ActionDef) -> ActionDef {
    action.admin = true;
    action
}

fn aa(
    method: &'static str,
    op: Option<&'static str>,
    doc: &'static str,
    f: super::AsyncFn,
) -> ActionDef {
    ActionDef {
        method,
        op,
        admin: false,
        doc,
        exec: Exec::Async(f),
    }
}

fn h(
    name: &'static str,
    doc: &'static str,
    path: &'static str,
    params: &'static [&'static str],
    actions: Vec<ActionDef>,
) -> HandlerDef {
    HandlerDef {
        name,
        doc,
        path,
        params,
        actions,
    }
}

fn auth(handler: HandlerDef) -> ResourceDef {
    ResourceDef {
        auth: Some(handler),
        anon: None,
        extra_patterns: &[],
    }
}

fn vmhosts_handler(name: &'static str, path: &'static str) -> HandlerDef {
    h(
        name,
        "Manage the collection of all VM hosts in MAAS.",
        path,
        &[],
        vec![
            a("GET", None, "List VM hosts.", vmhosts_list),
            admin(aa("POST", None, "Create a VM host.", vmhost_create)),
        ],
    )
}

fn vmhost_handler(name: &'static str, path: &'static str) -> HandlerDef {
    h(
        name,
        "Manage an individual VM host, identified by its id.",
        path,
        &["id"],
        vec![
            a("GET", None, "Read a VM host.", vmhost_read),
            admin(aa("PUT", None, "Update a VM host.", vmhost_update)),
            admin(a(
                "DELETE",
                None,
                "Delete a VM host (decompose=true also deletes its VMs).",
                vmhost_delete,
            )),
            admin(a(
                "GET",
                Some("parameters"),
                "Obtain the VM host's power parameters.",
                vmhost_parameters,
            )),
            admin(a(
                "POST",
                Some("compose"),
                "Compose a machine on the VM host.",
                vmhost_compose,
            )),
            admin(aa(
                "POST",
                Some("refresh"),
                "Re-discover the VM host's resources.",
                vmhost_refresh,
            )),
            admin(a(
                "POST",
                Some("add_tag"),
                "Add a tag to the VM host.",
                vmhost_add_tag,
            )),
            admin(a(
                "POST",
                Some("remove_tag"),
                "Remove a tag from the VM host.",
                vmhost_remove_tag,
            )),
        ],
    )
}

/// Every resource the simulator serves.
pub(super) fn build_table() -> Vec<ResourceDef> {
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
        auth(vmhosts_handler("VmHostsHandler", "/MAAS/api/2.0/vm-hosts/")),
        auth(vmhost_handler(
            "VmHostHandler",
            "/MAAS/api/2.0/vm-hosts/{id}/",
        )),
        auth(vmhosts_handler("PodsHandler", "/MAAS/api/2.0/pods/")),
        auth(vmhost_handler("PodHandler", "/MAAS/api/2.0/pods/{id}/")),
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
        auth(h(
            "FabricsHandler",
            "Manage fabrics.",
            "/MAAS/api/2.0/fabrics/",
            &[],
            vec![a("GET", None, "List fabrics.", fabrics_list)],
        )),
        auth(h(
            "FabricHandler",
            "Manage a fabric.",
            "/MAAS/api/2.0/fabrics/{id}/",
            &["id"],
            vec![a("GET", None, "Read a fabric.", fabric_read)],
        )),
        auth(h(
            "VlansHandler",
            "Manage VLANs on a fabric.",
            "/MAAS/api/2.0/fabrics/{fabric_id}/vlans/",
            &["fabric_id"],
            vec![a("GET", None, "List VLANs on a fabric.", vlans_list)],
        )),
        ResourceDef {
            auth: Some(h(
                "VlanHandler",
                "Manage a VLAN on a fabric.",
                "/MAAS/api/2.0/fabrics/{fabric_id}/vlans/{vid}/",
                &["fabric_id", "vid"],
                vec![a("GET", None, "Read a VLAN.", vlan_read)],
            )),
            anon: None,
            extra_patterns: &["vlans/{vlan_id}/"],
        },
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
            vec![a("GET", None, "Read a subnet.", subnet_read)],
        )),
        auth(h(
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
        )),
        auth(h(
            "DNSResourcesHandler",
            "Manage DNS resources.",
            "/MAAS/api/2.0/dnsresources/",
            &[],
            vec![
                a("GET", None, "List DNS resources.", dnsresources_list),
                admin(a(
                    "POST",
                    None,
                    "Create a DNS resource.",
                    dnsresources_create,
                )),
            ],
        )),
        auth(h(
            "DNSResourceHandler",
            "Manage a DNS resource.",
            "/MAAS/api/2.0/dnsresources/{id}/",
            &["id"],
            vec![
                a("GET", None, "Read a DNS resource.", dnsresource_read),
                a("PUT", None, "Update a DNS resource.", dnsresource_update),
                a("DELETE", None, "Delete a DNS resource.", dnsresource_delete),
            ],
        )),
        auth(h(
            "DomainsHandler",
            "Manage domains.",
            "/MAAS/api/2.0/domains/",
            &[],
            vec![
                a("GET", None, "List domains.", domains_list),
                admin(a("POST", None, "Create a domain.", domains_create)),
            ],
        )),
        auth(h(
            "DomainHandler",
            "Manage a domain.",
            "/MAAS/api/2.0/domains/{id}/",
            &["id"],
            vec![a("GET", None, "Read a domain.", domain_read)],
        )),
        auth(h(
            "ZonesHandler",
            "Manage physical zones.",
            "/MAAS/api/2.0/zones/",
            &[],
            vec![
                a("GET", None, "List zones.", zones_list),
                admin(a("POST", None, "Create a zone.", zones_create)),
            ],
        )),
        auth(h(
            "ZoneHandler",
            "Manage a physical zone, identified by name.",
            "/MAAS/api/2.0/zones/{name}/",
            &["name"],
            vec![
                a("GET", None, "Read a zone.", zone_read),
                admin(a("DELETE", None, "Delete a zone.", zone_delete)),
            ],
        )),
        auth(h(
            "ResourcePoolsHandler",
            "Manage resource pools.",
            "/MAAS/api/2.0/resourcepools/",
            &[],
            vec![
                a("GET", None, "List resource pools.", pools_list),
                a(
                    "POST",
                    None,
                    "Create a resource pool (admin).",
                    pools_create,
                ),
            ],
        )),
        auth(h(
            "ResourcePoolHandler",
            "Manage a resource pool, identified by id or name.",
            "/MAAS/api/2.0/resourcepool/{id}/",
            &["id"],
            vec![a("GET", None, "Read a resource pool.", pool_read)],
        )),
        auth(h(
            "TagsHandler",
            "Manage all tags known to MAAS.",
            "/MAAS/api/2.0/tags/",
            &[],
            vec![
                a("GET", None, "List tags.", tags_list),
                a("POST", None, "Create a tag (admin).", tags_create),
            ],
        )),
        auth(h(
            "TagHandler",
            "Manage a tag, identified by name.",
            "/MAAS/api/2.0/tags/{name}/",
            &["name"],
            vec![
                a("GET", None, "Read a tag.", tag_read),
                a("DELETE", None, "Delete a tag (admin).", tag_delete),
                a(
                    "GET",
                    Some("machines"),
                    "List the machines carrying the tag.",
                    tag_machines,
                ),
                a(
                    "POST",
                    Some("update_nodes"),
                    "Add or remove the tag on nodes (admin).",
                    tag_update_nodes,
                ),
            ],
        )),
        ResourceDef {
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
        },
        auth(h(
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
        )),
        auth(h(
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
        )),
        auth(h(
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
        )),
    ]
}

// ----- machines -------------------------------------------------------------

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

// ----- VM hosts ---------------------------------------------------------------

fn gone_if_removed(sh: &Api) -> Result<(), MaasError> {
    if sh.version >= MaasVersion::V3_8 {
        Err(MaasError::gone(VMHOST_REMOVED))
    } else {
        Ok(())
    }
}

fn vmhost_id(sh: &Api, c: &Ctx) -> Result<u64, MaasError> {
    let not_found = || MaasError::http404("Not Found");
    let id: u64 = c.arg(0).parse().map_err(|_| not_found())?;
    if sh.state.read().vmhosts.contains_key(&id) {
        Ok(id)
    } else {
        Err(not_found())
    }
}

fn vmhost_reply(sh: &Api, id: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.vmhosts.get(&id) {
            Some(h) => render::vmhost(&st, h),
            None => return Err(MaasError::http404("Not Found")),
        }
    };
    Ok(Reply::json(&v))
}

fn vmhosts_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let values: Vec<Value> = {
        let st = sh.state.read();
        st.vmhosts
            .values()
            .map(|h| render::vmhost(&st, h))
            .collect()
    };
    Ok(Reply::json(&values))
}

fn vmhost_read(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let id = vmhost_id(sh, c)?;
    vmhost_reply(sh, id)
}

fn vmhost_create(sh: Arc<Api>, c: Ctx) -> futures::future::BoxFuture<'static, HandlerResult> {
    Box::pin(async move {
        gone_if_removed(&sh)?;
        let draft = sh.write().prepare_vmhost(&c.body, None)?;
        let request = draft.discovery_request();
        let discovered = sh.discovery.discover(&request).await;
        if let Err(e) = &discovered {
            tracing::info!(vmhost = %request.name, error = %e, "VM host discovery failed; saved anyway");
        }
        let id = sh.write().save_vmhost(draft, discovered.ok());
        vmhost_reply(&sh, id)
    })
}

fn vmhost_update(sh: Arc<Api>, c: Ctx) -> futures::future::BoxFuture<'static, HandlerResult> {
    Box::pin(async move {
        gone_if_removed(&sh)?;
        let id = vmhost_id(&sh, &c)?;
        let draft = sh.write().prepare_vmhost(&c.body, Some(id))?;
        let request = draft.discovery_request();
        let discovered = sh.discovery.discover(&request).await.ok();
        let id = sh.write().save_vmhost(draft, discovered);
        vmhost_reply(&sh, id)
    })
}

fn vmhost_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let id = vmhost_id(sh, c)?;
    let decompose = c.query.get("decompose").map(|v| {
        let l = v.to_ascii_lowercase();
        !(l.is_empty() || l == "false" || l == "0")
    });
    sh.write().delete_vmhost(id, decompose.unwrap_or(false));
    Ok(Reply::deleted())
}

fn vmhost_parameters(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let id = vmhost_id(sh, c)?;
    let v = sh
        .state
        .read()
        .vmhosts
        .get(&id)
        .map(render::vmhost_parameters)
        .unwrap_or(Value::Null);
    Ok(Reply::json(&v))
}

fn vmhost_compose(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let user = c.user()?;
    let id = vmhost_id(sh, c)?;
    let mid = sh.write().compose(user, id, &c.body, false)?;
    let sid = sh
        .state
        .read()
        .machines
        .get(&mid)
        .map(|m| m.system_id.clone())
        .unwrap_or_default();
    Ok(Reply::json(&json!({
        "system_id": sid,
        "resource_uri": format!("/MAAS/api/2.0/machines/{sid}/"),
    })))
}

fn vmhost_refresh(sh: Arc<Api>, c: Ctx) -> futures::future::BoxFuture<'static, HandlerResult> {
    Box::pin(async move {
        gone_if_removed(&sh)?;
        let id = vmhost_id(&sh, &c)?;
        let request = {
            let st = sh.state.read();
            let host = st
                .vmhosts
                .get(&id)
                .cloned()
                .ok_or_else(|| MaasError::http404("Not Found"))?;
            crate::domain::vmhost::VmHostDraft {
                existing: Some(id),
                host,
            }
            .discovery_request()
        };
        match sh.discovery.discover(&request).await {
            Ok(d) => {
                sh.write().refresh_vmhost(id, d);
                vmhost_reply(&sh, id)
            }
            Err(e) => Err(MaasError::unavailable(e.message)),
        }
    })
}

fn vmhost_add_tag(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let tag = c.body.required("tag")?.to_string();
    if tag.contains(',') {
        return Err(MaasError::bad_request("Tag may not contain a \",\"."));
    }
    let id = vmhost_id(sh, c)?;
    if let Some(h) = sh.write().vmhosts.get_mut(&id)
        && !h.tags.contains(&tag)
    {
        h.tags.push(tag);
    }
    vmhost_reply(sh, id)
}

fn vmhost_remove_tag(sh: &Api, c: &Ctx) -> HandlerResult {
    gone_if_removed(sh)?;
    let tag = c.body.required("tag")?.to_string();
    let id = vmhost_id(sh, c)?;
    if let Some(h) = sh.write().vmhosts.get_mut(&id) {
        h.tags.retain(|t| t != &tag);
    }
    vmhost_reply(sh, id)
}

// ----- interfaces ---------------------------------------------------------------

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

// ----- fabrics, VLANs, subnets -------------------------------------------------------

fn fabrics_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        st.fabrics
            .values()
            .map(|f| render::fabric(&st, f))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn fabric_by_spec(st: &crate::domain::state::State, spec: &str) -> Option<u64> {
    st.fabrics
        .values()
        .find(|f| f.id.to_string() == spec || f.name == spec)
        .map(|f| f.id)
}

fn fabric_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
        match st.fabrics.get(&id) {
            Some(f) => render::fabric(&st, f),
            None => return Err(MaasError::no_match("Fabric")),
        }
    };
    Ok(Reply::json(&v))
}

fn vlans_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let fid = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
        st.vlans
            .values()
            .filter(|v| v.fabric_id == fid)
            .map(|v| render::vlan(&st, v.id))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn vlan_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = if c.args.len() == 1 {
            c.arg(0)
                .parse::<u64>()
                .ok()
                .filter(|id| st.vlans.contains_key(id))
        } else {
            let fid = fabric_by_spec(&st, c.arg(0)).ok_or_else(|| MaasError::no_match("Fabric"))?;
            st.vlans
                .values()
                .find(|v| v.fabric_id == fid && v.vid.to_string() == c.arg(1))
                .map(|v| v.id)
        };
        let id = id.ok_or_else(|| MaasError::no_match("VLAN"))?;
        render::vlan(&st, id)
    };
    Ok(Reply::json(&v))
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

// ----- IP addresses and DNS -----------------------------------------------------------

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

fn dnsresources_list(sh: &Api, c: &Ctx) -> HandlerResult {
    let q = &c.query;
    let all = q.bool_or("all", false)?;
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut name = q.get("name").map(str::to_string);
        let mut domain = q.get("domain").map(str::to_string);
        if name.is_none()
            && domain.is_none()
            && let Some(fqdn) = q.get("fqdn")
        {
            let (n, d) = fqdn.split_once('.').unwrap_or((fqdn, ""));
            name = Some(n.to_string());
            domain = Some(d.to_string());
        }
        let domain_id = match domain.as_deref() {
            Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                let id: u64 = d.parse().unwrap_or(u64::MAX);
                Some(
                    st.domains
                        .get(&id)
                        .map(|x| x.id)
                        .ok_or_else(|| MaasError::no_match("Domain"))?,
                )
            }
            Some(d) => Some(
                st.domain_by_name(d)
                    .map(|x| x.id)
                    .ok_or_else(|| MaasError::no_match("Domain"))?,
            ),
            None => None,
        };
        let rrtype = q.get("rrtype").map(|r| r.to_ascii_uppercase());
        let mut records: Vec<&DnsResource> = st
            .dnsresources
            .values()
            .filter(|d| domain_id.map(|id| d.domain_id == id).unwrap_or(true))
            .filter(|d| name.as_ref().map(|n| &d.name == n).unwrap_or(true))
            .filter(|d| match rrtype.as_deref() {
                None => true,
                Some("A") | Some("AAAA") => !d.ip_ids.is_empty(),
                Some(_) => false,
            })
            .collect();
        records.sort_by(|a, b| (a.domain_id, &a.name).cmp(&(b.domain_id, &b.name)));
        let mut out: Vec<Value> = records
            .into_iter()
            .map(|d| render::dnsresource(&st, d))
            .collect();
        if all {
            for m in st.machines.values() {
                if domain_id.map(|id| m.domain_id != id).unwrap_or(false) {
                    continue;
                }
                if name.as_ref().map(|n| n != &m.hostname).unwrap_or(false) {
                    continue;
                }
                let ips = st.machine_ips(m);
                if ips.is_empty() {
                    continue;
                }
                let rrs: Vec<Value> = ips
                    .iter()
                    .map(|ip| {
                        json!({
                            "ttl": null,
                            "rrtype": if ip.is_ipv4() { "A" } else { "AAAA" },
                            "rrdata": ip.to_string(),
                            "system_id": m.system_id,
                            "node_type": 0,
                            "dnsresource_id": null,
                            "user_id": null,
                        })
                    })
                    .collect();
                out.push(json!({
                    "id": -1,
                    "fqdn": st.fqdn(m),
                    "address_ttl": null,
                    "ip_addresses": null,
                    "resource_records": rrs,
                    "resource_uri": "/MAAS/api/2.0/dnsresources/-1/",
                }));
            }
        }
        out
    };
    Ok(Reply::json(&v))
}

fn dnsresource_reply(sh: &Api, id: u64) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        match st.dnsresources.get(&id) {
            Some(d) => render::dnsresource(&st, d),
            None => return Err(MaasError::no_match("DNSResource")),
        }
    };
    Ok(Reply::json(&v))
}

fn dnsresources_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().create_dnsresource(user, &c.body)?;
    dnsresource_reply(sh, id)
}

fn dnsresource_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let id: u64 = c
        .arg(0)
        .parse()
        .map_err(|_| MaasError::no_match("DNSResource"))?;
    dnsresource_reply(sh, id)
}

fn dnsresource_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let id = sh.write().update_dnsresource(user, c.arg(0), &c.body)?;
    dnsresource_reply(sh, id)
}

fn dnsresource_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    sh.write().delete_dnsresource(user, c.arg(0))?;
    Ok(Reply::deleted())
}

fn domains_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut ds: Vec<&Domain> = st.domains.values().collect();
        ds.sort_by(|a, b| a.name.cmp(&b.name));
        ds.into_iter().map(|d| render::domain(&st, d.id)).collect()
    };
    Ok(Reply::json(&v))
}

/// `POST domains/` (admin): MAAS's `DomainsHandler.create` with `DomainForm` (name, ttl,
/// authoritative; the name is unique).
fn domains_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let ttl = c.body.opt_int("ttl")?;
    let authoritative = c.body.bool_or("authoritative", true)?;
    let v = {
        let mut st = sh.write();
        let name = validate::domain_name(c.body.get("name"))
            .map_err(|msgs| MaasError::fields("name", msgs))?;
        if st.domains.values().any(|d| d.name == name) {
            return Err(MaasError::field(
                "name",
                "Domain with this Name already exists.",
            ));
        }
        let id = st.add_domain(&name, ttl, authoritative);
        render::domain(&st, id)
    };
    Ok(Reply::json(&v))
}

fn domain_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .domains
            .values()
            .find(|d| d.id.to_string() == c.arg(0) || d.name == c.arg(0))
            .map(|d| d.id)
            .ok_or_else(|| MaasError::no_match("Domain"))?;
        render::domain(&st, id)
    };
    Ok(Reply::json(&v))
}

// ----- zones, pools, tags ---------------------------------------------------------------

fn zones_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut zs: Vec<&Zone> = st.zones.values().collect();
        zs.sort_by(|a, b| a.name.cmp(&b.name));
        zs.into_iter().map(|z| render::zone(&st, z.id)).collect()
    };
    Ok(Reply::json(&v))
}

fn zones_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let name = validate::form_name(c.body.get("name"), NAME_MAX, validate::model_name)
        .map_err(|m| MaasError::field("name", m))?;
    let description = c.body.get("description").unwrap_or("").to_string();
    let v = {
        let mut st = sh.write();
        if st.zone_by_name(name).is_some() {
            return Err(MaasError::field(
                "name",
                "Physical zone with this Name already exists.",
            ));
        }
        let id = st.add_zone(name, &description);
        render::zone(&st, id)
    };
    Ok(Reply::json(&v))
}

fn zone_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .zone_by_name(c.arg(0))
            .map(|z| z.id)
            .ok_or_else(|| MaasError::no_match("Zone"))?;
        render::zone(&st, id)
    };
    Ok(Reply::json(&v))
}

fn zone_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let mut st = sh.write();
    if let Some(id) = st.zone_by_name(c.arg(0)).map(|z| z.id) {
        if id == crate::domain::state::DEFAULT_ZONE_ID {
            return Err(MaasError::bad_request(
                "This zone is the default zone, it cannot be deleted.",
            ));
        }
        st.zones.remove(&id);
        for m in st.machines.values_mut() {
            if m.zone_id == id {
                m.zone_id = crate::domain::state::DEFAULT_ZONE_ID;
            }
        }
        for h in st.vmhosts.values_mut() {
            if h.zone_id == id {
                h.zone_id = crate::domain::state::DEFAULT_ZONE_ID;
            }
        }
    }
    Ok(Reply::deleted())
}

fn pools_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = {
        let st = sh.state.read();
        let mut ps: Vec<&Pool> = st.pools.values().collect();
        ps.sort_by(|a, b| a.name.cmp(&b.name));
        ps.into_iter().map(|p| render::pool(&st, p.id)).collect()
    };
    Ok(Reply::json(&v))
}

fn pools_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    if !user.is_superuser {
        return Err(MaasError::forbidden(""));
    }
    let name = validate::form_name(c.body.get("name"), NAME_MAX, validate::model_name)
        .map_err(|m| MaasError::field("name", m))?;
    let description = c.body.get("description").unwrap_or("").to_string();
    let v = {
        let mut st = sh.write();
        if st.pool_by_name(name).is_some() {
            return Err(MaasError::field(
                "name",
                "Resource pool with this Name already exists.",
            ));
        }
        let id = st.add_pool(name, &description);
        render::pool(&st, id)
    };
    Ok(Reply::json(&v))
}

fn pool_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = {
        let st = sh.state.read();
        let id = st
            .pools
            .values()
            .find(|p| p.id.to_string() == c.arg(0) || p.name == c.arg(0))
            .map(|p| p.id)
            .ok_or_else(|| MaasError::no_match("ResourcePool"))?;
        render::pool(&st, id)
    };
    Ok(Reply::json(&v))
}

fn tags_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = sh.state.read().tags.values().map(render::tag).collect();
    Ok(Reply::json(&v))
}

/// `max_length` of the name of zones, resource pools and tags.
const NAME_MAX: usize = 256;

fn tags_create(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    if !user.is_superuser {
        return Err(MaasError::forbidden(""));
    }
    // TagForm: every field's error is reported.
    let mut errors = std::collections::BTreeMap::new();
    let name = match validate::form_name(c.body.get("name"), NAME_MAX, validate::tag_name) {
        Ok(n) => n.to_string(),
        Err(m) => {
            errors.insert("name".to_string(), vec![m]);
            String::new()
        }
    };
    if let Err(m) = validate::tag_definition(c.body.get("definition").unwrap_or("")) {
        errors.insert("definition".to_string(), vec![m]);
    }
    if !errors.is_empty() {
        return Err(MaasError::form(errors));
    }
    let mut st = sh.write();
    if st.tags.contains_key(&name) {
        return Err(MaasError::field(
            "name",
            "Tag with this Name already exists.",
        ));
    }
    let tag = Tag {
        name: name.clone(),
        definition: c.body.get("definition").unwrap_or("").to_string(),
        comment: c.body.get("comment").unwrap_or("").to_string(),
        kernel_opts: c.body.get("kernel_opts").map(str::to_string),
    };
    let v = render::tag(&tag);
    st.tags.insert(name, tag);
    drop(st);
    Ok(Reply::json(&v))
}

fn tag_read(sh: &Api, c: &Ctx) -> HandlerResult {
    let v = sh
        .state
        .read()
        .tags
        .get(c.arg(0))
        .map(render::tag)
        .ok_or_else(|| MaasError::no_match("Tag"))?;
    Ok(Reply::json(&v))
}

fn tag_delete(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    if !user.is_superuser {
        return Err(MaasError::forbidden(""));
    }
    let mut st = sh.write();
    if st.tags.remove(c.arg(0)).is_none() {
        return Err(MaasError::no_match("Tag"));
    }
    let name = c.arg(0).to_string();
    for m in st.machines.values_mut() {
        m.tags.remove(&name);
    }
    Ok(Reply::deleted())
}

fn tag_machines(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    let v: Vec<Value> = {
        let st = sh.state.read();
        if !st.tags.contains_key(c.arg(0)) {
            return Err(MaasError::no_match("Tag"));
        }
        st.machines
            .values()
            .filter(|m| m.tags.contains(c.arg(0)) && st.can_view(user, m))
            .map(|m| render::machine(&st, m))
            .collect()
    };
    Ok(Reply::json(&v))
}

fn tag_update_nodes(sh: &Api, c: &Ctx) -> HandlerResult {
    let user = c.user()?;
    if !user.is_superuser {
        return Err(MaasError::forbidden(""));
    }
    let mut st = sh.write();
    let name = c.arg(0).to_string();
    let Some(tag) = st.tags.get(&name).cloned() else {
        return Err(MaasError::no_match("Tag"));
    };
    if let Some(def) = c.body.get("definition")
        && def != tag.definition
    {
        return Err(MaasError::conflict(format!(
            "Definition supplied '{def}' doesn't match current definition '{}'",
            tag.definition
        )));
    }
    let add: Vec<u64> = c
        .body
        .get_list("add")
        .iter()
        .filter_map(|s| st.by_system_id.get(s).copied())
        .collect();
    let remove: Vec<u64> = c
        .body
        .get_list("remove")
        .iter()
        .filter_map(|s| st.by_system_id.get(s).copied())
        .collect();
    for id in &add {
        if let Some(m) = st.machines.get_mut(id) {
            m.tags.insert(name.clone());
        }
    }
    for id in &remove {
        if let Some(m) = st.machines.get_mut(id) {
            m.tags.remove(&name);
        }
    }
    drop(st);
    Ok(Reply::json(
        &json!({"added": add.len(), "removed": remove.len()}),
    ))
}

// ----- version, users, events, account ----------------------------------------------

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

fn users_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = sh.state.read().users.values().map(render::user).collect();
    Ok(Reply::json(&v))
}

fn users_whoami(_sh: &Api, c: &Ctx) -> HandlerResult {
    Ok(Reply::json(&render::user(c.user()?)))
}

fn events_query(sh: &Api, c: &Ctx) -> HandlerResult {
    crate::api::routes::events::query(sh, c)
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
