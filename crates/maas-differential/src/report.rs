//! The report: every difference, then the score; as terminal text or Markdown.

use std::fmt::Write as _;

use crate::run::{Report, Score};

impl Score {
    /// `131/154 identical (85%): status 146, content type 150, body 120`.
    pub fn line(&self) -> String {
        let pct = (self.identical * 100)
            .checked_div(self.total)
            .unwrap_or(100);
        format!(
            "{}/{} identical ({pct}%): status {}/{t}, content type {}/{t}, body {}/{t}",
            self.identical,
            self.total,
            self.status,
            self.content_type,
            self.body,
            t = self.total
        )
    }
}

impl Report {
    /// Terminal text: one line per case that differs with its differences, the problems,
    /// and the score.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "A: {} ({})", self.urls[0], self.versions[0]);
        let _ = writeln!(out, "B: {} ({})", self.urls[1], self.versions[1]);
        for c in &self.cases {
            if c.comparison.identical() {
                continue;
            }
            let tag = if c.scored { "DIFF" } else { "diff (unscored)" };
            let _ = writeln!(out, "{tag} {}", c.name);
            for d in &c.comparison.differences {
                let _ = writeln!(out, "    {d}");
            }
            let _ = writeln!(out, "    A: {}", c.a.summary(400));
            let _ = writeln!(out, "    B: {}", c.b.summary(400));
            if let Some(n) = &c.note {
                let _ = writeln!(out, "    note: {n}");
            }
        }
        for p in &self.problems {
            let _ = writeln!(out, "PROBLEM {p}");
        }
        let _ = writeln!(out, "score: {}", self.score().line());
        out
    }

    /// Markdown: a summary and a section per differing case.
    pub fn markdown(&self, title: &str) -> String {
        let mut out = String::new();
        let s = self.score();
        let _ = writeln!(out, "# {title}\n");
        let _ = writeln!(out, "- A: `{}` ({})", self.urls[0], self.versions[0]);
        let _ = writeln!(out, "- B: `{}` ({})", self.urls[1], self.versions[1]);
        let _ = writeln!(out, "- score: **{}**", s.line());
        let _ = writeln!(
            out,
            "- cases: {} ({} scored); differing: {}\n",
            self.cases.len(),
            s.total,
            self.cases
                .iter()
                .filter(|c| !c.comparison.identical())
                .count()
        );
        if !self.problems.is_empty() {
            let _ = writeln!(out, "## Problems of the run\n");
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
            let _ = writeln!(out);
        }
        // The same difference in many cases (a machine field) is listed once here.
        let mut by_line: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for c in self.cases.iter().filter(|c| c.scored) {
            for d in &c.comparison.differences {
                if d.starts_with("shape ") || d.starts_with("content type") {
                    by_line.entry(d.as_str()).or_default().push(c.name.as_str());
                }
            }
        }
        if !by_line.is_empty() {
            let _ = writeln!(out, "## Shape and content-type differences, by kind\n");
            let _ = writeln!(out, "| difference | cases | e.g. |\n|---|---|---|");
            for (line, cases) in &by_line {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    md_escape(line).replace('|', "\\|"),
                    cases.len(),
                    cases[0].replace('|', "\\|")
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "## Differences, case by case\n");
        for c in self.cases.iter().filter(|c| !c.comparison.identical()) {
            let unscored = if c.scored { "" } else { " (unscored step)" };
            let _ = writeln!(out, "### {}{unscored}\n", c.name);
            for d in &c.comparison.differences {
                let _ = writeln!(out, "- {}", md_escape(d));
            }
            let _ = writeln!(
                out,
                "\n```text\nA: {}\nB: {}\n```",
                c.a.summary(1500),
                c.b.summary(1500)
            );
            if let Some(n) = &c.note {
                let _ = writeln!(out, "\nNote: {n}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "## Identical\n");
        let same: Vec<&str> = self
            .cases
            .iter()
            .filter(|c| c.comparison.identical())
            .map(|c| c.name.as_str())
            .collect();
        let _ = writeln!(out, "{}", same.join("; "));
        out
    }
}

fn md_escape(s: &str) -> String {
    let cut: String = s.chars().take(2000).collect();
    format!("`{}`", cut.replace('`', "'"))
}
