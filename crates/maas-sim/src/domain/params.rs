//! Request parameters as Django's `QueryDict` sees them: an ordered
//! multi-map where `get` returns the last value of a key.

use crate::domain::error::MaasError;

/// Ordered multi-valued parameters (query string or form body).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may carry secrets (user_data, passwords, keys): show keys only.
        f.debug_struct("Params")
            .field("keys", &self.keys())
            .finish()
    }
}

impl Params {
    pub(crate) fn new() -> Self {
        Params::default()
    }

    /// Parse `application/x-www-form-urlencoded` text (blank values kept).
    pub(crate) fn parse_urlencoded(text: &[u8]) -> Self {
        Params {
            pairs: url::form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub(crate) fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// The last value for `key` (Django `QueryDict.get`).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All values for `key`, in order.
    pub(crate) fn get_list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Distinct keys in order of first appearance.
    pub(crate) fn keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (k, _) in &self.pairs {
            if !out.contains(&k.as_str()) {
                out.push(k);
            }
        }
        out
    }

    /// `(key, [values])` in order of first appearance (Django `lists()`).
    pub(crate) fn lists(&self) -> Vec<(String, Vec<String>)> {
        self.keys()
            .into_iter()
            .map(|k| (k.to_string(), self.get_list(k)))
            .collect()
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Optional boolean parameter with formencode `StringBool` semantics.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, MaasError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(key, v).map(Some),
        }
    }

    /// Boolean parameter, `default` when absent.
    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool, MaasError> {
        Ok(self.opt_bool(key)?.unwrap_or(default))
    }

    /// Optional integer parameter (formencode `Int`).
    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<i64>, MaasError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                MaasError::bad_request(format!("Invalid {key}: Please enter an integer value"))
            }),
        }
    }

    /// Mandatory parameter: 400 `No provided <key>!` when missing.
    pub(crate) fn required(&self, key: &str) -> Result<&str, MaasError> {
        self.get(key)
            .ok_or_else(|| MaasError::bad_request(format!("No provided {key}!")))
    }
}

/// formencode `StringBool`: `true|t|yes|y|on|1` / `false|f|no|n|off|0`,
/// case-insensitive; the empty string counts as false.
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, MaasError> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "off" | "0" | "" => Ok(false),
        _ => Err(MaasError::bad_request(format!(
            "Invalid {key}: Value should be 'true' or 'false'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn querydict_semantics() {
        let p = Params::parse_urlencoded(b"tags=a&zone=z1&tags=b&empty=&plus=a+b");
        assert_eq!(p.get("tags"), Some("b"));
        assert_eq!(p.get_list("tags"), vec!["a", "b"]);
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("plus"), Some("a b"));
        assert_eq!(p.keys(), vec!["tags", "zone", "empty", "plus"]);
        assert_eq!(
            p.lists()[0],
            ("tags".to_string(), vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn string_bool() {
        for t in ["true", "T", "Yes", "y", "ON", "1"] {
            assert!(parse_bool("x", t).unwrap());
        }
        for f in ["false", "F", "no", "N", "off", "0", ""] {
            assert!(!parse_bool("x", f).unwrap());
        }
        let err = parse_bool("erase", "maybe").unwrap_err();
        assert_eq!(
            err.text(),
            "Invalid erase: Value should be 'true' or 'false'"
        );
    }

    #[test]
    fn debug_hides_values() {
        let mut p = Params::new();
        p.push("user_data", "c2VjcmV0");
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("c2VjcmV0"));
        assert!(dbg.contains("user_data"));
    }
}
