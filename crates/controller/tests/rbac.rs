//! config/rbac/role.yaml is enough: the controllers run with a client that
//! impersonates its ServiceAccount, so a missing verb fails this test.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_work_with_exactly_the_rbac_manifest() {
    let w = World::new("rbac").await;
    let ns = w.name();
    let docs = manifests();
    // The manifest's own bindings point at the ServiceAccount.
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        let b = find(&docs, kind);
        assert_eq!(b["subjects"][0]["name"], "capmaas-manager");
        assert_eq!(b["subjects"][0]["kind"], "ServiceAccount");
    }
    let admin = w.client.clone();
    let pp = PatchParams::apply("rbac-test").force();
    // ClusterRole as written; bind it (and the Lease Role) to a test SA.
    let role: ClusterRole = serde_json::from_value(find(&docs, "ClusterRole")).unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .patch("capmaas-manager", &pp, &Patch::Apply(&role))
        .await
        .unwrap();
    let binding_name = format!("capmaas-manager-{ns}");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "capmaas-manager"},
        "subjects": [{"kind": "ServiceAccount", "name": "capmaas-manager", "namespace": ns}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(&binding_name, &pp, &Patch::Apply(&binding))
        .await
        .unwrap();
    let mut lease_role = find(&docs, "Role");
    lease_role["metadata"]["namespace"] = json!(ns);
    let lease_role: Role = serde_json::from_value(lease_role).unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .patch("capmaas-leader-election", &pp, &Patch::Apply(&lease_role))
        .await
        .unwrap();
    let mut lease_binding = find(&docs, "RoleBinding");
    lease_binding["metadata"]["namespace"] = json!(ns);
    lease_binding["subjects"][0]["namespace"] = json!(ns);
    let lease_binding: RoleBinding = serde_json::from_value(lease_binding).unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
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
    let sa = Client::try_from(cfg).unwrap();
    // Sanity: the impersonated client is really restricted.
    assert!(
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(sa.clone(), &ns)
            .list(&Default::default())
            .await
            .is_err(),
        "listing Secrets must be forbidden"
    );

    // Leader election with the Role.
    let lease = kube_lease_manager::LeaseManagerBuilder::new(sa.clone(), "capmaas-manager-leader")
        .with_namespace(&ns)
        .with_identity("rbac-test")
        .with_duration(5)
        .with_grace(1)
        .build()
        .await
        .unwrap();
    assert!(lease.changed().await.unwrap(), "lease acquired");
    lease.release().await.unwrap();

    // The controllers, cluster-wide (as deployed), with a per-namespace workload.
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
    // The workload cluster: this apiserver again, through its admin
    // kubeconfig in CAPI's Secret. What the ServiceAccount needs for it is
    // the Secret `get`, the MaasMachine status and events; Nodes are reached
    // with the kubeconfig's own credentials.
    let kubeconfig = std::fs::read_to_string(env.kubeconfig_path()).unwrap();
    w.secret(
        "c1-kubeconfig",
        std::collections::BTreeMap::from([("value", kubeconfig.as_bytes())]),
    )
    .await;
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(admin.clone());
    // Named like the sim's hostnames (this binary's only test).
    for i in 0..2 {
        let node =
            serde_json::from_value(json!({"metadata": {"name": format!("node-{i}")}})).unwrap();
        nodes.create(&Default::default(), &node).await.unwrap();
    }
    let mut config = config(&ns, None);
    config.namespace = None;
    config.watch_filter = None;
    config.workload_retry = std::time::Duration::from_millis(200);
    config.workload_retry_max = std::time::Duration::from_secs(2);
    let ctrl = capmaas_controller::Manager::new(sa.clone(), config).spawn();
    eventually(30, "MaasCluster provisioned", || async {
        w.mc("c1")
            .await
            .and_then(|mc| mc.status)
            .is_some_and(|s| s.ready)
    })
    .await;
    w.set_cluster_provisioned("c1").await;
    let mm = w
        .wait_mm("cp0", 60, "provisioned, Node providerID set", |mm| {
            provisioned(mm)
                && condition(mm, "NodeProviderIDSet").is_some_and(|c| c.status == "True")
        })
        .await;
    let id = mm.spec.system_id.clone().unwrap();
    let host = mm.status.as_ref().unwrap().hostname.clone().unwrap();
    let node = nodes.get(&host).await.unwrap();
    assert_eq!(node.spec.unwrap().provider_id, mm.spec.provider_id);
    w.delete_mm("cp0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("cp0").await.is_none()
    })
    .await;
    assert_eq!(
        sim.control().machine(&id).unwrap().status,
        NodeStatus::Ready
    );
    let metrics = ctrl.metrics().encode();
    assert!(
        !metrics.contains(r#"class="permanent""#),
        "no permission errors: {metrics}"
    );
    ctrl.shutdown().await;
    Api::<ClusterRoleBinding>::all(admin)
        .delete(&binding_name, &Default::default())
        .await
        .unwrap();
}
