//! `spec.image` → MAAS `osystem` + `distro_series`.

use std::fmt;

use thiserror::Error;

/// Maximum length of `spec.image` (mirrors the CRD's `maxLength`).
pub const MAX_IMAGE_LEN: usize = 128;

/// An image reference that MAAS can deploy.
///
/// Accepted forms (the CRD validates the same shape with CEL):
/// * `<osystem>/<series>`, e.g. `ubuntu/jammy`, `ubuntu/22.04`, `centos/centos70`;
/// * `<series>` alone, meaning Ubuntu: `jammy` → `ubuntu` + `jammy`;
/// * `custom/<name>` for an uploaded custom image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// MAAS `osystem` (`ubuntu`, `custom`, `centos`, `rhel`, ...).
    pub osystem: String,
    /// MAAS `distro_series` (`jammy`, the custom image name, ...).
    pub distro_series: String,
}

/// Why `spec.image` is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    /// Empty string.
    #[error("image is empty; use e.g. `ubuntu/jammy`, `jammy` or `custom/<name>`")]
    Empty,
    /// Longer than [`MAX_IMAGE_LEN`].
    #[error("image is longer than {MAX_IMAGE_LEN} characters")]
    TooLong,
    /// Not of the form `[<osystem>/]<series>`.
    #[error(
        "image {0:?} is not of the form `[<osystem>/]<series>`: osystem is lower-case \
         letters, digits and '-'; series is letters, digits, '.', '_' and '-'"
    )]
    BadFormat(String),
}

fn valid_osystem(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_series(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl ImageRef {
    /// Parses `spec.image`.
    ///
    /// # Errors
    /// See [`ImageError`].
    pub fn parse(image: &str) -> Result<Self, ImageError> {
        if image.is_empty() {
            return Err(ImageError::Empty);
        }
        if image.len() > MAX_IMAGE_LEN {
            return Err(ImageError::TooLong);
        }
        let (osystem, series) = match image.split_once('/') {
            Some((os, series)) => (os, series),
            None => ("ubuntu", image),
        };
        if !valid_osystem(osystem) || !valid_series(series) {
            return Err(ImageError::BadFormat(image.to_owned()));
        }
        Ok(Self {
            osystem: osystem.to_owned(),
            distro_series: series.to_owned(),
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.osystem, self.distro_series)
    }
}

/// Whether `kernel` is a plausible `hwe_kernel` value (`ga-22.04`,
/// `hwe-22.04-lowlatency`, ...): lower-case letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit, at most 64 characters.
#[must_use]
pub fn valid_hwe_kernel(kernel: &str) -> bool {
    let mut chars = kernel.chars();
    kernel.len() <= 64
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(image: &str) -> (String, String) {
        let r = ImageRef::parse(image).unwrap();
        (r.osystem, r.distro_series)
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(split("ubuntu/jammy"), ("ubuntu".into(), "jammy".into()));
        assert_eq!(split("jammy"), ("ubuntu".into(), "jammy".into()));
        assert_eq!(split("ubuntu/22.04"), ("ubuntu".into(), "22.04".into()));
        assert_eq!(
            split("custom/u-2204-0-k-1335-0"),
            ("custom".into(), "u-2204-0-k-1335-0".into())
        );
        assert_eq!(split("rhel/rocky-92"), ("rhel".into(), "rocky-92".into()));
        assert_eq!(
            ImageRef::parse("custom/img").unwrap().to_string(),
            "custom/img"
        );
    }

    #[test]
    fn rejected_forms() {
        assert_eq!(ImageRef::parse(""), Err(ImageError::Empty));
        assert_eq!(ImageRef::parse(&"a".repeat(129)), Err(ImageError::TooLong));
        for bad in [
            "/jammy",
            "ubuntu/",
            "Ubuntu/jammy",
            "a/b/c",
            "ubuntu/ja mmy",
            "-x",
            "custom/.x",
        ] {
            assert!(
                matches!(ImageRef::parse(bad), Err(ImageError::BadFormat(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn hwe_kernels() {
        for ok in [
            "ga-22.04",
            "hwe-22.04",
            "hwe-22.04-lowlatency",
            "ga-24.04-edge",
        ] {
            assert!(valid_hwe_kernel(ok), "{ok}");
        }
        for bad in ["", "HWE", "-x", "a b", &"a".repeat(65)] {
            assert!(!valid_hwe_kernel(bad), "{bad}");
        }
    }
}
