//! The [`MaasApi`] trait: the operations a controller uses, implemented by [`MaasClient`].
//!
//! With the `mock` feature, `MockMaasApi` (mockall) implements it for tests.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::client::MaasClient;
use crate::error::Error;
use crate::models::{
    ComposedMachine, DnsResource, DnsResourceRecord, Domain, EventsPage, Fabric, Interface,
    IpAddress, Machine, PowerState, ResourcePool, Subnet, Tag, TagNodesUpdate, User, Version,
    VmHost, VmHostParameters, Zone,
};
use crate::params::{
    AllocateParams, ComposeParams, DeployParams, DnsResourceFilter, DnsResourceParams,
    DnsResourceRecordFilter, DnsResourceRecordParams, EventQuery, LinkSubnetParams, MachineFilter,
    PowerOffParams, ReleaseParams, ReserveIpParams, TagCreateParams, VmHostCreateParams,
};

/// The MAAS operations a Cluster API controller needs. Object-safe (`Arc<dyn MaasApi>`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MaasApi: Send + Sync {
    /// The authenticated user.
    async fn whoami(&self) -> Result<User, Error>;

    /// MAAS version and capabilities.
    async fn version(&self) -> Result<Version, Error>;

    /// List machines matching a filter.
    async fn list_machines(&self, filter: &MachineFilter) -> Result<Vec<Machine>, Error>;

    /// Read one machine.
    async fn read_machine(&self, system_id: &str) -> Result<Machine, Error>;

    /// Allocate a machine (see [`MaasClient::allocate`]).
    async fn allocate(&self, params: &AllocateParams) -> Result<Machine, Error>;

    /// Deploy a machine.
    async fn deploy(&self, system_id: &str, params: &DeployParams) -> Result<Machine, Error>;

    /// Release a machine.
    async fn release(&self, system_id: &str, params: &ReleaseParams) -> Result<Machine, Error>;

    /// Release several machines at once.
    async fn release_machines(
        &self,
        system_ids: &[String],
        comment: Option<String>,
    ) -> Result<Vec<String>, Error>;

    /// Power a machine on.
    async fn power_on(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error>;

    /// Power a machine off.
    async fn power_off(
        &self,
        system_id: &str,
        params: &PowerOffParams,
    ) -> Result<Option<Machine>, Error>;

    /// Ask the BMC for the power state.
    async fn query_power_state(&self, system_id: &str) -> Result<PowerState, Error>;

    /// Set workload annotations (empty value deletes).
    async fn set_workload_annotations(
        &self,
        system_id: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Machine, Error>;

    /// Abort the current operation (e.g. Deploying).
    async fn abort(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error>;

    /// Mark a machine broken.
    async fn mark_broken(&self, system_id: &str, comment: Option<String>)
    -> Result<Machine, Error>;

    /// Lock a machine.
    async fn lock(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error>;

    /// Unlock a machine.
    async fn unlock(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error>;

    /// Delete a machine (admin).
    async fn delete_machine(&self, system_id: &str, force: bool) -> Result<(), Error>;

    /// List zones.
    async fn list_zones(&self) -> Result<Vec<Zone>, Error>;

    /// List resource pools.
    async fn list_resource_pools(&self) -> Result<Vec<ResourcePool>, Error>;

    /// List DNS domains.
    async fn list_domains(&self) -> Result<Vec<Domain>, Error>;

    /// List DNS resources.
    async fn list_dns_resources(
        &self,
        filter: &DnsResourceFilter,
    ) -> Result<Vec<DnsResource>, Error>;

    /// Create a DNS resource.
    async fn create_dns_resource(&self, params: &DnsResourceParams) -> Result<DnsResource, Error>;

    /// Update a DNS resource.
    async fn update_dns_resource(
        &self,
        id: i64,
        params: &DnsResourceParams,
    ) -> Result<DnsResource, Error>;

    /// Delete a DNS resource.
    async fn delete_dns_resource(&self, id: i64) -> Result<(), Error>;

    /// List DNS resource records (TXT, CNAME, ...).
    async fn list_dns_resource_records(
        &self,
        filter: &DnsResourceRecordFilter,
    ) -> Result<Vec<DnsResourceRecord>, Error>;

    /// Create a DNS resource record (and its DNS resource when missing).
    async fn create_dns_resource_record(
        &self,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error>;

    /// Update a DNS resource record.
    async fn update_dns_resource_record(
        &self,
        id: i64,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error>;

    /// Delete a DNS resource record.
    async fn delete_dns_resource_record(&self, id: i64) -> Result<(), Error>;

    /// List VM hosts.
    async fn list_vm_hosts(&self) -> Result<Vec<VmHost>, Error>;

    /// Read a VM host.
    async fn read_vm_host(&self, id: i64) -> Result<VmHost, Error>;

    /// Register a VM host.
    async fn create_vm_host(&self, params: &VmHostCreateParams) -> Result<VmHost, Error>;

    /// Re-discover a VM host.
    async fn refresh_vm_host(&self, id: i64) -> Result<VmHost, Error>;

    /// Compose a VM on a VM host.
    async fn compose(&self, id: i64, params: &ComposeParams) -> Result<ComposedMachine, Error>;

    /// Delete a VM host.
    async fn delete_vm_host(&self, id: i64, decompose: bool) -> Result<(), Error>;

    /// A VM host's connection parameters (admin; holds secrets).
    async fn vm_host_parameters(&self, id: i64) -> Result<VmHostParameters, Error>;

    /// List subnets.
    async fn list_subnets(&self) -> Result<Vec<Subnet>, Error>;

    /// Read one subnet.
    async fn read_subnet(&self, id: i64) -> Result<Subnet, Error>;

    /// List fabrics (with their VLANs).
    async fn list_fabrics(&self) -> Result<Vec<Fabric>, Error>;

    /// Link an interface to a subnet.
    async fn link_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        params: &LinkSubnetParams,
    ) -> Result<Interface, Error>;

    /// Remove an interface link.
    async fn unlink_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        link_id: i64,
    ) -> Result<Interface, Error>;

    /// Reserve an IP address.
    async fn reserve_ip(&self, params: &ReserveIpParams) -> Result<IpAddress, Error>;

    /// Release a reserved IP address.
    async fn release_ip(&self, ip: &str) -> Result<(), Error>;

    /// List tags.
    async fn list_tags(&self) -> Result<Vec<Tag>, Error>;

    /// Create a tag.
    async fn create_tag(&self, params: &TagCreateParams) -> Result<Tag, Error>;

    /// Add/remove nodes to/from a tag.
    async fn update_tag_nodes(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<TagNodesUpdate, Error>;

    /// Query events (newest first).
    async fn query_events(&self, query: &EventQuery) -> Result<EventsPage, Error>;
}

#[async_trait]
impl MaasApi for MaasClient {
    async fn whoami(&self) -> Result<User, Error> {
        MaasClient::whoami(self).await
    }

    async fn version(&self) -> Result<Version, Error> {
        MaasClient::version(self).await
    }

    async fn list_machines(&self, filter: &MachineFilter) -> Result<Vec<Machine>, Error> {
        MaasClient::list_machines(self, filter).await
    }

    async fn read_machine(&self, system_id: &str) -> Result<Machine, Error> {
        MaasClient::read_machine(self, system_id).await
    }

    async fn allocate(&self, params: &AllocateParams) -> Result<Machine, Error> {
        MaasClient::allocate(self, params).await
    }

    async fn deploy(&self, system_id: &str, params: &DeployParams) -> Result<Machine, Error> {
        MaasClient::deploy(self, system_id, params).await
    }

    async fn release(&self, system_id: &str, params: &ReleaseParams) -> Result<Machine, Error> {
        MaasClient::release(self, system_id, params).await
    }

    async fn release_machines(
        &self,
        system_ids: &[String],
        comment: Option<String>,
    ) -> Result<Vec<String>, Error> {
        MaasClient::release_machines(self, system_ids, comment.as_deref()).await
    }

    async fn power_on(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error> {
        MaasClient::power_on(self, system_id, comment.as_deref()).await
    }

    async fn power_off(
        &self,
        system_id: &str,
        params: &PowerOffParams,
    ) -> Result<Option<Machine>, Error> {
        MaasClient::power_off(self, system_id, params).await
    }

    async fn query_power_state(&self, system_id: &str) -> Result<PowerState, Error> {
        MaasClient::query_power_state(self, system_id).await
    }

    async fn set_workload_annotations(
        &self,
        system_id: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Machine, Error> {
        MaasClient::set_workload_annotations(self, system_id, annotations).await
    }

    async fn abort(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error> {
        MaasClient::abort(self, system_id, comment.as_deref()).await
    }

    async fn mark_broken(
        &self,
        system_id: &str,
        comment: Option<String>,
    ) -> Result<Machine, Error> {
        MaasClient::mark_broken(self, system_id, comment.as_deref()).await
    }

    async fn lock(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error> {
        MaasClient::lock(self, system_id, comment.as_deref()).await
    }

    async fn unlock(&self, system_id: &str, comment: Option<String>) -> Result<Machine, Error> {
        MaasClient::unlock(self, system_id, comment.as_deref()).await
    }

    async fn delete_machine(&self, system_id: &str, force: bool) -> Result<(), Error> {
        MaasClient::delete_machine(self, system_id, force).await
    }

    async fn list_zones(&self) -> Result<Vec<Zone>, Error> {
        MaasClient::list_zones(self).await
    }

    async fn list_resource_pools(&self) -> Result<Vec<ResourcePool>, Error> {
        MaasClient::list_resource_pools(self).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>, Error> {
        MaasClient::list_domains(self).await
    }

    async fn list_dns_resources(
        &self,
        filter: &DnsResourceFilter,
    ) -> Result<Vec<DnsResource>, Error> {
        MaasClient::list_dns_resources(self, filter).await
    }

    async fn create_dns_resource(&self, params: &DnsResourceParams) -> Result<DnsResource, Error> {
        MaasClient::create_dns_resource(self, params).await
    }

    async fn update_dns_resource(
        &self,
        id: i64,
        params: &DnsResourceParams,
    ) -> Result<DnsResource, Error> {
        MaasClient::update_dns_resource(self, id, params).await
    }

    async fn delete_dns_resource(&self, id: i64) -> Result<(), Error> {
        MaasClient::delete_dns_resource(self, id).await
    }

    async fn list_dns_resource_records(
        &self,
        filter: &DnsResourceRecordFilter,
    ) -> Result<Vec<DnsResourceRecord>, Error> {
        MaasClient::list_dns_resource_records(self, filter).await
    }

    async fn create_dns_resource_record(
        &self,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error> {
        MaasClient::create_dns_resource_record(self, params).await
    }

    async fn update_dns_resource_record(
        &self,
        id: i64,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error> {
        MaasClient::update_dns_resource_record(self, id, params).await
    }

    async fn delete_dns_resource_record(&self, id: i64) -> Result<(), Error> {
        MaasClient::delete_dns_resource_record(self, id).await
    }

    async fn list_vm_hosts(&self) -> Result<Vec<VmHost>, Error> {
        MaasClient::list_vm_hosts(self).await
    }

    async fn read_vm_host(&self, id: i64) -> Result<VmHost, Error> {
        MaasClient::read_vm_host(self, id).await
    }

    async fn create_vm_host(&self, params: &VmHostCreateParams) -> Result<VmHost, Error> {
        MaasClient::create_vm_host(self, params).await
    }

    async fn refresh_vm_host(&self, id: i64) -> Result<VmHost, Error> {
        MaasClient::refresh_vm_host(self, id).await
    }

    async fn compose(&self, id: i64, params: &ComposeParams) -> Result<ComposedMachine, Error> {
        MaasClient::compose(self, id, params).await
    }

    async fn delete_vm_host(&self, id: i64, decompose: bool) -> Result<(), Error> {
        MaasClient::delete_vm_host(self, id, decompose).await
    }

    async fn vm_host_parameters(&self, id: i64) -> Result<VmHostParameters, Error> {
        MaasClient::vm_host_parameters(self, id).await
    }

    async fn read_subnet(&self, id: i64) -> Result<Subnet, Error> {
        MaasClient::read_subnet(self, id).await
    }

    async fn list_fabrics(&self) -> Result<Vec<Fabric>, Error> {
        MaasClient::list_fabrics(self).await
    }

    async fn list_subnets(&self) -> Result<Vec<Subnet>, Error> {
        MaasClient::list_subnets(self).await
    }

    async fn link_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        params: &LinkSubnetParams,
    ) -> Result<Interface, Error> {
        MaasClient::link_subnet(self, system_id, interface_id, params).await
    }

    async fn unlink_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        link_id: i64,
    ) -> Result<Interface, Error> {
        MaasClient::unlink_subnet(self, system_id, interface_id, link_id).await
    }

    async fn reserve_ip(&self, params: &ReserveIpParams) -> Result<IpAddress, Error> {
        MaasClient::reserve_ip(self, params).await
    }

    async fn release_ip(&self, ip: &str) -> Result<(), Error> {
        MaasClient::release_ip(self, ip).await
    }

    async fn list_tags(&self) -> Result<Vec<Tag>, Error> {
        MaasClient::list_tags(self).await
    }

    async fn create_tag(&self, params: &TagCreateParams) -> Result<Tag, Error> {
        MaasClient::create_tag(self, params).await
    }

    async fn update_tag_nodes(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<TagNodesUpdate, Error> {
        MaasClient::update_tag_nodes(self, name, add, remove).await
    }

    async fn query_events(&self, query: &EventQuery) -> Result<EventsPage, Error> {
        MaasClient::query_events(self, query).await
    }
}
