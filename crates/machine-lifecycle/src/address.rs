//! Machine addresses in the CAPI `MachineAddress` vocabulary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// CAPI `MachineAddressType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressType {
    /// `Hostname`
    Hostname,
    /// `ExternalIP`
    ExternalIp,
    /// `InternalIP`
    InternalIp,
    /// `ExternalDNS`
    ExternalDns,
    /// `InternalDNS`
    InternalDns,
}

impl AddressType {
    /// The CAPI spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Hostname => "Hostname",
            AddressType::ExternalIp => "ExternalIP",
            AddressType::InternalIp => "InternalIP",
            AddressType::ExternalDns => "ExternalDNS",
            AddressType::InternalDns => "InternalDNS",
        }
    }
}

/// One CAPI `MachineAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Its type.
    pub kind: AddressType,
    /// The address or name.
    pub address: String,
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    // global unicast 2000::/3, minus documentation 2001:db8::/32
    (seg[0] & 0xe000) == 0x2000 && !(seg[0] == 0x2001 && seg[1] == 0x0db8)
}

/// Whether `ip` is a public (globally routable unicast) address: not private
/// (RFC 1918, ULA), shared (100.64/10), loopback, link-local, multicast,
/// documentation or reserved.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The addresses to report for a deployed machine: `Hostname`, `InternalDNS`
/// (the FQDN), one `InternalIP` per IP MAAS lists, and additionally an
/// `ExternalIP` for each public one. Unparseable IPs are skipped; duplicates
/// are dropped; MAAS's order is kept.
#[must_use]
pub fn machine_addresses(hostname: &str, fqdn: &str, ips: &[String]) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    let mut push = |kind, address: String| {
        let a = Address { kind, address };
        if !out.contains(&a) {
            out.push(a);
        }
    };
    if !hostname.is_empty() {
        push(AddressType::Hostname, hostname.to_owned());
    }
    if !fqdn.is_empty() {
        push(AddressType::InternalDns, fqdn.to_owned());
    }
    let parsed: Vec<IpAddr> = ips.iter().filter_map(|s| s.trim().parse().ok()).collect();
    for ip in &parsed {
        push(AddressType::InternalIp, ip.to_string());
    }
    for ip in parsed.iter().filter(|ip| is_public(**ip)) {
        push(AddressType::ExternalIp, ip.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn classifies_addresses() {
        for p in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(p), "{p}");
        }
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "fd00::1",
            "fe80::1",
            "::1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!public(p), "{p}");
        }
    }

    #[test]
    fn addresses_for_a_deployed_machine() {
        let ips = vec![
            "10.0.0.5".to_owned(),
            "203.0.114.7".to_owned(),
            "junk".to_owned(),
            "10.0.0.5".to_owned(),
        ];
        let got = machine_addresses("cp-01", "cp-01.maas", &ips);
        let want = vec![
            Address {
                kind: AddressType::Hostname,
                address: "cp-01".into(),
            },
            Address {
                kind: AddressType::InternalDns,
                address: "cp-01.maas".into(),
            },
            Address {
                kind: AddressType::InternalIp,
                address: "10.0.0.5".into(),
            },
            Address {
                kind: AddressType::InternalIp,
                address: "203.0.114.7".into(),
            },
            Address {
                kind: AddressType::ExternalIp,
                address: "203.0.114.7".into(),
            },
        ];
        assert_eq!(got, want);
        assert!(machine_addresses("", "", &[]).is_empty());
    }
}
