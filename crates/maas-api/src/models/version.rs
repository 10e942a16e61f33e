//! `GET version/` and a comparable MAAS version number.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

use super::de;

/// The answer of `GET version/` (anonymous).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    /// Capability names, e.g. `networks-management`, `authenticate-api`.
    #[serde(deserialize_with = "de::string_list")]
    pub capabilities: Vec<String>,
    /// The raw version text, e.g. `3.6.5` or `3.5.0~rc1`.
    #[serde(deserialize_with = "de::null_default")]
    pub version: String,
    /// Unused since 3.0 (empty); 2.x put git details here.
    #[serde(deserialize_with = "de::null_default")]
    pub subversion: String,
}

impl Version {
    /// The parsed, comparable version (`None` if `version` is not `X.Y[.Z]…`).
    pub fn parsed(&self) -> Option<MaasVersion> {
        MaasVersion::parse(&self.version)
    }

    /// True if MAAS advertises `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// A pre-release qualifier. Ordered `Alpha < Beta < Rc < Release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreRelease {
    /// `~alphaN`, `aN`
    Alpha(u32),
    /// `~betaN`, `bN`
    Beta(u32),
    /// `~rcN`
    Rc(u32),
    /// No qualifier: a final release.
    Release,
}

/// A MAAS version, comparable the way Debian versions compare
/// (`3.5.0~rc1 < 3.5.0 < 3.5.1`).
///
/// Parsed from text such as `3.6.5`, `3.5.0~rc1`, `3.8.0a1`,
/// `2.5.0~beta3-7325-g1425f6d4c-0ubuntu1~18.04.1` (anything after the
/// first `-` or `+` is build information and ignored for ordering).
#[derive(Debug, Clone)]
pub struct MaasVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number (0 when absent).
    pub patch: u32,
    /// Pre-release qualifier.
    pub pre: PreRelease,
    raw: String,
}

impl MaasVersion {
    /// Build a final-release version.
    pub fn new(major: u32, minor: u32, patch: u32) -> Self {
        MaasVersion {
            major,
            minor,
            patch,
            pre: PreRelease::Release,
            raw: format!("{major}.{minor}.{patch}"),
        }
    }

    /// Parse MAAS's version text; `None` when it does not start with `X.Y`.
    pub fn parse(text: &str) -> Option<Self> {
        let raw = text.trim();
        // Drop build information.
        let core = raw.split(['-', '+', ' ']).next().unwrap_or("");
        // Split off a `~qualifier`.
        let (numbers, tilde_qualifier) = match core.split_once('~') {
            Some((n, q)) => (n, Some(q)),
            None => (core, None),
        };
        let mut parts = numbers.split('.');
        let major = parts.next()?.parse::<u32>().ok()?;
        let minor_text = parts.next()?;
        let (minor, minor_rest) = split_leading_number(minor_text)?;
        let (patch, patch_rest) = match parts.next() {
            Some(p) if minor_rest.is_empty() => split_leading_number(p)?,
            Some(_) => return None,
            None => (0, ""),
        };
        let inline_qualifier = if minor_rest.is_empty() {
            patch_rest
        } else {
            minor_rest
        };
        let qualifier = match tilde_qualifier {
            Some(q) => q,
            None => inline_qualifier,
        };
        let pre = parse_qualifier(qualifier)?;
        Some(MaasVersion {
            major,
            minor,
            patch,
            pre,
            raw: raw.to_owned(),
        })
    }

    /// The text this version was parsed from.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `true` if this is at least `major.minor` (any patch or qualifier).
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    fn key(&self) -> (u32, u32, u32, PreRelease) {
        (self.major, self.minor, self.patch, self.pre)
    }
}

fn split_leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse::<u32>().ok()?;
    Some((n, &s[end..]))
}

fn parse_qualifier(q: &str) -> Option<PreRelease> {
    let q = q.trim_start_matches('.').to_ascii_lowercase();
    if q.is_empty() {
        return Some(PreRelease::Release);
    }
    let end = q.find(|c: char| c.is_ascii_digit()).unwrap_or(q.len());
    let (word, num) = q.split_at(end);
    let n = if num.is_empty() {
        0
    } else {
        num.parse::<u32>().ok()?
    };
    match word {
        "alpha" | "a" => Some(PreRelease::Alpha(n)),
        "beta" | "b" => Some(PreRelease::Beta(n)),
        "rc" | "c" => Some(PreRelease::Rc(n)),
        // Unknown qualifiers sort as the earliest pre-release of that version.
        _ => Some(PreRelease::Alpha(0)),
    }
}

impl PartialEq for MaasVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for MaasVersion {}

impl PartialOrd for MaasVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MaasVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for MaasVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for MaasVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for MaasVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MaasVersion::parse(s).ok_or_else(|| format!("not a MAAS version: {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MaasVersion {
        MaasVersion::parse(s).unwrap()
    }

    #[test]
    fn parses_release_and_prerelease_forms() {
        let x = v("3.6.5");
        assert_eq!(
            (x.major, x.minor, x.patch, x.pre),
            (3, 6, 5, PreRelease::Release)
        );
        let x = v("3.5.0~rc1");
        assert_eq!(
            (x.major, x.minor, x.patch, x.pre),
            (3, 5, 0, PreRelease::Rc(1))
        );
        let x = v("2.5.0~beta3-7325-g1425f6d4c-0ubuntu1~18.04.1");
        assert_eq!(
            (x.major, x.minor, x.patch, x.pre),
            (2, 5, 0, PreRelease::Beta(3))
        );
        assert_eq!(x.as_str(), "2.5.0~beta3-7325-g1425f6d4c-0ubuntu1~18.04.1");
        let x = v("3.8.0a1");
        assert_eq!(x.pre, PreRelease::Alpha(1));
        let x = v("3.4");
        assert_eq!((x.major, x.minor, x.patch), (3, 4, 0));
        let x = v("2.5.0 from source");
        assert_eq!(x, MaasVersion::new(2, 5, 0));
    }

    #[test]
    fn rejects_non_versions() {
        for bad in ["", "x", "3", "three.four", "3.x.1", "3.4.x"] {
            assert!(MaasVersion::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn orders_like_debian_versions() {
        let ordered = [
            "2.9.2",
            "3.0.0~alpha1",
            "3.0.0~beta2",
            "3.0.0~rc1",
            "3.0.0~rc2",
            "3.0.0",
            "3.4.0",
            "3.5.0~rc1",
            "3.5.0",
            "3.6.5",
            "3.10.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("3.6.5"), v("3.6.5-1234-gabc"));
        assert!(v("3.5.0~rc1").at_least(3, 5));
        assert!(!v("3.4.9").at_least(3, 5));
    }

    #[test]
    fn version_response_parses() {
        let resp: Version = serde_json::from_str(
            r#"{"capabilities":["networks-management","authenticate-api"],"version":"3.5.0~rc1","subversion":""}"#,
        )
        .unwrap();
        assert!(resp.has_capability("authenticate-api"));
        assert!(!resp.has_capability("nope"));
        assert_eq!(resp.parsed().unwrap(), v("3.5.0~rc1"));
    }
}
