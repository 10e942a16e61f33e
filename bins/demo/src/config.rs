//! The demo's knobs (environment variables).

use std::path::PathBuf;
use std::time::Duration;

use crate::DemoError;

/// The most machines `DEMO_MACHINES` accepts (the scale `make bench` runs).
pub const MAX_MACHINES: usize = 1000;

/// What the demo does; see [`DemoConfig::from_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Machines in the cluster (`DEMO_MACHINES`, default 5, 1–[`MAX_MACHINES`]).
    pub machines: usize,
    /// maas-sim's MAAS version profile (`DEMO_MAAS_VERSION`, default `3.6`).
    pub maas_version: String,
    /// maas-sim's deploy time in seconds (`DEMO_DEPLOY_SECONDS`, default 5).
    pub deploy_seconds: f64,
    /// Live table with cursor control (a terminal and no `DEMO_NONINTERACTIVE`).
    pub interactive: bool,
    /// Where `maas-sim` and `capmaas-manager` are (`DEMO_BIN_DIR`, default
    /// the directory of the demo binary).
    pub bin_dir: PathBuf,
    /// Longest wait of each phase (`DEMO_TIMEOUT` in seconds, default 300).
    pub timeout: Duration,
}

impl DemoConfig {
    /// Reads the knobs; `is_terminal` says whether stdout is a terminal.
    pub fn from_env(is_terminal: bool) -> Result<DemoConfig, DemoError> {
        Self::from_lookup(|k| std::env::var(k).ok(), is_terminal)
    }

    /// Like [`DemoConfig::from_env`] with a custom lookup (tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        is_terminal: bool,
    ) -> Result<DemoConfig, DemoError> {
        let set = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let machines = match set("DEMO_MACHINES") {
            None => 5,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_MACHINES).contains(n))
                .ok_or_else(|| {
                    DemoError::Config(format!(
                        "DEMO_MACHINES must be 1 to {MAX_MACHINES}, got {v:?}"
                    ))
                })?,
        };
        let maas_version = set("DEMO_MAAS_VERSION").unwrap_or_else(|| "3.6".into());
        if !["3.4", "3.5", "3.6", "3.7", "3.8"].contains(&maas_version.as_str()) {
            return Err(DemoError::Config(format!(
                "DEMO_MAAS_VERSION must be one of 3.4, 3.5, 3.6, 3.7, 3.8, got {maas_version:?}"
            )));
        }
        let seconds = |k: &str, default: f64, max: f64| -> Result<f64, DemoError> {
            match set(k) {
                None => Ok(default),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s <= max)
                    .ok_or_else(|| {
                        DemoError::Config(format!("{k} must be 0 to {max} seconds, got {v:?}"))
                    }),
            }
        };
        let deploy_seconds = seconds("DEMO_DEPLOY_SECONDS", 5.0, 600.0)?;
        let timeout = Duration::from_secs_f64(seconds("DEMO_TIMEOUT", 300.0, 86_400.0)?.max(1.0));
        let noninteractive = set("DEMO_NONINTERACTIVE").is_some_and(|v| v != "0");
        let bin_dir = match set("DEMO_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(DemoConfig {
            machines,
            maas_version,
            deploy_seconds,
            interactive: is_terminal && !noninteractive,
            bin_dir,
            timeout,
        })
    }

    /// Whether this MAAS version deploys in memory (3.5 and newer).
    pub fn in_memory_supported(&self) -> bool {
        self.maas_version.as_str() >= "3.5"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)], tty: bool) -> Result<DemoConfig, DemoError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        DemoConfig::from_lookup(
            |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            tty,
        )
    }

    #[test]
    fn defaults() {
        let c = cfg(&[], true).unwrap();
        assert_eq!(c.machines, 5);
        assert_eq!(c.maas_version, "3.6");
        assert!(c.interactive);
        assert!(c.in_memory_supported());
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert!(
            !cfg(&[], false).unwrap().interactive,
            "no terminal, no cursor control"
        );
    }

    #[test]
    fn knobs() {
        let c = cfg(
            &[
                ("DEMO_MACHINES", "3"),
                ("DEMO_MAAS_VERSION", "3.4"),
                ("DEMO_NONINTERACTIVE", "1"),
                ("DEMO_DEPLOY_SECONDS", "0.5"),
                ("DEMO_BIN_DIR", "/opt/bin"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(c.machines, 3);
        assert_eq!(
            cfg(&[("DEMO_MACHINES", "1000")], false).unwrap().machines,
            MAX_MACHINES
        );
        assert!(!c.in_memory_supported());
        assert!(!c.interactive);
        assert_eq!(c.deploy_seconds, 0.5);
        assert_eq!(c.bin_dir, PathBuf::from("/opt/bin"));
        assert!(
            cfg(&[("DEMO_NONINTERACTIVE", "0")], true)
                .unwrap()
                .interactive
        );
    }

    #[test]
    fn bad_knobs_are_refused_with_the_name() {
        for (k, v) in [
            ("DEMO_MACHINES", "0"),
            ("DEMO_MACHINES", "many"),
            ("DEMO_MACHINES", "1001"),
            ("DEMO_MAAS_VERSION", "2.9"),
            ("DEMO_DEPLOY_SECONDS", "-1"),
            ("DEMO_TIMEOUT", "soon"),
        ] {
            let e = cfg(&[(k, v)], false).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
    }
}
