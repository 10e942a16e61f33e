//! The desired state of an LXD host for MAAS, and its validation.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::fingerprint::{Fingerprint, Secret};

/// Storage drivers MAAS VM hosts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDriver {
    /// ZFS (loop file of `size`, or a device/dataset in `source`).
    Zfs,
    /// Btrfs.
    Btrfs,
    /// LVM.
    Lvm,
    /// A plain directory; `size` does not apply.
    Dir,
}

impl StorageDriver {
    /// LXD's name of the driver.
    pub fn as_str(&self) -> &'static str {
        match self {
            StorageDriver::Zfs => "zfs",
            StorageDriver::Btrfs => "btrfs",
            StorageDriver::Lvm => "lvm",
            StorageDriver::Dir => "dir",
        }
    }

    /// Whether the driver takes a `size` (a loop file).
    pub fn takes_size(&self) -> bool {
        !matches!(self, StorageDriver::Dir)
    }
}

impl fmt::Display for StorageDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageDriver {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zfs" => Ok(StorageDriver::Zfs),
            "btrfs" => Ok(StorageDriver::Btrfs),
            "lvm" => Ok(StorageDriver::Lvm),
            "dir" => Ok(StorageDriver::Dir),
            other => Err(SpecError(format!(
                "unknown storage backend {other:?} (use zfs, btrfs, lvm or dir)"
            ))),
        }
    }
}

/// An address setting of a bridge LXD manages: `auto`, `none` or a CIDR
/// (the bridge's own address with its prefix, e.g. `10.20.0.1/24`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressSetting {
    /// LXD picks a free private subnet.
    Auto,
    /// No address.
    None,
    /// This address and prefix.
    Cidr(String),
}

impl AddressSetting {
    /// The value of `ipv4.address`/`ipv6.address`.
    pub fn as_config(&self) -> &str {
        match self {
            AddressSetting::Auto => "auto",
            AddressSetting::None => "none",
            AddressSetting::Cidr(c) => c,
        }
    }

    /// Parses `auto`, `none`, or an IPv4 (`v6 == false`) or IPv6 CIDR.
    pub fn parse(s: &str, v6: bool) -> Result<Self, SpecError> {
        match s.trim() {
            "auto" => Ok(AddressSetting::Auto),
            "none" => Ok(AddressSetting::None),
            other => {
                let net: ipnet::IpNet = other.parse().map_err(|_| {
                    SpecError(format!(
                        "bad bridge address {other:?}: use auto, none or a CIDR such as {}",
                        if v6 { "fd42:1::1/64" } else { "10.20.0.1/24" }
                    ))
                })?;
                match (net, v6) {
                    (ipnet::IpNet::V4(_), false) | (ipnet::IpNet::V6(_), true) => {}
                    _ => {
                        return Err(SpecError(format!(
                            "bridge address {other:?} is not an IPv{} CIDR",
                            if v6 { 6 } else { 4 }
                        )));
                    }
                }
                if net.addr() == net.network() && net.prefix_len() < net.max_prefix_len() {
                    return Err(SpecError(format!(
                        "bridge address {other:?} is a network address; give the bridge's own address, e.g. {}/{}",
                        first_host(&net),
                        net.prefix_len()
                    )));
                }
                Ok(AddressSetting::Cidr(other.to_owned()))
            }
        }
    }

    /// Whether LXD's current value satisfies this setting (missing means none;
    /// `auto` is satisfied by any address LXD picked).
    pub fn satisfied_by(&self, current: Option<&str>) -> bool {
        let current = current.unwrap_or("none");
        match self {
            AddressSetting::Auto => current != "none" && !current.is_empty(),
            AddressSetting::None => current == "none" || current.is_empty(),
            AddressSetting::Cidr(c) => current == c,
        }
    }
}

fn first_host(net: &ipnet::IpNet) -> String {
    net.hosts()
        .next()
        .map(|a| a.to_string())
        .unwrap_or_else(|| net.addr().to_string())
}

/// The storage pool MAAS composes VM disks on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageSpec {
    /// Pool name (default `default`).
    pub pool: String,
    /// Driver.
    pub driver: StorageDriver,
    /// Loop-file size in GiB (not for `dir`).
    pub size_gib: Option<u64>,
    /// A block device, dataset, volume group or (for `dir`) a directory.
    pub source: Option<String>,
}

/// The bridge VM NICs attach to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeSpec {
    /// Name. An existing host interface (not LXD-managed) is used as the NIC
    /// parent as it is; otherwise LXD manages a bridge of this name.
    pub name: String,
    /// `ipv4.address` of a managed bridge; `None` = `auto` on creation and
    /// not enforced on an existing bridge.
    pub ipv4: Option<AddressSetting>,
    /// `ipv4.nat` of a managed bridge; `None` = LXD's default, not enforced.
    pub ipv4_nat: Option<bool>,
    /// `ipv6.address` of a managed bridge; `None` = `none` on creation and
    /// not enforced on an existing bridge.
    pub ipv6: Option<AddressSetting>,
}

/// How a MAAS region gets trusted by this host.
#[derive(Clone, PartialEq, Eq)]
pub enum TrustSpec {
    /// Add this client certificate, restricted to the project.
    ClientCertificate {
        /// Name in the trust store.
        name: String,
        /// PEM certificate.
        pem: String,
    },
    /// Issue a single-use trust token, restricted to the project, for a
    /// client of this name.
    IssueToken {
        /// The name the client's certificate will get.
        name: String,
    },
    /// Set `core.trust_password` (LXD < 6.1 only).
    TrustPassword(Secret),
}

impl fmt::Debug for TrustSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSpec::ClientCertificate { name, pem } => f
                .debug_struct("ClientCertificate")
                .field("name", name)
                .field(
                    "fingerprint",
                    &Fingerprint::of_pem(pem)
                        .map(|fp| fp.to_hex())
                        .unwrap_or_else(|_| "<unreadable>".into()),
                )
                .finish(),
            TrustSpec::IssueToken { name } => {
                f.debug_struct("IssueToken").field("name", name).finish()
            }
            TrustSpec::TrustPassword(_) => f.write_str("TrustPassword(<redacted>)"),
        }
    }
}

/// Everything `lxd-test` makes true on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// `core.https_address` (e.g. `[::]:8443`); `None` leaves it alone.
    pub https_address: Option<String>,
    /// The storage pool.
    pub storage: StorageSpec,
    /// The bridge.
    pub bridge: BridgeSpec,
    /// Project MAAS uses (default `maas`).
    pub project: String,
    /// Profile in that project (default `maas`; MAAS applies a profile named
    /// `maas` to the VMs it composes).
    pub profile: String,
    /// Trust setup, if any.
    pub trust: Option<TrustSpec>,
}

impl HostSpec {
    /// A spec with this pool, driver and bridge, project and profile `maas`,
    /// HTTPS on `[::]:8443`, no trust setup.
    pub fn new(pool: &str, driver: StorageDriver, bridge: &str) -> Self {
        HostSpec {
            https_address: Some("[::]:8443".into()),
            storage: StorageSpec {
                pool: pool.to_owned(),
                driver,
                size_gib: None,
                source: None,
            },
            bridge: BridgeSpec {
                name: bridge.to_owned(),
                ipv4: None,
                ipv4_nat: None,
                ipv6: None,
            },
            project: "maas".into(),
            profile: "maas".into(),
            trust: None,
        }
    }

    /// Checks the spec without talking to LXD. Returns notices (things that
    /// are accepted but ignored), or the first problem.
    pub fn validate(&self) -> Result<Vec<String>, SpecError> {
        let mut notices = Vec::new();
        check_name("storage pool", &self.storage.pool, 63)?;
        check_name("project", &self.project, 63)?;
        check_name("profile", &self.profile, 63)?;
        check_name("network bridge", &self.bridge.name, 15)?;
        if let Some(addr) = &self.https_address {
            parse_listen_address(addr)?;
        }
        let s = &self.storage;
        if s.size_gib == Some(0) {
            return Err(SpecError("--storage-size must be at least 1 (GiB)".into()));
        }
        if let Some(src) = &s.source
            && src.trim().is_empty()
        {
            return Err(SpecError("--storage-source is empty".into()));
        }
        if s.driver.takes_size() {
            if s.size_gib.is_some() && s.source.is_some() {
                return Err(SpecError(
                    "--storage-size and --storage-source exclude each other: a pool is either a loop file of a size or an existing device".into(),
                ));
            }
        } else if let Some(size) = s.size_gib {
            notices.push(format!(
                "--storage-size={size} is not applicable to the dir backend and was ignored"
            ));
        }
        if self.bridge.ipv4_nat.is_some() && matches!(self.bridge.ipv4, Some(AddressSetting::None))
        {
            notices.push("--bridge-nat has no effect with --bridge-ipv4 none".into());
        }
        match &self.trust {
            Some(TrustSpec::ClientCertificate { name, pem }) => {
                check_name("trust certificate name", name, 63)?;
                Fingerprint::of_pem(pem).map_err(|e| SpecError(format!("--trust-cert: {e}")))?;
            }
            Some(TrustSpec::IssueToken { name }) => {
                check_name("token name", name, 63)?;
                if self.https_address.is_none() {
                    return Err(SpecError(
                        "--issue-token needs an HTTPS address (--https-address)".into(),
                    ));
                }
            }
            Some(TrustSpec::TrustPassword(p)) if p.expose().is_empty() => {
                return Err(SpecError("the trust password is empty".into()));
            }
            Some(TrustSpec::TrustPassword(_)) | None => {}
        }
        Ok(notices)
    }
}

/// An unusable spec (bad flags). The message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

fn check_name(what: &str, name: &str, max: usize) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(SpecError(format!("the {what} name is empty")));
    }
    if name.len() > max {
        return Err(SpecError(format!(
            "the {what} name {name:?} is longer than {max} characters"
        )));
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok_chars || !ok_start {
        return Err(SpecError(format!(
            "the {what} name {name:?} may only use letters, digits, '-', '_' and '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// A parsed `core.https_address`: host (empty for all addresses) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    /// Host part without brackets; empty, `0.0.0.0` or `::` for all addresses.
    pub host: String,
    /// Port (8443 when omitted).
    pub port: u16,
}

impl ListenAddress {
    /// Whether it listens on all addresses.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::")
    }

    /// Where a local client reaches this listener: loopback for wildcard
    /// listeners, the address itself otherwise. `host:port`, IPv6 bracketed.
    pub fn local_endpoint(&self) -> String {
        let host = if self.is_wildcard() {
            "127.0.0.1"
        } else {
            self.host.as_str()
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Parses `[::]:8443`, `:8443`, `0.0.0.0:8443`, `10.0.0.5:8443`, `10.0.0.5`,
/// `[fd00::5]:8443` or `node1:8443`.
pub fn parse_listen_address(s: &str) -> Result<ListenAddress, SpecError> {
    let bad = |why: &str| SpecError(format!("bad --https-address {s:?}: {why}"));
    let s_trim = s.trim();
    if s_trim.is_empty() {
        return Err(bad("empty"));
    }
    let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address in brackets"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("expected ':port'"))?),
        };
        (h.to_owned(), port)
    } else if s_trim.parse::<std::net::Ipv6Addr>().is_ok() {
        (s_trim.to_owned(), None)
    } else {
        match s_trim.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (s_trim.to_owned(), None),
        }
    };
    let port = match port {
        None => crate::client::DEFAULT_HTTPS_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be 1-65535"))?,
    };
    if !host.is_empty()
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err(bad("not an address or host name"));
    }
    Ok(ListenAddress { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HostSpec {
        HostSpec::new("default", StorageDriver::Zfs, "br0")
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(spec().validate().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn dir_ignores_size_with_a_notice() {
        let mut s = HostSpec::new("default", StorageDriver::Dir, "br0");
        s.storage.size_gib = Some(50);
        let notices = s.validate().unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].contains("not applicable"), "{notices:?}");
    }

    #[test]
    fn size_and_source_exclude_each_other() {
        let mut s = spec();
        s.storage.size_gib = Some(50);
        s.storage.source = Some("/dev/sdb".into());
        assert!(s.validate().unwrap_err().0.contains("exclude"));
        s.storage.size_gib = Some(0);
        s.storage.source = None;
        assert!(s.validate().is_err());
    }

    #[test]
    fn names_are_checked() {
        let mut s = spec();
        s.bridge.name = "a-very-long-bridge-name".into();
        assert!(s.validate().unwrap_err().0.contains("15"));
        let mut s = spec();
        s.project = "ma as".into();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.profile = "".into();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.storage.pool = "-x".into();
        assert!(s.validate().is_err());
    }

    #[test]
    fn address_settings() {
        assert_eq!(
            AddressSetting::parse("auto", false).unwrap(),
            AddressSetting::Auto
        );
        assert_eq!(
            AddressSetting::parse("none", false).unwrap(),
            AddressSetting::None
        );
        assert_eq!(
            AddressSetting::parse("10.20.0.1/24", false).unwrap(),
            AddressSetting::Cidr("10.20.0.1/24".into())
        );
        assert!(AddressSetting::parse("10.20.0.0/24", false).is_err());
        assert!(AddressSetting::parse("10.20.0.1", false).is_err());
        assert!(AddressSetting::parse("fd42::1/64", false).is_err());
        assert!(AddressSetting::parse("fd42::1/64", true).is_ok());
        assert!(AddressSetting::parse("bogus", false).is_err());
    }

    #[test]
    fn address_satisfaction() {
        assert!(AddressSetting::Auto.satisfied_by(Some("10.1.2.1/24")));
        assert!(!AddressSetting::Auto.satisfied_by(Some("none")));
        assert!(!AddressSetting::Auto.satisfied_by(None));
        assert!(AddressSetting::None.satisfied_by(None));
        assert!(AddressSetting::None.satisfied_by(Some("none")));
        assert!(!AddressSetting::None.satisfied_by(Some("10.1.2.1/24")));
        let c = AddressSetting::Cidr("10.1.2.1/24".into());
        assert!(c.satisfied_by(Some("10.1.2.1/24")));
        assert!(!c.satisfied_by(Some("10.1.3.1/24")));
    }

    #[test]
    fn listen_addresses() {
        let a = parse_listen_address("[::]:8443").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::", 8443));
        assert!(a.is_wildcard());
        assert_eq!(a.local_endpoint(), "127.0.0.1:8443");
        let a = parse_listen_address(":9443").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("", 9443));
        let a = parse_listen_address("10.0.0.5").unwrap();
        assert_eq!(a.local_endpoint(), "10.0.0.5:8443");
        let a = parse_listen_address("[fd00::5]:8443").unwrap();
        assert_eq!(a.local_endpoint(), "[fd00::5]:8443");
        let a = parse_listen_address("fd00::5").unwrap();
        assert_eq!(a.port, 8443);
        assert!(parse_listen_address("10.0.0.5:0").is_err());
        assert!(parse_listen_address("10.0.0.5:http").is_err());
        assert!(parse_listen_address("[::1").is_err());
        assert!(parse_listen_address("a b:1").is_err());
        assert!(parse_listen_address("").is_err());
    }

    #[test]
    fn trust_specs_are_checked_and_redacted() {
        let mut s = spec();
        s.trust = Some(TrustSpec::ClientCertificate {
            name: "maas".into(),
            pem: "garbage".into(),
        });
        assert!(s.validate().unwrap_err().0.contains("--trust-cert"));
        s.trust = Some(TrustSpec::TrustPassword(Secret::new("hunter2")));
        s.validate().unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        s.trust = Some(TrustSpec::IssueToken {
            name: "maas".into(),
        });
        s.https_address = None;
        assert!(s.validate().is_err());
    }
}
