//! Byte-level fidelity with MAAS's Python output: `json.dumps` in its
//! compact default form (`", "` and `": "` separators, ASCII escapes), the
//! piston emitter's pretty form (4-space indent, non-ASCII kept), and Python
//! `repr()` of strings and lists (used in some error texts).

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter, Serializer};
use std::io;

/// `json.dumps(value)`: compact with Python's separators, non-ASCII escaped.
pub(crate) fn json_compact<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, PyCompact);
    // Serializing plain data into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

/// `json.dumps(value, indent=4, ensure_ascii=False)`: piston's emitter.
pub(crate) fn json_pretty<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(b"    "));
    let _ = value.serialize(&mut ser);
    out
}

/// serde_json formatter reproducing Python's default `json.dumps` output.
#[derive(Default)]
struct PyCompact;

impl Formatter for PyCompact {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut buf = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{:04x}", unit)?;
                }
            }
        }
        Ok(())
    }
}

/// Python `repr()` of a `str`.
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr()` of a list of `str`.
pub(crate) fn repr_str_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Python `str()` of a float (`4096.0`, `1.5`).
pub(crate) fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_matches_python_default() {
        let v = json!({"b": [1, "x"], "a": {"c": null}});
        assert_eq!(json_compact(&v), r#"{"a": {"c": null}, "b": [1, "x"]}"#);
        assert_eq!(json_compact(&json!("é☃")), r#""\u00e9\u2603""#);
        assert_eq!(json_compact(&json!("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn pretty_uses_four_spaces_and_keeps_unicode() {
        let v = json!({"a": [1], "b": "é", "c": []});
        let s = String::from_utf8(json_pretty(&v)).unwrap();
        assert_eq!(
            s,
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": \"é\",\n    \"c\": []\n}"
        );
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(repr_str("zone"), "'zone'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr_str_list(&["z1".into(), "z2".into()]), "['z1', 'z2']");
        assert_eq!(py_float(4096.0), "4096.0");
        assert_eq!(py_float(1.5), "1.5");
    }
}
