//! A dedicated control plane stops its processes and removes its files on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;
use kube_testenv::{Options, TestEnv, process_alive};

#[tokio::test]
async fn dedicated_env_is_isolated_and_stops_on_drop() {
    let env = TestEnv::start(Options::default()).await.unwrap();
    let pids = env.pids();
    let dir = env.dir().to_owned();
    assert!(process_alive(pids.etcd), "etcd {} not running", pids.etcd);
    assert!(process_alive(pids.kube_apiserver));
    assert!(env.kubeconfig_path().is_file());
    assert!(env.apiserver_url().starts_with("https://127.0.0.1:"));

    // Cluster-scoped objects of this env are its own.
    let client = env.client().unwrap();
    let mut ns = Namespace::default();
    ns.metadata.name = Some("dedicated-only".into());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("x".into());
    Api::<ConfigMap>::namespaced(client, "dedicated-only")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();

    // A second dedicated env has its own etcd: it does not see that namespace.
    let other = TestEnv::start(Options::default()).await.unwrap();
    assert_ne!(other.pids(), pids);
    let seen = Api::<Namespace>::all(other.client().unwrap())
        .get_opt("dedicated-only")
        .await
        .unwrap();
    assert!(seen.is_none());
    drop(other);

    drop(env);
    assert!(
        !process_alive(pids.etcd),
        "etcd {} survived drop",
        pids.etcd
    );
    assert!(
        !process_alive(pids.kube_apiserver),
        "kube-apiserver {} survived drop",
        pids.kube_apiserver
    );
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn bad_apiserver_flag_fails_with_the_server_log() {
    let options = Options {
        extra_apiserver_args: vec!["--no-such-flag-for-kube-testenv=1".into()],
        ..Options::default()
    };
    let err = TestEnv::start(options).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            kube_testenv::Error::Exited {
                component: "kube-apiserver",
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("no-such-flag-for-kube-testenv"), "{text}");
}
