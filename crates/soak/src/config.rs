//! The soak's knobs (environment variables, as `make soak` passes them).

use std::path::PathBuf;
use std::time::Duration;

use crate::SoakError;
use crate::variant::Variant;

/// What a soak does; see [`SoakConfig::from_lookup`].
#[derive(Debug, Clone, PartialEq)]
pub struct SoakConfig {
    /// Runs (`SOAK_RUNS`, default 20, 1–10000).
    pub runs: usize,
    /// MaasMachines of the Cluster per wave (`SOAK_MACHINES`, default 6, 1–30).
    pub machines: usize,
    /// kill -9 of the manager per run (`SOAK_KILLS`, default 40, 0–10000).
    pub kills: usize,
    /// The soak's seed (`SOAK_SEED`, default: from the clock; decimal or `0x` hex).
    pub seed: u64,
    /// Only this run index (`SOAK_RUN`, to replay one run of a seed).
    pub only_run: Option<usize>,
    /// Fault variants, run `i` uses `variants[i % len]` (`SOAK_VARIANTS`,
    /// comma-separated, default all: `kills,503,lock,drop,html500,garbage`).
    pub variants: Vec<Variant>,
    /// Longest wait of each phase (`SOAK_TIMEOUT` seconds, default 180).
    pub timeout: Duration,
    /// The manager's uptime between kills is uniform in this range, ms
    /// (`SOAK_KILL_MS=lo-hi`, default `150-2500`).
    pub kill_ms: (u64, u64),
    /// Where `maas-sim` and `capmaas-manager` are (`SOAK_BIN_DIR`, default
    /// the directory of the soak binary).
    pub bin_dir: PathBuf,
}

impl SoakConfig {
    /// Reads the knobs from the environment.
    ///
    /// # Errors
    /// [`SoakError::Config`] naming the knob and the value.
    pub fn from_env() -> Result<SoakConfig, SoakError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`SoakConfig::from_env`] with a custom lookup (tests).
    ///
    /// # Errors
    /// [`SoakError::Config`] naming the knob and the value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SoakConfig, SoakError> {
        let set = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bad = |k: &str, v: &str, want: &str| {
            SoakError::Config(format!("{k} must be {want}, got {v:?}"))
        };
        let int = |k: &str, default: u64, lo: u64, hi: u64| -> Result<u64, SoakError> {
            match set(k) {
                None => Ok(default),
                Some(v) => parse_u64(&v)
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| bad(k, &v, &format!("{lo} to {hi}"))),
            }
        };
        let runs = int("SOAK_RUNS", 20, 1, 10_000)? as usize;
        let machines = int("SOAK_MACHINES", 6, 1, 30)? as usize;
        let kills = int("SOAK_KILLS", 40, 0, 10_000)? as usize;
        let seed = match set("SOAK_SEED") {
            None => clock_seed(),
            Some(v) => parse_u64(&v).ok_or_else(|| bad("SOAK_SEED", &v, "a number"))?,
        };
        let only_run = match set("SOAK_RUN") {
            None => None,
            Some(v) => {
                Some(parse_u64(&v).ok_or_else(|| bad("SOAK_RUN", &v, "a run index"))? as usize)
            }
        };
        let variants = match set("SOAK_VARIANTS") {
            None => Variant::ALL.to_vec(),
            Some(v) => {
                let parsed: Option<Vec<Variant>> =
                    v.split(',').map(|s| Variant::parse(s.trim())).collect();
                parsed.filter(|p| !p.is_empty()).ok_or_else(|| {
                    bad(
                        "SOAK_VARIANTS",
                        &v,
                        "a comma-separated list of kills, 503, lock, drop, html500, garbage",
                    )
                })?
            }
        };
        let timeout = Duration::from_secs(int("SOAK_TIMEOUT", 180, 10, 86_400)?);
        let kill_ms = match set("SOAK_KILL_MS") {
            None => (150, 2500),
            Some(v) => v
                .split_once('-')
                .and_then(|(a, b)| Some((parse_u64(a.trim())?, parse_u64(b.trim())?)))
                .filter(|(a, b)| *a >= 10 && a <= b && *b <= 600_000)
                .ok_or_else(|| bad("SOAK_KILL_MS", &v, "lo-hi milliseconds (10 ≤ lo ≤ hi)"))?,
        };
        let bin_dir = match set("SOAK_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(SoakConfig {
            runs,
            machines,
            kills,
            seed,
            only_run,
            variants,
            timeout,
            kill_ms,
            bin_dir,
        })
    }

    /// The run indexes to do.
    #[must_use]
    pub fn run_indexes(&self) -> Vec<usize> {
        match self.only_run {
            Some(i) => vec![i],
            None => (0..self.runs).collect(),
        }
    }

    /// The variant of run `index`.
    #[must_use]
    pub fn variant(&self, index: usize) -> Variant {
        self.variants
            .get(index % self.variants.len().max(1))
            .copied()
            .unwrap_or(Variant::Kills)
    }

    /// The command that replays run `index`.
    #[must_use]
    pub fn replay_command(&self, index: usize) -> String {
        format!(
            "make soak SOAK_SEED={} SOAK_RUN={index} SOAK_MACHINES={} SOAK_KILLS={} SOAK_VARIANTS={}",
            self.seed,
            self.machines,
            self.kills,
            self.variants
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<SoakConfig, SoakError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SoakConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_and_knobs() {
        let c = cfg(&[("SOAK_SEED", "7")]).unwrap();
        assert_eq!((c.runs, c.machines, c.kills, c.seed), (20, 6, 40, 7));
        assert_eq!(c.variants, Variant::ALL);
        assert_eq!(c.run_indexes().len(), 20);
        assert_eq!(c.variant(1), Variant::Rate503);
        assert_eq!(c.variant(Variant::ALL.len()), Variant::Kills);
        let c = cfg(&[
            ("SOAK_RUNS", "3"),
            ("SOAK_MACHINES", "4"),
            ("SOAK_KILLS", "6"),
            ("SOAK_SEED", "0x10"),
            ("SOAK_RUN", "2"),
            ("SOAK_VARIANTS", "drop, garbage"),
            ("SOAK_KILL_MS", "100-200"),
        ])
        .unwrap();
        assert_eq!((c.runs, c.machines, c.kills, c.seed), (3, 4, 6, 16));
        assert_eq!(c.run_indexes(), [2]);
        assert_eq!(c.variant(2), Variant::Dropped);
        assert_eq!(c.kill_ms, (100, 200));
        assert_eq!(
            c.replay_command(2),
            "make soak SOAK_SEED=16 SOAK_RUN=2 SOAK_MACHINES=4 SOAK_KILLS=6 SOAK_VARIANTS=drop,garbage"
        );
    }

    #[test]
    fn bad_knobs_name_the_knob_and_value() {
        for (k, v) in [
            ("SOAK_RUNS", "0"),
            ("SOAK_MACHINES", "31"),
            ("SOAK_KILLS", "lots"),
            ("SOAK_SEED", "-1"),
            ("SOAK_VARIANTS", "503,chaos"),
            ("SOAK_KILL_MS", "300-100"),
            ("SOAK_TIMEOUT", "1"),
        ] {
            let e = cfg(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
    }
}
