//! The request corpus: data (YAML), not code. Fixtures each endpoint gets before the cases
//! (found or created, deleted after when created), then the cases, in order.
//!
//! Strings may use `${name}`: `${prefix}` (the run's name prefix) and every variable a
//! fixture or an earlier case captured, with that endpoint's value.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The corpus shipped with the tool.
pub const DEFAULT_CORPUS: &str = include_str!("../corpus/default.yaml");

/// A whole corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// What it covers (printed in reports).
    pub about: String,
    /// How requests are signed unless a request says otherwise.
    #[serde(default)]
    pub default_auth: Auth,
    /// A maas-sim inventory (YAML, `${prefix}` substituted) holding the machine fixtures, so a
    /// simulator can be started with them (maas-sim has no machine creation).
    pub sim_inventory: String,
    /// Objects the cases need, in order; deleted after the run in reverse order.
    pub fixtures: Vec<Fixture>,
    /// The compared requests, in order.
    pub cases: Vec<Case>,
}

/// One object the cases need: found by listing, or created.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The variable that receives `capture` of the object.
    pub var: String,
    /// `GET` this list path and take the object whose `field` equals `value`.
    pub find: Find,
    /// Otherwise send this (must answer 2xx with the object).
    pub create: Request,
    /// The field of the object to capture (`system_id`, `id`, `name`; dotted paths work).
    pub capture: String,
    /// A machine: make it Ready after creation (the endpoint's ready command), and bring a
    /// found one back to Ready (`reset`) before the cases.
    #[serde(default)]
    pub machine: bool,
    /// Requests that return a found (or used) object to its starting state; answers ignored.
    #[serde(default)]
    pub reset: Vec<Request>,
    /// Deletes a created object after the run.
    pub delete: Option<Request>,
    /// More variables from the same object: name → field.
    #[serde(default)]
    pub also: BTreeMap<String, String>,
}

/// How to find an existing fixture object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Find {
    /// A list path (`machines/?hostname=…`, `zones/`).
    pub path: String,
    /// The field to match.
    pub field: String,
    /// Its value.
    pub value: String,
}

/// One compared request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report.
    pub name: String,
    /// What is sent.
    pub request: Request,
    /// Variables from a 2xx JSON answer: name → field (dotted path).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// After the answer, wait until this machine reaches this status (not compared).
    pub wait: Option<Wait>,
    /// `false`: a step that moves state along but is not scored (its answer is still shown
    /// when the endpoints differ).
    #[serde(default = "yes")]
    pub score: bool,
    /// Run only where this variable is set (a clean-up of what an earlier case may have
    /// created); elsewhere the answer is "skipped".
    #[serde(default)]
    pub only_if: Option<String>,
    /// Why the answers are expected to differ between MAAS versions, if they are.
    #[serde(default)]
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

/// Wait for a machine status.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// The machine's system_id (usually `${m1}`).
    pub machine: String,
    /// MAAS's `status_name` to wait for.
    pub status: String,
    /// Give up after this many seconds (default 120).
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

/// One HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET` (default), `POST`, `PUT`, `DELETE`.
    #[serde(default = "get")]
    pub method: String,
    /// Relative to the API root (`machines/?op=allocate`), or absolute from the server root
    /// when it starts with `/`. Sent as written (the query too), so a missing slash or an odd
    /// escape reaches MAAS as it is.
    pub path: String,
    /// Form fields, `name=value`, in order; names may repeat.
    #[serde(default)]
    pub form: Vec<String>,
    /// Send the form as `multipart/form-data` (default url-encoded).
    #[serde(default)]
    pub multipart: bool,
    /// How to sign (default: the corpus's `default_auth`).
    #[serde(default)]
    pub auth: Option<Auth>,
}

fn get() -> String {
    "GET".into()
}

impl Request {
    /// The form fields as pairs.
    pub fn form_pairs(&self) -> Result<Vec<(String, String)>> {
        self.form
            .iter()
            .map(|f| {
                f.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("form field {f:?} is not name=value"))
            })
            .collect()
    }
}

/// How a request is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// OAuth HMAC-SHA1, as maas-api signs.
    #[default]
    Hmac,
    /// OAuth PLAINTEXT.
    Plaintext,
    /// No `Authorization` header.
    None,
    /// HMAC-SHA1 with a wrong token secret.
    WrongSecret,
    /// PLAINTEXT with a wrong token secret.
    WrongSecretPlaintext,
    /// A token key MAAS does not know.
    UnknownToken,
    /// A consumer key MAAS does not know.
    UnknownConsumer,
    /// `oauth_signature_method="RSA-SHA1"`.
    BadSignatureMethod,
    /// A timestamp an hour old.
    Expired,
    /// The same signed request twice; the second answer is compared.
    Replay,
    /// `Authorization: OAuth garbage`.
    Garbage,
}

impl Corpus {
    /// Parse a corpus and check its references.
    pub fn parse(text: &str) -> Result<Corpus> {
        let corpus: Corpus = serde_saphyr::from_str(text).context("corpus is not valid")?;
        corpus.check()?;
        Ok(corpus)
    }

    /// The corpus shipped with the tool.
    pub fn default_corpus() -> Result<Corpus> {
        Corpus::parse(DEFAULT_CORPUS)
    }

    fn check(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for f in &self.fixtures {
            if !names.insert(f.var.clone()) {
                bail!("fixture variable {} defined twice", f.var);
            }
        }
        let mut case_names = std::collections::BTreeSet::new();
        for c in &self.cases {
            if !case_names.insert(c.name.clone()) {
                bail!("case name {:?} used twice", c.name);
            }
            c.request.form_pairs()?;
            if !matches!(c.request.method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
                bail!("case {:?}: method {}", c.name, c.request.method);
            }
        }
        Ok(())
    }

    /// The simulator inventory for a prefix.
    pub fn sim_inventory_for(&self, prefix: &str) -> String {
        self.sim_inventory.replace("${prefix}", prefix)
    }
}

/// Replace `${name}` with values from `vars`; unknown names are an error.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .with_context(|| format!("unclosed ${{ in {text:?}"))?;
        let name = &after[..end];
        let value = vars
            .get(name)
            .with_context(|| format!("unknown variable ${{{name}}} in {text:?}"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_corpus_parses() {
        let c = Corpus::default_corpus().unwrap();
        assert!(c.cases.len() >= 100, "{} cases", c.cases.len());
        assert!(!c.fixtures.is_empty());
    }

    #[test]
    fn substitution() {
        let vars: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        assert_eq!(substitute("x${a}y${a}", &vars).unwrap(), "x1y1");
        assert!(substitute("${b}", &vars).is_err());
        assert!(substitute("${a", &vars).is_err());
        assert_eq!(substitute("no vars", &vars).unwrap(), "no vars");
    }
}
