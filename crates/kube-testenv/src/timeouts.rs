//! Test timeouts that a slow or loaded machine can stretch.

use std::time::Duration;

/// Environment variable multiplying the timeouts of test waits ([`scaled`]),
/// e.g. `3` on a heavily loaded CI machine. A positive number; default 1.
pub const TIMEOUT_SCALE_ENV: &str = "CAPMAAS_TEST_TIMEOUT_SCALE";

/// The factor of [`TIMEOUT_SCALE_ENV`]: 1 when unset; an unparsable,
/// non-positive or absurd (> 100) value is ignored with a warning on stderr.
#[must_use]
pub fn timeout_scale() -> f64 {
    match std::env::var(TIMEOUT_SCALE_ENV) {
        Ok(v) => parse_scale(&v).unwrap_or_else(|| {
            eprintln!("{TIMEOUT_SCALE_ENV}={v:?} is not a number in (0, 100]; using 1");
            1.0
        }),
        Err(_) => 1.0,
    }
}

fn parse_scale(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0 && *f <= 100.0)
}

/// `base` times [`timeout_scale`]: what a test should wait at most for
/// something that normally takes well under `base`.
#[must_use]
pub fn scaled(base: Duration) -> Duration {
    base.mul_f64(timeout_scale())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_values() {
        assert_eq!(parse_scale("2"), Some(2.0));
        assert_eq!(parse_scale(" 0.5 "), Some(0.5));
        assert_eq!(parse_scale("0"), None);
        assert_eq!(parse_scale("-1"), None);
        assert_eq!(parse_scale("1000"), None);
        assert_eq!(parse_scale("fast"), None);
        assert_eq!(parse_scale("NaN"), None);
    }
}
