//! The report: one line per check (verdict, duration, what was seen, MAAS's
//! text on failure), written as each check ends, and a summary line.

use std::io::Write;
use std::time::{Duration, Instant};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It held.
    Pass,
    /// It did not.
    Fail,
    /// This MAAS cannot do it (e.g. in-memory deploys before 3.5).
    Skip,
    /// An earlier failure stopped the run before it.
    NotRun,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
            Verdict::NotRun => "----",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What was checked.
    pub name: String,
    /// How it ended.
    pub verdict: Verdict,
    /// How long it took.
    pub duration: Duration,
    /// What was seen (pass) or why it failed.
    pub detail: String,
    /// MAAS's own text, when MAAS's answer made it fail.
    pub maas_text: Option<String>,
}

impl CheckResult {
    /// The report line (and, on failure with MAAS's text, a second one).
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}  {:>7.1}s  {}",
            self.verdict.label(),
            self.duration.as_secs_f64(),
            self.name
        );
        if !self.detail.is_empty() {
            s.push_str(" — ");
            s.push_str(&self.detail);
        }
        if let Some(t) = &self.maas_text {
            s.push_str("\n                 MAAS said: ");
            s.push_str(t);
        }
        s
    }
}

/// Why a check failed: our words and, if MAAS answered, MAAS's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong.
    pub message: String,
    /// MAAS's text (already redacted by `maas-api`).
    pub maas_text: Option<String>,
}

impl Failure {
    /// A failure of ours (no MAAS text).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            maas_text: None,
        }
    }

    /// A failure carrying a text MAAS gave (e.g. through a condition).
    pub fn with_maas(message: impl Into<String>, maas_text: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            maas_text: Some(maas_text.into()),
        }
    }
}

impl From<maas_api::Error> for Failure {
    fn from(e: maas_api::Error) -> Self {
        Failure {
            message: "a MAAS request of the suite failed".into(),
            maas_text: Some(e.to_string()),
        }
    }
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Self {
        Failure::new(format!("Kubernetes API: {e}"))
    }
}

impl From<kube_testenv::Error> for Failure {
    fn from(e: kube_testenv::Error) -> Self {
        Failure::new(format!("control plane: {e}"))
    }
}

impl From<capmaas_demo::DemoError> for Failure {
    fn from(e: capmaas_demo::DemoError) -> Self {
        Failure::new(e.to_string())
    }
}

/// Collects results and writes each line as it comes.
pub struct Report<W: Write> {
    out: W,
    started: Instant,
    results: Vec<CheckResult>,
}

impl<W: Write> Report<W> {
    /// An empty report writing to `out`.
    pub fn new(out: W) -> Self {
        Report {
            out,
            started: Instant::now(),
            results: Vec::new(),
        }
    }

    /// A free-form line (header, notes).
    pub fn say(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}", line.as_ref());
        let _ = self.out.flush();
    }

    /// Records a result and writes its line.
    pub fn record(&mut self, result: CheckResult) {
        let _ = writeln!(self.out, "{}", result.line());
        let _ = self.out.flush();
        self.results.push(result);
    }

    /// Records the outcome of a check that started at `started`.
    pub fn outcome(&mut self, name: &str, started: Instant, outcome: &Result<String, Failure>) {
        let (verdict, detail, maas_text) = match outcome {
            Ok(d) => (Verdict::Pass, d.clone(), None),
            Err(f) => (Verdict::Fail, f.message.clone(), f.maas_text.clone()),
        };
        self.record(CheckResult {
            name: name.to_owned(),
            verdict,
            duration: started.elapsed(),
            detail,
            maas_text,
        });
    }

    /// Records a skipped check.
    pub fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.record(CheckResult {
            name: name.to_owned(),
            verdict: Verdict::Skip,
            duration: Duration::ZERO,
            detail: why.into(),
            maas_text: None,
        });
    }

    /// Marks every name of `plan` without a result as not run.
    pub fn not_run(&mut self, plan: &[&str]) {
        for name in plan {
            if !self.results.iter().any(|r| r.name.starts_with(name)) {
                self.record(CheckResult {
                    name: (*name).to_owned(),
                    verdict: Verdict::NotRun,
                    duration: Duration::ZERO,
                    detail: "not run (an earlier check failed)".into(),
                    maas_text: None,
                });
            }
        }
    }

    /// The results so far.
    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    /// No failure and nothing left unrun.
    pub fn success(&self) -> bool {
        !self.results.is_empty()
            && self
                .results
                .iter()
                .all(|r| matches!(r.verdict, Verdict::Pass | Verdict::Skip))
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let count = |v| self.results.iter().filter(|r| r.verdict == v).count();
        format!(
            "conformance: {} ({} passed, {} failed, {} skipped, {} not run) in {:.1}s",
            if self.success() { "PASSED" } else { "FAILED" },
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Skip),
            count(Verdict::NotRun),
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Writes the summary and returns the results.
    pub fn finish(mut self) -> Vec<CheckResult> {
        let line = self.summary();
        self.say(line);
        self.results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary() {
        let mut buf = Vec::new();
        let mut r = Report::new(&mut buf);
        let t = Instant::now();
        r.outcome("first", t, &Ok("seen".into()));
        r.outcome(
            "second",
            t,
            &Err(Failure::with_maas(
                "allocation refused",
                "MAAS 409 conflict: No machine",
            )),
        );
        r.skip("third", "MAAS 3.4 cannot deploy in memory");
        r.not_run(&["first", "second", "fourth"]);
        assert!(!r.success());
        let results = r.finish();
        assert_eq!(results.len(), 4);
        assert_eq!(results[3].verdict, Verdict::NotRun);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("PASS "), "{text}");
        assert!(text.contains("first — seen"), "{text}");
        assert!(
            text.contains("FAIL ") && text.contains("MAAS said: MAAS 409 conflict: No machine"),
            "{text}"
        );
        assert!(text.contains("SKIP "), "{text}");
        assert!(text.contains("----") && text.contains("fourth"), "{text}");
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("conformance: FAILED (1 passed, 1 failed, 1 skipped, 1 not run)"),
            "{text}"
        );
    }

    #[test]
    fn all_pass_is_success() {
        let mut r = Report::new(Vec::new());
        r.outcome("a", Instant::now(), &Ok(String::new()));
        r.skip("b", "n/a");
        assert!(r.success());
        assert!(r.summary().starts_with("conformance: PASSED"));
        assert!(!Report::new(Vec::new()).success());
    }
}
