//! The CRD reference (`docs/reference/crds.md`), generated from the
//! OpenAPI schemas of [`capi_types::crds::all()`]: one table of fields per
//! kind for `spec` and `status`, and the CEL validation rules with their
//! messages.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use crate::cli_doc::escape_cell;
use crate::error::{Error, Result};

/// One row of a field table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// `spec.release.erase`, `status.conditions[].type`
    pub path: String,
    /// `string`, `[]string`, `map[string]string`, `integer (int32)`, ...
    pub type_name: String,
    /// Listed in its parent's `required`.
    pub required: bool,
    /// enum, bounds, lengths, pattern, default, list type.
    pub constraints: Vec<String>,
    /// The schema's description on one line.
    pub description: String,
}

/// One CEL rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// Where the rule sits (`spec`, `spec.tags[]`, ...).
    pub path: String,
    /// The CEL expression.
    pub rule: String,
    /// The message shown when it fails.
    pub message: String,
    /// The rule compares with `oldSelf`: it runs on updates only.
    pub on_update: bool,
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn type_name(schema: &Value) -> String {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return "int-or-string".into();
    }
    let t = schema.get("type").and_then(Value::as_str).unwrap_or("");
    match t {
        "array" => format!(
            "[]{}",
            schema
                .get("items")
                .map(type_name)
                .unwrap_or_else(|| "any".into())
        ),
        "object" => match schema.get("additionalProperties") {
            Some(ap) if ap.is_object() => format!("map[string]{}", type_name(ap)),
            _ => "object".into(),
        },
        "" if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {
            "any".into()
        }
        "" => "any".into(),
        t => match schema.get("format").and_then(Value::as_str) {
            Some(f) => format!("{t} ({f})"),
            None => t.to_owned(),
        },
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn constraints(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out.push(format!(
            "one of: {}",
            values.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ));
    }
    let num = |k: &str| schema.get(k).map(scalar);
    match (num("minimum"), num("maximum")) {
        (Some(a), Some(b)) => out.push(format!("{a}–{b}")),
        (Some(a), None) => out.push(format!("≥ {a}")),
        (None, Some(b)) => out.push(format!("≤ {b}")),
        (None, None) => {}
    }
    for (min, max, what) in [
        ("minLength", "maxLength", "length"),
        ("minItems", "maxItems", "items"),
        ("minProperties", "maxProperties", "entries"),
    ] {
        match (num(min), num(max)) {
            (Some(a), Some(b)) => out.push(format!("{what} {a}–{b}")),
            (Some(a), None) => out.push(format!("{what} ≥ {a}")),
            (None, Some(b)) => out.push(format!("{what} ≤ {b}")),
            (None, None) => {}
        }
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        out.push(format!("pattern `{p}`"));
    }
    if let Some(d) = schema.get("default") {
        out.push(format!("default `{}`", scalar(d)));
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().map(scalar).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            out.push(format!("list-map keyed by {keys}"));
        }
        Some(t) => out.push(format!("list-type {t}")),
        None => {}
    }
    out
}

fn rules_of(schema: &Value, path: &str, rules: &mut Vec<RuleRow>) {
    for r in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rule = r.get("rule").and_then(Value::as_str).unwrap_or("");
        let message = r
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| r.get("messageExpression").and_then(Value::as_str))
            .unwrap_or("");
        rules.push(RuleRow {
            path: path.to_owned(),
            rule: one_line(rule),
            message: one_line(message),
            on_update: rule.contains("oldSelf"),
        });
    }
}

/// Walks `schema` (the schema of `path`), appending rows for its children.
fn walk(schema: &Value, path: &str, rows: &mut Vec<FieldRow>, rules: &mut Vec<RuleRow>) {
    rules_of(schema, path, rules);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let child_path = format!("{path}.{name}");
            rows.push(FieldRow {
                path: child_path.clone(),
                type_name: type_name(child),
                required: required.contains(&name.as_str()),
                constraints: constraints(child),
                description: one_line(
                    child
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                ),
            });
            walk(child, &child_path, rows, rules);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        let item_path = format!("{path}[]");
        walk(items, &item_path, rows, rules);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, &format!("{path}[*]"), rows, rules);
    }
}

/// Field rows and CEL rules of one CRD version's `spec` and `status`.
///
/// # Errors
/// [`Error::Invalid`] when the CRD has no schema.
pub fn fields(crd: &CustomResourceDefinition) -> Result<(Vec<FieldRow>, Vec<RuleRow>)> {
    let kind = &crd.spec.names.kind;
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .ok_or_else(|| Error::Invalid(format!("{kind}: no storage version")))?;
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or_else(|| Error::Invalid(format!("{kind}: no schema")))?;
    let schema = serde_json::to_value(schema)
        .map_err(|e| Error::Invalid(format!("{kind}: schema is not JSON: {e}")))?;
    let mut rows = Vec::new();
    let mut rules = Vec::new();
    for top in ["spec", "status"] {
        if let Some(s) = schema.pointer(&format!("/properties/{top}")) {
            walk(s, top, &mut rows, &mut rules);
        }
    }
    Ok((rows, rules))
}

fn render_crd(crd: &CustomResourceDefinition, out: &mut String) -> Result<()> {
    let names = &crd.spec.names;
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.as_str())
        .unwrap_or("");
    out.push_str(&format!("## {}\n\n", names.kind));
    let mut facts = vec![
        format!("`{}/{version}`", crd.spec.group),
        crd.spec.scope.to_lowercase(),
        format!("CRD `{}`", crd.metadata.name.as_deref().unwrap_or("")),
    ];
    if let Some(short) = names.short_names.as_ref().filter(|s| !s.is_empty()) {
        facts.push(format!(
            "short names {}",
            short
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(cats) = names.categories.as_ref().filter(|s| !s.is_empty()) {
        facts.push(format!(
            "categories {}",
            cats.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&facts.join(", "));
    out.push_str(".\n\n");
    if let Some(labels) = crd.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        out.push_str("Labels: ");
        out.push_str(
            &labels
                .iter()
                .map(|(k, v)| format!("`{k}: \"{v}\"`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push_str(".\n\n");
    }
    let (rows, rules) = fields(crd)?;
    for top in ["spec", "status"] {
        let mine: Vec<&FieldRow> = rows
            .iter()
            .filter(|r| r.path.starts_with(&format!("{top}.")))
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "### `{top}`\n\n| Field | Type | Required | Constraints | Description |\n|---|---|---|---|---|\n"
        ));
        for r in mine {
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                r.path,
                r.type_name,
                if r.required { "yes" } else { "" },
                escape_cell(&r.constraints.join("; ")),
                escape_cell(&r.description),
            ));
        }
        out.push('\n');
    }
    if !rules.is_empty() {
        out.push_str(
            "### Validation rules (CEL)\n\n| On | When | Message | Rule |\n|---|---|---|---|\n",
        );
        for r in &rules {
            out.push_str(&format!(
                "| `{}` | {} | {} | `{}` |\n",
                r.path,
                if r.on_update { "update" } else { "always" },
                escape_cell(&r.message),
                r.rule.replace('|', "\\|"),
            ));
        }
        out.push('\n');
    }
    Ok(())
}

/// The whole page for the given CRDs (in the given order).
///
/// # Errors
/// See [`fields`].
pub fn render(crds: &[CustomResourceDefinition]) -> Result<String> {
    let mut out = String::from(
        "# CRD reference\n\n\
         <!-- Generated by `make docs` from capi_types::crds::all(). Do not edit: \
         crates/release-tests/tests/docs.rs fails when this page is stale. -->\n\n\
         The provider's custom resources, field by field, as the apiserver validates them. \
         [Custom resources](../crds.md) explains them with examples.\n\n",
    );
    for crd in crds {
        render_crd(crd, &mut out)?;
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

/// [`render`] over [`capi_types::crds::all()`], sorted by kind.
///
/// # Errors
/// CRD generation failures and see [`fields`].
pub fn render_all() -> Result<String> {
    let mut crds = capi_types::crds::all()?;
    crds.sort_by(|a, b| a.spec.names.kind.cmp(&b.spec.names.kind));
    render(&crds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_names() {
        assert_eq!(type_name(&json!({"type": "string"})), "string");
        assert_eq!(
            type_name(&json!({"type": "integer", "format": "int32"})),
            "integer (int32)"
        );
        assert_eq!(
            type_name(&json!({"type": "array", "items": {"type": "string"}})),
            "[]string"
        );
        assert_eq!(
            type_name(&json!({"type": "object", "additionalProperties": {"type": "string"}})),
            "map[string]string"
        );
        assert_eq!(
            type_name(&json!({"x-kubernetes-int-or-string": true})),
            "int-or-string"
        );
        assert_eq!(type_name(&json!({"type": "object"})), "object");
    }

    #[test]
    fn constraints_are_listed() {
        let c = constraints(&json!({
            "enum": ["none", "quick"], "minimum": 1, "maxLength": 64, "minLength": 1,
            "pattern": "^a$", "default": false, "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"]
        }));
        assert_eq!(
            c,
            vec![
                "one of: none, quick",
                "≥ 1",
                "length 1–64",
                "pattern `^a$`",
                "default `false`",
                "list-map keyed by type"
            ]
        );
    }

    #[test]
    fn walks_nested_fields_required_flags_and_rules() {
        let schema = json!({
            "type": "object", "required": ["image"],
            "x-kubernetes-validations": [{"rule": "self.image == oldSelf.image", "message": "image is immutable"}],
            "properties": {
                "image": {"type": "string", "description": "The\n  image."},
                "tags": {"type": "array", "items": {"type": "string",
                    "x-kubernetes-validations": [{"rule": "self != ''", "message": "no empty tags"}]}},
                "release": {"type": "object", "properties": {"erase": {"type": "string"}}}
            }
        });
        let mut rows = Vec::new();
        let mut rules = Vec::new();
        walk(&schema, "spec", &mut rows, &mut rules);
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "spec.image",
                "spec.release",
                "spec.release.erase",
                "spec.tags"
            ]
        );
        assert!(rows[0].required && !rows[1].required);
        assert_eq!(rows[0].description, "The image.");
        assert_eq!(rules.len(), 2);
        assert!(rules[0].on_update && rules[0].path == "spec");
        assert!(!rules[1].on_update && rules[1].path == "spec.tags[]");
    }

    #[test]
    fn the_real_crds_render_every_kind_and_every_spec_field() {
        let md = render_all().unwrap();
        for kind in [
            "MaasCluster",
            "MaasClusterTemplate",
            "MaasMachine",
            "MaasMachineTemplate",
        ] {
            assert!(md.contains(&format!("\n## {kind}\n")), "{kind} missing");
        }
        for field in [
            "`spec.image`",
            "`spec.ephemeral`",
            "`spec.dnsDomain`",
            "`spec.template.spec.minMemory`",
        ] {
            assert!(md.contains(field), "{field} missing");
        }
        assert!(md.contains("image is immutable"));
    }
}
