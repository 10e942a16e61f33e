//! Conventions the project's CLIs share (`vmhost-test`, `maas-test`, and
//! `lxd-test`, which follows the same rules):
//!
//! - exit status 0 success, 1 failure (with a readable summary), 2 bad input
//!   (one line on stderr: `error: <reason>`);
//! - `--help` with examples, `--version`;
//! - logs on stderr through `tracing` (`--log-format text|json`, level from
//!   `RUST_LOG`, default `warn`);
//! - progress of waits on stderr, reports on stdout (`--output text|json`);
//! - secrets (API keys, trust passwords and tokens, private keys) never in
//!   logs, messages or `Debug` output.

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Something failed; the report says what.
pub const EXIT_FAILURE: u8 = 1;
/// Bad input (flags, files, values); one line on stderr says why.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Report format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

/// Log format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// Bad input: the CLI exits 2 with `error: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    /// A bad-input reason.
    pub fn new(reason: impl Into<String>) -> Self {
        BadInput(reason.into())
    }

    /// Print `error: <reason>` on stderr and return exit status 2.
    pub fn exit(&self) -> ExitCode {
        eprintln!("error: {}", self.0);
        ExitCode::from(EXIT_BAD_INPUT)
    }
}

/// Clap's message as one line: the first line plus its hints (possible
/// values, tips), without the usage block.
pub fn clap_error_line(err: &clap::Error) -> String {
    let rendered = err.to_string();
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        parts.push(l.to_owned());
    }
    parts.join(" ")
}

/// Parses the command line. `--help`/`--version` print and give `Err(0)`;
/// a bad flag prints one line and gives `Err(2)`.
pub fn parse_args<P: clap::Parser>() -> Result<P, ExitCode> {
    parse_from(std::env::args_os())
}

/// [`parse_args`] over explicit arguments (the first is the program name).
pub fn parse_from<P, I, T>(args: I) -> Result<P, ExitCode>
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match P::try_parse_from(args) {
        Ok(p) => Ok(p),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Err(ExitCode::SUCCESS);
            }
            let line = clap_error_line(&e);
            if line.starts_with("error:") {
                eprintln!("{line}");
            } else {
                eprintln!("error: {line}");
            }
            Err(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}

/// Logs to stderr; the level comes from `RUST_LOG` (default `warn`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Progress lines on stderr, prefixed with the time since the start.
#[derive(Debug, Clone)]
pub struct Progress {
    enabled: bool,
    start: Instant,
}

impl Progress {
    /// Progress on stderr.
    pub fn stderr() -> Self {
        Progress {
            enabled: true,
            start: Instant::now(),
        }
    }

    /// No progress output (library use, tests).
    pub fn silent() -> Self {
        Progress {
            enabled: false,
            start: Instant::now(),
        }
    }

    /// Writes one line.
    pub fn say(&self, message: impl fmt::Display) {
        if self.enabled {
            eprintln!("[{:>6.1}s] {message}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// A cancellation flag set by Ctrl-C (or a test); waits stop early and the
/// run cleans up what it created.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Interrupt {
    /// Not interrupted yet.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Interrupt: waits end at once.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether [`Interrupt::trigger`] was called.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`; returns `false` early when interrupted.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        // Created before the check: `notify_waiters` wakes it from now on.
        let notified = self.notify.notified();
        if self.is_set() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_set(),
            _ = notified => false,
        }
    }

    /// Triggers on the first SIGINT or SIGTERM (spawned on the current runtime).
    pub fn on_signals(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("interrupted: cleaning up (press Ctrl-C again to abort)");
            me.trigger();
            wait_for_signal().await;
            std::process::exit(130);
        });
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Bytes as GB/GiB text (`1.5 GiB`).
pub fn gib(bytes: i64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// MiB as GiB text.
pub fn mib_as_gib(mib: i64) -> String {
    format!("{:.1} GiB", mib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(name = "t")]
    struct Args {
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
        #[arg(long)]
        count: u32,
    }

    #[test]
    fn clap_errors_become_one_line() {
        let e = Args::try_parse_from(["t", "--count", "x"]).unwrap_err();
        let line = clap_error_line(&e);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("error: invalid value 'x' for '--count"),
            "{line}"
        );
        let e = Args::try_parse_from(["t", "--count", "1", "--output", "yaml"]).unwrap_err();
        let line = clap_error_line(&e);
        assert!(line.contains("possible values: text, json"), "{line}");
        let code = parse_from::<Args, _, _>(["t", "--bogus"]).unwrap_err();
        assert_eq!(code, ExitCode::from(EXIT_BAD_INPUT));
    }

    #[tokio::test]
    async fn interrupt_ends_sleeps() {
        let i = Interrupt::new();
        assert!(i.sleep(std::time::Duration::from_millis(1)).await);
        let j = i.clone();
        let waiter = tokio::spawn(async move { j.sleep(std::time::Duration::from_secs(60)).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        i.trigger();
        assert!(!waiter.await.unwrap());
        assert!(i.is_set());
        assert!(!i.sleep(std::time::Duration::from_secs(60)).await);
    }

    #[test]
    fn sizes_are_readable() {
        assert_eq!(gib(1024 * 1024 * 1024 * 3 / 2), "1.5 GiB");
        assert_eq!(mib_as_gib(8192), "8.0 GiB");
    }
}
