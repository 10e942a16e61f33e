//! One answer from each endpoint, normalised, and their differences: status, content type,
//! and the body — the JSON shape (key sets and types, recursively) of a 2xx JSON answer, the
//! exact text (or JSON value) of everything else, ids and hostnames normalised.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What one endpoint answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status (0: no answer).
    pub status: u16,
    /// The `Content-Type` header, as sent.
    pub content_type: String,
    /// The body.
    pub body: Body,
}

/// A body: JSON when it parses, else text.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(Value),
    /// Anything else (UTF-8, lossy).
    Text(String),
    /// The request failed before an answer (connection error).
    Failed(String),
}

impl Answer {
    /// Build from the raw parts.
    pub fn from_parts(status: u16, content_type: &str, body: &[u8]) -> Answer {
        let body = if body.is_empty() {
            Body::Empty
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => Body::Json(v),
                Err(_) => Body::Text(String::from_utf8_lossy(body).into_owned()),
            }
        };
        Answer {
            status,
            content_type: content_type.to_owned(),
            body,
        }
    }

    /// A request that got no answer.
    pub fn failed(message: String) -> Answer {
        Answer {
            status: 0,
            content_type: String::new(),
            body: Body::Failed(message),
        }
    }

    /// A short rendering for reports (at most `max` characters of body).
    pub fn summary(&self, max: usize) -> String {
        let body = match &self.body {
            Body::Empty => "(empty)".to_owned(),
            Body::Json(v) => v.to_string(),
            Body::Text(t) => format!("{t:?}"),
            Body::Failed(m) => format!("no answer: {m}"),
        };
        let body: String = if body.chars().count() > max {
            let cut: String = body.chars().take(max).collect();
            format!("{cut}…")
        } else {
            body
        };
        format!("{} [{}] {}", self.status, self.content_type, body)
    }
}

/// Replaces endpoint-specific values (captured ids, system ids, keys, the endpoint's origin)
/// with their names, and nonces and timestamps with placeholders, so two endpoints' texts
/// compare.
#[derive(Debug, Clone, Default)]
pub struct Normaliser {
    /// value → placeholder, longest value first.
    subs: Vec<(String, String)>,
    /// Values that several names share (`2`: a subnet id and a link id): the other names.
    collisions: Vec<(String, Vec<String>)>,
}

impl Normaliser {
    /// A normaliser for `values` (placeholder name, this endpoint's value), in priority
    /// order: when two values are equal the earlier name is used (see [`Normaliser::variants`]).
    pub fn new(values: &[(String, String)]) -> Normaliser {
        let mut subs: Vec<(usize, String, String)> = values
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| !v.is_empty())
            .map(|(i, (k, v))| (i, v.clone(), format!("${{{k}}}")))
            .collect();
        subs.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut kept: Vec<(String, String)> = Vec::new();
        let mut collisions: Vec<(String, Vec<String>)> = Vec::new();
        for (_, v, k) in subs {
            if kept.iter().any(|(kv, _)| *kv == v) {
                match collisions.iter_mut().find(|(cv, _)| *cv == v) {
                    Some((_, names)) => names.push(k),
                    None => collisions.push((v, vec![k])),
                }
            } else {
                kept.push((v, k));
            }
        }
        Normaliser {
            subs: kept,
            collisions,
        }
    }

    /// This normaliser and those that name shared values differently (at most `max`): when
    /// one endpoint's link id equals its subnet id, the other endpoint's text decides which
    /// name was meant.
    pub fn variants(&self, max: usize) -> Vec<Normaliser> {
        let mut out = vec![self.clone()];
        for (value, names) in &self.collisions {
            let mut next = Vec::new();
            for n in &out {
                next.push(n.clone());
                for name in names {
                    let mut alt = n.clone();
                    for (v, k) in alt.subs.iter_mut() {
                        if v == value {
                            *k = name.clone();
                        }
                    }
                    next.push(alt);
                }
            }
            next.truncate(max);
            out = next;
        }
        out
    }

    /// Normalise a text.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (value, name) in &self.subs {
            out = replace_word(&out, value, name);
        }
        generic_rules(&out)
    }

    /// Normalise every string in a JSON value (keys too).
    pub fn json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.json(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Normalise an answer.
    pub fn answer(&self, a: &Answer) -> Answer {
        Answer {
            status: a.status,
            content_type: a.content_type.clone(),
            body: match &a.body {
                Body::Json(v) => Body::Json(self.json(v)),
                Body::Text(t) => Body::Text(self.text(t)),
                Body::Failed(m) => Body::Failed(self.text(m)),
                Body::Empty => Body::Empty,
            },
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replace `value` where it is not part of a longer word (so id `3` does not hit `30`).
fn replace_word(text: &str, value: &str, name: &str) -> String {
    if !text.contains(value) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(at) = rest.find(value) {
        let head = &rest[..at];
        let before = if ends_with_escape(head) {
            None
        } else {
            head.chars().next_back().or(prev)
        };
        let after = rest[at + value.len()..].chars().next();
        let starts_word = value.chars().next().is_some_and(is_word);
        let ends_word = value.chars().next_back().is_some_and(is_word);
        // A number is an id only on its own, or as a path segment (`/12/`): not part of
        // `2.0`, `10.0.3.1`, a prefix length (`/24`) or a date.
        let numeric = value.bytes().all(|b| b.is_ascii_digit());
        let sticky = |c: Option<char>| {
            c.is_some_and(|c| is_word(c) || (numeric && matches!(c, '.' | '-' | ':')))
        };
        let prefix_length = numeric && before == Some('/') && after != Some('/');
        let bounded =
            !(starts_word && sticky(before) || ends_word && sticky(after) || prefix_length);
        out.push_str(&rest[..at]);
        if bounded {
            out.push_str(name);
        } else {
            out.push_str(value);
        }
        prev = value.chars().next_back();
        rest = &rest[at + value.len()..];
    }
    out.push_str(rest);
    out
}

/// `…%3D`: the text ends with a percent escape (punctuation, whatever its hex digits).
fn ends_with_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3
        && b[b.len() - 3] == b'%'
        && b[b.len() - 2].is_ascii_hexdigit()
        && b[b.len() - 1].is_ascii_hexdigit()
}

/// Runs of 16+ hex digits (nonces) become `<hex>`, runs of 9+ digits (timestamps) `<n>`.
fn generic_rules(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut after_escape = false;
    while i < chars.len() {
        // A percent escape (`%3D`) is punctuation: what follows starts a word.
        if chars[i] == '%'
            && chars.get(i + 1).is_some_and(char::is_ascii_hexdigit)
            && chars.get(i + 2).is_some_and(char::is_ascii_hexdigit)
        {
            out.extend(&chars[i..i + 3]);
            i += 3;
            after_escape = true;
            continue;
        }
        let boundary = after_escape || i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        after_escape = false;
        if boundary && chars[i].is_ascii_hexdigit() {
            let len = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let word = &chars[i..i + len];
            if word.iter().all(char::is_ascii_digit) && len >= 9 {
                out.push_str("<n>");
                i += len;
                continue;
            }
            if len >= 16 && word.iter().all(char::is_ascii_hexdigit) {
                out.push_str("<hex>");
                i += len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The types seen at each path of a JSON document: `$.interface_set[].links[].mode` →
/// `{str}`. Arrays merge their elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shape {
    types: BTreeMap<String, BTreeSet<&'static str>>,
}

impl Shape {
    /// The shape of a value.
    pub fn of(v: &Value) -> Shape {
        let mut s = Shape::default();
        s.walk("$", v);
        s
    }

    fn walk(&mut self, path: &str, v: &Value) {
        let t = match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "str",
            Value::Array(items) => {
                let elem = format!("{path}[]");
                for i in items {
                    self.walk(&elem, i);
                }
                if items.is_empty() {
                    "array(empty)"
                } else {
                    "array"
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk(&format!("{path}.{k}"), v);
                }
                "object"
            }
        };
        let set = self.types.entry(path.to_owned()).or_default();
        set.insert(t);
        // A non-empty array seen anywhere makes the path an array, not an empty one.
        if set.contains("array") {
            set.remove("array(empty)");
        }
    }

    /// Differences between two shapes, one line each; a path under an empty array or a
    /// `null` on one side is reported once, at that path.
    pub fn diff(a: &Shape, b: &Shape) -> Vec<String> {
        let paths: BTreeSet<&String> = a.types.keys().chain(b.types.keys()).collect();
        let mut out = Vec::new();
        let mut covered: Vec<String> = Vec::new();
        for p in paths {
            if covered.iter().any(|c| is_under(p, c)) {
                continue;
            }
            match (a.types.get(p), b.types.get(p)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => {
                    // null on one side, a value on the other: often the data, not the model.
                    let strip = |t: &BTreeSet<&'static str>| -> BTreeSet<&'static str> {
                        t.iter().copied().filter(|t| *t != "null").collect()
                    };
                    let (sx, sy) = (strip(x), strip(y));
                    let nullness = sx.is_empty() || sy.is_empty() || sx == sy;
                    out.push(format!(
                        "{p}: A {} vs B {}{}",
                        fmt_types(x),
                        fmt_types(y),
                        if nullness { " (nullness)" } else { "" }
                    ));
                    // Sub-paths of a path whose type differs (null vs object, empty vs
                    // not) would repeat the same difference.
                    covered.push(p.clone());
                }
                (Some(x), None) => {
                    out.push(format!("{p}: only in A ({})", fmt_types(x)));
                    covered.push(p.clone());
                }
                (None, Some(y)) => {
                    out.push(format!("{p}: only in B ({})", fmt_types(y)));
                    covered.push(p.clone());
                }
                (None, None) => {}
            }
        }
        out
    }
}

fn is_under(path: &str, parent: &str) -> bool {
    path.len() > parent.len()
        && path.starts_with(parent)
        && matches!(path.as_bytes()[parent.len()], b'.' | b'[')
}

fn fmt_types(t: &BTreeSet<&'static str>) -> String {
    t.iter().copied().collect::<Vec<_>>().join("|")
}

/// How two answers compare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Same status.
    pub status: bool,
    /// Same content type.
    pub content_type: bool,
    /// Same body (shape for 2xx JSON, value or text otherwise).
    pub body: bool,
    /// One line per difference.
    pub differences: Vec<String>,
}

impl Comparison {
    /// Everything the same.
    pub fn identical(&self) -> bool {
        self.status && self.content_type && self.body
    }
}

fn norm_content_type(ct: &str) -> String {
    ct.split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compare two normalised answers.
pub fn compare(a: &Answer, b: &Answer) -> Comparison {
    let mut c = Comparison {
        status: a.status == b.status,
        content_type: norm_content_type(&a.content_type) == norm_content_type(&b.content_type),
        body: true,
        differences: Vec::new(),
    };
    if !c.status {
        c.differences
            .push(format!("status: A {} vs B {}", a.status, b.status));
    }
    if !c.content_type {
        c.differences.push(format!(
            "content type: A {:?} vs B {:?}",
            a.content_type, b.content_type
        ));
    }
    let both_ok = (200..300).contains(&a.status) && (200..300).contains(&b.status);
    match (&a.body, &b.body) {
        (Body::Json(x), Body::Json(y)) if both_ok => {
            let d = Shape::diff(&Shape::of(x), &Shape::of(y));
            if !d.is_empty() {
                c.body = false;
                c.differences
                    .extend(d.into_iter().map(|l| format!("shape {l}")));
            }
        }
        (Body::Json(x), Body::Json(y)) => {
            if x != y {
                c.body = false;
                c.differences.push(format!("body: A {x} vs B {y}"));
            }
        }
        (Body::Text(x), Body::Text(y)) => {
            if x != y {
                c.body = false;
                c.differences.push(format!("text: A {x:?} vs B {y:?}"));
            }
        }
        (Body::Empty, Body::Empty) => {}
        (x, y) => {
            c.body = false;
            c.differences
                .push(format!("body kind: A {} vs B {}", kind(x), kind(y)));
        }
    }
    c
}

fn kind(b: &Body) -> String {
    match b {
        Body::Empty => "empty".into(),
        Body::Json(v) => format!("JSON {}", truncate(&v.to_string(), 300)),
        Body::Text(t) => format!("text {:?}", truncate(t, 300)),
        Body::Failed(m) => format!("no answer ({m})"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_compare_key_sets_and_types_recursively() {
        let a = json!({"system_id": "abc", "interface_set": [{"id": 1, "links": [{"mode": "auto"}], "params": {}}], "x": null});
        let b = json!({"system_id": "def", "interface_set": [{"id": 2, "links": [], "params": ""}], "y": 1.5});
        let d = Shape::diff(&Shape::of(&a), &Shape::of(&b));
        assert_eq!(
            d,
            [
                "$.interface_set[].links: A array vs B array(empty)",
                "$.interface_set[].params: A object vs B str",
                "$.x: only in A (null)",
                "$.y: only in B (float)",
            ]
        );
        assert!(Shape::diff(&Shape::of(&a), &Shape::of(&a)).is_empty());
    }

    #[test]
    fn normalising_ids_keys_nonces_and_timestamps() {
        let vars: Vec<(String, String)> = [
            ("m1", "abc123"),
            ("pool", "3"),
            ("iface", "3"),
            ("endpoint", "http://127.0.0.1:5240"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let n = Normaliser::new(&vars);
        assert_eq!(
            n.text("No machine abc123 at http://127.0.0.1:5240/MAAS; pool 3 of 30"),
            "No machine ${m1} at ${endpoint}/MAAS; pool ${pool} of 30"
        );
        assert_eq!(
            n.text("oauth_nonce%3D9aedae67187940adb4576f823da4d6c4%26oauth_timestamp%3D1796324866"),
            "oauth_nonce%3D<hex>%26oauth_timestamp%3D<n>"
        );
        assert_eq!(n.text("abc1234 xabc123"), "abc1234 xabc123");
        assert_eq!(n.text("id%3Dabc123%26"), "id%3D${m1}%26");
        assert_eq!(
            n.text("/MAAS/api/2.0/resourcepool/3/ 10.0.3.0/3 id=3 '3'"),
            "/MAAS/api/2.0/resourcepool/${pool}/ 10.0.3.0/3 id=${pool} '${pool}'"
        );
    }

    #[test]
    fn shared_values_try_every_name() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let a = Normaliser::new(&pairs(&[("subnet", "3"), ("link", "7")]));
        let b = Normaliser::new(&pairs(&[("subnet", "2"), ("link", "2")]));
        assert_eq!(a.text("one of: '7'"), "one of: '${link}'");
        assert_eq!(b.text("one of: '2'"), "one of: '${subnet}'");
        let names: Vec<String> = b.variants(8).iter().map(|n| n.text("'2'")).collect();
        assert_eq!(names, ["'${subnet}'", "'${link}'"]);
    }

    #[test]
    fn answers_compare_by_kind() {
        let ok = |v| Answer::from_parts(200, "application/json", v);
        assert!(compare(&ok(br#"{"a": 1}"#), &ok(br#"{"a": 2}"#)).identical());
        let c = compare(&ok(br#"{"a": 1}"#), &ok(br#"{"a": "1"}"#));
        assert!(!c.body && c.status && c.content_type);
        let e1 = Answer::from_parts(400, "application/json", br#"{"name": ["bad"]}"#);
        let e2 = Answer::from_parts(400, "application/json", br#"{"name": ["worse"]}"#);
        assert!(!compare(&e1, &e2).body, "error bodies compare by value");
        let t1 = Answer::from_parts(404, "text/plain", b"No Zone matches the given query.");
        let t2 = Answer::from_parts(
            404,
            "text/plain; charset=utf-8",
            b"No Zone matches the given query.",
        );
        let c = compare(&t1, &t2);
        assert!(c.status && c.body && !c.content_type, "{c:?}");
    }
}
