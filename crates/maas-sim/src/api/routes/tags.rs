//! `tags/`.

#[allow(unused_imports)]
use super::prelude::*;

/// This resource's routes, in the table's order.
pub(super) fn resources() -> Vec<ResourceDef> {
    vec![
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
                admin(a("PUT", None, "Update a tag (admin).", tag_update)),
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
    ]
}

fn tags_list(sh: &Api, _c: &Ctx) -> HandlerResult {
    let v: Vec<Value> = sh.state.read().tags.values().map(render::tag).collect();
    Ok(Reply::json(&v))
}

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

/// `PUT tags/{name}/` (TagForm: name, comment, definition, kernel_opts;
/// a rename follows on every tagged machine).
fn tag_update(sh: &Api, c: &Ctx) -> HandlerResult {
    let mut st = sh.write();
    let old = c.arg(0).to_string();
    let Some(mut tag) = st.tags.get(&old).cloned() else {
        return Err(MaasError::no_match("Tag"));
    };
    let mut errors = std::collections::BTreeMap::new();
    if let Some(raw) = c.body.get("name") {
        match validate::form_name(Some(raw), NAME_MAX, validate::tag_name) {
            Ok(n) if n != old && st.tags.contains_key(n) => {
                errors.insert(
                    "name".to_string(),
                    vec!["Tag with this Name already exists.".to_string()],
                );
            }
            Ok(n) => tag.name = n.to_string(),
            Err(m) => {
                errors.insert("name".to_string(), vec![m]);
            }
        }
    }
    if let Some(d) = c.body.get("definition") {
        match validate::tag_definition(d) {
            Ok(()) => tag.definition = d.to_string(),
            Err(m) => {
                errors.insert("definition".to_string(), vec![m]);
            }
        }
    }
    if !errors.is_empty() {
        return Err(MaasError::form(errors));
    }
    if let Some(comment) = c.body.get("comment") {
        tag.comment = comment.to_string();
    }
    if let Some(k) = c.body.get("kernel_opts") {
        tag.kernel_opts = Some(k.to_string());
    }
    if tag.name != old {
        st.tags.remove(&old);
        for m in st.machines.values_mut() {
            if m.tags.remove(&old) {
                m.tags.insert(tag.name.clone());
            }
        }
    }
    let v = render::tag(&tag);
    st.tags.insert(tag.name.clone(), tag);
    drop(st);
    Ok(Reply::json(&v))
}
