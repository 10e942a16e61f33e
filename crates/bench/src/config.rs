//! What a benchmark run does.

use std::path::PathBuf;
use std::time::Duration;

use crate::BenchError;

/// The knobs of `capmaas-bench` (flags, or `BENCH_*` variables).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// maas-sim's `--latency-profile` (`none` or `region`).
    pub latency_profile: String,
    /// maas-sim's deploy time, seconds.
    pub deploy_seconds: f64,
    /// maas-sim's release time, seconds.
    pub release_seconds: f64,
    /// Where `maas-sim` and `capmaas-manager` are.
    pub bin_dir: PathBuf,
    /// Longest wait of each phase.
    pub timeout: Duration,
}

/// The most machines a run accepts (the demo's limit).
pub const MAX_MACHINES: usize = capmaas_demo::config::MAX_MACHINES;

impl BenchConfig {
    /// Parses `10,200,1000`: each 1 to [`MAX_MACHINES`].
    pub fn parse_sizes(s: &str) -> Result<Vec<usize>, BenchError> {
        let sizes: Result<Vec<usize>, _> = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_MACHINES).contains(n))
                    .ok_or_else(|| {
                        BenchError::Config(format!(
                            "machine counts must be 1 to {MAX_MACHINES}, got {p:?} in {s:?}"
                        ))
                    })
            })
            .collect();
        let sizes = sizes?;
        if sizes.is_empty() {
            return Err(BenchError::Config(format!(
                "no machine count in {s:?} (e.g. 10,200)"
            )));
        }
        Ok(sizes)
    }

    /// Checks the profile name against maas-sim's.
    pub fn check(&self) -> Result<(), BenchError> {
        self.latency_profile
            .parse::<maas_sim::LatencyProfile>()
            .map_err(|e| BenchError::Config(e.to_string()))?;
        for (name, v) in [
            ("deploy seconds", self.deploy_seconds),
            ("release seconds", self.release_seconds),
        ] {
            if !(v.is_finite() && (0.0..=600.0).contains(&v)) {
                return Err(BenchError::Config(format!(
                    "{name} must be 0 to 600, got {v}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(BenchConfig::parse_sizes("10,200").unwrap(), vec![10, 200]);
        assert_eq!(BenchConfig::parse_sizes(" 3 ").unwrap(), vec![3]);
        assert_eq!(BenchConfig::parse_sizes("1000,").unwrap(), vec![1000]);
        for bad in ["", "0", "1001", "ten", "10;200"] {
            let e = BenchConfig::parse_sizes(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn profile_and_times_are_checked() {
        let mut c = BenchConfig {
            latency_profile: "region".into(),
            deploy_seconds: 2.0,
            release_seconds: 1.0,
            bin_dir: PathBuf::from("."),
            timeout: Duration::from_secs(60),
        };
        assert!(c.check().is_ok());
        c.latency_profile = "slow".into();
        assert!(c.check().unwrap_err().to_string().contains("slow"));
        c.latency_profile = "none".into();
        c.deploy_seconds = -1.0;
        assert!(c.check().unwrap_err().to_string().contains("deploy"));
    }
}
