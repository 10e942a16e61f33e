//! The MaasCluster reconciler: failure domains from MAAS zones, the
//! control-plane endpoint (the user's, or a MAAS DNS record kept equal to the
//! IPs of ready control-plane machines), deletion after the cluster's
//! MaasMachines are gone.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use capi_types::capi::{Cluster, Machine};
use capi_types::constants::{CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL, MAAS_CLUSTER_FINALIZER};
use capi_types::lifecycle::{conditions_from_k8s, conditions_to_k8s};
use capi_types::{
    ApiEndpoint, FailureDomain, Initialization, MaasCluster, MaasClusterStatus, MaasMachine,
    MachineAddressType, NetworkStatus,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use maas_api::{DnsResource, DnsResourceFilter, DnsResourceParams, DnsResourceRecordParams};
use machine_lifecycle as lc;
use serde_json::json;
use tracing::Instrument;

use crate::context::{Context, key_of};
use crate::error::{Error, ErrorClass};
use crate::kubeutil::{
    add_finalizer, capi_owner, externally_managed, has_finalizer, patch_guarded, paused_annotation,
    remove_finalizer,
};
use crate::machine::now;

/// The kind, for logs and metrics.
pub const KIND: &str = "MaasCluster";

/// Condition types and reasons of MaasClusters.
pub mod conditions {
    /// Failure domains validated against (or discovered from) MAAS zones.
    pub const FAILURE_DOMAINS_READY: &str = "FailureDomainsReady";
    /// The control-plane endpoint is known (user's, or the MAAS DNS record exists).
    pub const ENDPOINT_READY: &str = "ControlPlaneEndpointReady";
    /// Reason: zones read from MAAS.
    pub const ZONES_FOUND: &str = "ZonesFound";
    /// Reason: a failure domain names no MAAS zone.
    pub const UNKNOWN_FAILURE_DOMAIN: &str = "UnknownFailureDomain";
    /// Reason: the user set `spec.controlPlaneEndpoint`.
    pub const USER_PROVIDED: &str = "UserProvided";
    /// Reason: the DNS record exists.
    pub const DNS_RESOURCE_READY: &str = "DNSResourceReady";
    /// Reason: MAAS unreachable or refusing us.
    pub const MAAS_UNAVAILABLE: &str = "MaasUnavailable";
    /// Reason: MAAS has no DNS domain `spec.dnsDomain` (404 "No Domain
    /// matches the given query.").
    pub const DNS_DOMAIN_NOT_FOUND: &str = "DNSDomainNotFound";
    /// Reason: MAAS refuses or keeps failing the DNS record calls.
    pub const DNS_RESOURCE_FAILED: &str = "DNSResourceFailed";
    /// Reason: a DNS record exists at `<cluster>.<dnsDomain>` and is not
    /// this cluster's (another cluster's owner marker, or none): capmaas
    /// never changes or deletes it.
    pub const DNS_RECORD_NOT_OURS: &str = "DNSRecordNotOurs";
    /// Reason: waiting for the owner Cluster.
    pub const WAITING_FOR_CLUSTER: &str = "WaitingForCluster";
    /// Reason: provisioned.
    pub const READY: &str = "Ready";
    /// Reason: deleting.
    pub const DELETING: &str = "Deleting";
}

use conditions as c;

/// The DNS name of the control-plane endpoint: `<cluster>.<dnsDomain>`.
#[must_use]
pub fn endpoint_fqdn(cluster_name: &str, dns_domain: &str) -> String {
    format!("{cluster_name}.{}", dns_domain.trim_end_matches('.'))
}

/// The address published for a control-plane machine: its first ExternalIP,
/// else its first InternalIP.
#[must_use]
pub fn published_ip(mm: &MaasMachine) -> Option<String> {
    let addrs = &mm.status.as_ref()?.addresses;
    addrs
        .iter()
        .find(|a| a.type_ == MachineAddressType::ExternalIp)
        .or_else(|| {
            addrs
                .iter()
                .find(|a| a.type_ == MachineAddressType::InternalIp)
        })
        .map(|a| a.address.clone())
}

/// Provisioned, Ready and not being deleted.
#[must_use]
pub fn machine_ready(mm: &MaasMachine) -> bool {
    mm.metadata.deletion_timestamp.is_none()
        && mm.status.as_ref().is_some_and(|s| {
            s.initialization.as_ref().and_then(|i| i.provisioned) == Some(true)
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == lc::READY && c.status == "True")
        })
}

/// What a MaasCluster reads from one of its MaasMachines, hashed: the
/// cluster it belongs to, whether it is a control-plane machine, being
/// deleted, ready, and the IP it would publish.
#[must_use]
pub fn machine_facts(mm: &MaasMachine) -> u64 {
    let mut h = DefaultHasher::new();
    mm.labels().get(CLUSTER_NAME_LABEL).hash(&mut h);
    mm.labels().contains_key(CONTROL_PLANE_LABEL).hash(&mut h);
    mm.metadata.deletion_timestamp.is_some().hash(&mut h);
    machine_ready(mm).hash(&mut h);
    published_ip(mm).hash(&mut h);
    h.finish()
}

/// Filters the MaasMachine watch of the MaasCluster controller down to the
/// events that can change a MaasCluster's reconcile: a machine seen for the
/// first time, a deleted one, or a change of its [`machine_facts`]. Most
/// status writes of a machine (allocating, deploying, ...) change none of
/// them, and each would otherwise cost a MaasCluster reconcile with its MAAS
/// requests (zones, DNS record).
#[derive(Debug, Default)]
pub struct MachineEventFilter {
    seen: HashMap<String, u64>,
}

impl MachineEventFilter {
    /// The MaasMachine to map to its MaasCluster, if `event` matters.
    pub fn pass(&mut self, event: watcher::Event<MaasMachine>) -> Option<MaasMachine> {
        let key = |mm: &MaasMachine| {
            mm.uid().unwrap_or_else(|| {
                format!("{}/{}", mm.namespace().unwrap_or_default(), mm.name_any())
            })
        };
        match event {
            // A re-list: forget everything, so each listed machine counts once.
            watcher::Event::Init => {
                self.seen.clear();
                None
            }
            watcher::Event::InitDone => None,
            watcher::Event::Delete(mm) => {
                self.seen.remove(&key(&mm));
                Some(mm)
            }
            watcher::Event::Apply(mm) | watcher::Event::InitApply(mm) => {
                let facts = machine_facts(&mm);
                let changed = self.seen.insert(key(&mm), facts) != Some(facts);
                changed.then_some(mm)
            }
        }
    }
}

fn owner_cluster_name(mc: &MaasCluster) -> Option<String> {
    capi_owner(&mc.metadata, "Cluster")
        .map(|o| o.name.clone())
        .or_else(|| mc.labels().get(CLUSTER_NAME_LABEL).cloned())
        .filter(|n| !n.is_empty())
}

struct Conds {
    list: Vec<lc::Condition>,
    generation: Option<i64>,
    now: lc::Timestamp,
}

impl Conds {
    fn set(&mut self, type_: &'static str, ok: bool, reason: &'static str, message: String) {
        self.list = lc::apply_conditions(
            &self.list,
            &[lc::ConditionUpdate::new(
                type_,
                if ok {
                    lc::ConditionStatus::True
                } else {
                    lc::ConditionStatus::False
                },
                reason,
                message,
            )],
            self.now,
            self.generation,
        );
    }
}

async fn write_status(
    api: &Api<MaasCluster>,
    obj: &MaasCluster,
    status: MaasClusterStatus,
) -> Result<MaasCluster, Error> {
    if obj.status.as_ref() == Some(&status) {
        return Ok(obj.clone());
    }
    let mut updated = obj.clone();
    updated.status = Some(status);
    api.replace_status(&obj.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(|e| Error::kube("write MaasCluster status", e))
}

/// Reconciles one MaasCluster.
pub async fn reconcile(obj: Arc<MaasCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        kind = KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
    );
    let key = key_of(obj.as_ref());
    let result = reconcile_inner(obj, &ctx).instrument(span).await;
    ctx.metrics
        .reconciled(KIND, result.is_ok(), start.elapsed());
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    result
}

/// The error policy of the MaasCluster controller.
pub fn error_policy(obj: Arc<MaasCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed(KIND, &key_of(obj.as_ref()), error)
}

#[allow(clippy::too_many_lines)]
async fn reconcile_inner(obj: Arc<MaasCluster>, ctx: &Context) -> Result<Action, Error> {
    let obj = obj.as_ref().clone();
    if externally_managed(&obj.metadata) {
        return Ok(Action::await_change());
    }
    let ns = obj.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let api: Api<MaasCluster> = Api::namespaced(client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    if deleting && !has_finalizer(&obj.metadata, MAAS_CLUSTER_FINALIZER) {
        return Ok(Action::await_change());
    }
    let cluster_name = owner_cluster_name(&obj);
    let cluster = match &cluster_name {
        Some(n) => Api::<Cluster>::namespaced(client.clone(), &ns)
            .get_opt(n)
            .await
            .map_err(|e| Error::kube("read Cluster", e))?,
        None => None,
    };
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conds = Conds {
        list: conditions_from_k8s(&status.conditions),
        generation: obj.metadata.generation,
        now: now(),
    };

    let paused = paused_annotation(&obj.metadata)
        || cluster
            .as_ref()
            .is_some_and(|c| c.is_paused() || paused_annotation(&c.metadata));
    if paused {
        conds.set(lc::PAUSED, true, lc::reasons::PAUSED, "paused".into());
        status.conditions = conditions_to_k8s(&conds.list);
        write_status(&api, &obj, status).await?;
        return Ok(Action::await_change());
    }
    conds.set(lc::PAUSED, false, lc::reasons::NOT_PAUSED, String::new());

    if deleting {
        return delete(ctx, &api, obj, cluster_name.as_deref(), status, conds).await;
    }

    let Some(cluster_name) = cluster_name.filter(|_| cluster.is_some()) else {
        conds.set(
            lc::READY,
            false,
            c::WAITING_FOR_CLUSTER,
            "waiting for Cluster API to set the owner Cluster".into(),
        );
        status.conditions = conditions_to_k8s(&conds.list);
        write_status(&api, &obj, status).await?;
        return Ok(Action::await_change());
    };
    let obj = if has_finalizer(&obj.metadata, MAAS_CLUSTER_FINALIZER) {
        obj
    } else {
        add_finalizer(&api, &obj, MAAS_CLUSTER_FINALIZER).await?
    };

    let maas = match ctx.credentials(&ns, Some(&obj)).await {
        Ok(creds) => ctx.clients.get(&creds),
        Err(e) => Err(e),
    };
    let maas = match maas {
        Ok(m) => m,
        Err(e) => {
            if e.class() == ErrorClass::Permanent {
                conds.set(lc::READY, false, c::MAAS_UNAVAILABLE, e.to_string());
                status.conditions = conditions_to_k8s(&conds.list);
                write_status(&api, &obj, status).await?;
            }
            return Err(e);
        }
    };

    if let Some(r) = &obj.spec.credentials_ref {
        label_credentials_for_move(ctx, &obj, &ns, &r.name).await;
    }

    let unavailable = |e: maas_api::Error, what: &str| Error::maas(what.to_owned(), e);
    // Failure domains.
    let zones = match maas.api().list_zones().await {
        Ok(z) => z,
        Err(e) => {
            let err = unavailable(e, "list zones");
            if err.class() == ErrorClass::Permanent {
                conds.set(
                    lc::READY,
                    false,
                    c::MAAS_UNAVAILABLE,
                    format!("MAAS at {}: {err}", maas.endpoint()),
                );
                status.conditions = conditions_to_k8s(&conds.list);
                write_status(&api, &obj, status).await?;
            }
            return Err(err);
        }
    };
    let zone_names: BTreeSet<String> = zones.iter().map(|z| z.name.clone()).collect();
    let unknown: Vec<&String> = obj
        .spec
        .failure_domains
        .iter()
        .filter(|f| !zone_names.contains(*f))
        .collect();
    let mut fds_ok = true;
    if unknown.is_empty() {
        let names: Vec<String> = if obj.spec.failure_domains.is_empty() {
            zone_names.iter().cloned().collect()
        } else {
            obj.spec.failure_domains.clone()
        };
        status.failure_domains = names
            .into_iter()
            .map(|name| FailureDomain {
                name,
                control_plane: Some(true),
                attributes: Default::default(),
            })
            .collect();
        conds.set(
            c::FAILURE_DOMAINS_READY,
            true,
            c::ZONES_FOUND,
            String::new(),
        );
    } else {
        fds_ok = false;
        let list = unknown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let known = zone_names.iter().cloned().collect::<Vec<_>>().join(", ");
        conds.set(
            c::FAILURE_DOMAINS_READY,
            false,
            c::UNKNOWN_FAILURE_DOMAIN,
            format!(
                "spec.failureDomains names MAAS zone(s) that do not exist: {list} (MAAS zones: {known})"
            ),
        );
    }

    // Control-plane endpoint: the DNS plan is the core's
    // (`lc::decide_dns`); here it is observed and executed.
    let fqdn = endpoint_fqdn(&cluster_name, &obj.spec.dns_domain);
    let endpoint_host = obj
        .spec
        .control_plane_endpoint
        .as_ref()
        .map(|e| e.host.clone())
        .filter(|h| !h.is_empty());
    let status_dns_name = status.network.as_ref().and_then(|n| n.dns_name.clone());
    let mut obj = obj;
    let outcome = if lc::dns_needs_lookup(
        endpoint_host.as_deref(),
        status_dns_name.as_deref(),
        &fqdn,
        false,
    ) {
        let ready = control_plane_ips(ctx, &ns, &cluster_name).await?;
        let target = DnsTarget {
            maas: &maas,
            namespace: &ns,
            cluster: &cluster_name,
            dns_domain: &obj.spec.dns_domain,
            fqdn: &fqdn,
            ttl: ctx.config.dns_ttl,
        };
        manage_dns(
            &target,
            endpoint_host.as_deref(),
            status_dns_name.as_deref(),
            &ready,
        )
        .await
    } else {
        Ok(DnsOutcome::UserEndpoint {
            foreign_record: false,
        })
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            // MAAS's answer goes into the conditions when it is one we
            // cannot get past (a 404 for the domain, a refusal) or
            // repeats; a single blip only reaches the log.
            let missing_domain = e.is_not_found();
            let err = unavailable(e, "DNS resource");
            let repeated = ctx.failures(&key_of(&obj)) >= 2;
            if err.class() == ErrorClass::Permanent || repeated {
                let (reason, message) = if missing_domain {
                    (
                        c::DNS_DOMAIN_NOT_FOUND,
                        format!(
                            "MAAS at {} has no DNS domain {:?} for the control-plane endpoint \
                             {fqdn} ({err}): create the domain in MAAS, or set \
                             spec.dnsDomain to one of its domains",
                            maas.endpoint(),
                            obj.spec.dns_domain
                        ),
                    )
                } else {
                    (
                        c::DNS_RESOURCE_FAILED,
                        format!(
                            "cannot keep the MAAS DNS record {fqdn} at {}: {err}",
                            maas.endpoint()
                        ),
                    )
                };
                conds.set(c::ENDPOINT_READY, false, reason, message.clone());
                conds.set(lc::READY, false, reason, message);
                status.conditions = conditions_to_k8s(&conds.list);
                write_status(&api, &obj, status).await?;
            }
            return Err(err);
        }
    };
    match outcome {
        DnsOutcome::UserEndpoint { foreign_record } => {
            let message = if foreign_record {
                format!(
                    "the MAAS DNS record {fqdn} exists and is not capmaas's (no owner TXT \
                     record {}): it is left to you",
                    lc::dns_owner_marker(&ns, &cluster_name)
                )
            } else {
                String::new()
            };
            conds.set(c::ENDPOINT_READY, true, c::USER_PROVIDED, message);
        }
        DnsOutcome::NotOurs { owner } => {
            let whose = match &owner {
                Some(o) => format!("it is managed for the cluster {o}"),
                None => format!(
                    "it carries no owner TXT record {}",
                    lc::dns_owner_marker(&ns, &cluster_name)
                ),
            };
            let message = format!(
                "the MAAS DNS record {fqdn} at {} exists and is not this cluster's ({whose}); \
                 capmaas never changes or deletes it: delete it in MAAS, set spec.dnsDomain \
                 to another domain, or set spec.controlPlaneEndpoint",
                maas.endpoint()
            );
            if mc_condition_reason(&obj, c::ENDPOINT_READY) != Some(c::DNS_RECORD_NOT_OURS) {
                tracing::warn!(fqdn, owner = ?owner, "control-plane DNS record exists and is not ours");
                ctx.event(
                    &obj,
                    true,
                    "DNSRecordNotOurs",
                    "CheckDNSRecord",
                    message.clone(),
                )
                .await;
            }
            conds.set(
                c::ENDPOINT_READY,
                false,
                c::DNS_RECORD_NOT_OURS,
                message.clone(),
            );
            conds.set(lc::READY, false, c::DNS_RECORD_NOT_OURS, message);
            status.conditions = conditions_to_k8s(&conds.list);
            write_status(&api, &obj, status).await?;
            return Ok(Action::requeue(ctx.config.sync_period));
        }
        DnsOutcome::Managed { ips: record } => {
            tracing::debug!(fqdn, ips = ?record, "control-plane DNS record");
            status.network = Some(NetworkStatus {
                dns_name: Some(fqdn.clone()),
            });
            conds.set(
                c::ENDPOINT_READY,
                true,
                c::DNS_RESOURCE_READY,
                format!("{fqdn} → {}", record.join(" ")),
            );
            // Record our DNS name before claiming the endpoint, so a restart
            // knows the endpoint is ours.
            status.conditions = conditions_to_k8s(&conds.list);
            obj = write_status(&api, &obj, status.clone()).await?;
            if obj.spec.control_plane_endpoint.is_none() {
                let port = lc::api_server_port(
                    cluster
                        .as_ref()
                        .and_then(|c| c.spec.cluster_network.as_ref())
                        .and_then(|n| n.api_server_port),
                    ctx.config.api_server_port,
                );
                obj = patch_guarded(
                    &api,
                    &obj,
                    json!({"spec": {"controlPlaneEndpoint": ApiEndpoint {
                        host: fqdn.clone(),
                        port,
                    }}}),
                    "set controlPlaneEndpoint",
                )
                .await?;
                ctx.event(
                    &obj,
                    false,
                    "ControlPlaneEndpointSet",
                    "SetEndpoint",
                    format!("control-plane endpoint {fqdn}:{port}"),
                )
                .await;
            }
        }
    }

    if fds_ok {
        let first = status.initialization.as_ref().and_then(|i| i.provisioned) != Some(true);
        status.initialization = Some(Initialization {
            provisioned: Some(true),
        });
        status.ready = true;
        conds.set(lc::READY, true, c::READY, String::new());
        status.conditions = conditions_to_k8s(&conds.list);
        obj = write_status(&api, &obj, status).await?;
        if first {
            ctx.event(
                &obj,
                false,
                "Provisioned",
                "Provision",
                "cluster infrastructure ready".into(),
            )
            .await;
        }
    } else {
        conds.set(
            lc::READY,
            false,
            c::UNKNOWN_FAILURE_DOMAIN,
            "fix spec.failureDomains".into(),
        );
        status.conditions = conditions_to_k8s(&conds.list);
        write_status(&api, &obj, status).await?;
    }
    Ok(Action::requeue(ctx.config.sync_period))
}

/// Adds what `clusterctl move` needs to the `credentialsRef` Secret
/// ([`lc::credentials_move_labels`]). A failure does not stop the
/// reconcile (the cluster works without it; only a move would leave the
/// Secret behind): it is logged and reported as a warning Event.
async fn label_credentials_for_move(ctx: &Context, obj: &MaasCluster, ns: &str, name: &str) {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let result = async {
        let Some(secret) = secrets.get_opt(name).await? else {
            return Ok(false);
        };
        let Some(labels) = lc::credentials_move_labels(secret.labels()) else {
            return Ok(false);
        };
        secrets
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": labels}})),
            )
            .await
            .map(|_| true)
    }
    .await;
    match result {
        Ok(false) => {}
        Ok(true) => {
            tracing::info!(
                secret = name,
                "labelled the credentials Secret for clusterctl move"
            );
            ctx.event(
                obj,
                false,
                "CredentialsLabelledForMove",
                "LabelCredentials",
                format!(
                    "labelled credentials Secret {name} {} so that clusterctl move takes it",
                    lc::CLUSTERCTL_MOVE_LABEL
                ),
            )
            .await;
        }
        Err(e) => {
            let e = Error::kube(format!("label credentials Secret {name}"), e);
            ctx.metrics.error(KIND, e.class().as_str());
            tracing::warn!(secret = name, error = %e, "cannot label the credentials Secret for clusterctl move");
            ctx.event(
                obj,
                true,
                "CredentialsNotLabelled",
                "LabelCredentials",
                format!(
                    "cannot label credentials Secret {name} {}: clusterctl move would leave it \
                     behind ({e}); add the label, or grant the controller patch on secrets",
                    lc::CLUSTERCTL_MOVE_LABEL
                ),
            )
            .await;
        }
    }
}

/// The MaasMachines of a cluster.
async fn cluster_machines(
    ctx: &Context,
    ns: &str,
    cluster_name: &str,
) -> Result<Vec<MaasMachine>, Error> {
    let api: Api<MaasMachine> = Api::namespaced(ctx.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={cluster_name}"));
    Ok(api
        .list(&lp)
        .await
        .map_err(|e| Error::kube("list MaasMachines", e))?
        .items)
}

/// The published IPs of the cluster's ready control-plane MaasMachines.
async fn control_plane_ips(
    ctx: &Context,
    ns: &str,
    cluster_name: &str,
) -> Result<BTreeSet<String>, Error> {
    let machines: Api<Machine> = Api::namespaced(ctx.client.clone(), ns);
    let lp = ListParams::default().labels(&format!(
        "{CLUSTER_NAME_LABEL}={cluster_name},{CONTROL_PLANE_LABEL}"
    ));
    let cp_machines = machines
        .list(&lp)
        .await
        .map_err(|e| Error::kube("list control-plane Machines", e))?
        .items;
    let cp_infra: BTreeSet<String> = cp_machines
        .iter()
        .filter_map(|m| m.spec.infrastructure_ref.as_ref())
        .filter(|r| r.kind == "MaasMachine")
        .map(|r| r.name.clone())
        .collect();
    let ips = cluster_machines(ctx, ns, cluster_name)
        .await?
        .iter()
        .filter(|mm| {
            mm.labels().contains_key(CONTROL_PLANE_LABEL) || cp_infra.contains(&mm.name_any())
        })
        .filter(|mm| machine_ready(mm))
        .filter_map(published_ip)
        .collect();
    Ok(ips)
}

async fn find_dns(
    maas: &crate::maas::MaasHandle,
    fqdn: &str,
) -> Result<Option<DnsResource>, maas_api::Error> {
    let list = maas
        .api()
        .list_dns_resources(&DnsResourceFilter {
            fqdn: Some(fqdn.to_owned()),
            ..DnsResourceFilter::default()
        })
        .await?;
    Ok(list.into_iter().find(|d| d.id >= 0 && d.fqdn == fqdn))
}

/// What the core sees of a DNS resource.
fn record_view(d: &DnsResource) -> lc::DnsRecordView {
    lc::DnsRecordView {
        id: d.id,
        ips: d.ips().into_iter().map(str::to_owned).collect(),
        txt: d.records_of("TXT").into_iter().map(str::to_owned).collect(),
    }
}

/// Where the control-plane record lives.
struct DnsTarget<'a> {
    maas: &'a crate::maas::MaasHandle,
    namespace: &'a str,
    cluster: &'a str,
    dns_domain: &'a str,
    fqdn: &'a str,
    ttl: u32,
}

impl DnsTarget<'_> {
    /// Adds our owner TXT record at the name (MAAS creates the DNS
    /// resource with it when there is none, so a record we create is ours
    /// from its first moment).
    async fn add_marker(&self, marker: &str) -> Result<(), maas_api::Error> {
        self.maas
            .api()
            .create_dns_resource_record(&DnsResourceRecordParams {
                name: Some(self.cluster.to_owned()),
                domain: Some(self.dns_domain.trim_end_matches('.').to_owned()),
                rrtype: Some("TXT".into()),
                rrdata: Some(marker.to_owned()),
                ttl: Some(self.ttl),
                ..DnsResourceRecordParams::default()
            })
            .await?;
        Ok(())
    }

    async fn set_ips(&self, id: i64, ips: &[String]) -> Result<(), maas_api::Error> {
        let params = DnsResourceParams {
            address_ttl: Some(self.ttl),
            ip_addresses: (!ips.is_empty()).then(|| ips.to_vec()),
            ..DnsResourceParams::default()
        };
        self.maas.api().update_dns_resource(id, &params).await?;
        tracing::info!(fqdn = self.fqdn, ?ips, "updated control-plane DNS record");
        Ok(())
    }
}

/// What became of the control-plane record.
enum DnsOutcome {
    /// The endpoint is the user's.
    UserEndpoint { foreign_record: bool },
    /// A record not ours is at the name.
    NotOurs { owner: Option<String> },
    /// Ours, holding `ips`.
    Managed { ips: Vec<String> },
}

/// Looks the record up, asks the core ([`lc::decide_dns`]) and executes
/// its plan.
async fn manage_dns(
    t: &DnsTarget<'_>,
    endpoint_host: Option<&str>,
    status_dns_name: Option<&str>,
    ready: &BTreeSet<String>,
) -> Result<DnsOutcome, maas_api::Error> {
    let record = find_dns(t.maas, t.fqdn).await?.map(|d| record_view(&d));
    let plan = lc::decide_dns(&lc::DnsInputs {
        namespace: t.namespace,
        cluster: t.cluster,
        fqdn: t.fqdn,
        endpoint_host,
        status_dns_name,
        record: record.as_ref(),
        ready,
        deleting: false,
    });
    Ok(match plan {
        lc::DnsPlan::UserEndpoint { foreign_record } => DnsOutcome::UserEndpoint { foreign_record },
        lc::DnsPlan::NotOurs { owner } => DnsOutcome::NotOurs { owner },
        lc::DnsPlan::InSync { ips } => DnsOutcome::Managed { ips },
        lc::DnsPlan::Update { id, ips } => {
            t.set_ips(id, &ips).await?;
            DnsOutcome::Managed { ips }
        }
        lc::DnsPlan::Mark { id, marker, ips } => {
            t.add_marker(&marker).await?;
            tracing::info!(
                fqdn = t.fqdn,
                marker,
                "marked the control-plane DNS record as ours"
            );
            let held = match ips {
                Some(ips) => {
                    t.set_ips(id, &ips).await?;
                    ips
                }
                None => record
                    .map(|r| r.ips.into_iter().collect())
                    .unwrap_or_default(),
            };
            DnsOutcome::Managed { ips: held }
        }
        lc::DnsPlan::Create { marker, ips } => {
            t.add_marker(&marker).await?;
            tracing::info!(fqdn = t.fqdn, marker, "created control-plane DNS record");
            // The record's id (the TXT answer names only the record).
            match find_dns(t.maas, t.fqdn).await? {
                Some(created) => {
                    t.set_ips(created.id, &ips).await?;
                    DnsOutcome::Managed { ips }
                }
                // Gone again already: the next reconcile creates it.
                None => DnsOutcome::Managed { ips: Vec::new() },
            }
        }
        // Only when deleting.
        lc::DnsPlan::Delete { .. } | lc::DnsPlan::NothingToDelete => {
            DnsOutcome::Managed { ips: Vec::new() }
        }
    })
}

fn mc_condition_reason<'a>(mc: &'a MaasCluster, type_: &str) -> Option<&'a str> {
    mc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.reason.as_str())
}

async fn delete(
    ctx: &Context,
    api: &Api<MaasCluster>,
    obj: MaasCluster,
    cluster_name: Option<&str>,
    mut status: MaasClusterStatus,
    mut conds: Conds,
) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    if let Some(name) = cluster_name {
        let left = cluster_machines(ctx, &ns, name).await?;
        if !left.is_empty() {
            let names = left
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>()
                .join(", ");
            conds.set(
                lc::READY,
                false,
                c::DELETING,
                format!(
                    "waiting for {} MaasMachine(s) to be deleted: {names}",
                    left.len()
                ),
            );
            status.conditions = conditions_to_k8s(&conds.list);
            write_status(api, &obj, status).await?;
            return Ok(Action::requeue(ctx.config.cluster_delete_poll));
        }
    }
    let status_dns_name = status.network.as_ref().and_then(|n| n.dns_name.clone());
    let endpoint_host = obj
        .spec
        .control_plane_endpoint
        .as_ref()
        .map(|e| e.host.clone())
        .filter(|h| !h.is_empty());
    let target = cluster_name
        .map(|name| (name, endpoint_fqdn(name, &obj.spec.dns_domain)))
        .filter(|(_, fqdn)| {
            lc::dns_needs_lookup(
                endpoint_host.as_deref(),
                status_dns_name.as_deref(),
                fqdn,
                true,
            )
        });
    if let Some((cluster, fqdn)) = target {
        let creds = ctx.credentials(&ns, Some(&obj)).await?;
        let maas = ctx.clients.get(&creds)?;
        let record = find_dns(&maas, &fqdn)
            .await
            .map_err(|e| Error::maas("find DNS resource", e))?
            .map(|d| record_view(&d));
        let plan = lc::decide_dns(&lc::DnsInputs {
            namespace: &ns,
            cluster,
            fqdn: &fqdn,
            endpoint_host: endpoint_host.as_deref(),
            status_dns_name: status_dns_name.as_deref(),
            record: record.as_ref(),
            ready: &BTreeSet::new(),
            deleting: true,
        });
        if let lc::DnsPlan::Delete { id } = plan {
            match maas.api().delete_dns_resource(id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Error::maas("delete DNS resource", e)),
            }
            ctx.event(
                &obj,
                false,
                "DNSResourceDeleted",
                "Delete",
                format!("deleted {fqdn}"),
            )
            .await;
        }
    }
    remove_finalizer(api, &obj, MAAS_CLUSTER_FINALIZER).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mm(uid: &str, status: serde_json::Value) -> MaasMachine {
        serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "MaasMachine",
            "metadata": {"name": "m", "namespace": "ns", "uid": uid,
                         "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
            "spec": {"image": "jammy"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn machine_events_pass_only_when_what_clusters_read_changes() {
        use watcher::Event;
        let mut f = MachineEventFilter::default();
        let allocating = mm(
            "u1",
            json!({"conditions": [{"type": "Ready", "status": "False",
            "reason": "Allocating", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        let deploying = mm(
            "u1",
            json!({"conditions": [{"type": "Ready", "status": "False",
            "reason": "Deploying", "message": "x", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        let ready = mm(
            "u1",
            json!({
            "initialization": {"provisioned": true},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        assert!(
            f.pass(Event::Apply(allocating.clone())).is_some(),
            "first sight"
        );
        assert!(f.pass(Event::Apply(allocating)).is_none(), "unchanged");
        assert!(
            f.pass(Event::Apply(deploying)).is_none(),
            "a condition message or reason alone does not concern the cluster"
        );
        assert!(
            f.pass(Event::Apply(ready.clone())).is_some(),
            "became ready"
        );
        let mut moved = ready.clone();
        if let Some(s) = moved.status.as_mut() {
            s.addresses[0].address = "10.0.0.6".into();
        }
        assert!(
            f.pass(Event::Apply(moved)).is_some(),
            "published IP changed"
        );
        let mut deleting = ready.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert!(
            f.pass(Event::Apply(deleting.clone())).is_some(),
            "being deleted"
        );
        assert!(f.pass(Event::Delete(deleting)).is_some(), "deleted");
        assert!(
            f.pass(Event::Apply(mm("u2", json!({})))).is_some(),
            "a re-created machine (new uid) is new"
        );
        assert!(f.pass(Event::Init).is_none());
        assert!(
            f.pass(Event::InitApply(mm("u2", json!({})))).is_some(),
            "after a re-list every machine counts once more"
        );
        assert!(f.pass(Event::InitDone).is_none());
    }

    #[test]
    fn fqdn_is_cluster_dot_domain() {
        assert_eq!(endpoint_fqdn("c1", "maas"), "c1.maas");
        assert_eq!(
            endpoint_fqdn("c1", "k8s.example.com."),
            "c1.k8s.example.com"
        );
    }
}
