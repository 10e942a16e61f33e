//! Typed MAAS models.
//!
//! All models ignore unknown fields and default missing or `null` ones, so that output from
//! MAAS 2.x through 3.x (and newer) decodes. Odd data yields a [`crate::Error::Decode`], never a panic.

mod de;
mod machine;
mod misc;
mod network;
mod status;
mod version;
mod vmhost;

pub use machine::{BlockDevice, DefaultGateways, Gateway, Machine, NodeRef, NumaNode, PodRef};
pub use misc::{
    DnsResource, DnsResourceRecord, Event, EventsPage, ResourceRecord, Tag, TagNodesUpdate,
};
pub use network::{
    Domain, Fabric, Interface, IpAddress, Link, ResourcePool, Subnet, User, Vlan, Zone,
};
pub use status::{MachineStatus, PowerState};
pub use version::{MaasVersion, PreRelease, Version};
pub use vmhost::{ComposedMachine, VmHost, VmHostParameters, VmHostResources, VmHostStoragePool};
