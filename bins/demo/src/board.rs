//! The demo's output: phase messages, then a table of the machines —
//! redrawn in place on a terminal, or one plain line per change.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use crate::view::{Row, RowKey, table};

/// Output of a run.
pub struct Board<W: Write> {
    out: W,
    interactive: bool,
    width: usize,
    started: Instant,
    rows: Vec<Row>,
    shown: BTreeMap<String, RowKey>,
    drawn: usize,
    footer: String,
    table_active: bool,
}

impl<W: Write> Board<W> {
    /// A board writing to `out`; `interactive` enables cursor control.
    pub fn new(out: W, interactive: bool, started: Instant) -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse::<usize>().ok())
            .filter(|w| *w >= 40)
            .unwrap_or(120);
        Board {
            out,
            interactive,
            width,
            started,
            rows: Vec::new(),
            shown: BTreeMap::new(),
            drawn: 0,
            footer: String::new(),
            table_active: false,
        }
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.started.elapsed().as_secs_f64())
    }

    /// A phase message. While the live table is shown it becomes the table's
    /// footer; otherwise it is a line of its own.
    pub fn say(&mut self, msg: impl AsRef<str>) {
        let msg = msg.as_ref();
        if self.interactive && self.table_active {
            self.footer = msg.to_owned();
            self.redraw();
        } else {
            let _ = writeln!(self.out, "{} {msg}", self.stamp());
            let _ = self.out.flush();
        }
    }

    /// The machines as they are now.
    pub fn update(&mut self, rows: Vec<Row>) {
        self.rows = rows;
        if self.interactive {
            if !self.table_active {
                self.table_active = true;
                let _ = write!(self.out, "\x1b[?25l");
            }
            self.redraw();
            return;
        }
        for r in &self.rows {
            let key = r.key();
            if self.shown.get(&r.name) == Some(&key) {
                continue;
            }
            let mut line = format!(
                "{} {}: {} (system-id {}, ip {}, in-memory {})",
                self.stamp(),
                r.name,
                r.state,
                r.system_id.as_deref().unwrap_or("-"),
                r.ip.as_deref().unwrap_or("-"),
                r.in_memory_text()
            );
            if !r.detail.is_empty() {
                line.push_str(" - ");
                line.push_str(&r.detail);
            }
            let _ = writeln!(self.out, "{line}");
            self.shown.insert(r.name.clone(), key);
        }
        let _ = self.out.flush();
    }

    /// The rows last given to [`Board::update`].
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    fn redraw(&mut self) {
        let mut lines = table(&self.rows, true, self.width);
        lines.push(format!(
            "{} {}",
            self.stamp(),
            crate::view::cut(&self.footer, self.width.saturating_sub(10))
        ));
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for l in &lines {
            buf.push_str("\r\x1b[2K");
            buf.push_str(l);
            buf.push('\n');
        }
        self.drawn = lines.len();
        let _ = self.out.write_all(buf.as_bytes());
        let _ = self.out.flush();
    }

    /// Ends the live table (shows the cursor again); in plain mode prints
    /// the final table once.
    pub fn finish(&mut self) {
        if self.interactive {
            if self.table_active {
                self.redraw();
                let _ = write!(self.out, "\x1b[?25h");
                self.table_active = false;
            }
        } else if !self.rows.is_empty() {
            for l in table(&self.rows, false, usize::MAX) {
                let _ = writeln!(self.out, "{l}");
            }
        }
        let _ = self.out.flush();
    }

    /// A line after everything else (the summary).
    pub fn last_line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::State;

    fn row(state: State) -> Row {
        Row {
            name: "demo-worker-0".into(),
            state,
            system_id: Some("abc123".into()),
            ip: None,
            ephemeral: true,
            in_memory: None,
            detail: String::new(),
        }
    }

    #[test]
    fn plain_mode_prints_each_change_once_without_escapes() {
        let mut out = Vec::new();
        {
            let mut b = Board::new(&mut out, false, Instant::now());
            b.say("starting");
            b.update(vec![row(State::Progress("Allocating".into()))]);
            b.update(vec![row(State::Progress("Allocating".into()))]);
            b.update(vec![row(State::Progress("Deploying".into()))]);
            b.finish();
            b.last_line("demo: done");
        }
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("] starting"));
        assert!(lines[1].ends_with(
            "] demo-worker-0: Allocating (system-id abc123, ip -, in-memory requested)"
        ));
        assert!(lines[2].contains("demo-worker-0: Deploying"));
        assert!(lines[3].starts_with("NAME"), "final table: {lines:?}");
        assert_eq!(lines.last(), Some(&"demo: done"));
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn interactive_mode_redraws_in_place() {
        let mut out = Vec::new();
        {
            let mut b = Board::new(&mut out, true, Instant::now());
            b.update(vec![row(State::Progress("Allocating".into()))]);
            b.say("waiting");
            b.update(vec![row(State::Provisioned)]);
            b.finish();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b[?25l"), "cursor hidden: {text:?}");
        // header + 1 row + footer = 3 lines, moved up before each redraw
        assert_eq!(text.matches("\x1b[3A").count(), 3, "{text:?}");
        assert!(text.ends_with("\x1b[?25h"), "cursor shown again: {text:?}");
        assert!(text.contains("waiting"));
    }
}
