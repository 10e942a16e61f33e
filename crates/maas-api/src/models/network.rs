//! Zones, pools, domains, fabrics, VLANs, subnets, interfaces, IP addresses, users.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;

/// A physical zone (`zones/{name}/`; addressed by **name**).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Zone {
    /// Numeric id.
    pub id: i64,
    /// Zone name (the key in URLs and filters).
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Free-text description.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
    /// `/MAAS/api/2.0/zones/<name>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A resource pool (`resourcepool/{id}/`, singular path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcePool {
    /// Numeric id; the default pool is 0.
    pub id: i64,
    /// Pool name.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Free-text description.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
    /// `/MAAS/api/2.0/resourcepool/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A DNS domain (`domains/{id}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Domain {
    /// Numeric id; the default domain `maas` is 0.
    pub id: i64,
    /// Domain name.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Default TTL, `None` for MAAS's global default.
    pub ttl: Option<i64>,
    /// Whether MAAS is authoritative for it.
    #[serde(deserialize_with = "de::null_default")]
    pub authoritative: bool,
    /// Number of records.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_record_count: i64,
    /// Whether this is the default domain.
    #[serde(deserialize_with = "de::null_default")]
    pub is_default: bool,
    /// `/MAAS/api/2.0/domains/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A VLAN as embedded in subnets and interfaces.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Vlan {
    /// Numeric id (e.g. 5001).
    pub id: i64,
    /// 802.1Q VLAN id; 0 is untagged.
    #[serde(deserialize_with = "de::null_default")]
    pub vid: i64,
    /// Name (`untagged` for vid 0).
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// MTU.
    #[serde(deserialize_with = "de::null_default")]
    pub mtu: i64,
    /// Fabric name.
    #[serde(deserialize_with = "de::null_default")]
    pub fabric: String,
    /// Fabric id.
    #[serde(deserialize_with = "de::null_default")]
    pub fabric_id: i64,
    /// Whether MAAS serves DHCP on it.
    #[serde(deserialize_with = "de::null_default")]
    pub dhcp_on: bool,
    /// An external DHCP server seen on it.
    pub external_dhcp: Option<String>,
    /// Relay VLAN (an object or id in some releases).
    pub relay_vlan: Option<Value>,
    /// Primary rack controller system_id.
    pub primary_rack: Option<String>,
    /// Secondary rack controller system_id.
    pub secondary_rack: Option<String>,
    /// Space name (`undefined` when none).
    pub space: Option<String>,
    /// `/MAAS/api/2.0/vlans/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A fabric (`fabrics/{id}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fabric {
    /// Numeric id.
    pub id: i64,
    /// Name, e.g. `fabric-0`.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Optional class.
    pub class_type: Option<String>,
    /// VLANs on this fabric.
    #[serde(deserialize_with = "de::null_default")]
    pub vlans: Vec<Vlan>,
    /// `/MAAS/api/2.0/fabrics/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A subnet (`subnets/{id}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Subnet {
    /// Numeric id.
    pub id: i64,
    /// Name (often the CIDR).
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// Description.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
    /// The VLAN it is on.
    pub vlan: Option<Vlan>,
    /// CIDR, e.g. `10.10.0.0/24`.
    #[serde(deserialize_with = "de::null_default")]
    pub cidr: String,
    /// Gateway.
    pub gateway_ip: Option<String>,
    /// DNS servers.
    #[serde(deserialize_with = "de::string_list")]
    pub dns_servers: Vec<String>,
    /// Reverse-DNS mode (0, 1, 2).
    #[serde(deserialize_with = "de::null_default")]
    pub rdns_mode: i64,
    /// Space name (`undefined` when none).
    pub space: Option<String>,
    /// Active discovery.
    #[serde(deserialize_with = "de::null_default")]
    pub active_discovery: bool,
    /// Allow DNS.
    #[serde(deserialize_with = "de::null_default")]
    pub allow_dns: bool,
    /// Allow proxy.
    #[serde(deserialize_with = "de::null_default")]
    pub allow_proxy: bool,
    /// Managed by MAAS.
    #[serde(deserialize_with = "de::null_default")]
    pub managed: bool,
    /// Boot architectures disabled on this subnet.
    #[serde(deserialize_with = "de::string_list")]
    pub disabled_boot_architectures: Vec<String>,
    /// `/MAAS/api/2.0/subnets/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// One link (IP configuration) of an interface.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    /// Link id (used by `unlink_subnet`).
    pub id: i64,
    /// `auto`, `dhcp`, `static`, `link_up`.
    #[serde(deserialize_with = "de::null_default")]
    pub mode: String,
    /// Address, when assigned.
    pub ip_address: Option<String>,
    /// Subnet, when linked to one.
    pub subnet: Option<Subnet>,
}

/// A network interface (`nodes/{system_id}/interfaces/{id}/`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    /// Numeric id.
    pub id: i64,
    /// Owning node.
    #[serde(deserialize_with = "de::null_default")]
    pub system_id: String,
    /// Name, e.g. `eth0`.
    #[serde(deserialize_with = "de::null_default")]
    pub name: String,
    /// `physical`, `bond`, `bridge`, `vlan`, `alias`, `unknown`.
    #[serde(rename = "type", deserialize_with = "de::null_default")]
    pub interface_type: String,
    /// The VLAN, or `None` when disconnected.
    pub vlan: Option<Vlan>,
    /// MAC address.
    pub mac_address: Option<String>,
    /// Parent interface names.
    #[serde(deserialize_with = "de::string_list")]
    pub parents: Vec<String>,
    /// Child interface names.
    #[serde(deserialize_with = "de::string_list")]
    pub children: Vec<String>,
    /// Tags.
    #[serde(deserialize_with = "de::string_list")]
    pub tags: Vec<String>,
    /// Enabled.
    #[serde(deserialize_with = "de::null_default")]
    pub enabled: bool,
    /// IP configuration links.
    #[serde(deserialize_with = "de::null_default")]
    pub links: Vec<Link>,
    /// Type-specific parameters (`""` or an object, depending on release).
    pub params: Value,
    /// Discovered addresses (list or null).
    pub discovered: Value,
    /// Effective MTU.
    #[serde(deserialize_with = "de::null_default")]
    pub effective_mtu: i64,
    /// Vendor.
    pub vendor: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// Firmware version.
    pub firmware_version: Option<String>,
    /// Link detected (newer MAAS).
    pub link_connected: Option<bool>,
    /// Interface speed in Mbit/s (newer MAAS).
    pub interface_speed: Option<i64>,
    /// Link speed in Mbit/s (newer MAAS).
    pub link_speed: Option<i64>,
    /// NUMA node (newer MAAS).
    pub numa_node: Option<i64>,
    /// SR-IOV max VFs (newer MAAS).
    pub sriov_max_vf: Option<i64>,
    /// `/MAAS/api/2.0/nodes/<system_id>/interfaces/<id>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

impl Interface {
    /// Addresses configured on this interface's links.
    pub fn ip_addresses(&self) -> impl Iterator<Item = &str> {
        self.links.iter().filter_map(|l| l.ip_address.as_deref())
    }
}

/// A MAAS user, as returned by `users/?op=whoami` and embedded as an owner.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// Login name.
    #[serde(deserialize_with = "de::null_default")]
    pub username: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Local (not external-auth) user.
    #[serde(deserialize_with = "de::null_default")]
    pub is_local: bool,
    /// Administrator.
    #[serde(deserialize_with = "de::null_default")]
    pub is_superuser: bool,
    /// `/MAAS/api/2.0/users/<name>/`
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}

/// A static IP address: the answer of `ipaddresses/?op=reserve`, and the entries of a DNS
/// resource's `ip_addresses`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IpAddress {
    /// The address.
    #[serde(deserialize_with = "de::null_default")]
    pub ip: String,
    /// Allocation type (4 = user reserved).
    #[serde(deserialize_with = "de::null_default")]
    pub alloc_type: i64,
    /// Allocation type label, e.g. `User reserved`.
    #[serde(deserialize_with = "de::null_default")]
    pub alloc_type_name: String,
    /// Creation time (ISO text).
    pub created: Option<String>,
    /// Owner.
    pub owner: Option<User>,
    /// Interfaces the address is on.
    #[serde(deserialize_with = "de::null_default")]
    pub interface_set: Vec<Interface>,
    /// Subnet.
    pub subnet: Option<Subnet>,
    /// Resource URI.
    #[serde(deserialize_with = "de::null_default")]
    pub resource_uri: String,
}
