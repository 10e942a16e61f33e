//! Tests against the process-wide shared control plane.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    cm
}

/// The Kubernetes version pinned in hack/tools/go.mod.
fn pinned_kubernetes_version() -> String {
    let go_mod = kube_testenv::workspace_root().join("hack/tools/go.mod");
    let text = std::fs::read_to_string(&go_mod).unwrap();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find_map(|w| match w.as_slice() {
            ["k8s.io/kubernetes", v, ..] if v.starts_with('v') => Some((*v).to_owned()),
            ["require", "k8s.io/kubernetes", v, ..] => Some((*v).to_owned()),
            _ => None,
        })
        .expect("k8s.io/kubernetes in hack/tools/go.mod")
}

#[tokio::test]
async fn version_endpoint_reports_the_real_release() {
    let env = kube_testenv::shared().await.unwrap();
    // Ask the server again rather than trusting the value cached at startup.
    let info = env.client().unwrap().apiserver_version().await.unwrap();
    assert_eq!(&info, env.server_version());
    assert!(
        !info.git_version.contains("master") && !info.git_version.starts_with("v0.0.0"),
        "version ldflags missing: {}",
        info.git_version
    );
    assert_eq!(info.major, "1");
    assert!(
        info.git_version.starts_with(&format!("v1.{}.", info.minor)),
        "{info:?}"
    );
    // Assets built by hack/kube-assets.sh carry a stamp: then the server must
    // be exactly the release stamped, which is the one pinned in
    // hack/tools/go.mod unless KUBE_VERSION asked for another (the start
    // itself checks that the server is the KUBE_VERSION release).
    let assets = kube_testenv::assets_dir().await.unwrap();
    if let Ok(stamp) = std::fs::read_to_string(assets.join("versions.txt")) {
        assert!(
            stamp.contains(&format!("kubernetes {}\n", info.git_version)),
            "{stamp}"
        );
        let requested = std::env::var(kube_testenv::KUBE_VERSION_ENV).unwrap_or_default();
        if requested.trim().is_empty() {
            assert_eq!(info.git_version, pinned_kubernetes_version());
        }
    }
}

#[tokio::test]
async fn secret_and_configmap_round_trip() {
    let env = kube_testenv::shared().await.unwrap();
    let ns = env.namespace("roundtrip").await.unwrap();

    let mut secret = Secret::default();
    secret.metadata.name = Some("bootstrap-data".into());
    secret.type_ = Some("cluster.x-k8s.io/secret".into());
    let payload = b"#cloud-config\n\x00\xffbinary".to_vec();
    secret.data = Some(BTreeMap::from([(
        "value".to_owned(),
        ByteString(payload.clone()),
    )]));
    let secrets = ns.api::<Secret>();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let got = secrets.get("bootstrap-data").await.unwrap();
    assert_eq!(got.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
    assert_eq!(got.data.unwrap()["value"].0, payload);
    assert_eq!(got.metadata.namespace.as_deref(), Some(ns.name()));

    let cms = ns.api::<ConfigMap>();
    cms.create(
        &PostParams::default(),
        &configmap("settings", &[("a", "1"), ("b", "two")]),
    )
    .await
    .unwrap();
    let got = cms.get("settings").await.unwrap();
    let data = got.data.unwrap();
    assert_eq!(data["a"], "1");
    assert_eq!(data["b"], "two");
    assert!(got.metadata.uid.is_some());

    // A second create with the same name is a conflict: real storage.
    let err = cms
        .create(&PostParams::default(), &configmap("settings", &[]))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("expected 409, got {other}"),
    }
}

#[tokio::test]
async fn namespaces_do_not_see_each_other() {
    let env = kube_testenv::shared().await.unwrap();
    let a = env.namespace("iso").await.unwrap();
    let b = env.namespace("iso").await.unwrap();
    assert_ne!(a.name(), b.name());

    a.api::<ConfigMap>()
        .create(
            &PostParams::default(),
            &configmap("same", &[("owner", "a")]),
        )
        .await
        .unwrap();
    b.api::<ConfigMap>()
        .create(
            &PostParams::default(),
            &configmap("same", &[("owner", "b")]),
        )
        .await
        .unwrap();
    a.api::<ConfigMap>()
        .create(&PostParams::default(), &configmap("only-a", &[]))
        .await
        .unwrap();

    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        let mut n: Vec<_> = list
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| n != "kube-root-ca.crt")
            .collect();
        n.sort();
        n
    };
    let in_a = names(a.api().list(&ListParams::default()).await.unwrap());
    let in_b = names(b.api().list(&ListParams::default()).await.unwrap());
    assert_eq!(in_a, ["only-a", "same"]);
    assert_eq!(in_b, ["same"]);
    let b_same = b.api::<ConfigMap>().get("same").await.unwrap();
    assert_eq!(b_same.data.unwrap()["owner"], "b");
    assert!(
        b.api::<ConfigMap>()
            .get_opt("only-a")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn rbac_is_enforced_for_other_users() {
    let env = kube_testenv::shared().await.unwrap();
    let ns = env.namespace("rbac").await.unwrap();
    // The admin (system:masters) may impersonate; an unbound user may not read.
    let mut config = env.config();
    config.auth_info.impersonate = Some("nobody@example.test".into());
    let client = Client::try_from(config).unwrap();
    let err = Api::<Secret>::namespaced(client, ns.name())
        .list(&ListParams::default())
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("expected 403, got {other}"),
    }
    // ...while the admin can.
    ns.api::<Secret>()
        .list(&ListParams::default())
        .await
        .unwrap();
}

const CAPI_KINDS: [&str; 5] = [
    "clusters.cluster.x-k8s.io",
    "machines.cluster.x-k8s.io",
    "machinesets.cluster.x-k8s.io",
    "machinedeployments.cluster.x-k8s.io",
    "machinepools.cluster.x-k8s.io",
];

#[tokio::test]
async fn capi_crds_install_with_contract_labels() {
    let env = kube_testenv::shared().await.unwrap();
    let names = env.install_capi_crds().await.unwrap();
    for kind in CAPI_KINDS {
        assert!(names.iter().any(|n| n == kind), "{kind} not in {names:?}");
    }
    // Installing again is a no-op returning the same names.
    assert_eq!(env.install_capi_crds().await.unwrap(), names);

    let crds: Api<CustomResourceDefinition> = Api::all(env.client().unwrap());
    for name in &names {
        let crd = crds.get(name).await.unwrap();
        assert!(kube_testenv::is_established(&crd), "{name} not Established");
        let labels = crd.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.get("cluster.x-k8s.io/v1beta2").map(String::as_str),
            Some("v1beta2"),
            "{name}: {labels:?}"
        );
        assert_eq!(
            labels.get("cluster.x-k8s.io/v1beta1").map(String::as_str),
            Some("v1beta1"),
            "{name}: {labels:?}"
        );
    }
}

fn capi_api(client: Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", kind);
    Api::namespaced_with(client, ns, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

#[tokio::test]
async fn v1beta2_cluster_and_machine_can_be_created() {
    let env = kube_testenv::shared().await.unwrap();
    env.install_capi_crds().await.unwrap();
    let ns = env.namespace("capi").await.unwrap();
    let clusters = capi_api(ns.client(), ns.name(), "Cluster", "clusters");
    let machines = capi_api(ns.client(), ns.name(), "Machine", "machines");

    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": "c1"},
        "spec": {
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "MaasCluster",
                "name": "c1"
            }
        }
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();

    let machine: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {"name": "m1", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "clusterName": "c1",
            "bootstrap": {"dataSecretName": "m1-bootstrap"},
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "MaasMachine",
                "name": "m1"
            }
        }
    }))
    .unwrap();
    machines
        .create(&PostParams::default(), &machine)
        .await
        .unwrap();

    let got = machines.get("m1").await.unwrap();
    assert_eq!(got.data["spec"]["clusterName"], "c1");
    assert_eq!(
        got.data["spec"]["bootstrap"]["dataSecretName"],
        "m1-bootstrap"
    );
    assert_eq!(got.data["spec"]["infrastructureRef"]["kind"], "MaasMachine");
    let got = clusters.get("c1").await.unwrap();
    assert_eq!(got.data["spec"]["infrastructureRef"]["name"], "c1");

    // The CRD schema is enforced: a Machine without clusterName is invalid.
    let mut bad = machine.clone();
    bad.metadata.name = Some("m2".into());
    bad.data["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterName");
    let err = machines
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert!(s.message.contains("clusterName"), "{}", s.message);
        }
        other => panic!("expected 422, got {other}"),
    }
}

#[tokio::test]
async fn typed_crds_install_and_serve_objects() {
    let env = kube_testenv::shared().await.unwrap();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "probes.testenv.example.test"},
        "spec": {
            "group": "testenv.example.test",
            "names": {"kind": "Probe", "plural": "probes", "singular": "probe", "listKind": "ProbeList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}
                }}}
            }]
        }
    }))
    .unwrap();
    let names = env.install_crds(std::slice::from_ref(&crd)).await.unwrap();
    assert_eq!(names, ["probes.testenv.example.test"]);
    // idempotent
    env.install_crds(std::slice::from_ref(&crd)).await.unwrap();

    let ns = env.namespace("typed-crd").await.unwrap();
    let gvk = GroupVersionKind::gvk("testenv.example.test", "v1alpha1", "Probe");
    let api: Api<DynamicObject> = Api::namespaced_with(
        ns.client(),
        ns.name(),
        &ApiResource::from_gvk_with_plural(&gvk, "probes"),
    );
    let ok: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.example.test/v1alpha1", "kind": "Probe",
        "metadata": {"name": "p1"}, "spec": {"size": 3}
    }))
    .unwrap();
    api.create(&PostParams::default(), &ok).await.unwrap();
    let mut bad = ok.clone();
    bad.metadata.name = Some("p2".into());
    bad.data["spec"]["size"] = json!(0);
    assert!(api.create(&PostParams::default(), &bad).await.is_err());
}

#[tokio::test]
async fn debug_output_and_kubeconfig_keep_the_admin_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = kube_testenv::shared().await.unwrap();
    let path = env.kubeconfig_path();
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kubeconfig: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key_b64 = kubeconfig["users"][0]["user"]["client-key-data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key_b64.len() > 100);

    let ns = env.namespace("debug").await.unwrap();
    for shown in [
        format!("{env:?}"),
        format!("{ns:?}"),
        format!("{:?}", env.config()),
    ] {
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!shown.contains(&key_b64[..40]), "{shown}");
    }
}
