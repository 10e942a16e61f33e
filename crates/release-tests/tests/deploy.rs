//! `make deploy` / `make undeploy` (`hack/deploy.sh`) against a real apiserver
//! of its own (the CRDs and ClusterRoles are cluster-scoped): the provider's
//! objects are created and accepted, a second deploy changes none of them, and
//! undeploy leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::{Client, Resource, ResourceExt};
use kube_testenv::{Options, TestEnv};

const NS: &str = "capmaas-deploy";
const SELECTOR: &str = "app.kubernetes.io/name=capmaas";

fn run(action: &str, env: &TestEnv, kubectl: &Path) -> String {
    let out = Command::new(common::root().join("hack/deploy.sh"))
        .arg(action)
        .current_dir(common::root())
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("KUBECTL", kubectl)
        .env("HELM_BIN", common::helm_bin())
        .env("DEPLOY_NAMESPACE", NS)
        .env(
            "DEPLOY_ARGS",
            "--set credentials.existingSecret=maas-admin-key --set credentials.apiKeyKey=api-key \
             --set maas.endpoint=http://maas.example:5240/MAAS",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "hack/deploy.sh {action}: {stderr}");
    stderr
}

/// kind/name → resourceVersion of every object the chart labels as ours.
async fn ours(client: &Client) -> BTreeMap<String, String> {
    async fn add<K>(api: Api<K>, into: &mut BTreeMap<String, String>, selector: Option<&str>)
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let lp = selector.map_or_else(ListParams::default, |s| ListParams::default().labels(s));
        for o in api.list(&lp).await.unwrap() {
            into.insert(
                format!("{}/{}", K::kind(&()), o.name_any()),
                o.resource_version().unwrap(),
            );
        }
    }
    let mut m = BTreeMap::new();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for c in crds.list(&ListParams::default()).await.unwrap() {
        if c.spec.group == "infrastructure.cluster.x-k8s.io" {
            m.insert(
                format!("CRD/{}", c.name_any()),
                c.resource_version().unwrap(),
            );
        }
    }
    add(
        Api::<ClusterRole>::all(client.clone()),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(
        Api::<ClusterRoleBinding>::all(client.clone()),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(
        Api::<Role>::namespaced(client.clone(), NS),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(
        Api::<RoleBinding>::namespaced(client.clone(), NS),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(
        Api::<ServiceAccount>::namespaced(client.clone(), NS),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(
        Api::<Deployment>::namespaced(client.clone(), NS),
        &mut m,
        Some(SELECTOR),
    )
    .await;
    add(Api::<Secret>::namespaced(client.clone(), NS), &mut m, None).await;
    m
}

#[tokio::test]
async fn deploy_installs_the_provider_and_undeploy_removes_it() {
    let env = TestEnv::start(Options::default()).await.unwrap();
    let kubectl = kube_testenv::assets_dir().await.unwrap().join("kubectl");
    let client = env.client().unwrap();
    // The MAAS chart's exported Secret, as it is: only an API key under its own key name.
    run("deploy", &env, &kubectl);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let mut s = Secret::default();
    s.metadata.name = Some("maas-admin-key".into());
    s.string_data = Some([("api-key".to_owned(), "a:b:c".to_owned())].into());
    secrets.create(&Default::default(), &s).await.unwrap();

    let first = ours(&client).await;
    for k in [
        "CRD/maasmachines.infrastructure.cluster.x-k8s.io",
        "CRD/maasclusters.infrastructure.cluster.x-k8s.io",
        "CRD/maasmachinetemplates.infrastructure.cluster.x-k8s.io",
        "CRD/maasclustertemplates.infrastructure.cluster.x-k8s.io",
        "ClusterRole/capmaas-manager",
        "ClusterRoleBinding/capmaas-manager",
        "Role/capmaas-leader-election",
        "RoleBinding/capmaas-leader-election",
        "ServiceAccount/capmaas-manager",
        "Deployment/capmaas-controller-manager",
    ] {
        assert!(first.contains_key(k), "{k} missing after deploy: {first:?}");
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .get("maasmachines.infrastructure.cluster.x-k8s.io")
        .await
        .unwrap();
    assert!(kube_testenv::is_established(&crd));
    // The Deployment's Secret wiring: endpoint from values, API key from the Secret.
    let d: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let d = d.get("capmaas-controller-manager").await.unwrap();
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    let env_of = |n: &str| {
        c.env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        env_of("MAAS_ENDPOINT").value.as_deref(),
        Some("http://maas.example:5240/MAAS")
    );
    let key = env_of("MAAS_API_KEY")
        .value_from
        .unwrap()
        .secret_key_ref
        .unwrap();
    assert_eq!(
        (key.name.as_str(), key.key.as_str()),
        ("maas-admin-key", "api-key")
    );

    // A second run changes nothing.
    run("deploy", &env, &kubectl);
    assert_eq!(
        ours(&client).await,
        first,
        "the second deploy changed objects"
    );

    // Undeploy leaves nothing of ours (the Secret we made is deleted with the namespace).
    run("undeploy", &env, &kubectl);
    let deadline =
        std::time::Instant::now() + kube_testenv::scaled(std::time::Duration::from_secs(60));
    loop {
        let left: BTreeMap<_, _> = ours(&client)
            .await
            .into_iter()
            .filter(|(k, _)| !k.starts_with("Secret/"))
            .collect();
        if left.is_empty() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            // The apiserver removes a deleted CRD once its CRD finalizer has run; on a loaded
            // machine that can lag. Deleted (Terminating) is what undeploy can ensure.
            for k in left.keys() {
                let name = k
                    .strip_prefix("CRD/")
                    .unwrap_or_else(|| panic!("left after undeploy: {left:?}"));
                let crd = crds.get(name).await.unwrap();
                assert!(
                    crd.metadata.deletion_timestamp.is_some(),
                    "{name} not deleted by undeploy: {:?}",
                    crd.status
                );
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // No namespace controller runs here: the namespace is Terminating (or gone).
    let ns: Api<Namespace> = Api::all(client.clone());
    if let Some(n) = ns.get_opt(NS).await.unwrap() {
        assert!(
            n.metadata.deletion_timestamp.is_some(),
            "namespace not deleted"
        );
    }
    // Undeploy again: nothing to do, still succeeds.
    run("undeploy", &env, &kubectl);
}
