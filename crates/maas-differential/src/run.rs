//! A run: fixtures on both endpoints, every case on both, the comparison, the clean-up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::compare::{Answer, Body, Comparison, Normaliser, compare};
use crate::corpus::{Auth, Case, Corpus, Fixture, Request, substitute};
use crate::endpoint::{Endpoint, EndpointConfig};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The name prefix of every object the run creates or looks for (default `dfc`).
    pub prefix: String,
    /// Sign requests that name no `auth` this way (default: the corpus's).
    pub default_auth: Option<Auth>,
    /// Longest wait for a machine status.
    pub wait_timeout: Duration,
    /// Progress lines on stderr.
    pub verbose: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            prefix: "dfc".into(),
            default_auth: None,
            wait_timeout: Duration::from_secs(120),
            verbose: false,
        }
    }
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Whether it counts in the score.
    pub scored: bool,
    /// What A answered (normalised).
    pub a: Answer,
    /// What B answered (normalised).
    pub b: Answer,
    /// How they compare.
    pub comparison: Comparison,
    /// The case's note.
    pub note: Option<String>,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// `MAAS <version>` of each endpoint.
    pub versions: [String; 2],
    /// The endpoints' URLs.
    pub urls: [String; 2],
    /// Every case, in order.
    pub cases: Vec<CaseResult>,
    /// Problems of the run itself (fixtures, waits, clean-up), per endpoint label.
    pub problems: Vec<String>,
}

/// The score's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Scored cases.
    pub total: usize,
    /// Identical in everything.
    pub identical: usize,
    /// Same status.
    pub status: usize,
    /// Same content type.
    pub content_type: usize,
    /// Same body.
    pub body: usize,
}

impl Report {
    /// Count the scored cases.
    pub fn score(&self) -> Score {
        let scored: Vec<&CaseResult> = self.cases.iter().filter(|c| c.scored).collect();
        Score {
            total: scored.len(),
            identical: scored.iter().filter(|c| c.comparison.identical()).count(),
            status: scored.iter().filter(|c| c.comparison.status).count(),
            content_type: scored.iter().filter(|c| c.comparison.content_type).count(),
            body: scored.iter().filter(|c| c.comparison.body).count(),
        }
    }
}

struct Side {
    ep: Endpoint,
    vars: BTreeMap<String, String>,
    /// Variable names in the order they were first set (earlier wins when two values are
    /// equal, so both endpoints pick the same name).
    order: Vec<String>,
    /// Indexes of fixtures this run created (deleted at the end).
    created: Vec<usize>,
    problems: Vec<String>,
    verbose: bool,
    wait_timeout: Duration,
}

impl Side {
    fn log(&self, msg: &str) {
        if self.verbose {
            eprintln!("differential [{}]: {msg}", self.ep.label);
        }
    }

    fn set(&mut self, name: &str, value: String) {
        if !self.vars.contains_key(name) {
            self.order.push(name.to_owned());
        }
        self.vars.insert(name.to_owned(), value);
    }

    fn subst(&self, s: &str) -> Result<String> {
        substitute(s, &self.vars)
    }

    fn subst_form(&self, req: &Request) -> Result<Vec<(String, String)>> {
        req.form_pairs()?
            .into_iter()
            .map(|(k, v)| Ok((self.subst(&k)?, self.subst(&v)?)))
            .collect()
    }

    async fn send(&self, req: &Request) -> Answer {
        let path = match self.subst(&req.path) {
            Ok(p) => p,
            Err(e) => return Answer::failed(format!("{e:#}")),
        };
        let form = match self.subst_form(req) {
            Ok(f) => f,
            Err(e) => return Answer::failed(format!("{e:#}")),
        };
        self.ep.send(req, &path, &form).await
    }

    async fn setup(&mut self, fixtures: &[Fixture]) -> Result<()> {
        let mut new_machines: Vec<String> = Vec::new();
        for (i, f) in fixtures.iter().enumerate() {
            let path = self.subst(&f.find.path)?;
            let want = self.subst(&f.find.value)?;
            let list = self.ep.get_json(&path).await?;
            let found = list
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .find(|o| field_text(o, &f.find.field).as_deref() == Some(want.as_str()))
                })
                .cloned();
            let object = match found {
                Some(o) => {
                    self.log(&format!("fixture {} found", f.var));
                    o
                }
                None => {
                    let answer = self.send(&f.create).await;
                    let Body::Json(o) = &answer.body else {
                        bail!("creating fixture {}: {}", f.var, answer.summary(300));
                    };
                    if !(200..300).contains(&answer.status) {
                        bail!("creating fixture {}: {}", f.var, answer.summary(300));
                    }
                    self.log(&format!("fixture {} created", f.var));
                    self.created.push(i);
                    if f.machine {
                        new_machines.push(want.clone());
                    }
                    o.clone()
                }
            };
            let value = field_text(&object, &f.capture)
                .with_context(|| format!("fixture {}: no {} in {object}", f.var, f.capture))?;
            self.set(&f.var, value);
            for (name, field) in &f.also {
                let v = field_text(&object, field)
                    .with_context(|| format!("fixture {}: no {field} in {object}", f.var))?;
                self.set(name, v);
            }
        }
        if !new_machines.is_empty() {
            self.make_ready(&new_machines).await?;
        }
        for f in fixtures.iter().filter(|f| f.machine) {
            self.reset(f).await;
            let id = self.vars.get(&f.var).cloned().unwrap_or_default();
            self.wait(&id, "Ready").await?;
        }
        Ok(())
    }

    async fn make_ready(&self, hostnames: &[String]) -> Result<()> {
        let Some(cmd) = &self.ep.ready_command else {
            bail!(
                "machines {} were created New and endpoint {} has no ready command: give one \
                 (e.g. MAAS_{}_READY) or create them Ready beforehand",
                hostnames.join(" "),
                self.ep.label,
                self.ep.label
            );
        };
        self.log(&format!("ready command for {}", hostnames.join(" ")));
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} {}", hostnames.join(" ")))
            .status()
            .await
            .context("running the ready command")?;
        if !status.success() {
            bail!("the ready command failed ({status})");
        }
        Ok(())
    }

    async fn reset(&self, f: &Fixture) {
        for r in &f.reset {
            let _ = self.send(r).await;
        }
    }

    async fn wait(&self, system_id: &str, status: &str) -> Result<()> {
        let deadline = Instant::now() + self.wait_timeout;
        let mut last = String::new();
        loop {
            let m = self.ep.get_json(&format!("machines/{system_id}/")).await?;
            last = m["status_name"].as_str().unwrap_or(&last).to_owned();
            if last == status {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "machine {system_id} is {last}, not {status}, after {:?}",
                    self.wait_timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn case(&mut self, case: &Case) -> Answer {
        if let Some(var) = &case.only_if
            && !self.vars.contains_key(var)
        {
            return Answer {
                status: 0,
                content_type: String::new(),
                body: Body::Text(format!("skipped: no {var}")),
            };
        }
        let answer = self.send(&case.request).await;
        if (200..300).contains(&answer.status)
            && let Body::Json(v) = &answer.body
        {
            for (name, field) in &case.capture {
                match field_text(v, field) {
                    Some(value) => {
                        self.set(name, value);
                    }
                    None => self.problems.push(format!(
                        "{}: case {:?}: no {field} to capture",
                        self.ep.label, case.name
                    )),
                }
            }
        }
        if let Some(w) = &case.wait {
            let id = match self.subst(&w.machine) {
                Ok(id) => id,
                Err(e) => {
                    self.problems
                        .push(format!("{}: case {:?}: {e:#}", self.ep.label, case.name));
                    return answer;
                }
            };
            let timeout = w
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(self.wait_timeout);
            let saved = self.wait_timeout;
            self.wait_timeout = timeout;
            if let Err(e) = self.wait(&id, &w.status).await {
                self.problems
                    .push(format!("{}: case {:?}: {e:#}", self.ep.label, case.name));
            }
            self.wait_timeout = saved;
        }
        answer
    }

    async fn teardown(&mut self, fixtures: &[Fixture]) {
        for f in fixtures.iter().filter(|f| f.machine) {
            if self.vars.contains_key(&f.var) {
                self.reset(f).await;
            }
        }
        for &i in self.created.clone().iter().rev() {
            let f = &fixtures[i];
            let Some(d) = &f.delete else { continue };
            let a = self.send(d).await;
            if !(200..300).contains(&a.status) {
                self.problems.push(format!(
                    "{}: deleting fixture {}: {}",
                    self.ep.label,
                    f.var,
                    a.summary(200)
                ));
            } else {
                self.log(&format!("fixture {} deleted", f.var));
            }
        }
    }

    fn normaliser(&self) -> Normaliser {
        let mut values: Vec<(String, String)> = self
            .order
            .iter()
            .filter(|k| k.as_str() != "prefix")
            .filter_map(|k| self.vars.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        values.extend(self.ep.private_values());
        Normaliser::new(&values)
    }
}

/// A field of a JSON object by dotted path (`interface_set.0.id`), as text.
fn field_text(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => cur.get(i)?,
            Err(_) => cur.get(part)?,
        };
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

async fn version(ep: &Endpoint) -> String {
    match ep.get_json("version/").await {
        Ok(v) => format!("MAAS {}", v["version"].as_str().unwrap_or("?")),
        Err(e) => format!("version unknown ({e:#})"),
    }
}

/// Run `corpus` against two endpoints.
pub async fn run(
    corpus: &Corpus,
    a: &EndpointConfig,
    b: &EndpointConfig,
    options: &RunOptions,
) -> Result<Report> {
    let auth = options.default_auth.unwrap_or(corpus.default_auth);
    let mk = |c: &EndpointConfig| -> Result<Side> {
        let mut ep = Endpoint::new(c)?;
        ep.default_auth = auth;
        Ok(Side {
            ep,
            vars: [("prefix".to_owned(), options.prefix.clone())].into(),
            order: vec!["prefix".to_owned()],
            created: Vec::new(),
            problems: Vec::new(),
            verbose: options.verbose,
            wait_timeout: options.wait_timeout,
        })
    };
    let (mut sa, mut sb) = (mk(a)?, mk(b)?);
    let versions = [version(&sa.ep).await, version(&sb.ep).await];
    let urls = [sa.ep.api.to_string(), sb.ep.api.to_string()];

    let (ra, rb) = tokio::join!(sa.setup(&corpus.fixtures), sb.setup(&corpus.fixtures));
    let mut report = Report {
        versions,
        urls,
        cases: Vec::new(),
        problems: Vec::new(),
    };
    if ra.is_err() || rb.is_err() {
        for (label, r) in [(&a.label, &ra), (&b.label, &rb)] {
            if let Err(e) = r {
                report.problems.push(format!("{label}: fixtures: {e:#}"));
            }
        }
        tokio::join!(sa.teardown(&corpus.fixtures), sb.teardown(&corpus.fixtures));
        report.problems.append(&mut sa.problems);
        report.problems.append(&mut sb.problems);
        return Ok(report);
    }

    for case in &corpus.cases {
        let (xa, xb) = tokio::join!(sa.case(case), sb.case(case));
        let (mut na, mut nb) = (sa.normaliser().answer(&xa), sb.normaliser().answer(&xb));
        let mut comparison = compare(&na, &nb);
        if !comparison.identical() {
            // Equal ids on one side (a link id that is also a subnet id): try the other names.
            'variants: for va in sa.normaliser().variants(8) {
                for vb in sb.normaliser().variants(8) {
                    let (ta, tb) = (va.answer(&xa), vb.answer(&xb));
                    let c = compare(&ta, &tb);
                    if c.identical() {
                        (na, nb, comparison) = (ta, tb, c);
                        break 'variants;
                    }
                }
            }
        }
        if options.verbose {
            eprintln!(
                "differential: {} {}",
                if comparison.identical() {
                    "same"
                } else {
                    "DIFF"
                },
                case.name
            );
        }
        report.cases.push(CaseResult {
            name: case.name.clone(),
            scored: case.score,
            a: na,
            b: nb,
            comparison,
            note: case.note.clone(),
        });
    }
    tokio::join!(sa.teardown(&corpus.fixtures), sb.teardown(&corpus.fixtures));
    report.problems.append(&mut sa.problems);
    report.problems.append(&mut sb.problems);
    Ok(report)
}
