//! The RBAC test (`tests/rbac.rs`) must fail when a needed verb is missing
//! from `config/rbac/role.yaml`: the same workload runs as ServiceAccounts
//! bound to mutated copies of the manifest (one verb removed each) and must
//! fail, while the manifest as written must pass. A test binary of its own,
//! so that no controller with the full role (like the one of `rbac.rs`,
//! which runs cluster-wide) reconciles the mutants' namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use maas_sim::{MaasVersion, NodeStatus};
use serde_json::{Value, json};

fn manifests() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/rbac/role.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .collect()
}

fn find(docs: &[Value], kind: &str) -> Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// `role` (a ClusterRole or Role manifest) without `verb` on `resource`: the
/// rule granting it is split so that its other resources keep every verb.
/// Panics when the verb was not granted (such a mutant would prove nothing).
fn without(role: &Value, resource: &str, verb: &str) -> Value {
    let mut role = role.clone();
    let rules = role["rules"].as_array_mut().unwrap();
    let i = rules
        .iter()
        .position(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
        })
        .unwrap_or_else(|| panic!("the manifest does not grant {verb} on {resource}"));
    let mut rule = rules.remove(i);
    let mut rest = rule.clone();
    rest["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|x| x != resource);
    if !rest["resources"].as_array().unwrap().is_empty() {
        rules.push(rest);
    }
    rule["resources"] = json!([resource]);
    rule["verbs"].as_array_mut().unwrap().retain(|x| x != verb);
    if !rule["verbs"].as_array().unwrap().is_empty() {
        rules.push(rule);
    }
    role
}

/// Binds `cluster_role` (applied as `capmaas-manager-<ns>`) and `lease_role`
/// to the ServiceAccount `capmaas-manager` of the world's namespace; returns
/// a client impersonating it and the cluster-scoped names to delete.
async fn service_account(w: &World, cluster_role: &Value, lease_role: &Value) -> (Client, String) {
    let ns = w.name();
    let admin = w.client.clone();
    let pp = PatchParams::apply("rbac-mutant").force();
    let name = format!("capmaas-manager-{ns}");
    let mut role = cluster_role.clone();
    role["metadata"] = json!({"name": name});
    let role: ClusterRole = serde_json::from_value(role).unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .patch(&name, &pp, &Patch::Apply(&role))
        .await
        .unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "capmaas-manager", "namespace": ns}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(&name, &pp, &Patch::Apply(&binding))
        .await
        .unwrap();
    let mut lease = lease_role.clone();
    lease["metadata"] = json!({"name": "capmaas-leader-election", "namespace": ns});
    let lease: Role = serde_json::from_value(lease).unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .patch("capmaas-leader-election", &pp, &Patch::Apply(&lease))
        .await
        .unwrap();
    let lease_binding: RoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "capmaas-leader-election", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "capmaas-leader-election"},
        "subjects": [{"kind": "ServiceAccount", "name": "capmaas-manager", "namespace": ns}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .patch(
            "capmaas-leader-election",
            &pp,
            &Patch::Apply(&lease_binding),
        )
        .await
        .unwrap();
    let env = kube_testenv::shared().await.unwrap();
    let mut cfg = env.config();
    cfg.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:capmaas-manager"));
    cfg.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".into(),
    ]);
    (Client::try_from(cfg).unwrap(), name)
}

async fn within<F, Fut>(secs: u64, what: &str, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("{what} (not within {secs}s)"))
}

/// What the manifest test does, as a Result: the Lease, then a MaasCluster
/// and a machine provisioned and released by controllers running as `sa`.
/// Also returns the controllers' metrics.
async fn workload(w: &World, sa: Client, secs: u64) -> (Result<(), String>, String) {
    let ns = w.name();
    let lease = kube_lease_manager::LeaseManagerBuilder::new(sa.clone(), "capmaas-manager-leader")
        .with_namespace(&ns)
        .with_identity("rbac-mutant")
        .with_duration(5)
        .with_grace(1)
        .build()
        .await;
    let lease = match lease {
        Ok(l) => l,
        Err(e) => return (Err(format!("lease manager: {e}")), String::new()),
    };
    match tokio::time::timeout(std::time::Duration::from_secs(secs), lease.changed()).await {
        Ok(Ok(true)) => {
            let _ = lease.release().await;
        }
        other => return (Err(format!("lease not acquired: {other:?}")), String::new()),
    }
    let sim = sim(2, MaasVersion::V3_6, 300).await;
    w.credentials_secret("maas", &sim).await;
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(
        &cluster,
        json!({"dnsDomain": "maas", "credentialsRef": {"name": "maas"}}),
    )
    .await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    // Namespace-scoped: only this case's objects, only this case's role.
    let ctrl = capmaas_controller::Manager::new(sa, config(&ns, None)).spawn();
    let result = async {
        within(secs, "MaasCluster ready", || async {
            w.mc("c1")
                .await
                .and_then(|mc| mc.status)
                .is_some_and(|s| s.ready)
        })
        .await?;
        within(
            secs,
            "credentials Secret labelled for clusterctl move",
            || async {
                w.api::<k8s_openapi::api::core::v1::Secret>()
                    .get("maas")
                    .await
                    .is_ok_and(|s| {
                        s.metadata
                            .labels
                            .is_some_and(|l| l.contains_key("clusterctl.cluster.x-k8s.io/move"))
                    })
            },
        )
        .await?;
        w.set_cluster_provisioned("c1").await;
        within(secs, "cp0 provisioned", || async {
            w.mm("cp0").await.is_some_and(|mm| provisioned(&mm))
        })
        .await?;
        let id = w.mm("cp0").await.and_then(|mm| mm.spec.system_id).unwrap();
        w.delete_mm("cp0").await;
        within(secs, "cp0 released and gone", || async {
            w.mm("cp0").await.is_none()
        })
        .await?;
        match sim.control().machine(&id).map(|m| m.status) {
            Some(NodeStatus::Ready) => Ok(()),
            other => Err(format!("machine {id} is {other:?} in MAAS")),
        }
    }
    .await;
    let metrics = ctrl.metrics().encode();
    ctrl.shutdown().await;
    (result, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_needed_verb_makes_the_rbac_test_fail() {
    let docs = manifests();
    let cluster_role = find(&docs, "ClusterRole");
    let lease_role = find(&docs, "Role");
    // (name, ClusterRole, Role): the manifest as written first (the harness
    // works), then one needed verb removed each time.
    let cases = vec![
        ("as written", cluster_role.clone(), lease_role.clone()),
        (
            "no patch on maasmachines (finalizer)",
            without(&cluster_role, "maasmachines", "patch"),
            lease_role.clone(),
        ),
        (
            "no update on maasmachines/status",
            without(&cluster_role, "maasmachines/status", "update"),
            lease_role.clone(),
        ),
        (
            "no update on maasclusters/status",
            without(&cluster_role, "maasclusters/status", "update"),
            lease_role.clone(),
        ),
        (
            "no get on machines (owner Machine)",
            without(&cluster_role, "machines", "get"),
            lease_role.clone(),
        ),
        (
            "no get on secrets (bootstrap data, credentials)",
            without(&cluster_role, "secrets", "get"),
            lease_role.clone(),
        ),
        (
            "no patch on secrets (credentials move label)",
            without(&cluster_role, "secrets", "patch"),
            lease_role.clone(),
        ),
        (
            "no create on leases",
            cluster_role.clone(),
            without(&lease_role, "leases", "create"),
        ),
    ];
    let runs = cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, cr, role))| async move {
            let w = World::new(&format!("rbac-mut{i}")).await;
            let (sa, cluster_name) = service_account(&w, &cr, &role).await;
            // Generous for the manifest as written (the machine is loaded), short
            // for the mutants (which must fail anyway).
            let secs = if i == 0 { 90 } else { 25 };
            let (result, metrics) = workload(&w, sa, secs).await;
            let admin = w.client.clone();
            let _ = Api::<ClusterRoleBinding>::all(admin.clone())
                .delete(&cluster_name, &Default::default())
                .await;
            let _ = Api::<ClusterRole>::all(admin)
                .delete(&cluster_name, &Default::default())
                .await;
            (name, result, metrics)
        });
    let results = futures::future::join_all(runs).await;
    let (name, first, metrics) = &results[0];
    assert!(first.is_ok(), "{name}: {first:?}\n{metrics}");
    for (name, result, metrics) in &results[1..] {
        let Err(why) = result else {
            panic!("removing a needed verb went unnoticed: {name}");
        };
        // It failed for the permission, not for something else.
        assert!(
            why.contains("lease") || metrics.contains(r#"class="permanent""#),
            "{name}: failed ({why}) without a permission error: {metrics}"
        );
        eprintln!("{name}: fails as it must: {why}");
    }
}
