//! `vm-hosts/` and `pods/` (the same handlers under both names).

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
        auth(vmhosts_handler("VmHostsHandler", "/MAAS/api/2.0/vm-hosts/")),
        auth(vmhost_handler(
            "VmHostHandler",
            "/MAAS/api/2.0/vm-hosts/{id}/",
        )),
        auth(vmhosts_handler("PodsHandler", "/MAAS/api/2.0/pods/")),
        auth(vmhost_handler("PodHandler", "/MAAS/api/2.0/pods/{id}/")),
    ]
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

fn gone_if_removed(sh: &Api) -> Result<(), MaasError> {
    if sh.version >= MaasVersion::V3_8 {
        Err(MaasError::gone(VMHOST_REMOVED))
    } else {
        Ok(())
    }
}

/// The VM host of the URL: a missing one is `Not Found` (piston's answer)
/// for a read, `No Pod matches the given query.` (`get_object_or_404`)
/// for every other action.
fn vmhost_id(sh: &Api, c: &Ctx) -> Result<u64, MaasError> {
    vmhost_id_or(sh, c, || MaasError::no_match("Pod"))
}

fn vmhost_id_or(sh: &Api, c: &Ctx, not_found: fn() -> MaasError) -> Result<u64, MaasError> {
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
    let id = vmhost_id_or(sh, c, || MaasError::http404("Not Found"))?;
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
