//! What every binary of the project shares (`maas-sim`, `capmaas-manager`,
//! `capmaas-demo`, `lxd-test`, `vmhost-test`, `maas-test`):
//!
//! - **exit statuses**: [`EXIT_OK`] 0, [`EXIT_FAILURE`] 1, [`EXIT_BAD_INPUT`]
//!   2 (a wrong flag or value), [`EXIT_INTERRUPTED`] 130;
//! - **one-line errors** on stderr, `<program>: error: <reason>`
//!   ([`Program::bad_input`], [`Program::fail`]); clap's own errors are folded
//!   into that one line by [`Program::parse`], which also answers `--help`
//!   and `--version` with exit 0;
//! - **logs** on stderr through `tracing` ([`Program::init_logging`]):
//!   `--log-format text|json`, a level or filter (`--log-level`, or
//!   `RUST_LOG`, which wins when set), ANSI colours only when stderr is a
//!   terminal and `NO_COLOR` is unset;
//! - **signals**: [`shutdown_signal`] resolves on SIGINT or SIGTERM;
//! - **the runtime**: [`Program::runtime`].
//!
//! ```no_run
//! use std::process::ExitCode;
//! use cli_support::{LogFormat, Program};
//!
//! const PROGRAM: Program = Program::new("my-tool");
//!
//! #[derive(clap::Parser)]
//! #[command(name = "my-tool", version, after_help = "Examples:\n  my-tool --count 3")]
//! struct Cli {
//!     #[arg(long)]
//!     count: u32,
//!     #[arg(long, value_enum, default_value = "text")]
//!     log_format: LogFormat,
//!     #[arg(long, default_value = "warn")]
//!     log_level: String,
//! }
//!
//! fn main() -> ExitCode {
//!     let cli: Cli = match PROGRAM.parse() {
//!         Ok(c) => c,
//!         Err(code) => return code,
//!     };
//!     if cli.count == 0 {
//!         return PROGRAM.bad_input("--count must be at least 1");
//!     }
//!     if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
//!         return code;
//!     }
//!     let runtime = match PROGRAM.runtime(cli_support::Threads::Current) {
//!         Ok(r) => r,
//!         Err(code) => return code,
//!     };
//!     runtime.block_on(async { cli_support::shutdown_signal().await });
//!     ExitCode::SUCCESS
//! }
//! ```

#[cfg(feature = "test-support")]
pub mod testing;

use std::fmt::Display;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Something failed; the output says what.
pub const EXIT_FAILURE: u8 = 1;
/// Bad input (flags, files, values); one line on stderr says why.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT), where a tool distinguishes it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Log format on stderr (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// A reason the input is wrong: the program exits [`EXIT_BAD_INPUT`] with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    /// A bad-input reason.
    pub fn new(reason: impl Into<String>) -> Self {
        BadInput(reason.into())
    }
}

/// A binary: its name prefixes every error line it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    name: &'static str,
}

impl Program {
    /// The program called `name` (as on its `--help`).
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Program { name }
    }

    /// Its name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The one error line: `<program>: error: <reason>` (line breaks in
    /// `reason` become spaces).
    #[must_use]
    pub fn error_line(&self, reason: impl Display) -> String {
        let reason = reason.to_string();
        let reason = reason.strip_prefix("error: ").unwrap_or(&reason);
        let one: Vec<&str> = reason
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        format!("{}: error: {}", self.name, one.join(" "))
    }

    /// Prints the error line and returns [`EXIT_BAD_INPUT`].
    pub fn bad_input(&self, reason: impl Display) -> ExitCode {
        eprintln!("{}", self.error_line(reason));
        ExitCode::from(EXIT_BAD_INPUT)
    }

    /// Prints the error line and returns [`EXIT_FAILURE`].
    pub fn fail(&self, reason: impl Display) -> ExitCode {
        eprintln!("{}", self.error_line(reason));
        ExitCode::from(EXIT_FAILURE)
    }

    /// Parses the command line: `--help` and `--version` print and give
    /// `Err(0)`; a wrong flag prints one line and gives `Err(2)`.
    pub fn parse<P: clap::Parser>(&self) -> Result<P, ExitCode> {
        self.parse_from(std::env::args_os())
    }

    /// [`Program::parse`] over explicit arguments (the first is the program).
    pub fn parse_from<P, I, T>(&self, args: I) -> Result<P, ExitCode>
    where
        P: clap::Parser,
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        P::try_parse_from(args).map_err(|e| {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                ExitCode::SUCCESS
            } else {
                self.bad_input(clap_error_line(&e))
            }
        })
    }

    /// Logs to stderr in `format`, filtered by `RUST_LOG` when it is set,
    /// else by `level` (`info`, `warn`, `maas_sim=debug,info`, ...). A filter
    /// that does not parse is bad input (exit 2); so is `level` itself even
    /// when `RUST_LOG` overrides it. Colours only on a terminal.
    pub fn init_logging(&self, format: LogFormat, level: &str) -> Result<(), ExitCode> {
        let filter = log_filter(level, std::env::var("RUST_LOG").ok().as_deref())
            .map_err(|e| self.bad_input(e))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(use_colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").is_some(),
            ));
        // A second initialisation (tests calling main twice) keeps the first.
        let _ = match format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        Ok(())
    }

    /// A tokio runtime with `threads`. Failing to build one is a failure
    /// (exit 1).
    pub fn runtime(&self, threads: Threads) -> Result<tokio::runtime::Runtime, ExitCode> {
        let mut builder = match threads {
            Threads::Current => tokio::runtime::Builder::new_current_thread(),
            Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
            Threads::Workers(n) => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(n.max(1));
                b
            }
        };
        builder
            .enable_all()
            .build()
            .map_err(|e| self.fail(format!("cannot start the async runtime: {e}")))
    }
}

/// The threads of [`Program::runtime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Everything on the main thread.
    Current,
    /// One worker per core.
    PerCore,
    /// This many workers (at least one).
    Workers(usize),
}

/// Clap's message as one line: its first line plus its hints (possible
/// values, tips), without the usage block and without `error: `.
#[must_use]
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
        parts.push(l.strip_prefix("error: ").unwrap_or(l).to_owned());
    }
    if parts.is_empty() {
        "invalid arguments".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The log filter: `rust_log` (the `RUST_LOG` value) when set and not
/// blank, else `level`. Both must parse.
pub fn log_filter(level: &str, rust_log: Option<&str>) -> Result<EnvFilter, BadInput> {
    let parse = |what: &str, spec: &str| {
        EnvFilter::builder()
            .parse(spec)
            .map_err(|e| BadInput(format!("{what} {spec:?} is not a log filter: {e}")))
    };
    let flag = parse("--log-level", level)?;
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(env) => parse("RUST_LOG", env),
        None => Ok(flag),
    }
}

/// ANSI colours in logs: only on a terminal, and never with `NO_COLOR`.
#[must_use]
pub fn use_colour(stderr_is_terminal: bool, no_colour: bool) -> bool {
    stderr_is_terminal && !no_colour
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: call it before announcing readiness, so that a signal sent
/// as soon as the program says it is ready is caught rather than killing it
/// by the default action. Must be called inside the tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        match (term, interrupt) {
            (Some(mut term), Some(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (Some(mut only), None) | (None, Some(mut only)) => {
                only.recv().await;
            }
            (None, None) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const P: Program = Program::new("t");

    #[derive(Debug, Parser)]
    #[command(name = "t", version)]
    struct Args {
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        #[arg(long)]
        count: u32,
    }

    #[test]
    fn clap_errors_become_one_line_without_the_usage() {
        let e = Args::try_parse_from(["t", "--count", "x"]).unwrap_err();
        let line = clap_error_line(&e);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("invalid value 'x' for '--count"), "{line}");
        let e = Args::try_parse_from(["t", "--count", "1", "--log-format", "yaml"]).unwrap_err();
        let line = clap_error_line(&e);
        assert!(line.contains("possible values: text, json"), "{line}");
        assert!(!line.contains("Usage"), "{line}");
        assert_eq!(
            P.error_line(format!("error: {line}")),
            format!("t: error: {line}")
        );
    }

    #[test]
    fn parse_gives_exit_statuses() {
        let code = P.parse_from::<Args, _, _>(["t", "--bogus"]).unwrap_err();
        assert_eq!(code, ExitCode::from(EXIT_BAD_INPUT));
        let code = P.parse_from::<Args, _, _>(["t", "--version"]).unwrap_err();
        assert_eq!(code, ExitCode::SUCCESS);
        let a = P.parse_from::<Args, _, _>(["t", "--count", "3"]).unwrap();
        assert_eq!((a.count, a.log_format), (3, LogFormat::Text));
    }

    #[test]
    fn error_lines_are_one_line_with_the_program() {
        assert_eq!(P.error_line("bad\n  value\n"), "t: error: bad value");
        assert_eq!(P.error_line("error: twice"), "t: error: twice");
    }

    #[test]
    fn rust_log_wins_but_both_must_parse() {
        assert_eq!(log_filter("info", None).unwrap().to_string(), "info");
        assert_eq!(
            log_filter("info", Some("maas_sim=debug"))
                .unwrap()
                .to_string(),
            "maas_sim=debug"
        );
        assert_eq!(log_filter("warn", Some("  ")).unwrap().to_string(), "warn");
        let e = log_filter("info=bogus=1", None).unwrap_err();
        assert!(e.0.starts_with("--log-level \"info=bogus=1\""), "{e}");
        let e = log_filter("info", Some("x=[")).unwrap_err();
        assert!(e.0.starts_with("RUST_LOG"), "{e}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, false));
        assert!(!use_colour(false, false));
        assert!(!use_colour(true, true));
    }

    #[test]
    fn runtimes_start() {
        for threads in [Threads::Current, Threads::PerCore, Threads::Workers(0)] {
            let rt = P.runtime(threads).unwrap();
            assert_eq!(rt.block_on(async { 1 + 1 }), 2, "{threads:?}");
        }
    }
}
