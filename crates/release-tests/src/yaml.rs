//! Multi-document YAML in and out (serde-saphyr, values as `serde_json::Value`).

use serde_json::Value;

use crate::error::{Error, Result};

fn options() -> serde_saphyr::Options {
    // CRD schemas nest deeply; lift the default depth budget.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 256;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Parses a YAML stream into its documents; empty documents are dropped.
///
/// # Errors
/// [`Error::Yaml`] naming `origin` when the text is not YAML.
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| Error::Yaml {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// One document as YAML (no leading `---`).
///
/// # Errors
/// [`Error::Yaml`] when serialization fails.
pub fn to_yaml(doc: &Value, origin: &str) -> Result<String> {
    serde_saphyr::to_string(doc).map_err(|e| Error::Yaml {
        origin: origin.to_owned(),
        message: e.to_string(),
    })
}

/// Joins YAML documents into one stream separated by `---` lines.
#[must_use]
pub fn join_documents<S: AsRef<str>>(docs: &[S]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let doc = doc.as_ref();
        out.push_str(doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// `kind` of a document, or `""`.
#[must_use]
pub fn kind(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name` of a document, or `""`.
#[must_use]
pub fn name(doc: &Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` of a document, if set.
#[must_use]
pub fn namespace(doc: &Value) -> Option<&str> {
    doc.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// `metadata.labels[key]`, if set.
#[must_use]
pub fn label<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// `Kind/name` (with `namespace/` when set), for messages.
#[must_use]
pub fn describe(doc: &Value) -> String {
    match namespace(doc) {
        Some(ns) => format!("{}/{ns}/{}", kind(doc), name(doc)),
        None => format!("{}/{}", kind(doc), name(doc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_streams_and_drops_empty_documents() {
        let docs = parse_documents("# only a comment\n---\na: 1\n---\n---\nb: [x]\n", "t").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["a"], 1);
        assert_eq!(docs[1]["b"][0], "x");
    }

    #[test]
    fn reports_the_origin_of_bad_yaml() {
        let err = parse_documents("a: [1\n", "my-file.yaml").unwrap_err();
        assert!(err.to_string().contains("my-file.yaml"), "{err}");
    }

    #[test]
    fn joins_with_separators_and_newlines() {
        assert_eq!(join_documents(&["a: 1", "b: 2\n"]), "a: 1\n---\nb: 2\n");
    }

    #[test]
    fn accessors_read_metadata() {
        let doc: Value = serde_json::json!({
            "kind": "Role",
            "metadata": {"name": "r", "namespace": "ns", "labels": {"k": "v"}}
        });
        assert_eq!(describe(&doc), "Role/ns/r");
        assert_eq!(label(&doc, "k"), Some("v"));
        assert_eq!(label(&doc, "x"), None);
    }
}
