//! Conventions the project's CLIs share (`vmhost-test`, `maas-test`, and
//! `lxd-test`, which follows the same rules):
//!
//! - exit status 0 success, 1 failure (with a readable summary), 2 bad input
//!   (one line on stderr: `<program>: error: <reason>`), through
//!   [`cli_support`], which every binary of the project uses;
//! - `--help` with examples, `--version`;
//! - logs on stderr through `tracing` (`--log-format text|json`,
//!   `--log-level`, default `warn`; `RUST_LOG` wins when set);
//! - progress of waits on stderr, reports on stdout (`--output text|json`);
//! - secrets (API keys, trust passwords and tokens, private keys) never in
//!   logs, messages or `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use cli_support::{BadInput, EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, LogFormat};

/// Report format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
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
        let first = cli_support::shutdown_signal();
        tokio::spawn(async move {
            first.await;
            eprintln!("interrupted: cleaning up (press Ctrl-C again to abort)");
            me.trigger();
            cli_support::shutdown_signal().await;
            std::process::exit(i32::from(cli_support::EXIT_INTERRUPTED));
        });
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
