//! Every operation, as inherent async methods of [`MaasClient`].
//!
//! URL, method, `op=` and idempotency of each call live here, in one place.

use std::collections::BTreeMap;

use crate::client::{Call, MaasClient, seg};
use crate::error::Error;
use crate::form::Form;
use crate::models::{
    ComposedMachine, DnsResource, DnsResourceRecord, Domain, EventsPage, Fabric, Interface,
    IpAddress, Machine, PowerState, ResourcePool, Subnet, Tag, TagNodesUpdate, User, Version,
    VmHost, VmHostParameters, Zone,
};
use crate::params::{
    AllocateParams, ComposeParams, DeployParams, DnsResourceFilter, DnsResourceParams,
    DnsResourceRecordFilter, DnsResourceRecordParams, EventQuery, LinkSubnetParams, MachineFilter,
    PowerOffParams, ReleaseParams, ReserveIpParams, TagCreateParams, VmHostCreateParams,
    VmHostUpdateParams,
};

fn comment_form(comment: Option<&str>) -> Form {
    let mut f = Form::new();
    f.opt("comment", comment);
    f
}

#[derive(serde::Deserialize)]
struct PowerStateReply {
    #[serde(default)]
    state: PowerState,
}

impl MaasClient {
    // ---- account -------------------------------------------------------------------------

    /// `GET version/` (anonymous).
    pub async fn version(&self) -> Result<Version, Error> {
        self.json(Call::get("version/", seg!["version"])).await
    }

    /// `GET users/?op=whoami`.
    pub async fn whoami(&self) -> Result<User, Error> {
        self.json(Call::get("users/", seg!["users"]).op("whoami"))
            .await
    }

    // ---- machines ------------------------------------------------------------------------

    /// `GET machines/` with filters (repeated keys for lists).
    pub async fn list_machines(&self, filter: &MachineFilter) -> Result<Vec<Machine>, Error> {
        let call = Call::get("machines/", seg!["machines"]).query(filter.to_form()?);
        self.json(call).await
    }

    /// `GET machines/{system_id}/`.
    pub async fn read_machine(&self, system_id: &str) -> Result<Machine, Error> {
        self.json(Call::get(
            "machines/{system_id}/",
            seg!["machines", system_id],
        ))
        .await
    }

    /// `POST machines/?op=allocate`. The answer includes `constraints_by_type`.
    ///
    /// A text 409 is [`Error::NoMachineAvailable`] (class Capacity). Not retried after a
    /// timeout: the machine may have been allocated; look for it by `agent_name`.
    pub async fn allocate(&self, params: &AllocateParams) -> Result<Machine, Error> {
        let mut call = Call::post("machines/", seg!["machines"])
            .op("allocate")
            .allocate()
            .body(params.to_form());
        if params.dry_run {
            // A dry run acquires nothing, so repeating it is harmless.
            call = call.idempotent();
        }
        self.json(call).await
    }

    /// `POST machines/{system_id}/?op=deploy`.
    pub async fn deploy(&self, system_id: &str, params: &DeployParams) -> Result<Machine, Error> {
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op("deploy")
            .body(params.to_form());
        self.json(call).await
    }

    /// `POST machines/{system_id}/?op=release`.
    pub async fn release(&self, system_id: &str, params: &ReleaseParams) -> Result<Machine, Error> {
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op("release")
            .body(params.to_form());
        self.json(call).await
    }

    /// `POST machines/?op=release` with `machines` repeated; returns the system_ids released.
    pub async fn release_machines(
        &self,
        system_ids: &[String],
        comment: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        if system_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut f = Form::new();
        f.list("machines", system_ids).opt("comment", comment);
        let call = Call::post("machines/", seg!["machines"])
            .op("release")
            .body(f);
        self.json(call).await
    }

    /// `POST machines/{system_id}/?op=power_on`.
    pub async fn power_on(&self, system_id: &str, comment: Option<&str>) -> Result<Machine, Error> {
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op("power_on")
            .idempotent()
            .body(comment_form(comment));
        self.json(call).await
    }

    /// `POST machines/{system_id}/?op=power_off`. `None` when MAAS could not send a power
    /// action (e.g. manual power).
    pub async fn power_off(
        &self,
        system_id: &str,
        params: &PowerOffParams,
    ) -> Result<Option<Machine>, Error> {
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op("power_off")
            .idempotent()
            .body(params.to_form());
        self.json(call).await
    }

    /// `GET machines/{system_id}/?op=query_power_state` (may block up to 60 s at MAAS).
    pub async fn query_power_state(&self, system_id: &str) -> Result<PowerState, Error> {
        let call = Call::get("machines/{system_id}/", seg!["machines", system_id])
            .op("query_power_state")
            .timeout(self.config().power_query_timeout);
        let reply: PowerStateReply = self.json(call).await?;
        Ok(reply.state)
    }

    /// `POST machines/{system_id}/?op=mark_broken` (owner only).
    pub async fn mark_broken(
        &self,
        system_id: &str,
        comment: Option<&str>,
    ) -> Result<Machine, Error> {
        self.machine_op(system_id, "mark_broken", comment).await
    }

    /// `POST machines/{system_id}/?op=mark_fixed` (admin).
    pub async fn mark_fixed(
        &self,
        system_id: &str,
        comment: Option<&str>,
    ) -> Result<Machine, Error> {
        self.machine_op(system_id, "mark_fixed", comment).await
    }

    /// `POST machines/{system_id}/?op=abort`.
    pub async fn abort(&self, system_id: &str, comment: Option<&str>) -> Result<Machine, Error> {
        self.machine_op(system_id, "abort", comment).await
    }

    /// `POST machines/{system_id}/?op=lock` (409 if already locked).
    pub async fn lock(&self, system_id: &str, comment: Option<&str>) -> Result<Machine, Error> {
        self.machine_op(system_id, "lock", comment).await
    }

    /// `POST machines/{system_id}/?op=unlock` (409 if not locked).
    pub async fn unlock(&self, system_id: &str, comment: Option<&str>) -> Result<Machine, Error> {
        self.machine_op(system_id, "unlock", comment).await
    }

    async fn machine_op(
        &self,
        system_id: &str,
        op: &'static str,
        comment: Option<&str>,
    ) -> Result<Machine, Error> {
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op(op)
            .body(comment_form(comment));
        self.json(call).await
    }

    /// `POST machines/{system_id}/?op=set_workload_annotations`; an empty value deletes a key.
    pub async fn set_workload_annotations(
        &self,
        system_id: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Machine, Error> {
        let mut f = Form::new();
        for (k, v) in annotations {
            if k.is_empty() || k == "op" {
                return Err(Error::InvalidRequest(format!(
                    "invalid workload annotation key {k:?}"
                )));
            }
            f.text(k, v);
        }
        let call = Call::post("machines/{system_id}/", seg!["machines", system_id])
            .op("set_workload_annotations")
            .idempotent()
            .body(f);
        self.json(call).await
    }

    /// `DELETE machines/{system_id}/` (admin); `force` also removes hosted VM hosts.
    pub async fn delete_machine(&self, system_id: &str, force: bool) -> Result<(), Error> {
        let mut q = Form::new();
        q.flag("force", force);
        self.empty(Call::delete("machines/{system_id}/", seg!["machines", system_id]).query(q))
            .await
    }

    // ---- VM hosts ------------------------------------------------------------------------

    /// `GET vm-hosts/`.
    pub async fn list_vm_hosts(&self) -> Result<Vec<VmHost>, Error> {
        self.json(Call::get("vm-hosts/", seg!["vm-hosts"])).await
    }

    /// `GET vm-hosts/{id}/`.
    pub async fn read_vm_host(&self, id: i64) -> Result<VmHost, Error> {
        self.json(Call::get("vm-hosts/{id}/", seg!["vm-hosts", id]))
            .await
    }

    /// `POST vm-hosts/` (admin).
    pub async fn create_vm_host(&self, params: &VmHostCreateParams) -> Result<VmHost, Error> {
        if params.power_address.is_empty() {
            return Err(Error::InvalidRequest("power_address is required".into()));
        }
        let call = Call::post("vm-hosts/", seg!["vm-hosts"]).body(params.to_form());
        self.json(call).await
    }

    /// `PUT vm-hosts/{id}/` (admin).
    pub async fn update_vm_host(
        &self,
        id: i64,
        params: &VmHostUpdateParams,
    ) -> Result<VmHost, Error> {
        let call = Call::put("vm-hosts/{id}/", seg!["vm-hosts", id]).body(params.to_form());
        self.json(call).await
    }

    /// `DELETE vm-hosts/{id}/[?decompose=true]`; `decompose` also deletes its VMs.
    pub async fn delete_vm_host(&self, id: i64, decompose: bool) -> Result<(), Error> {
        let mut q = Form::new();
        q.flag("decompose", decompose);
        self.empty(Call::delete("vm-hosts/{id}/", seg!["vm-hosts", id]).query(q))
            .await
    }

    /// `POST vm-hosts/{id}/?op=compose` (admin). Not retried after a timeout (the VM may exist;
    /// look it up by hostname).
    pub async fn compose(&self, id: i64, params: &ComposeParams) -> Result<ComposedMachine, Error> {
        let call = Call::post("vm-hosts/{id}/", seg!["vm-hosts", id])
            .op("compose")
            .body(params.to_form());
        self.json(call).await
    }

    /// `POST vm-hosts/{id}/?op=refresh` (admin).
    pub async fn refresh_vm_host(&self, id: i64) -> Result<VmHost, Error> {
        let call = Call::post("vm-hosts/{id}/", seg!["vm-hosts", id])
            .op("refresh")
            .idempotent();
        self.json(call).await
    }

    /// `GET vm-hosts/{id}/?op=parameters` (admin). The answer holds secrets.
    pub async fn vm_host_parameters(&self, id: i64) -> Result<VmHostParameters, Error> {
        let call = Call::get("vm-hosts/{id}/", seg!["vm-hosts", id])
            .op("parameters")
            .sensitive_response();
        self.json(call).await
    }

    // ---- networking ----------------------------------------------------------------------

    /// `POST nodes/{system_id}/interfaces/{id}/?op=link_subnet`.
    pub async fn link_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        params: &LinkSubnetParams,
    ) -> Result<Interface, Error> {
        let call = Call::post(
            "nodes/{system_id}/interfaces/{id}/",
            seg!["nodes", system_id, "interfaces", interface_id],
        )
        .op("link_subnet")
        .body(params.to_form());
        self.json(call).await
    }

    /// `POST nodes/{system_id}/interfaces/{id}/?op=unlink_subnet` with the link `id`.
    pub async fn unlink_subnet(
        &self,
        system_id: &str,
        interface_id: i64,
        link_id: i64,
    ) -> Result<Interface, Error> {
        let mut f = Form::new();
        f.text("id", link_id);
        let call = Call::post(
            "nodes/{system_id}/interfaces/{id}/",
            seg!["nodes", system_id, "interfaces", interface_id],
        )
        .op("unlink_subnet")
        .body(f);
        self.json(call).await
    }

    /// `GET subnets/`.
    pub async fn list_subnets(&self) -> Result<Vec<Subnet>, Error> {
        self.json(Call::get("subnets/", seg!["subnets"])).await
    }

    /// `GET subnets/{id}/`.
    pub async fn read_subnet(&self, id: i64) -> Result<Subnet, Error> {
        self.json(Call::get("subnets/{id}/", seg!["subnets", id]))
            .await
    }

    /// `GET fabrics/`.
    pub async fn list_fabrics(&self) -> Result<Vec<Fabric>, Error> {
        self.json(Call::get("fabrics/", seg!["fabrics"])).await
    }

    /// `POST ipaddresses/?op=reserve`.
    pub async fn reserve_ip(&self, params: &ReserveIpParams) -> Result<IpAddress, Error> {
        let call = Call::post("ipaddresses/", seg!["ipaddresses"])
            .op("reserve")
            .body(params.to_form()?);
        self.json(call).await
    }

    /// `POST ipaddresses/?op=release` with `ip`.
    pub async fn release_ip(&self, ip: &str) -> Result<(), Error> {
        let mut f = Form::new();
        f.text("ip", ip);
        let call = Call::post("ipaddresses/", seg!["ipaddresses"])
            .op("release")
            .body(f);
        self.empty(call).await
    }

    // ---- DNS -----------------------------------------------------------------------------

    /// `GET dnsresources/`.
    pub async fn list_dns_resources(
        &self,
        filter: &DnsResourceFilter,
    ) -> Result<Vec<DnsResource>, Error> {
        let call = Call::get("dnsresources/", seg!["dnsresources"]).query(filter.to_form());
        self.json(call).await
    }

    /// `POST dnsresources/` (admin).
    pub async fn create_dns_resource(
        &self,
        params: &DnsResourceParams,
    ) -> Result<DnsResource, Error> {
        let call = Call::post("dnsresources/", seg!["dnsresources"]).body(params.to_form());
        self.json(call).await
    }

    /// `PUT dnsresources/{id}/` (admin).
    pub async fn update_dns_resource(
        &self,
        id: i64,
        params: &DnsResourceParams,
    ) -> Result<DnsResource, Error> {
        let call = Call::put("dnsresources/{id}/", seg!["dnsresources", id]).body(params.to_form());
        self.json(call).await
    }

    /// `DELETE dnsresources/{id}/`.
    pub async fn delete_dns_resource(&self, id: i64) -> Result<(), Error> {
        self.empty(Call::delete("dnsresources/{id}/", seg!["dnsresources", id]))
            .await
    }

    /// `GET dnsresourcerecords/`.
    pub async fn list_dns_resource_records(
        &self,
        filter: &DnsResourceRecordFilter,
    ) -> Result<Vec<DnsResourceRecord>, Error> {
        let call =
            Call::get("dnsresourcerecords/", seg!["dnsresourcerecords"]).query(filter.to_form());
        self.json(call).await
    }

    /// `POST dnsresourcerecords/` (admin): the record, on the DNS resource of its name
    /// (created by MAAS when missing).
    pub async fn create_dns_resource_record(
        &self,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error> {
        let call =
            Call::post("dnsresourcerecords/", seg!["dnsresourcerecords"]).body(params.to_form());
        self.json(call).await
    }

    /// `PUT dnsresourcerecords/{id}/` (admin): fields not given keep their values.
    pub async fn update_dns_resource_record(
        &self,
        id: i64,
        params: &DnsResourceRecordParams,
    ) -> Result<DnsResourceRecord, Error> {
        let call = Call::put("dnsresourcerecords/{id}/", seg!["dnsresourcerecords", id])
            .body(params.to_form());
        self.json(call).await
    }

    /// `DELETE dnsresourcerecords/{id}/` (admin): MAAS also deletes the DNS resource
    /// when it has no other record and no address.
    pub async fn delete_dns_resource_record(&self, id: i64) -> Result<(), Error> {
        self.empty(Call::delete(
            "dnsresourcerecords/{id}/",
            seg!["dnsresourcerecords", id],
        ))
        .await
    }

    /// `GET domains/`.
    pub async fn list_domains(&self) -> Result<Vec<Domain>, Error> {
        self.json(Call::get("domains/", seg!["domains"])).await
    }

    /// `GET domains/{id}/`.
    pub async fn read_domain(&self, id: i64) -> Result<Domain, Error> {
        self.json(Call::get("domains/{id}/", seg!["domains", id]))
            .await
    }

    /// `POST domains/` (admin).
    pub async fn create_domain(
        &self,
        name: &str,
        authoritative: Option<bool>,
    ) -> Result<Domain, Error> {
        let mut f = Form::new();
        f.text("name", name)
            .opt_bool("authoritative", authoritative);
        self.json(Call::post("domains/", seg!["domains"]).body(f))
            .await
    }

    // ---- zones and pools -----------------------------------------------------------------

    /// `GET zones/`.
    pub async fn list_zones(&self) -> Result<Vec<Zone>, Error> {
        self.json(Call::get("zones/", seg!["zones"])).await
    }

    /// `GET zones/{name}/` (by name).
    pub async fn read_zone(&self, name: &str) -> Result<Zone, Error> {
        self.json(Call::get("zones/{name}/", seg!["zones", name]))
            .await
    }

    /// `POST zones/` (admin).
    pub async fn create_zone(&self, name: &str, description: Option<&str>) -> Result<Zone, Error> {
        let mut f = Form::new();
        f.text("name", name).opt("description", description);
        self.json(Call::post("zones/", seg!["zones"]).body(f)).await
    }

    /// `GET resourcepools/`.
    pub async fn list_resource_pools(&self) -> Result<Vec<ResourcePool>, Error> {
        self.json(Call::get("resourcepools/", seg!["resourcepools"]))
            .await
    }

    /// `GET resourcepool/{id}/` (singular path).
    pub async fn read_resource_pool(&self, id: i64) -> Result<ResourcePool, Error> {
        self.json(Call::get("resourcepool/{id}/", seg!["resourcepool", id]))
            .await
    }

    /// `POST resourcepools/` (admin).
    pub async fn create_resource_pool(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<ResourcePool, Error> {
        let mut f = Form::new();
        f.text("name", name).opt("description", description);
        self.json(Call::post("resourcepools/", seg!["resourcepools"]).body(f))
            .await
    }

    // ---- tags ----------------------------------------------------------------------------

    /// `GET tags/`.
    pub async fn list_tags(&self) -> Result<Vec<Tag>, Error> {
        self.json(Call::get("tags/", seg!["tags"])).await
    }

    /// `POST tags/` (admin).
    pub async fn create_tag(&self, params: &TagCreateParams) -> Result<Tag, Error> {
        self.json(Call::post("tags/", seg!["tags"]).body(params.to_form()))
            .await
    }

    /// `POST tags/{name}/?op=update_nodes` with `add`/`remove` repeated (admin).
    pub async fn update_tag_nodes(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<TagNodesUpdate, Error> {
        let mut f = Form::new();
        f.list("add", add).list("remove", remove);
        let call = Call::post("tags/{name}/", seg!["tags", name])
            .op("update_nodes")
            .idempotent()
            .body(f);
        self.json(call).await
    }

    // ---- events --------------------------------------------------------------------------

    /// `GET events/?op=query` (newest first).
    pub async fn query_events(&self, query: &EventQuery) -> Result<EventsPage, Error> {
        let call = Call::get("events/", seg!["events"])
            .op("query")
            .query(query.to_form()?);
        self.json(call).await
    }
}
