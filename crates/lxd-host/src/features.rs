//! Feature detection from `api_extensions` and `environment.server_version`.

use std::fmt;

use crate::types::Server;

/// An LXD release version such as `5.0.2`, `5.21.3` or `6.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct LxdVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when absent, as in `6.1`).
    pub patch: u32,
}

impl LxdVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        LxdVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `5.21.3`, `6.1`, `5.0.2-ubuntu1`; `None` when unreadable.
    pub fn parse(s: &str) -> Option<Self> {
        let core = s
            .trim()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().unwrap_or("0").parse().ok()?;
        let patch = match parts.next() {
            Some(p) if !p.is_empty() => p.parse().ok()?,
            _ => 0,
        };
        Some(LxdVersion::new(major, minor, patch))
    }
}

impl fmt::Display for LxdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The last LXD release that still accepts trust passwords is 6.0; they were
/// removed in 6.1.
pub const TRUST_PASSWORD_REMOVED_IN: LxdVersion = LxdVersion::new(6, 1, 0);
/// MAAS 3.7 documents LXD 5.21 as the oldest version that works correctly.
pub const MAAS_MIN_VERSION: LxdVersion = LxdVersion::new(5, 21, 0);
/// API extensions MAAS's LXD driver requires.
pub const MAAS_REQUIRED_EXTENSIONS: [&str; 3] =
    ["projects", "virtual-machines", "custom_block_volumes"];

/// How an untrusted client presents a trust token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenField {
    /// `trust_token` (API extension `explicit_trust_token`: LXD ≥ 5.21.2, 6.x).
    TrustToken,
    /// `password` (LXD 5.0 up to 5.21.1).
    Password,
}

/// What the server can do, as far as this crate cares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Features {
    /// `environment.server_version`, when the caller is trusted.
    pub version: Option<LxdVersion>,
    /// `certificate_token`: the server can issue trust tokens.
    pub certificate_token: bool,
    /// `explicit_trust_token`: tokens go in `trust_token`.
    pub explicit_trust_token: bool,
    /// `projects`.
    pub projects: bool,
    /// `virtual-machines`.
    pub virtual_machines: bool,
    /// `custom_block_volumes`.
    pub custom_block_volumes: bool,
    /// `certificate_project`: certificates can be restricted to projects.
    pub certificate_project: bool,
}

impl Features {
    /// Reads features from `GET /1.0` (works for untrusted callers too,
    /// except the version).
    pub fn detect(server: &Server) -> Self {
        let version = server
            .environment
            .as_ref()
            .and_then(|e| LxdVersion::parse(&e.server_version));
        Features {
            version,
            certificate_token: server.has_extension("certificate_token"),
            explicit_trust_token: server.has_extension("explicit_trust_token"),
            projects: server.has_extension("projects"),
            virtual_machines: server.has_extension("virtual-machines"),
            custom_block_volumes: server.has_extension("custom_block_volumes"),
            certificate_project: server.has_extension("certificate_project"),
        }
    }

    /// Where a trust token goes in `POST /1.0/certificates`.
    pub fn token_field(&self) -> TokenField {
        if self.explicit_trust_token {
            TokenField::TrustToken
        } else {
            TokenField::Password
        }
    }

    /// Whether `core.trust_password` still exists. `None` when the version is
    /// unknown (untrusted caller).
    pub fn trust_password_supported(&self) -> Option<bool> {
        self.version.map(|v| v < TRUST_PASSWORD_REMOVED_IN)
    }

    /// MAAS's required API extensions that the server lacks.
    pub fn missing_for_maas(&self) -> Vec<&'static str> {
        let have = [
            self.projects,
            self.virtual_machines,
            self.custom_block_volumes,
        ];
        MAAS_REQUIRED_EXTENSIONS
            .iter()
            .zip(have)
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| *name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ServerEnvironment;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(LxdVersion::parse("5.0.2"), Some(LxdVersion::new(5, 0, 2)));
        assert_eq!(LxdVersion::parse("6.1"), Some(LxdVersion::new(6, 1, 0)));
        assert_eq!(
            LxdVersion::parse("5.21.3-ubuntu"),
            Some(LxdVersion::new(5, 21, 3))
        );
        assert_eq!(LxdVersion::parse("6"), Some(LxdVersion::new(6, 0, 0)));
        assert_eq!(LxdVersion::parse(""), None);
        assert_eq!(LxdVersion::parse("abc"), None);
        assert!(LxdVersion::new(5, 21, 0) > LxdVersion::new(5, 20, 9));
        assert!(LxdVersion::new(6, 0, 0) < TRUST_PASSWORD_REMOVED_IN);
        assert!(LxdVersion::new(5, 9, 0) < MAAS_MIN_VERSION);
    }

    fn server(version: &str, extensions: &[&str]) -> Server {
        Server {
            api_extensions: extensions.iter().map(|s| s.to_string()).collect(),
            auth: "trusted".into(),
            environment: Some(ServerEnvironment {
                server_version: version.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn token_field_follows_explicit_trust_token() {
        let f = Features::detect(&server("5.21.1", &["certificate_token"]));
        assert_eq!(f.token_field(), TokenField::Password);
        let f = Features::detect(&server(
            "5.21.2",
            &["certificate_token", "explicit_trust_token"],
        ));
        assert_eq!(f.token_field(), TokenField::TrustToken);
    }

    #[test]
    fn trust_password_support_by_version() {
        assert_eq!(
            Features::detect(&server("5.0.2", &[])).trust_password_supported(),
            Some(true)
        );
        assert_eq!(
            Features::detect(&server("5.21.3", &[])).trust_password_supported(),
            Some(true)
        );
        assert_eq!(
            Features::detect(&server("6.1", &[])).trust_password_supported(),
            Some(false)
        );
        assert_eq!(
            Features::detect(&server("6.5", &[])).trust_password_supported(),
            Some(false)
        );
        let untrusted = Server::default();
        assert_eq!(
            Features::detect(&untrusted).trust_password_supported(),
            None
        );
    }

    #[test]
    fn maas_extensions() {
        let f = Features::detect(&server("5.21.3", &["projects", "virtual-machines"]));
        assert_eq!(f.missing_for_maas(), vec!["custom_block_volumes"]);
        let f = Features::detect(&server(
            "5.21.3",
            &["projects", "virtual-machines", "custom_block_volumes"],
        ));
        assert!(f.missing_for_maas().is_empty());
    }
}
