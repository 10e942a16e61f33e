//! DNS resources, tags and events.

use serde::{Deserialize, Serialize};

use super::de;
use super::network::IpAddress;

/// One record of a DNS resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRecord {
    /// Record id, when MAAS gives one.
    pub id: Option<i64>,
    /// TTL.
    pub ttl: Option<i64>,
    /// Type, e.g. `TXT`.
    #[serde(deserialize_with = "de::null_default")]
    pub rrtype: String,
    /// Data.
    #[serde(deserialize_with = "de::null_default")]
    pub rrdata: String,
}

/// A DNS resource record (`dnsresourcerecords/{id}/`): a TXT, CNAME, MX,
/// NS, SRV or SSHFP record of a DNS resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsResourceRecord {
    /// Numeric id.
    pub id: i64,
    /// Fully qualified name of its DNS resource.
    #[serde(deserialize_with = "de::null_default")]
    pub fqdn: String,
    /// TTL (`None`: the domain's).
    pub ttl: Option<i64>,
    /// Type, upper case (`TXT`).
    #[serde(deserialize_with = "de::null_default")]
    pub rrtype: String,
    /// Data (everything right of the type).
    #[serde(deserialize_with = "de::null_default")]
    pub rrdata: String,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A DNS resource (`dnsresources/{id}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsResource {
    /// Numeric id (`-1` for synthetic node records listed with `all=true`).
    pub id: i64,
    /// Fully qualified name.
    #[serde(deserialize_with = "de::null_default")]
    pub fqdn: String,
    /// TTL for the address records.
    pub address_ttl: Option<i64>,
    /// Addresses (null for synthetic records).
    #[serde(deserialize_with = "de::null_default")]
    pub ip_addresses: Vec<IpAddress>,
    /// Other records.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_records: Vec<ResourceRecord>,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

impl DnsResource {
    /// The addresses as text.
    pub fn ips(&self) -> Vec<&str> {
        self.ip_addresses.iter().map(|a| a.ip.as_str()).collect()
    }

    /// The data of its records of type `rrtype` (`TXT`; case-insensitive).
    pub fn records_of(&self, rrtype: &str) -> Vec<&str> {
        self.resource_records
            .iter()
            .filter(|r| r.rrtype.eq_ignore_ascii_case(rrtype))
            .map(|r| r.rrdata.as_str())
            .collect()
    }
}

/// A tag (`tags/{name}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    /// Name (the key in URLs).
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// XPath definition (empty for manual tags).
    #[serde(deserialize_with = "de::null_default")]
    pub definition: String,
    /// Comment.
    #[serde(deserialize_with = "de::null_default")]
    pub comment: String,
    /// Kernel options.
    pub kernel_opts: Option<String>,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// The answer of `tags/{name}/?op=update_nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TagNodesUpdate {
    /// Nodes added.
    pub added: i64,
    /// Nodes removed.
    pub removed: i64,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Event id (increasing).
    pub id: i64,
    /// Acting user.
    pub username: Option<String>,
    /// Node system_id.
    #[serde(deserialize_with = "de::null_default")]
    pub node: String,
    /// Node hostname.
    #[serde(deserialize_with = "de::null_default")]
    pub hostname: String,
    /// Level, e.g. `INFO`.
    #[serde(deserialize_with = "de::null_default")]
    pub level: String,
    /// Creation time as MAAS formats it (`Tue, 05 Mar. 2024 10:21:07`).
    #[serde(deserialize_with = "de::null_default")]
    pub created: String,
    /// Event type description, e.g. `Deployed`.
    #[serde(rename = "type", deserialize_with = "de::null_default")]
    pub event_type: String,
    /// Description.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
}

/// A page of `events/?op=query` (newest first).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsPage {
    /// Events in this page.
    #[serde(deserialize_with = "de::null_default")]
    pub count: i64,
    /// Events, newest first.
    #[serde(deserialize_with = "de::null_default")]
    pub events: Vec<Event>,
    /// URI of the next (newer) page.
    pub next_uri: Option<String>,
    /// URI of the previous (older) page.
    pub prev_uri: Option<String>,
}
